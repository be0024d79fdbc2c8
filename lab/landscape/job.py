"""A landscape around a trainer's current weights as a job: the grid (coarse
first), then the straight line from the initial weights, a chunk at a time,
so training goes on in between."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from lab.core.protocol import DirectionKind
from lab.jobs import Progress
from lab.landscape.directions import (
    direction_norm,
    fit_to_path,
    make_directions,
    pca_directions,
    project,
)
from lab.landscape.evaluator import LossEvaluator
from lab.landscape.plane import ProgressCallback, Surface, iter_line, iter_surface, straight_line


@dataclass
class Landscape:
    surface: Surface
    kind: DirectionKind
    seed: int
    center_loss: float  # the model's loss at the current weights, same batch
    trajectory: np.ndarray  # (snapshots, 2): the training path in the plane
    trajectory_steps: np.ndarray
    explained: np.ndarray | None  # PCA: variance share of the two components
    n_points: int
    line_t: np.ndarray  # the straight line from the initial (t=0) to the current (t=1) weights
    line_losses: np.ndarray  # NaN = not yet computed
    direction_norms: tuple[float, float]  # |d1|, |d2| in weight space: one unit on each axis


def evaluation_batch(trainer, n_points: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """The first ``n_points`` training samples: fixed, so pictures compare."""
    return trainer.x_train[:n_points], trainer.y_train[:n_points]


class LandscapeJob:
    """A landscape around the weights at the moment it was asked for, computed
    a chunk at a time (``steps()``, a job of ``lab.jobs``), so training can go
    on in between: the grid (coarse first), then the straight line from the
    initial weights. ``result`` fills in as it goes."""

    def __init__(
        self,
        trainer,  # noqa: ANN001
        *,
        kind: str = DirectionKind.FILTER,
        resolution: int = 41,
        span: float = 1.0,
        n_points: int = 1024,
        seed: int = 0,
        mode_per_chunk: bool = True,
    ) -> None:
        if kind not in tuple(DirectionKind):
            kinds = ", ".join(DirectionKind)
            raise ValueError(f"direction kind {kind!r} is not one of {kinds}")
        self.step = trainer.step_count
        params = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        device = next(iter(params.values())).device
        x, y = evaluation_batch(trainer, n_points)
        evaluator = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y)
        evaluator.buffers = {n: b.detach().clone() for n, b in trainer.model.named_buffers()}
        # directions, PCA and the path's coordinates on the host (in float64
        # where they need it: MPS has no float64), then the directions to the device
        host = {n: p.cpu() for n, p in params.items()}
        snapshots = torch.stack(trainer.path.snapshots)
        explained = None
        if kind == DirectionKind.PCA:
            if snapshots.shape[0] < 3:
                raise ValueError(
                    "PCA directions need a training path: train a few dozen steps first"
                )
            d1, d2, explained = pca_directions(snapshots, host)
            d1, d2, path = fit_to_path(d1, d2, project(snapshots, host, d1, d2))
        else:
            d1, d2 = make_directions(host, kind, seed)
            path = project(snapshots, host, d1, d2)
        norms = (direction_norm(d1), direction_norm(d2))
        d1, d2 = ({n: d.to(device) for n, d in ds.items()} for ds in (d1, d2))
        with evaluator.eval_mode():
            center = evaluator.single(params)
        initial = {n: trainer.path.initial[n].to(p.device) for n, p in params.items()}
        line_t, line_direction = straight_line(initial, params)
        self.result = Landscape(
            surface=Surface(
                np.linspace(-span, span, resolution),
                np.linspace(-span, span, resolution),
                np.full((resolution, resolution), np.nan),
                complete=False,
            ),
            kind=DirectionKind(kind),
            seed=seed,
            center_loss=center,
            trajectory=path,
            trajectory_steps=np.asarray(trainer.path.steps),
            explained=explained,
            n_points=int(x.shape[0]),
            line_t=line_t,
            line_losses=np.full(len(line_t), np.nan),
            direction_norms=norms,
        )
        self.fraction = 0.0
        self.complete = False  # the grid and the line
        self._grid = iter_surface(
            evaluator, params, d1, d2, resolution=resolution, span=span,
            mode_per_chunk=mode_per_chunk,
        )  # fmt: skip
        self._line = iter_line(
            evaluator, initial, line_direction, line_t, mode_per_chunk=mode_per_chunk
        )
        self._points = (resolution * resolution, len(line_t))

    def steps(self) -> Generator[Progress, None, Landscape]:
        """A chunk per step: the grid, then the line; the partial result
        (``result``) with every report. Closing it stops the chunk generators
        at once, which leaves eval mode."""
        grid_points, line_points = self._points
        total = grid_points + line_points
        try:
            for fraction, surface in self._grid:
                self.result.surface = surface
                self.fraction = fraction * grid_points / total
                yield Progress(self.fraction, "grid", self.result)
            for fraction, values in self._line:
                self.result.line_losses = values
                self.fraction = (grid_points + fraction * line_points) / total
                yield Progress(self.fraction, "line from the initial weights", self.result)
        finally:
            self._grid.close()
            self._line.close()
        self.complete = True
        return self.result

    def run(self, progress: ProgressCallback | None = None) -> Landscape:
        """The whole landscape now; ``progress(fraction, surface)`` after each
        chunk, returning False to stop early (a partial result)."""
        steps = self.steps()
        try:
            for report in steps:
                if progress is not None and progress(report.fraction, self.result.surface) is False:
                    break
        finally:
            steps.close()
        if progress is not None and self.complete:
            progress(1.0, self.result.surface)
        return self.result


def landscape_for(trainer, **options) -> Landscape:  # noqa: ANN001, ANN003
    """Compute a whole landscape now (options as ``LandscapeJob``)."""
    progress = options.pop("progress", None)
    return LandscapeJob(trainer, mode_per_chunk=False, **options).run(progress)
