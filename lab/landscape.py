"""Loss landscapes around the current weights (Li et al., 2018, "Visualizing the
Loss Landscape of Neural Nets").

A 2-D landscape is L(theta + a*d1 + b*d2) on a regular grid of (a, b) in
[-span, span]^2; its centre (a = b = 0) is exactly the current weights.
Directions are dicts of tensors shaped like the parameters:

- ``random``: Gaussian;
- ``filter``: Gaussian, then each filter (a conv output channel, a Linear
  unit's incoming weights) rescaled to the norm of the same filter of the
  weights; 1-D parameters (biases, norm scales) zeroed, as Li et al. do;
- ``layer`` / ``model``: rescaled per parameter tensor / as a whole;
- ``pca``: the first two principal components of the recorded training
  trajectory (snapshots minus the current weights), orthonormal.

Evaluation is batched: many grid points per forward pass through
``torch.func.functional_call`` under ``torch.vmap``, in chunks that bound the
memory, on a fixed evaluation batch, with the model in eval mode (BatchNorm
uses running statistics, dropout is off). The grid fills in progressively —
every 4th point first, then every 2nd, then the rest — with a progress
callback that can cancel between chunks; what was computed stays usable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

Params = dict[str, torch.Tensor]
DIRECTION_KINDS = ("random", "filter", "layer", "model", "pca")


class Cancelled(Exception):
    """Raised inside a computation when the progress callback asks to stop."""


# ---------------------------------------------------------------- directions


def parameters_of(model: nn.Module) -> Params:
    return {name: p.detach() for name, p in model.named_parameters()}


def random_direction(params: Params, generator: torch.Generator) -> Params:
    return {
        name: torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        for name, p in params.items()
    }


def normalize_direction(direction: Params, params: Params, kind: str) -> Params:
    """Rescale ``direction`` to the scale of ``params`` (see the module doc)."""
    if kind == "random":
        return direction
    if kind == "model":
        d_norm = torch.sqrt(sum((d**2).sum() for d in direction.values()))
        w_norm = torch.sqrt(sum((w**2).sum() for w in params.values()))
        return {name: d * (w_norm / d_norm) for name, d in direction.items()}
    out = {}
    for name, d in direction.items():
        w = params[name]
        if kind == "layer":
            out[name] = d * (w.norm() / d.norm().clamp_min(1e-12))
        elif d.dim() <= 1:  # filter: biases and norm scales get no direction
            out[name] = torch.zeros_like(d)
        else:
            dims = tuple(range(1, d.dim()))
            w_norms = torch.linalg.vector_norm(w, dim=dims, keepdim=True)
            d_norms = torch.linalg.vector_norm(d, dim=dims, keepdim=True).clamp_min(1e-12)
            out[name] = d * (w_norms / d_norms)
    return out


def make_directions(params: Params, kind: str, seed: int) -> tuple[Params, Params]:
    """Two directions of ``kind`` (not ``pca``), reproducible from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    first = normalize_direction(random_direction(params, generator), params, kind)
    second = normalize_direction(random_direction(params, generator), params, kind)
    return first, second


