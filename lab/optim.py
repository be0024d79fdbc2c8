"""Optimisers from ``OptimConfig``, and live changes to their hyper-parameters.

Live changes go straight into the param groups, so they take effect on the very
next step without losing optimiser state (momentum buffers, Adam moments).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lab.config import OptimConfig

# Fields a running optimiser can take without being rebuilt, per optimiser.
_LIVE_FIELDS = {
    "sgd": ("lr", "momentum", "weight_decay", "nesterov"),
    "rmsprop": ("lr", "momentum", "alpha", "eps", "weight_decay"),
    "adagrad": ("lr", "eps", "weight_decay"),
    "adam": ("lr", "beta1", "beta2", "eps", "weight_decay"),
    "adamw": ("lr", "beta1", "beta2", "eps", "weight_decay"),
}


def build_optimizer(
    params: Iterable[torch.nn.Parameter], config: OptimConfig
) -> torch.optim.Optimizer:
    params = list(params)
    name = config.name
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=config.lr,
            alpha=config.alpha,
            eps=config.eps,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    if name == "adagrad":
        return torch.optim.Adagrad(
            params, lr=config.lr, eps=config.eps, weight_decay=config.weight_decay
        )
    betas = (config.beta1, config.beta2)
    if name == "adam":
        return torch.optim.Adam(
            params, lr=config.lr, betas=betas, eps=config.eps, weight_decay=config.weight_decay
        )
    if name == "adamw":
        return torch.optim.AdamW(
            params, lr=config.lr, betas=betas, eps=config.eps, weight_decay=config.weight_decay
        )
    raise AssertionError(name)  # pragma: no cover - config validates the name


def needs_rebuild(old: OptimConfig, new: OptimConfig) -> bool:
    """Whether going from ``old`` to ``new`` needs a new optimiser object.

    A change of optimiser, or SGD's momentum switching on or off, does; lr,
    betas, decay and the like do not. Schedule and clipping are the trainer's.
    """
    if old.name != new.name:
        return True
    return old.name == "sgd" and (old.momentum == 0) != (new.momentum == 0)


def apply_live(optimizer: torch.optim.Optimizer, config: OptimConfig) -> None:
    """Write ``config``'s hyper-parameters into every param group."""
    fields = _LIVE_FIELDS[config.name]
    for group in optimizer.param_groups:
        for name in fields:
            if name in ("beta1", "beta2"):
                group["betas"] = (config.beta1, config.beta2)
            elif name == "nesterov":
                group["nesterov"] = config.nesterov and config.momentum > 0
            else:
                group[name] = getattr(config, name)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
