"""What the engine shows the window about the experiment besides metric rows:
the model and data as built, signal propagation at initialisation, and the
decision boundary (or fitted curve) of the current weights."""

from __future__ import annotations

import numpy as np

from lab.core import protocol as p
from lab.data import examples_per_class
from lab.models import summarize
from lab.train.signal import signal_propagation
from lab.train.trainer import Trainer

THUMBNAIL_IMAGES_PER_CLASS = 8
THUMBNAIL_POINTS = 2000
BOUNDARY_GRID = 80
CURVE_POINTS = 200
TRUTH_POINTS = 1000  # test examples in a prediction-against-truth plot


def built(trainer: Trainer, reason: str, undo: str = "") -> p.Built:
    """The experiment as built: config, model summary, data to draw; ``undo``
    names the run Undo would bring back."""
    summary = summarize(trainer.model, trainer.data.input_shape)
    rows = [
        (layer.name, layer.description, layer.output_shape, layer.n_params)
        for layer in summary.layers
    ]
    x, y = trainer.data.x_train, trainer.data.y_train
    if trainer.data.image_shape:  # images an MLP reads flattened: shown as images
        x = x.reshape(len(x), *trainer.data.image_shape)
    if x.ndim > 2 and trainer.data.task == "classification":  # a few of each class
        x, y = examples_per_class(x, y, THUMBNAIL_IMAGES_PER_CLASS)
    return p.Built(
        trainer.config.to_dict(),
        rows,
        summary.n_params,
        trainer.data.task,
        x[:THUMBNAIL_POINTS],
        y[:THUMBNAIL_POINTS],
        reason,
        trainer.data.class_names,
        undo,
        trainer.data.info,
        tuple(getattr(trainer.model, "blind", ())),
    )


def prediction_against_truth(trainer: Trainer) -> p.DecisionBoundary:
    """Regression on many features has no line to draw a fit along: the test
    set's predictions against its targets, and R² (1 - SS_res / SS_tot)."""
    x, y = trainer.data.x_test[:TRUTH_POINTS], trainer.data.y_test[:TRUTH_POINTS]
    predicted = trainer.predict(x)[:, 0]
    truth = y.reshape(-1).astype(np.float64)
    spread = float(((truth - truth.mean()) ** 2).sum())
    r2 = 1 - float(((truth - predicted) ** 2).sum()) / spread if spread > 0 else float("nan")
    return p.DecisionBoundary(
        truth.astype(np.float32), None, predicted, None, trainer.step_count, truth=True, r2=r2
    )


IOShape = tuple[tuple[int, ...], int, str]


def io_shape(trainer: Trainer) -> IOShape:
    """What the model reads and writes: its input's shape, its outputs, and
    what one input is (a feature, or a token of a sequence)."""
    unit = "tokens" if trainer.data.task == "next_token" else "features"
    return tuple(int(d) for d in trainer.data.input_shape), int(trainer.data.n_outputs), unit


def io_change(old: IOShape, new: IOShape) -> str:
    """In words: "input 2 features → 13 features, outputs 2 → 3"."""

    def shape(io: IOShape) -> str:
        dims, _, unit = io
        return f"{dims[0]} {unit}" if len(dims) == 1 else "x".join(map(str, dims)) + " images"

    parts = []
    if old[0] != new[0] or old[2] != new[2]:
        parts.append(f"input {shape(old)} → {shape(new)}")
    if old[1] != new[1]:
        parts.append(f"outputs {old[1]} → {new[1]}")
    return ", ".join(parts)


def signal(trainer: Trainer) -> p.SignalPropagation:
    snap = signal_propagation(trainer.config, data=trainer.data)
    return p.SignalPropagation(
        snap.layer_names,
        snap.act_names,
        snap.act_std,
        snap.output_std,
        snap.act_grad_norm,
        snap.grad_norm,
    )


def boundary(trainer: Trainer) -> p.DecisionBoundary | None:
    """The model over a grid around 2-D data (class and confidence per
    cell), or along a line through 1-D regression data; None for other data."""
    x = trainer.data.x_train
    if x.ndim != 2 or x.dtype.kind != "f":  # images; tokens (ints)
        return None
    if trainer.data.task == "regression" and x.shape[1] != 1:
        return prediction_against_truth(trainer)
    if x.shape[1] not in (1, 2):  # a table of more features: the confusion matrix shows it
        return None
    low, high = x.min(axis=0), x.max(axis=0)
    margin = 0.1 * (high - low)
    low, high = low - margin, high + margin
    if x.shape[1] == 1:
        xs = np.linspace(low[0], high[0], CURVE_POINTS, dtype=np.float32)
        values = trainer.predict(xs[:, None])[:, 0]
        return p.DecisionBoundary(xs, None, values, None, trainer.step_count)
    xs = np.linspace(low[0], high[0], BOUNDARY_GRID, dtype=np.float32)
    ys = np.linspace(low[1], high[1], BOUNDARY_GRID, dtype=np.float32)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    logits = trainer.predict(grid)
    with np.errstate(invalid="ignore", over="ignore"):  # a diverged net's NaNs show as such
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
    shape = (BOUNDARY_GRID, BOUNDARY_GRID)  # rows follow ys, columns xs
    return p.DecisionBoundary(
        xs,
        ys,
        probs.argmax(axis=1).reshape(shape),
        probs.max(axis=1).reshape(shape),
        trainer.step_count,
    )
