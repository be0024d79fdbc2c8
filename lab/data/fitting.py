"""The dataset an experiment trains on, fitted to its model: images
flattened for an MLP, and the checks only the data read can make (a file's
task against the loss, the batch against the training set, a CNN's pooling
against the image size, a residual block against the feature count). Each
refusal is a ``ConfigError`` naming the field to change."""

from __future__ import annotations

import dataclasses

import numpy as np

from lab.core.config import ExperimentConfig
from lab.core.datainfo import DataInfo
from lab.core.errors import ConfigError
from lab.data.datasets import Dataset, make_dataset


def experiment_data(config: ExperimentConfig) -> Dataset:
    data = make_dataset(config.data)
    kind = config.model.kind
    if data.task != "next_token":
        config.check_task(data.task)
        images = data.x_train.ndim == 4
        if kind == "cnn" and not images:
            raise ConfigError(
                "model.kind",
                f"a CNN needs images; this data has {data.x_train.shape[1]} features per"
                " example: use an MLP",
            )
        if kind == "mlp" and images:  # an MLP reads the pixels in a row
            data = dataclasses.replace(
                data,
                x_train=data.x_train.reshape(len(data.x_train), -1),
                x_test=data.x_test.reshape(len(data.x_test), -1),
                image_shape=data.input_shape,
            )
        if kind == "cnn":
            config.check_pools(min(data.x_train.shape[2:]))
        else:
            config.check_residuals(data.x_train.shape[1])
    n_train = len(data.x_train)
    if config.data.batch_size > n_train:
        raise ConfigError(
            "data.batch_size",
            f"{config.data.batch_size} is larger than the training set ({n_train} samples)",
        )
    if len(data.x_test) == 0:
        raise ConfigError("data.test_fraction", "leaves no test examples; make it larger")
    return dataclasses.replace(data, info=describe(config, data))


def fit_batch(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with a batch no larger than its file's training set (a
    table of 80 rows asks for a smaller batch than the default 128)."""
    if config.data.name != "file" or config.data.task == "next_token":
        return config
    probe = dataclasses.replace(config.data, batch_size=1)
    n_train = len(make_dataset(probe).x_train)  # the file is read once: the read is kept
    if config.data.batch_size <= n_train:
        return config
    return config.with_changes({"data.batch_size": max(1, n_train)})


def _counts(data: Dataset) -> tuple[tuple[str, int, int], ...]:
    if data.task != "classification":
        return ()
    train = np.bincount(data.y_train, minlength=data.n_outputs)
    test = np.bincount(data.y_test, minlength=data.n_outputs)
    names = data.class_names or tuple(f"class {c}" for c in range(data.n_outputs))
    return tuple((name, int(a), int(b)) for name, a, b in zip(names, train, test, strict=True))


def describe(config: ExperimentConfig, data: Dataset) -> DataInfo:
    """What the window shows and a run folder records about ``data``: where
    it came from (a real set's, from its reading), the sizes the model reads
    and the class counts."""
    source = data.info or DataInfo(
        name=config.data.name, kind="generated", source=f"{config.data.name} (generated)"
    )
    return dataclasses.replace(
        source,
        task=data.task,
        n_train=len(data.x_train),
        n_test=len(data.x_test),
        input_shape=tuple(int(d) for d in data.input_shape),
        n_outputs=data.n_outputs,
        class_counts=_counts(data),
    )
