"""What the GUI process may import from the engine side: torch-free.

The experiment config (fields, validation, files), the protocol between the
window and the engine process, the wire contract of metric series, the bounded
metric store, schedules, presets and atomic file writes.
"""
