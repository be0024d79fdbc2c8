"""The errors a person can fix, one vocabulary for the whole lab.

Each is a ``UserError``: its message says what is wrong and what to do, so
it is shown as it is, without a traceback or a type name — by the engine
(an ``Error`` event, a failed job), by the command line (exit code 2) and
by the window. Everything else is a bug and is reported with its type and
traceback. Code catches these by type, never by class name.

- ``ConfigError``: a config field holds a value it does not take; ``field``
  is always a dotted path (``optim.lr``, ``model.layers[2].width``), so the
  window can point at the editor.
- ``TooLarge``: a config that does not fit in the memory that is free (a
  ``ConfigError`` naming the field to make smaller).
- ``FileError``: a file or folder that is missing, damaged, of another kind
  or written by a newer Knoblab; the file is left as it was.
- ``ExportError``: a model that could not be exported, or whose exported
  file does not compute what the model does.
- ``UsageError``: a command line that does not say what to do.

Torch-free: the window imports it.
"""

from __future__ import annotations

import re
from pathlib import Path

# a config path: names joined by dots, each with an optional list index
DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(\[\d+\])?(\.[A-Za-z_]\w*(\[\d+\])?)*")


class UserError(Exception):
    """An error the person can fix; the message is meant for them."""


class ConfigError(UserError, ValueError):
    """An invalid configuration value. ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        if not DOTTED_PATH.fullmatch(field):
            raise ValueError(f"ConfigError needs a dotted field path, not {field!r}")
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TooLarge(ConfigError):
    """More memory than is free: ``need`` and ``free`` in bytes."""

    def __init__(self, field: str, message: str, need: int, free: int) -> None:
        super().__init__(field, message)
        self.need, self.free = need, free


class FileError(UserError):
    """A file or folder that cannot be used as it is (``path``, where known)."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.path = None if path is None else str(path)
        self.message = message


class ExportError(UserError):
    """The model could not be exported, or the file does not compute the same thing."""


class UsageError(UserError):
    """A command line that does not say what to do (``option``: the one at fault)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message
