"""The engine's jobs (``lab.jobs``), made from the window's requests: a
landscape around the live weights (inline, a chunk between training chunks),
an ONNX export of the weights of now (on a worker thread: it works on a
copy, and the exporter's one call takes seconds), and a measured decode of a
copy of the weights of now (inline: each timed step runs alone, with no
training step beside it on the cores)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Generator
from typing import Any

from lab.core import protocol as p
from lab.engine.export import export_steps
from lab.generate.measure import check_request, decode_steps
from lab.jobs import Job, Progress
from lab.landscape import LandscapeJob
from lab.train.budget import check_cache_fits
from lab.train.trainer import Trainer


def landscape_update(job: LandscapeJob) -> p.LandscapeUpdate:
    """The landscape so far, as the window draws it (arrays copied: the job
    goes on filling its own)."""
    r = job.result
    return p.LandscapeUpdate(
        job.step,
        r.kind,
        r.surface.alphas,
        r.surface.betas,
        r.surface.losses.copy(),
        job.fraction,
        job.complete,
        r.center_loss,
        r.trajectory,
        r.trajectory_steps,
        r.explained,
        r.n_points,
        r.line_t,
        r.line_losses.copy(),
        r.direction_norms,
    )


def landscape_job(trainer: Trainer, request: p.ComputeLandscape) -> Job:
    """Raises ``ValueError`` for a request it cannot serve (PCA without a path)."""
    job = LandscapeJob(
        trainer,
        kind=request.kind,
        resolution=request.resolution,
        span=request.span,
        n_points=request.n_points,
        seed=request.seed,
    )

    def steps() -> Generator[Progress, None, p.LandscapeUpdate]:
        for report in job.steps():
            yield Progress(report.fraction, report.message, landscape_update(job))
        return landscape_update(job)

    return Job(p.JobKind.LANDSCAPE, steps())


def decode_job(trainer: Trainer, request: p.DecodeKV) -> Job:
    """Raises ``ConfigError`` for a request it cannot serve (beyond the context)."""
    model = copy.deepcopy(trainer.model)
    check_request(model, request)
    check_cache_fits(model, request, trainer.device)
    return Job(p.JobKind.DECODE, decode_steps(model, request, trainer.device))


def export_job(trainer: Trainer, request: p.ExportOnnx) -> Job:
    model = copy.deepcopy(trainer.model)  # the weights of now; training may go on
    steps = export_steps(
        model,
        trainer.data.input_shape,
        request.path,
        config_json=trainer.config.to_json(),
        legacy=request.legacy,
    )

    def run() -> Generator[Progress, None, dict[str, Any]]:
        report = yield from steps
        return dataclasses.asdict(report)

    return Job(p.JobKind.EXPORT, run(), background=True)
