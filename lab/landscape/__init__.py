"""Loss landscapes around the current weights (Li et al., 2018, "Visualizing
the Loss Landscape of Neural Nets").

A 2-D landscape is L(theta + a*d1 + b*d2) on a regular grid of (a, b) in
[-span, span]^2; its centre (a = b = 0) is exactly the current weights.

- ``directions``: the two directions of the plane (random, filter-, layer- or
  model-normalised, or the principal components of the training path);
- ``evaluator``: the loss at many points at once (``LossEvaluator``);
- ``batched``: the hand-batched torch passes it uses for ``lab.models`` nets;
- ``plane``: points of a plane or a line, filled chunk by chunk, coarse first;
- ``job``: a landscape around a trainer's weights as a job (``LandscapeJob``).

Evaluation runs on a fixed evaluation batch with the model in eval mode
(BatchNorm uses the running statistics of the moment the landscape was asked
for, dropout is off). Plain MLPs go through the compiled fused pass
(``lab.native.fused_mlp``) that forms each grid point itself; other MLPs and
CNNs of ``lab.models`` take hand-batched torch passes, as do plain MLPs where
no C compiler is at hand; any other model goes through
``torch.func.functional_call`` under ``torch.vmap``.
"""

from lab.landscape.directions import (
    PCA_MARGIN,
    fit_to_path,
    make_directions,
    parameters_of,
    pca_directions,
    project,
)
from lab.landscape.evaluator import LossEvaluator, chunk_size_for, matmul_flops
from lab.landscape.job import Landscape, LandscapeJob, landscape_for
from lab.landscape.plane import (
    Plane,
    Surface,
    interpolation,
    iter_line,
    iter_surface,
    line_1d,
    refinement_order,
    surface_2d,
)

__all__ = [
    "PCA_MARGIN",
    "Landscape",
    "LandscapeJob",
    "LossEvaluator",
    "Plane",
    "Surface",
    "chunk_size_for",
    "fit_to_path",
    "interpolation",
    "iter_line",
    "iter_surface",
    "landscape_for",
    "line_1d",
    "make_directions",
    "matmul_flops",
    "parameters_of",
    "pca_directions",
    "project",
    "refinement_order",
    "surface_2d",
]
