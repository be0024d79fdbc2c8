"""Reading a command off the wire without trusting it: a restricted
unpickler that builds only the protocol's own types, numpy arrays and plain
builtins. Random bytes, a truncated message or a pickle that names any other
class (``os.system``, a module of the caller's choosing) raise
``MessageError``; the engine answers those with an error event."""

from __future__ import annotations

import io
import pickle
from typing import Any

# modules whose every class may be built: the protocol's messages and enums,
# the recipe types they carry, and numpy's array machinery
ALLOWED_MODULES = frozenset(
    {
        "lab.core.protocol",
        "lab.core.datainfo",
        "lab.core.job_messages",
        "lab.core.file_messages",
        "lab.core.recipes",
        "numpy",
        "numpy.core.multiarray",
        "numpy._core.multiarray",
        "numpy.dtypes",
    }
)
ALLOWED_NAMES = {
    "copyreg": frozenset({"__newobj__", "_reconstructor"}),
    "builtins": frozenset(
        {"object", "tuple", "list", "dict", "set", "frozenset", "complex", "slice", "range"}
    ),
    "collections": frozenset({"OrderedDict"}),
}


class MessageError(ValueError):
    """A message that is not a command of this protocol."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in ALLOWED_MODULES or name in ALLOWED_NAMES.get(module, ()):
            return super().find_class(module, name)
        raise MessageError(f"the message names {module}.{name}, which is not part of the protocol")


def decode(data: bytes) -> Any:
    """The object a message holds, built from allowed types only."""
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except MessageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the same answer
        raise MessageError(f"unreadable ({type(exc).__name__}: {exc})") from exc
