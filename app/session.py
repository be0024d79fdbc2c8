"""What the parts of the window share, instead of the window itself: the
experiment as the window holds it, the engine client, the metric store, the
job ids and who shows each kind of job — and, as Qt signals, what the engine
said (``app.engine_events`` turns its events into these). The toolbar,
autosave, references, the recipes window and the event handling each take a
``Session`` and can be tested with one and no window.

Commands go out through it: a knob turned sends only the fields it changed
(``change``), validated here once so the window can say what is wrong at
once; the engine validates what arrives once more, classifies it once, and
answers with ``ConfigApplied`` and, for a rebuild, ``Built``.
"""

from __future__ import annotations

import itertools
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from lab.core import protocol as p
from lab.core.config import ExperimentConfig
from lab.core.coupling import coupled_changes
from lab.core.metrics import MetricStore
from lab.core.protocol import JobKind, RunState


class Client(Protocol):
    """The engine as the session needs it (``EngineClient``, or a test's fake)."""

    event: Any
    died: Any
    unresponsive: Any

    def start(self) -> None: ...
    def send(self, command: Any) -> bool: ...
    def poll(self) -> int: ...
    def stop(self, timeout: float = 3.0) -> None: ...


class JobShower(Protocol):
    """What shows a kind of job (``widgets.job_bar.JobView``)."""

    def job_progress(self, event: p.JobProgress) -> None: ...
    def job_finished(self, event: p.JobFinished) -> None: ...


class Session(QObject):
    configChanged = Signal(object)  # noqa: N815 - the ExperimentConfig the window now holds
    configKept = Signal(object)  # noqa: N815 - ... as the engine has it: the panels show it all
    ready = Signal(object)  # p.Ready, once its protocol version was checked
    built = Signal(object)  # p.Built, after the store was replaced
    applied = Signal(object)  # p.ConfigApplied
    rowsArrived = Signal(list)  # noqa: N815 - names of the series that got rows
    statusChanged = Signal(object)  # noqa: N815 - p.Status
    signalChanged = Signal(object)  # noqa: N815 - p.SignalPropagation (also kept: .signal)
    boundaryChanged = Signal(object)  # noqa: N815 - p.DecisionBoundary (kept: .boundary)
    attentionArrived = Signal(object)  # noqa: N815 - p.AttentionMaps
    samplesArrived = Signal(object)  # noqa: N815 - p.Samples
    stopped = Signal(str)  # training stopped by itself, and why
    error = Signal(str, object, str)  # message, the field (or None), details (a traceback)
    notice = Signal(str)  # a passing message for the status bar
    runFolder = Signal(str)  # noqa: N815 - where the run now lives (saved there, opened)
    undoChanged = Signal(str, str)  # noqa: N815 - what Undo and Redo would do ("": nothing)
    engineDown = Signal(str)  # noqa: N815 - the engine stopped, or was refused; why
    engineStarting = Signal()  # noqa: N815
    needsDownload = Signal(object)  # noqa: N815 - p.NeedsDownload: a set to fetch first
    modelCode = Signal(object)  # noqa: N815 - p.ModelCode: a run whose model is Python code
    dataProblem = Signal(object)  # noqa: N815 - p.DataProblem: a run's data file moved or changed

    def __init__(self, client: Client, config: ExperimentConfig) -> None:
        super().__init__()
        self.client = client
        self.config = config
        self.store = MetricStore()
        self.engine_state: RunState | None = None  # None until the engine reports
        self.run_path: str | None = None  # the folder the run was saved to or opened from
        self.recipe_catalog: tuple = ()  # what the engine announced
        self.signal: p.SignalPropagation | None = None  # the latest, for views made later
        self.boundary: p.DecisionBoundary | None = None
        self.undo_words = self.redo_words = ""
        self.vocab = 0  # the built model's token count (a Transformer's)
        self._job_ids = itertools.count(1)
        self._job_showers: dict[JobKind, JobShower] = {}
        self._job_ends: dict[JobKind, p.JobFinished] = {}  # each kind's last, for a later shower

    # ------------------------------------------------------------ commands

    def send(self, command: Any) -> bool:
        return self.client.send(command)

    def change(self, path: str, value: Any) -> dict[str, Any]:
        """A field changed in the window (with the fields coupled to it):
        validated (``ConfigError`` naming the field, nothing sent), held, and
        only the changed fields sent. The changes ({} when nothing changed)."""
        changes = coupled_changes(self.config, path, value)
        new = self.config.with_changes(changes)
        if new == self.config:
            return {}
        self.config = new
        self.send(p.ChangeConfig(changes))  # the paths as changed here; the engine does the same
        self.configChanged.emit(new)
        return changes

    def replace(self, config: ExperimentConfig, *, run_path: str | None = None) -> None:
        """A whole new experiment (a preset, an arm of a recipe)."""
        self.config = config
        self.run_path = run_path
        self.send(p.SetConfig(config.to_dict()))
        self.configChanged.emit(config)

    def keep(self, config: ExperimentConfig) -> None:
        """The engine's experiment, as it reported it: held, nothing sent."""
        self.config = config
        self.configChanged.emit(config)
        self.configKept.emit(config)

    # ------------------------------------------------------------ jobs

    def next_job(self) -> int:
        return next(self._job_ids)

    def show_jobs(self, kind: JobKind, shower: JobShower) -> None:
        """``shower`` gets every report of this kind's jobs from now on, and
        the end of the last one if it ended before (a view built later)."""
        self._job_showers[kind] = shower
        if kind in self._job_ends:
            shower.job_finished(self._job_ends[kind])

    def start_job(self, make: Any) -> int:
        """Send ``make(job_id)`` (a command that starts a job); the job's id."""
        job = self.next_job()
        self.send(make(job))
        return job

    def forget_job_ends(self) -> None:
        """A new experiment: what the last jobs found was about the old one."""
        self._job_ends.clear()

    def cancel_job(self, job: int) -> None:
        self.send(p.CancelJob(job))

    def job_event(self, event: p.JobProgress | p.JobFinished) -> None:
        """Hand a job's report to what shows its kind; a failure is an error too."""
        shower = self._job_showers.get(event.kind)
        if isinstance(event, p.JobProgress):
            if shower is not None:
                shower.job_progress(event)
            return
        self._job_ends[event.kind] = event
        if shower is not None:
            shower.job_finished(event)
        if event.outcome == p.JobOutcome.FAILED:
            self.error.emit(f"{event.kind}: {event.error}", None, event.details)