def flatten(params: Params) -> torch.Tensor:
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten(vector: torch.Tensor, like: Params) -> Params:
    out, offset = {}, 0
    for name, p in like.items():
        out[name] = vector[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    return out


def pca_directions(snapshots: torch.Tensor, params: Params) -> tuple[Params, Params, np.ndarray]:
    """The plane of the first two principal components of the trajectory.

    ``snapshots`` is (steps, n_params), flattened like ``flatten(params)``;
    the trajectory is centred on the current weights, as Li et al. do. Returns
    two orthonormal directions and the share of variance each explains.
    """
    centred = (snapshots - flatten(params).to(snapshots)).double()
    _, singular, vt = torch.linalg.svd(centred, full_matrices=False)
    explained = (singular**2 / (singular**2).sum()).cpu().numpy()
    first = vt[0].to(snapshots.dtype)
    second = vt[1].to(snapshots.dtype) if vt.shape[0] > 1 else torch.zeros_like(first)
    return unflatten(first, params), unflatten(second, params), explained[:2]


def project(snapshots: torch.Tensor, params: Params, d1: Params, d2: Params) -> np.ndarray:
    """(a, b) coordinates of trajectory snapshots in the plane (least squares,
    exact when the directions are orthonormal or the point lies in the plane)."""
    basis = torch.stack([flatten(d1), flatten(d2)], dim=1).double()  # n x 2
    offsets = (snapshots - flatten(params).to(snapshots)).double()  # steps x n
    solution = torch.linalg.lstsq(basis, offsets.T).solution  # 2 x steps
    return solution.T.cpu().numpy()


# ---------------------------------------------------------------- evaluation


class LossEvaluator:
    """Loss of ``model`` at many parameter points at once, on a fixed batch."""

    def __init__(
        self, model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor
    ) -> None:
        self.model, self.loss_fn, self.x, self.y = model, loss_fn, x, y
        self.buffers = {name: b.detach() for name, b in model.named_buffers()}

        def one(params: Params) -> torch.Tensor:
            out = functional_call(self.model, (params, self.buffers), (self.x,))
            return self.loss_fn(out.float(), self.y)

        self._batched = torch.vmap(one)
        self._one = one

    @torch.no_grad()
    def __call__(self, stacked: Params) -> torch.Tensor:
        """Losses for a stack of parameter points (leading axis = points)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self._batched(stacked)
        finally:
            self.model.train(was_training)

    @torch.no_grad()
    def single(self, params: Params) -> float:
        was_training = self.model.training
        self.model.eval()
        try:
            return float(self._one(params))
        finally:
            self.model.train(was_training)


def chunk_size_for(
    params: Params, x: torch.Tensor, budget_bytes: int = 64 * 2**20, cap: int = 16
) -> int:
    """Grid points per vmapped call: bounded by a memory budget for the stacked
    parameters and activations. 16 was fastest on a 2-core CPU (FACTS.md)."""
    n_params = sum(p.numel() for p in params.values())
    per_point = 4 * (n_params + x.shape[0] * max(p.shape[0] for p in params.values()) * 4)
    return int(max(1, min(cap, budget_bytes // max(per_point, 1))))


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


@dataclass
class Surface:
    alphas: np.ndarray  # resolution
    betas: np.ndarray  # resolution
    losses: np.ndarray  # resolution x resolution, [i, j] at (alphas[i], betas[j]); NaN = not yet
    complete: bool


ProgressCallback = Callable[[float, Surface], bool]  # returns False to cancel


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
    coords = np.linspace(-span, span, resolution)
    losses = np.full((resolution, resolution), np.nan)
    surface = Surface(coords, coords.copy(), losses, complete=False)
    chunk = chunk or chunk_size_for(params, evaluator.x)
    device = next(iter(params.values())).device
    total, done = resolution * resolution, 0
    for indices in refinement_order(resolution):
        for start in range(0, len(indices), chunk):
            block = indices[start : start + chunk]
            a = torch.as_tensor(coords[block[:, 0]], dtype=torch.float32, device=device)
            b = torch.as_tensor(coords[block[:, 1]], dtype=torch.float32, device=device)
            stacked = {
                name: p.unsqueeze(0) + _outer(a, d1[name]) + _outer(b, d2[name])
                for name, p in params.items()
            }
            values = evaluator(stacked).cpu().numpy()
            losses[block[:, 0], block[:, 1]] = values
            done += len(block)
            if progress is not None and progress(done / total, surface) is False:
                return surface
    surface.complete = True
    return surface


def line_1d(
    evaluator: LossEvaluator,
    start: Params,
    direction: Params,
    coords: np.ndarray,
    chunk: int | None = None,
) -> np.ndarray:
    """L(start + t*direction) for each t in ``coords`` (batched)."""
    chunk = chunk or chunk_size_for(start, evaluator.x)
    device = next(iter(start.values())).device
    out = []
    for i in range(0, len(coords), chunk):
        t = torch.as_tensor(coords[i : i + chunk], dtype=torch.float32, device=device)
        stacked = {name: p.unsqueeze(0) + _outer(t, direction[name]) for name, p in start.items()}
        out.append(evaluator(stacked).cpu().numpy())
    return np.concatenate(out)


def _outer(scalars: torch.Tensor, tensor: torch.Tensor) -> torch.Tensor:
    return scalars.view(-1, *([1] * tensor.dim())) * tensor.unsqueeze(0)


def interpolation(evaluator: LossEvaluator, initial: Params, final: Params, points: int = 51,
                  extend: float = 0.5) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Loss on the straight line from the initial (t=0) to the current (t=1)
    weights, extended by ``extend`` on both sides."""
    coords = np.linspace(-extend, 1 + extend, points)
    direction = {name: final[name] - initial[name] for name in final}
    return coords, line_1d(evaluator, initial, direction, coords)


def matmul_flops(model: nn.Module, n_points: int) -> float:
    """Multiply-add FLOPs of one forward pass of an MLP over ``n_points``."""
    flops = 0.0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            flops += 2.0 * module.in_features * module.out_features * n_points
    return flops


def finite_max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else math.nan


# ---------------------------------------------------------------- trainer level


@dataclass
class Landscape:
    surface: Surface
    kind: str
    seed: int
    center_loss: float  # the model's loss at the current weights, same batch
    trajectory: np.ndarray  # (snapshots, 2): the training path in the plane
    trajectory_steps: np.ndarray
    explained: np.ndarray | None  # PCA: variance share of the two components
    n_points: int


def evaluation_batch(trainer, n_points: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """The first ``n_points`` training samples: fixed, so pictures compare."""
    return trainer.x_train[:n_points], trainer.y_train[:n_points]


def landscape_for(
    trainer,  # noqa: ANN001 - a lab.trainer.Trainer (not imported: no cycle)
    *,
    kind: str = "filter",
    resolution: int = 41,
    span: float = 1.0,
    n_points: int = 1024,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> Landscape:
    if kind not in DIRECTION_KINDS:
        raise ValueError(f"direction kind {kind!r} is not one of {', '.join(DIRECTION_KINDS)}")
    params = parameters_of(trainer.model)
    x, y = evaluation_batch(trainer, n_points)
    evaluator = LossEvaluator(trainer.model, trainer.loss_fn, x, y)
    snapshots = torch.stack(trainer.trajectory).to(next(iter(params.values())).device)
    explained = None
    if kind == "pca":
        if snapshots.shape[0] < 3:
            raise ValueError("PCA directions need a training path: train a few dozen steps first")
        d1, d2, explained = pca_directions(snapshots, params)
    else:
        d1, d2 = make_directions(params, kind, seed)
    surface = surface_2d(
        evaluator, params, d1, d2, resolution=resolution, span=span, progress=progress
    )
    return Landscape(
        surface=surface,
        kind=kind,
        seed=seed,
        center_loss=evaluator.single(params),
        trajectory=project(snapshots, params, d1, d2),
        trajectory_steps=np.asarray(trainer.trajectory_steps),
        explained=explained,
        n_points=int(x.shape[0]),
    )
