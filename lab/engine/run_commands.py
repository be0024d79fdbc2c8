"""The engine's commands that go back in time or to disk: Undo and Redo
(each a step of ``lab.engine.history``: back to a config, or to a run kept
whole), Save, and Open (a run folder, refused while its data file is gone
or changed, until the window names the file or accepts the change, and
while its model is Python code, until the person says to run it). A part
of ``lab.engine.loop.Engine``, kept apart to keep the loop readable."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lab.core import protocol as p
from lab.core.changes import ChangeReport
from lab.core.config import ExperimentConfig
from lab.core.errors import FileError
from lab.core.protocol import ChangeKind, RunState
from lab.engine.history import History, Step
from lab.engine.runs import (
    Run,
    data_problem,
    load_run,
    model_code,
    restore,
    save_run,
    snapshot,
)

if TYPE_CHECKING:
    from lab.engine.streaming import Outbox
    from lab.train.trainer import Trainer


class RunCommands:
    trainer: Trainer | None
    history: History
    state: RunState
    outbox: Outbox
    send: Callable[[Any], None]
    _build: Callable[[ExperimentConfig, str], None]
    _announce_build: Callable[[str], None]
    _apply: Callable[..., tuple[ChangeReport, Run | None]]

    def _kept(self) -> Run | None:
        """The run as it is now, if anything was trained in it (what Undo
        brings back after it is replaced); None for a run at step 0."""
        trainer = self.trainer
        if trainer is None or trainer.step_count == 0:
            return None
        trainer.store.sync()
        return snapshot(trainer)

    def _step_back(self, words: str, config: ExperimentConfig, run: Run | None) -> Step:
        """The step that returns to ``run`` (or, with nothing trained, ``config``)."""
        return Step(words, None, run) if run is not None else Step(words, config)

    def _send_history(self) -> None:
        self.send(p.UndoState(*self.history.words()))

    def _restore(self, run: Run, reason: str) -> None:
        trainer = self.trainer
        assert trainer is not None
        self.state = RunState.PAUSED
        restore(trainer, run)
        trainer.store.series = dict(run.metrics.series)  # the curves as saved
        self.outbox.clear()
        self._announce_build(reason)
        trainer.store.resend()  # the window's fresh store gets them all

    def _go(self, step: Step, direction: str) -> Step:
        """Undo or redo ``step``; the step that leads back from where it went."""
        trainer = self.trainer
        assert trainer is not None
        if step.run is not None:
            here = self._step_back(step.words, trainer.config, self._kept())
            self._restore(step.run, f"{direction}: back to {step.brings_back}")
            return here
        assert step.config is not None
        old = trainer.config
        report, replaced = self._apply(step.config, f"{direction}: {step.words}")
        if report.kind == ChangeKind.REBUILD:
            return self._step_back(step.words, old, replaced)
        return Step(step.words, old, None, step.fields)

    def _undo(self, _command: p.Undo) -> None:
        if self.trainer is not None and self.history.undo:
            step = self.history.undo.pop()
            self.history.went_back(step, self._go(step, "undo"))
            self._send_history()

    def _redo(self, _command: p.Redo) -> None:
        if self.trainer is not None and self.history.redo:
            self.history.went_forward(self._go(self.history.redo.pop(), "redo"))
            self._send_history()

    def _save_run(self, command: p.SaveRun) -> None:
        if self.trainer is None:
            raise FileError("nothing to save yet")
        save_run(command.path, self.trainer)
        self.send(p.Saved(command.path, command.autosave))

    def _open_run(self, command: p.OpenRun) -> None:
        run = load_run(command.path)
        if command.data_path:
            run = dataclasses.replace(
                run, config=run.config.with_changes({"data.path": command.data_path})
            )
        code = model_code(run)
        if code is not None and not (command.run_code or command.autosave):
            self.send(p.ModelCode(command.path, code))
            return
        problem = data_problem(run)
        if problem is not None and not (problem[0] == "changed" and command.accept_changed):
            self.send(p.DataProblem(command.path, *problem, run.config.data.path, command.run_code))
            return
        if self.trainer is None:
            self._build(run.config, "opened")
        assert self.trainer is not None
        old, kept = self.trainer.config, self._kept()
        what = "your last session's run" if command.autosave else command.path
        self._restore(run, f"opened {what}")
        if not command.autosave and (kept is not None or old != run.config):
            self.history.record(self._step_back(f"open {run.config.name}", old, kept))
            self._send_history()
        self.send(p.Opened(command.path, command.autosave))
