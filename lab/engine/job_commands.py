"""The engine's commands that start and stop jobs (``lab.jobs``): a
landscape (on demand, or every N steps while training), an export, a
measured decode, a recipe, and cancelling any of them. A part of
``lab.engine.loop.Engine``, kept apart to keep the loop readable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.core import protocol as p
from lab.core.config import ConfigError
from lab.core.protocol import JobKind, RunState
from lab.engine import tokens
from lab.engine.jobs import decode_job, export_job, landscape_job
from lab.jobs import Job, JobRunner
from lab.recipes import RECIPES, run_recipe

if TYPE_CHECKING:
    from lab.train.trainer import Trainer


class JobCommands:
    trainer: Trainer | None
    jobs: JobRunner
    state: RunState
    landscape_request: p.ComputeLandscape | None
    landscape_auto: int
    _landscape_step: int

    def _landscape_due(self) -> bool:
        trainer = self.trainer
        if not self.landscape_auto or self.landscape_request is None or trainer is None:
            return False
        if self.state != RunState.RUNNING:
            return False
        return trainer.step_count - self._landscape_step >= self.landscape_auto

    def _compute_landscape(self, request: p.ComputeLandscape) -> None:
        if self.trainer is None:
            return
        self.landscape_request = request
        self._landscape_step = self.trainer.step_count
        try:
            job = landscape_job(self.trainer, request)
        except ValueError as exc:
            self.jobs.refuse(request.job, JobKind.LANDSCAPE, f"landscape: {exc}")
            return
        self.jobs.start(request.job, job)  # replaces one under way

    def _set_landscape_auto(self, command: p.SetLandscapeAuto) -> None:
        self.landscape_auto = max(0, int(command.every_steps))

    def _export_onnx(self, request: p.ExportOnnx) -> None:
        if self.trainer is None:
            self.jobs.refuse(request.job, JobKind.EXPORT, "nothing to export yet")
            return
        self.jobs.start(request.job, export_job(self.trainer, request), replace_kind=False)

    def _decode_kv(self, request: p.DecodeKV) -> None:
        if not tokens.is_token_model(self.trainer):
            self.jobs.refuse(request.job, JobKind.DECODE, "a measured decode needs a Transformer")
            return
        assert self.trainer is not None
        try:
            job = decode_job(self.trainer, request)
        except ConfigError as exc:
            self.jobs.refuse(request.job, JobKind.DECODE, str(exc))
            return
        self.jobs.start(request.job, job)  # replaces one under way

    def _run_recipe(self, request: p.RunRecipe) -> None:
        """Inline, a chunk of an arm at a time: the arms train on their own
        trainers, the lab's experiment goes on in between."""
        if request.name not in RECIPES:
            self.jobs.refuse(request.job, JobKind.RECIPE, f"no recipe named {request.name!r}")
            return
        steps = run_recipe(RECIPES[request.name], request.fast)
        self.jobs.start(request.job, Job(JobKind.RECIPE, steps))  # replaces one under way

    def _fetch_data(self, request: p.FetchData) -> None:
        """On a worker thread: a download waits on the network, not on torch."""
        from lab.data import downloads

        if request.name not in downloads.SOURCES:
            self.jobs.refuse(request.job, JobKind.DOWNLOAD, f"{request.name} is not downloaded")
            return
        steps = downloads.fetch(request.name)
        self.jobs.start(request.job, Job(JobKind.DOWNLOAD, steps, background=True))

    def _cancel_job(self, command: p.CancelJob) -> None:
        self.jobs.cancel(command.job)
