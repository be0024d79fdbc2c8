"""Knoblab's engine: config, data, models, training and measurement.

Importing ``lab`` loads no torch; modules that need it import it themselves.
"""

__version__ = "0.1.0"
