"""Where a command's words go, and what happens when nobody reads them.

Results go to stdout, progress and messages to stderr (``knoblab run ... |
head -1`` reads the summary, not a progress line). When the reader of
either goes away (``| head``, a closed terminal), what is still to be written
is dropped and the command finishes: ``knoblab run`` still saves its run and
exits with its own code. Python raises ``BrokenPipeError`` on such a write,
which would end a training run without its folder and print a traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, TextIO


class ReaderGone:
    """A text stream whose writes never fail because the reader left: the
    first ``BrokenPipeError`` points the file descriptor at the null device
    (Python's own flush at exit must find somewhere to write) and later
    writes are dropped."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.gone = True
        with contextlib.suppress(OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_streams() -> None:
    """Make stdout and stderr survive a reader that goes away (idempotent)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, ReaderGone):
            setattr(sys, name, ReaderGone(stream))


def say(message: str) -> None:
    """A message for the person watching (not a result): on stderr."""
    print(message, file=sys.stderr, flush=True)
