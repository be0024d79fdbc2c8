"""Datasets, generated with numpy from a seed: 2-D toys, a 1-D regression,
small synthetic images and token sequences (``sequences``). Deterministic:
the same ``DataConfig`` gives the same arrays.

Arrays are float32 inputs and int64 class labels (float32 targets for
regression), split into train and test sets after a seeded shuffle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lab.core.config import SEQUENCE_DATASETS, DataConfig
from lab.core.config.choices import IMAGE_SIZE
from lab.core.datainfo import DataInfo
from lab.data.sequences import corpus_windows, symbol_task

SHAPE_NAMES = ("circle", "square", "triangle", "cross")


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification", "regression" or "next_token"
    n_outputs: int  # classes, 1 for regression, the vocabulary for tokens
    class_names: tuple[str, ...] = ()
    info: DataInfo | None = None  # where it came from and what it holds (``experiment_data``)
    image_shape: tuple[int, ...] = ()  # images an MLP reads flattened: their (C, H, W)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


# ---------------------------------------------------------------- 2-D toys


def _spirals(
    rng: np.random.Generator, n: int, k: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % k
    t = rng.uniform(0.0, 1.0, n)
    radius = 0.1 + 0.9 * t
    angle = 3.5 * np.pi * t + 2 * np.pi * y / k  # 1.75 turns per arm
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x + rng.normal(0.0, noise * 0.5, x.shape), y


def _moons(rng: np.random.Generator, n: int, k: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 2
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(
        y[:, None] == 0,
        np.stack([np.cos(t), np.sin(t)], axis=1),
        np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1),
    )
    x = (x - np.array([0.5, 0.25])) / 1.25  # centre and scale into about [-1, 1]
    return x + rng.normal(0.0, noise * 0.5, x.shape), y


def _circles(
    rng: np.random.Generator, n: int, k: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % k
    radius = (y + 1) / k  # class c lies on the ring of radius (c+1)/k
    angle = rng.uniform(0.0, 2 * np.pi, n)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return x + rng.normal(0.0, noise * 0.25, x.shape), y


def _xor(rng: np.random.Generator, n: int, k: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 2
    # class 0 in quadrants (+,+) and (-,-), class 1 in (+,-) and (-,+)
    sign_x = rng.choice([-1.0, 1.0], n)
    sign_y = np.where(y == 0, sign_x, -sign_x)
    x = rng.uniform(0.05, 1.0, (n, 2)) * np.stack([sign_x, sign_y], axis=1)
    return x + rng.normal(0.0, noise * 0.25, x.shape), y


def _gaussians(
    rng: np.random.Generator, n: int, k: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % k
    angle = 2 * np.pi * np.arange(k) / k
    centres = 0.6 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    spread = 0.1 + noise
    return centres[y] + rng.normal(0.0, spread, (n, 2)) * 0.5, y


_TOYS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "spirals": _spirals,
    "moons": _moons,
    "circles": _circles,
    "xor": _xor,
    "gaussians": _gaussians,
}


def _regression1d(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """y = sin(3x) + 0.3x^2 on [-2, 2] with Gaussian noise."""
    x = rng.uniform(-2.0, 2.0, (n, 1))
    y = np.sin(3 * x) + 0.3 * x**2 + rng.normal(0.0, noise, x.shape)
    return x, y


# ---------------------------------------------------------------- images


def _shape_mask(kind: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64) + 0.5
    dy, dx = yy - cy, xx - cx
    if kind == 0:  # circle (a disc)
        return dy**2 + dx**2 <= r**2
    if kind == 1:  # square
        return (np.abs(dy) <= r * 0.85) & (np.abs(dx) <= r * 0.85)
    if kind == 2:  # triangle pointing up
        return (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
    # cross
    bar = r * 0.3
    return ((np.abs(dy) <= bar) & (np.abs(dx) <= r)) | ((np.abs(dx) <= bar) & (np.abs(dy) <= r))


def _shapes(
    rng: np.random.Generator, n: int, k: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Greyscale square images (IMAGE_SIZE a side) of a circle, square,
    triangle or cross at a random position, size and brightness, on a noisy
    background."""
    y = np.arange(n) % k
    images = np.empty((n, 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float64)
    for i in range(n):
        r = rng.uniform(3.0, 6.0)
        cy, cx = rng.uniform(r, IMAGE_SIZE - r, 2)
        brightness = rng.uniform(0.6, 1.0)
        images[i, 0] = _shape_mask(int(y[i]), cy, cx, r) * brightness
    images += rng.normal(0.0, noise, images.shape)
    return (images - 0.25) / 0.4, y  # roughly zero mean, unit scale


# ---------------------------------------------------------------- public


def examples_per_class(
    x: np.ndarray, y: np.ndarray, per_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` samples of each class, class by class."""
    index = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])
    return x[index], y[index]


def make_dataset(config: DataConfig) -> Dataset:
    """Generate and split the dataset ``config`` describes."""
    if config.real:
        from lab.data.real import read_raw, source_info, split_real

        raw = read_raw(config)
        x_train, y_train, x_test, y_test = split_real(config, raw)
        info = source_info(config, raw)  # where it came from; ``fitting`` adds the sizes
        if raw.kind == "text":
            names = tuple(sorted(set(raw.text)))
            return Dataset(x_train, y_train, x_test, y_test, "next_token", len(names), names, info)
        n_outputs = len(raw.class_names) if raw.task == "classification" else 1
        return Dataset(x_train, y_train, x_test, y_test, raw.task, n_outputs, raw.class_names, info)
    rng = np.random.default_rng(config.seed)
    n, k = config.n_samples, config.n_classes
    if config.name in SEQUENCE_DATASETS:
        return _token_dataset(config, rng)
    class_names: tuple[str, ...] = ()
    if config.name in _TOYS:
        x, y = _TOYS[config.name](rng, n, k, config.noise)
        task, n_outputs, y = "classification", k, y.astype(np.int64)
        class_names = tuple(f"class {c}" for c in range(k))
    elif config.name == "regression1d":
        x, y = _regression1d(rng, n, config.noise)
        task, n_outputs, y = "regression", 1, y.astype(np.float32)
    elif config.name == "shapes":
        x, y = _shapes(rng, n, k, config.noise)
        task, n_outputs, y = "classification", k, y.astype(np.int64)
        class_names = SHAPE_NAMES[:k]
    else:  # pragma: no cover - DataConfig validates the name
        raise AssertionError(config.name)
    x = x.astype(np.float32)
    order = rng.permutation(n)
    n_test = round(n * config.test_fraction)
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test], task, n_outputs, class_names)


def _token_dataset(config: DataConfig, rng: np.random.Generator) -> Dataset:
    """Token sequences (int64 inputs and next-token targets, -100 where
    ignored); ``class_names`` are the tokens' names."""
    n_test = round(config.n_samples * config.test_fraction)
    if config.name == "chars":
        (x_train, y_train), (x_test, y_test), names = corpus_windows(config, rng, n_test)
    else:
        x, y, names = symbol_task(config, rng)
        x_test, y_test, x_train, y_train = x[:n_test], y[:n_test], x[n_test:], y[n_test:]
    return Dataset(x_train, y_train, x_test, y_test, "next_token", len(names), tuple(names))
