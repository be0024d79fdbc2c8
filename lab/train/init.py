"""Weight initialisation schemes for every Linear and Conv layer of a model.

Every scheme's standard deviation is multiplied by ``gain``; biases are set to
``bias``. Norm layers keep weight 1 and bias 0; ReZero scalars stay at 0.

Expected weight standard deviations (fan_in = inputs per unit, fan_out = outputs):

- default:        torch's own (Kaiming-uniform with a=sqrt(5)): 1/sqrt(3 fan_in)
- he_normal/uniform:       sqrt(2 / fan_in)
- xavier_normal/uniform:   sqrt(2 / (fan_in + fan_out))
- orthogonal:     1/sqrt(max(fan_in, fan_out)) (rows or columns orthonormal)
- normal:         ``std``
- zeros:          0
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lab.core.config import ExperimentConfig, InitConfig


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = weight[0][0].numel() if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def expected_std(config: InitConfig, weight_shape: tuple[int, ...]) -> float:
    """The standard deviation ``config`` gives a weight of this shape."""
    fan_in, fan_out = _fans(torch.empty(weight_shape, device="meta"))
    base = {
        "default": 1.0 / math.sqrt(3.0 * fan_in),
        "he_normal": math.sqrt(2.0 / fan_in),
        "he_uniform": math.sqrt(2.0 / fan_in),
        "xavier_normal": math.sqrt(2.0 / (fan_in + fan_out)),
        "xavier_uniform": math.sqrt(2.0 / (fan_in + fan_out)),
        "orthogonal": 1.0 / math.sqrt(max(fan_in, fan_out)),
        "normal": config.std,
        "zeros": 0.0,
    }[config.scheme]
    return base * config.gain


@torch.no_grad()
def init_weight(weight: torch.Tensor, config: InitConfig) -> None:
    scheme, gain = config.scheme, config.gain
    if scheme == "default":
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        weight.mul_(gain)
    elif scheme == "he_normal":
        nn.init.kaiming_normal_(weight, nonlinearity="relu").mul_(gain)
    elif scheme == "he_uniform":
        nn.init.kaiming_uniform_(weight, nonlinearity="relu").mul_(gain)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(weight, gain=gain)
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(weight, gain=gain)
    elif scheme == "orthogonal":
        nn.init.orthogonal_(weight, gain=gain)
    elif scheme == "normal":
        nn.init.normal_(weight, 0.0, config.std * gain)
    elif scheme == "zeros":
        nn.init.zeros_(weight)
    else:  # pragma: no cover - config validates the scheme
        raise AssertionError(scheme)


@torch.no_grad()
def apply_init(model: nn.Module, config: InitConfig) -> None:
    """Initialise the weights and biases of every Linear/Conv layer in ``model``."""
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
            init_weight(module.weight, config)
            if module.bias is not None:
                module.bias.fill_(config.bias)


EMBEDDING_STD = 0.02  # GPT-2's: token and position embeddings start small


@torch.no_grad()
def init_model(model: nn.Module, config: ExperimentConfig) -> None:
    """``apply_init`` for every model; for a Transformer also its embeddings
    (normal, std 0.02) and, as GPT-2 does, each residual output projection
    scaled by 1/sqrt(2N) for N blocks when the config asks for it."""
    apply_init(model, config.init)
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, EMBEDDING_STD)
    projections = getattr(model, "residual_projections", None)
    if projections is not None and config.model.transformer.scale_residual_init:
        scale = 1.0 / math.sqrt(2 * config.model.transformer.layers)
        for layer in projections():
            layer.weight.mul_(scale)
