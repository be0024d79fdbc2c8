"""The engine process: its loop over the protocol, its entry point, runs on
disk and ONNX export. Importing this package loads no torch (the window names
``lab.engine.entry`` as the spawn target); its modules load torch themselves."""
