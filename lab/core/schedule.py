"""Learning-rate schedules as pure functions of the step (no torch), so the GUI
can draw a preview and the trainer can apply a live lr change exactly: the lr
used at step t is ``optim.lr * lr_factor(optim, total_steps, t)``."""

from __future__ import annotations

import math

import numpy as np

from lab.core.config import OptimConfig

ONE_CYCLE_START = 1 / 25  # torch's OneCycleLR defaults: div_factor 25,
ONE_CYCLE_END = 1 / 25 / 1e4  # final_div_factor 1e4


def _cosine(progress: float, start: float, end: float) -> float:
    progress = min(max(progress, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_factor(optim: OptimConfig, total_steps: int, step: int) -> float:
    """Multiplier of ``optim.lr`` at 0-based ``step`` of a ``total_steps`` run."""
    if optim.schedule == "constant":
        return 1.0
    if optim.schedule == "step":
        return optim.gamma ** (step // optim.step_size)
    if optim.schedule == "warmup_cosine":
        warmup = optim.warmup_steps
        if step < warmup:
            return (step + 1) / warmup
        return _cosine((step - warmup) / max(total_steps - warmup, 1), 1.0, optim.min_lr_ratio)
    if optim.schedule == "one_cycle":
        rise = optim.warmup_steps or max(round(0.3 * total_steps), 1)
        if step < rise:
            return _cosine(step / rise, ONE_CYCLE_START, 1.0)
        return _cosine((step - rise) / max(total_steps - rise, 1), 1.0, ONE_CYCLE_END)
    raise AssertionError(optim.schedule)  # pragma: no cover


def lr_curve(
    optim: OptimConfig, total_steps: int, points: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Steps and learning rates for a preview plot, ``points`` samples."""
    steps = np.unique(np.linspace(0, max(total_steps - 1, 0), points).round().astype(np.int64))
    lrs = np.array([optim.lr * lr_factor(optim, total_steps, int(s)) for s in steps])
    return steps, lrs
