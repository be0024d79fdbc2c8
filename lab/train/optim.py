"""Optimisers from ``OptimConfig``, and live changes to their hyper-parameters.

Live changes go straight into the param groups, so they take effect on the very
next step without losing optimiser state (momentum buffers, Adam moments).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lab.core.config import OPTIMIZER_FIELDS, OptimConfig

# Adam, AdamW and Adagrad have fused kernels (one kernel for all tensors),
# faster than torch's default per-tensor loop (bench/bench_trainer.py); SGD
# and RMSprop are fastest with the multi-tensor (foreach) path.
_FUSED = ("adam", "adamw", "adagrad")


def build_optimizer(
    params: Iterable[torch.nn.Parameter], config: OptimConfig
) -> torch.optim.Optimizer:
    params = list(params)
    if config.name in _FUSED:
        try:
            return _make(params, config, fused=True)
        except (RuntimeError, ValueError, TypeError):  # device or torch without a fused kernel
            pass
    return _make(params, config, foreach=True)


def _make(
    params: list[torch.nn.Parameter], config: OptimConfig, **fast: bool
) -> torch.optim.Optimizer:
    name = config.name
    common = {"lr": config.lr, "weight_decay": config.weight_decay, **fast}
    if name == "sgd":
        nesterov = config.nesterov and config.momentum > 0
        return torch.optim.SGD(params, momentum=config.momentum, nesterov=nesterov, **common)
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, alpha=config.alpha, eps=config.eps, momentum=config.momentum, **common
        )
    if name == "adagrad":
        return torch.optim.Adagrad(params, eps=config.eps, **common)
    betas = (config.beta1, config.beta2)
    if name == "adam":
        return torch.optim.Adam(params, betas=betas, eps=config.eps, **common)
    if name == "adamw":
        return torch.optim.AdamW(params, betas=betas, eps=config.eps, **common)
    raise AssertionError(name)  # pragma: no cover - config validates the name


def apply_live(optimizer: torch.optim.Optimizer, config: OptimConfig) -> None:
    """Write ``config``'s hyper-parameters into every param group."""
    fields = OPTIMIZER_FIELDS[config.name]  # a running optimiser takes all it reads
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
