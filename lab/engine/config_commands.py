"""The engine's commands that change the experiment: a whole config
(``SetConfig``) or the fields a knob changed (``ChangeConfig``), each one
step of the history. A change the data refuses (a file it cannot read, a
set not downloaded yet) leaves the experiment as it was and tells the
window its values again; a set not downloaded is offered for download. A
part of ``lab.engine.loop.Engine``, kept apart to keep the loop readable."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lab.core import protocol as p
from lab.core.changes import ChangeReport, describe
from lab.core.config import ExperimentConfig, flatten
from lab.core.errors import UserError
from lab.core.protocol import ChangeKind
from lab.data.downloads import download_size
from lab.data.fitting import fit_batch
from lab.data.real import DataMissing
from lab.engine.history import History, Step
from lab.engine.runs import Run

if TYPE_CHECKING:
    from lab.train.trainer import Trainer


class ConfigCommands:
    trainer: Trainer | None
    history: History
    send: Callable[[Any], None]
    _build: Callable[[ExperimentConfig, str], None]
    _apply: Callable[..., tuple[ChangeReport, Run | None]]
    _step_back: Callable[[str, ExperimentConfig, Run | None], Step]
    _send_history: Callable[[], None]

    def _change_to(self, config: ExperimentConfig) -> None:
        """A change the person made: applied, and one step of the history."""
        if self.trainer is None:
            self._build(config, "start")
            return
        old = self.trainer.config

        def record(report: ChangeReport, replaced: Run | None) -> None:
            if report.kind == ChangeKind.NONE:
                return
            words = f"{old.name} → {config.name}" if old.name != config.name else report.words
            if report.kind == ChangeKind.REBUILD:
                self.history.record(self._step_back(words, old, replaced))
            else:  # the run stays: going back is going back to the config (before a drag)
                start = self.history.drag_start(report.fields) or old
                words = describe(start, config, report.fields)
                self.history.record(Step(words, start, None, report.fields))
            self._send_history()  # before Built: the window's Edit menu is right at once

        self._apply(config, then=record)

    def _set_config(self, command: p.SetConfig) -> None:
        config = ExperimentConfig.from_dict(command.config)
        self._refused_keeps_config(lambda: self._change_to(config), flatten(command.config))

    def _change_config(self, command: p.ChangeConfig) -> None:
        if self.trainer is None:
            raise UserError("the engine has no experiment yet; the change was not applied")
        config = self.trainer.config.with_changes(command.changes)
        fit = "data.path" in command.changes or "data.target" in command.changes
        self._refused_keeps_config(
            lambda: self._change_to(fit_batch(config) if fit else config),  # a small file
            command.changes,
        )

    def _refused_keeps_config(self, change: Callable[[], None], changes: dict[str, Any]) -> None:
        """A change the data refused (a file unreadable, a set not downloaded):
        the experiment stays as it was, and the window is told its values
        again; a set not downloaded yet is offered for download."""
        try:
            change()
        except UserError as exc:
            if self.trainer is not None:
                held = flatten(self.trainer.config.to_dict())
                self.send(p.ConfigApplied(ChangeKind.NONE, "", held))
            if isinstance(exc, DataMissing):
                self.send(p.NeedsDownload(exc.name, *download_size(exc.name), changes))
                return
            raise
