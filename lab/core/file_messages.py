"""The messages about a person's files: a set to download first (asked,
then fetched as a job), and a run that is not opened until the person
answers (its data file moved or changed, its model is Python code). Part of
the protocol (``lab.core.protocol`` exports them); torch-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FetchData:
    """Download dataset ``name`` into the cache (a job: progress, cancel)."""

    job: int
    name: str


@dataclass(frozen=True)
class ModelCode:
    """A run was not opened: its model is Python code (``message`` names the
    file, its SHA-256 and whether it changed); the window asks before it runs."""

    path: str  # the run folder
    message: str


@dataclass(frozen=True)
class NeedsDownload:
    """A change to dataset ``name`` was not applied: it is not downloaded yet
    (``size`` bytes to fetch into ``folder``). The window asks, then fetches."""

    name: str
    size: int
    folder: str
    changes: dict[str, Any] = field(default_factory=dict)  # the change to send again after


@dataclass(frozen=True)
class DataProblem:
    """A run was not opened: its data file is ``missing`` or ``changed``
    (``problem``); the window offers to pick the file, or to open it anyway."""

    path: str  # the run folder
    problem: str
    message: str
    data_path: str
    run_code: bool = False  # the OpenRun had said to run the model's code: say it again
