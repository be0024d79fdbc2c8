"""The messages every job speaks (``lab.jobs``): its kind, how it ended,
its progress and its end, and the command that cancels it. Part of the
protocol (``lab.core.protocol`` exports them all); torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class JobKind(StrEnum):
    LANDSCAPE = "landscape"
    EXPORT = "export"
    DECODE = "decode"
    RECIPE = "recipe"
    DOWNLOAD = "download"


class JobOutcome(StrEnum):
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class CancelJob:
    job: int


@dataclass(frozen=True)
class JobProgress:
    """How far job ``job`` is; ``partial`` is what it has computed so far
    (a ``LandscapeUpdate``, ...) or None."""

    job: int
    kind: JobKind
    fraction: float
    message: str
    partial: Any = None


@dataclass(frozen=True)
class JobFinished:
    """Job ``job`` ended. ``result``: what it made when done (a landscape's
    last ``LandscapeUpdate``, an export's report as a dict), its last partial
    result when cancelled or failed; ``error`` and ``details`` (a traceback)
    when it failed."""

    job: int
    kind: JobKind
    outcome: JobOutcome
    result: Any = None
    error: str = ""
    details: str = ""
