"""Directions in weight space for a landscape plane: random, filter-,
layer- or model-normalised (Li et al.), and the principal components of the
training path; projecting the path onto a plane.

Directions are dicts of tensors shaped like the parameters:

- ``random``: Gaussian;
- ``filter``: Gaussian, then each filter (a conv output channel, a Linear
  unit's incoming weights) rescaled to the norm of the same filter of the
  weights; 1-D parameters (biases, norm scales) zeroed, as Li et al. do;
- ``layer`` / ``model``: rescaled per parameter tensor / as a whole;
- ``pca``: the first two principal components of the recorded training
  trajectory (snapshots minus the current weights), orthogonal and of equal
  length, scaled so the path's farthest point lies at 1 / PCA_MARGIN on the
  axes: a span of 1 shows the whole path (unit directions put it ~15 units
  out, and a span-1 grid showed a sliver of it).

PCA and projections run in float64 on the host: MPS has no float64.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

Params = dict[str, torch.Tensor]


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
    centred = host64(snapshots) - host64(flatten(params))
    _, singular, vt = torch.linalg.svd(centred, full_matrices=False)
    explained = (singular**2 / (singular**2).sum()).cpu().numpy()
    first = vt[0].to(snapshots.dtype)
    second = vt[1].to(snapshots.dtype) if vt.shape[0] > 1 else torch.zeros_like(first)
    return unflatten(first, params), unflatten(second, params), explained[:2]


PCA_MARGIN = 1.25  # PCA axes: the path reaches 0.8, so a span of 1 leaves room around it


def fit_to_path(d1: Params, d2: Params, path: np.ndarray) -> tuple[Params, Params, np.ndarray]:
    """Orthonormal directions lengthened alike (the picture keeps its
    proportions) so that the path's (a, b) coordinates, ``path`` in units of
    the given directions, reach at most 1 / PCA_MARGIN. Returns the
    directions and the path in the new units."""
    reach = float(np.abs(path).max()) if path.size else 0.0
    scale = PCA_MARGIN * reach if reach > 0 else 1.0
    return (
        {n: d * scale for n, d in d1.items()},
        {n: d * scale for n, d in d2.items()},
        path / scale,
    )


def host64(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in float64 on the host: MPS has no float64 on the device."""
    return tensor.detach().to("cpu", torch.float64)


def direction_norm(direction: Params) -> float:
    """The length of a direction in weight space: one unit on its axis."""
    return float(torch.linalg.vector_norm(host64(flatten(direction))))


def project(snapshots: torch.Tensor, params: Params, d1: Params, d2: Params) -> np.ndarray:
    """(a, b) coordinates of trajectory snapshots in the plane (least squares,
    exact when the directions are orthonormal or the point lies in the plane)."""
    basis = torch.stack([host64(flatten(d1)), host64(flatten(d2))], dim=1)  # n x 2
    offsets = host64(snapshots) - host64(flatten(params))  # steps x n
    solution = torch.linalg.lstsq(basis, offsets.T).solution  # 2 x steps
    return solution.T.cpu().numpy()
