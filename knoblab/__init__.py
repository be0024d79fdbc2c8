"""The ``knoblab`` entry point: above the window (``app``) and the engine
(``lab``), it is the one place that dispatches to both."""
