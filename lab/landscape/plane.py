"""Grids and lines of points in a plane of weight space, evaluated chunk by
chunk: the surface fills in progressively (every 4th point first, then every
2nd, then the rest), and what was computed stays usable when it stops."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from lab.landscape.directions import Params, flatten
from lab.landscape.evaluator import LossEvaluator


def refinement_order(resolution: int) -> list[np.ndarray]:
    """Grid indices in passes: every 4th point (a coarse picture), then every
    2nd, then the rest; each index appears exactly once."""
    done = np.zeros((resolution, resolution), dtype=bool)
    passes = []
    for stride in (4, 2, 1):
        mask = np.zeros_like(done)
        mask[::stride, ::stride] = True
        mask[resolution // 2 :: stride, resolution // 2 :: stride] = (
            True  # always include the centre
        )
        mask[::stride, resolution // 2 :: stride] = True
        mask[resolution // 2 :: stride, ::stride] = True
        new = mask & ~done
        done |= new
        passes.append(np.argwhere(new))
    return passes


class Plane:
    """Points params + a*d1 + b*d2 for many (a, b) at once (or params + t*d
    along a line, with one direction): one small matmul over the flattened
    weights instead of three ops per parameter tensor."""

    def __init__(self, params: Params, *directions: Params) -> None:
        self.origin = flatten(params)
        # each direction flattened in the parameters' order, whatever its own
        self.basis = torch.stack([flatten({n: d[n] for n in params}) for d in directions])
        self._shapes = [(name, p.shape) for name, p in params.items()]
        self._sizes = [p.numel() for p in params.values()]

    def rows(self) -> Params:
        """The origin, then each direction, stacked like points."""
        return self._views(torch.cat([self.origin.unsqueeze(0), self.basis]))

    def points(self, ab: torch.Tensor) -> Params:
        """The points at coordinates ``ab`` (points x directions)."""
        return self._views(torch.addmm(self.origin.unsqueeze(0), ab, self.basis))

    def _views(self, flat: torch.Tensor) -> Params:
        """Each parameter's view of flat rows (rows x n)."""
        pieces = flat.split(self._sizes, dim=1)  # one call for all the views
        return {
            name: piece.view(-1, *shape)
            for (name, shape), piece in zip(self._shapes, pieces, strict=True)
        }


@dataclass
class Surface:
    alphas: np.ndarray  # resolution
    betas: np.ndarray  # resolution
    losses: np.ndarray  # resolution x resolution, [i, j] at (alphas[i], betas[j]); NaN = not yet
    complete: bool


ProgressCallback = Callable[[float, Surface], bool]  # returns False to cancel


def _losses_by_block(
    evaluator: LossEvaluator, plane: Plane, blocks: Iterator[np.ndarray], mode_per_chunk: bool
) -> Iterator[np.ndarray]:
    """The losses at each block of plane coordinates (points x directions), a
    batched call per block, in eval mode throughout or (``mode_per_chunk``)
    only while a block computes, so training can go on in between."""
    device = plane.origin.device
    whole = contextlib.nullcontext() if mode_per_chunk else evaluator.eval_mode()
    with whole:
        for block in blocks:
            coords = torch.as_tensor(block, dtype=torch.float32, device=device)
            with evaluator.eval_mode() if mode_per_chunk else contextlib.nullcontext():
                yield evaluator.on_plane(plane, coords).cpu().numpy()


