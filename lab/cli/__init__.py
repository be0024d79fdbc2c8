"""The headless ``knoblab`` sub-commands (run, landscape, export, presets)."""
