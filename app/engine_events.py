"""What the engine's events do to the session: one handler per event type,
in one table. A handler updates the session's state (its config, store,
state, the run's folder) and emits the session's signal for it; what the
window shows for each signal is wired in ``app.main_window``. Nothing here
computes or draws."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.session import Session
from lab.core import protocol as p
from lab.core.config import ExperimentConfig, flatten
from lab.core.metrics import MetricStore


class EngineEvents:
    def __init__(self, session: Session) -> None:
        self.session = s = session
        self.handlers: dict[type, Callable[[Any], None]] = {
            p.Ready: self.ready,
            p.Built: self.built,
            p.ConfigApplied: self.config_applied,
            p.MetricRows: self.metric_rows,
            p.Status: self.status,
            p.SignalPropagation: self.signal,
            p.DecisionBoundary: self.boundary,
            p.AttentionMaps: s.attentionArrived.emit,
            p.Samples: s.samplesArrived.emit,
            p.JobProgress: s.job_event,
            p.JobFinished: s.job_event,
            p.Stopped: lambda event: s.stopped.emit(event.reason),
            p.Error: lambda event: s.error.emit(event.message, event.field, event.details),
            p.Saved: self.saved,
            p.Opened: self.opened,
            p.UndoState: self.undo_state,
            p.NeedsDownload: s.needsDownload.emit,
            p.DataProblem: s.dataProblem.emit,
            p.ModelCode: s.modelCode.emit,
        }
        session.client.event.connect(self.handle)
        session.client.died.connect(self.died)

    def handle(self, event: Any) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)

    def ready(self, event: p.Ready) -> None:
        s = self.session
        if event.version != p.PROTOCOL_VERSION:
            s.client.stop()
            s.engine_state = None
            s.engineDown.emit(
                f"The engine speaks protocol version {event.version}; this window speaks"
                f" {p.PROTOCOL_VERSION}. They come from different Knoblab versions:"
                " reinstall Knoblab so both are the same."
            )
            return
        s.recipe_catalog = event.recipes
        s.ready.emit(event)
        s.notice.emit(
            f"engine ready: torch {event.torch_version}, devices {', '.join(event.devices)}"
        )

    def built(self, event: p.Built) -> None:
        s = self.session
        s.store = MetricStore()  # a fresh experiment: rows of the old one are gone
        s.signal = s.boundary = None
        s.forget_job_ends()
        s.vocab = len(event.class_names)
        s.keep(ExperimentConfig.from_dict(event.config))
        s.built.emit(event)

    def config_applied(self, event: p.ConfigApplied) -> None:
        s = self.session
        held = flatten(s.config.to_dict())
        differ = {k: v for k, v in event.changes.items() if held.get(k) != v}
        if differ:  # the engine went somewhere the window did not ask (an Undo)
            s.keep(s.config.with_changes(differ))
        s.applied.emit(event)
        if event.kind != p.ChangeKind.NONE:
            s.notice.emit(event.message)

    def metric_rows(self, event: p.MetricRows) -> None:
        store = self.session.store
        for prefix in event.dropped:  # as the engine did, before its newer rows
            store.drop(prefix)
        for name, (columns, steps, values) in event.series.items():
            store.extend(name, steps, values, columns)
        self.session.rowsArrived.emit(list(event.series))

    def status(self, event: p.Status) -> None:
        self.session.engine_state = event.state
        self.session.statusChanged.emit(event)

    def signal(self, event: p.SignalPropagation) -> None:
        self.session.signal = event
        self.session.signalChanged.emit(event)

    def boundary(self, event: p.DecisionBoundary) -> None:
        self.session.boundary = event
        self.session.boundaryChanged.emit(event)

    def saved(self, event: p.Saved) -> None:
        if not event.autosave:  # an autosave is not the run's folder: title and path stay
            self.run_folder(event.path, "saved run to")

    def opened(self, event: p.Opened) -> None:
        if event.autosave:  # the last session's run, reopened: it has no folder of its own
            self.session.run_path = None
            self.session.notice.emit("reopened your last session's run")
            return
        self.run_folder(event.path, "opened")

    def run_folder(self, path: str, what: str) -> None:
        """The run now lives in ``path`` (saved there, or opened from it)."""
        self.session.run_path = path
        self.session.runFolder.emit(path)
        self.session.notice.emit(f"{what} {path}")

    def undo_state(self, event: p.UndoState) -> None:
        s = self.session
        s.undo_words, s.redo_words = event.undo, event.redo
        s.undoChanged.emit(event.undo, event.redo)

    def died(self, message: str) -> None:
        self.session.engine_state = None
        self.session.engineDown.emit(
            f"{message} The window keeps your settings; restart the engine to go on."
        )