def iter_surface(
    evaluator: LossEvaluator,
    params: Params,
    d1: Params,
    d2: Params,
    *,
    resolution: int = 41,
    span: float = 1.0,
    chunk: int | None = None,
    mode_per_chunk: bool = False,
) -> Iterator[tuple[float, Surface]]:
    """Fill a surface chunk by chunk, yielding (fraction done, partial surface)
    after each; the engine advances it between training steps
    (``mode_per_chunk``: eval mode only while a chunk computes)."""
    coords = np.linspace(-span, span, resolution)
    surface = Surface(
        coords, coords.copy(), np.full((resolution, resolution), np.nan), complete=False
    )
    chunk = chunk or evaluator.chunk_size(params)
    blocks = [  # grid indices, chunk by chunk, each refinement pass on its own
        indices[start : start + chunk]
        for indices in refinement_order(resolution)
        for start in range(0, len(indices), chunk)
    ]
    losses = _losses_by_block(
        evaluator, Plane(params, d1, d2), (coords[b] for b in blocks), mode_per_chunk
    )
    total, done = resolution * resolution, 0
    for block, values in zip(blocks, losses, strict=True):
        surface.losses[block[:, 0], block[:, 1]] = values
        done += len(block)
        surface.complete = done == total
        yield done / total, surface


def surface_2d(
    evaluator: LossEvaluator,
    params: Params,
    d1: Params,
    d2: Params,
    *,
    resolution: int = 41,
    span: float = 1.0,
    chunk: int | None = None,
    progress: ProgressCallback | None = None,
) -> Surface:
    """L(params + a*d1 + b*d2) on a ``resolution`` x ``resolution`` grid over
    [-span, span]^2, filled progressively. ``progress(fraction, partial)`` is
    called after every chunk; returning False stops the computation (the
    partial surface is returned with ``complete=False``)."""
    surface = None
    for fraction, surface in iter_surface(
        evaluator, params, d1, d2, resolution=resolution, span=span, chunk=chunk
    ):
        if progress is not None and progress(fraction, surface) is False:
            break
    assert surface is not None
    return surface


def iter_line(
    evaluator: LossEvaluator,
    start: Params,
    direction: Params,
    coords: np.ndarray,
    *,
    chunk: int | None = None,
    mode_per_chunk: bool = False,
) -> Iterator[tuple[float, np.ndarray]]:
    """L(start + t*direction) for each t in ``coords``, chunk by chunk, yielding
    (fraction done, the values so far; NaN = not yet) after each chunk."""
    chunk = chunk or evaluator.chunk_size(start)
    starts = range(0, len(coords), chunk)
    losses = _losses_by_block(
        evaluator,
        Plane(start, direction),
        (coords[i : i + chunk, None] for i in starts),
        mode_per_chunk,
    )
    values = np.full(len(coords), np.nan)
    for i, block in zip(starts, losses, strict=True):
        values[i : i + chunk] = block
        yield min(i + chunk, len(coords)) / len(coords), values


def line_1d(
    evaluator: LossEvaluator,
    start: Params,
    direction: Params,
    coords: np.ndarray,
    chunk: int | None = None,
) -> np.ndarray:
    """L(start + t*direction) for each t in ``coords`` (batched)."""
    *_, (_, values) = iter_line(evaluator, start, direction, coords, chunk=chunk)  # the last
    return values


LINE_POINTS, LINE_EXTEND = 41, 0.5  # t = -0.5 .. 1.5 in steps of 0.05: 0 and 1 are samples


def interpolation(
    evaluator: LossEvaluator,
    initial: Params,
    final: Params,
    points: int = LINE_POINTS,
    extend: float = LINE_EXTEND,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss on the straight line from the initial (t=0) to the current (t=1)
    weights, extended by ``extend`` on both sides (Goodfellow et al., 2015)."""
    coords, direction = straight_line(initial, final, points, extend)
    return coords, line_1d(evaluator, initial, direction, coords)


def straight_line(
    initial: Params, final: Params, points: int = LINE_POINTS, extend: float = LINE_EXTEND
) -> tuple[np.ndarray, Params]:
    """The line's coordinates t, -extend .. 1 + extend, and its direction
    final - initial (t = 0 is ``initial``, t = 1 ``final``)."""
    coords = np.linspace(-extend, 1 + extend, points)
    return coords, {name: final[name] - initial[name] for name in final}
