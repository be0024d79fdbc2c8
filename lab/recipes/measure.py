"""Measurements the recipes share: the signal at initialisation by depth,
training an arm a chunk at a time, curves read from the trainer's own
metric store, and a few figures the lab's probes do not keep (dead units
over a whole training set, confidence and calibration)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from lab.core import wire
from lab.core.config import ExperimentConfig, LayerConfig, mlp_layers
from lab.core.recipes import Plot, PlotKind
from lab.jobs import Progress
from lab.probes import ProbeSnapshot
from lab.recipes.base import Arm
from lab.train.trainer import Trainer

CHUNK = 25  # steps between progress reports (a cancel takes effect there)
LOSS_PLOT = Plot(
    "loss", "training loss (running mean of 20 steps)", PlotKind.CURVE, "step", log_y=True
)


def steps_for(arm: Arm, fast: bool) -> int:
    """An arm's training steps (its ``train`` option); a third in the quick variant."""
    steps = int(arm.options["train"])
    return max(1, steps // 3) if fast else steps


def with_layers(config: ExperimentConfig, layers: tuple[LayerConfig, ...]) -> ExperimentConfig:
    return dataclasses.replace(config, model=dataclasses.replace(config.model, layers=layers))


def mlp(
    config: ExperimentConfig,
    depth: int,
    width: int,
    activation: str,
    *,
    residual: bool = False,
    **layer: Any,
) -> ExperimentConfig:
    """``config`` with an MLP of ``depth`` equal layers; ``residual``: every
    layer but the first (whose input is narrower) is a residual block."""
    layers = tuple(
        dataclasses.replace(c, residual=residual and i > 0, **layer)
        for i, c in enumerate(mlp_layers(depth, width, activation))
    )
    return with_layers(config, layers)


def profile(values: np.ndarray) -> tuple[list[float], list[float]]:
    """A per-layer figure over depth, layers counted from 1."""
    values = np.asarray(values, dtype=float)
    return list(range(1, len(values) + 1)), values.tolist()


def hidden(snapshot: ProbeSnapshot, values: np.ndarray | None) -> np.ndarray:
    """A per-layer array without the output head (hidden layers only)."""
    assert values is not None
    return np.asarray(values[: len(snapshot.act_names)], dtype=float)


def train(
    config: ExperimentConfig, steps: int, trainer: Trainer | None = None
) -> Generator[Progress, None, Trainer]:
    """Train ``steps`` steps (continuing ``trainer`` when given), a chunk at a
    time; stops early when training diverges (``trainer.stop_reason``)."""
    trainer = trainer if trainer is not None else Trainer(config)
    end = trainer.step_count + steps
    while trainer.step_count < end and trainer.stop_reason is None:
        trainer.run(min(CHUNK, end - trainer.step_count))
        yield Progress(1 - (end - trainer.step_count) / steps, f"step {trainer.step_count}")
    if trainer.step_count % trainer.config.train.eval_every:
        trainer.log_evaluation()  # the last row describes the final weights
    return trainer


def curve(trainer: Trainer, series: str, column: str) -> tuple[list[float], list[float]]:
    """A column of the trainer's store over steps (what its Loss view draws)."""
    if series not in trainer.store:
        return [], []
    s = trainer.store[series]
    return s.steps.astype(float).tolist(), s.column(column).astype(float).tolist()


def smoothed_loss(trainer: Trainer, window: int = 20) -> tuple[list[float], list[float]]:
    """The training loss per step, a running mean over ``window`` steps."""
    steps, loss = curve(trainer, wire.STEP, "loss")
    if len(loss) < window:
        return steps, loss
    kernel = np.ones(window) / window
    mean = np.convolve(np.asarray(loss), kernel, mode="valid")
    return steps[window - 1 :], mean.tolist()


def final(trainer: Trainer, column: str) -> float:
    return float(trainer.store[wire.EVAL].column(column)[-1])


def steps_to(steps: list[float], values: list[float], target: float) -> float:
    """The first step at which ``values`` reach ``target`` or below (inf: never)."""
    for step, value in zip(steps, values, strict=True):
        if value <= target:
            return step
    return math.inf


@torch.no_grad()
def dead_units(trainer: Trainer) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per hidden layer, the fraction of units that output zero (or less) on
    every training example, in eval mode, and which units they are."""
    model = trainer.model
    outputs: list[torch.Tensor] = []
    handles = [
        block.act.register_forward_hook(lambda _m, _i, out: outputs.append(out <= 0))
        for block in model.blocks
    ]
    was_training = model.training
    model.eval()
    try:
        model(trainer.x_train)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    dead = [out.all(dim=0).cpu().numpy() for out in outputs]
    return np.array([d.mean() for d in dead]), dead


@torch.no_grad()
def probabilities(trainer: Trainer, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Softmax outputs in eval mode and the labels, of a split."""
    x, y = (
        (trainer.x_train, trainer.y_train) if split == "train" else (trainer.x_test, trainer.y_test)
    )
    model = trainer.model
    was_training = model.training
    model.eval()
    try:
        p = torch.softmax(model(x).float(), dim=-1)
    finally:
        model.train(was_training)
    return p.cpu().numpy(), y.cpu().numpy()


def calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: over confidence bins, the gap between
    mean confidence and accuracy, weighted by how many examples fall in each."""
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(error)


def log_slope(x: list[float], y: list[float]) -> float:
    """The slope of log y against log x (a power law's exponent)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
