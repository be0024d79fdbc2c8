"""Fields that must change together for a config to stay valid: the model
family follows the data (a CNN for images, a Transformer for token
sequences, an MLP for points), two-class datasets have two classes,
regression and token tasks have their own loss, a Transformer's context
covers the task's sequences. The window applies these when a person changes
one of them, instead of refusing the change."""

from __future__ import annotations

from typing import Any

from lab.core.config import (
    REGRESSION_DATASETS,
    TWO_CLASS_DATASETS,
    ConfigError,
    DataConfig,
    ExperimentConfig,
    sequence_length,
)
from lab.core.config.choices import FILE_DATASET, REAL_DATASETS, REAL_SIZES
from lab.core.config.experiment import data_families
from lab.core.presets import DEFAULT_PRESET, PRESETS

IMAGE_MODEL_PRESET = "shapes-cnn"  # the CNN a switch to image data starts from
TOKEN_MODEL_PRESET = "copy-transformer"  # the Transformer a switch to token data starts from
SHAPES_MAX_CLASSES = 4


def _families(name: str, path: str) -> tuple[str, ...]:
    """The model kinds data ``name`` (a file: at ``path``) takes, the usual first."""
    try:
        return data_families(DataConfig(name=name, path=path, batch_size=1))
    except ConfigError:
        return ("mlp",)  # a file not named yet: the config says what is missing


def coupled_changes(config: ExperimentConfig, path: str, value: Any) -> dict[str, Any]:
    """``{path: value}`` and what must change with it."""
    changes: dict[str, Any] = {path: value}
    if path == "data.seq_len" and config.model.kind == "transformer":
        _cover_context(config, config.data.name, value, changes)
    if path == "model.source" and isinstance(value, str) and value.strip():
        changes["model.kind"] = "custom"  # a model file chosen is the model now
        changes["train.loss"] = "auto"
        return changes
    if path == "data.path" and isinstance(value, str) and value.strip():
        changes["data.name"] = value = FILE_DATASET  # a file chosen is the data now
        file_path = changes["data.path"]
    elif path == "data.name":
        file_path = config.data.path
    else:
        return changes
    allowed = _families(value, file_path)
    own = config.model.kind == "custom" and "transformer" not in allowed  # a model of one's own
    wanted = config.model.kind if config.model.kind in allowed or own else allowed[0]
    if value in REAL_DATASETS or config.data.name in REAL_DATASETS:
        changes["train.loss"] = "auto"  # a real set's task may differ: its own loss
        changes["train.label_smoothing"] = 0.0
    if wanted != config.model.kind:
        preset = {"cnn": IMAGE_MODEL_PRESET, "transformer": TOKEN_MODEL_PRESET}.get(
            wanted, DEFAULT_PRESET
        )
        start = PRESETS[preset].to_dict()
        changes["model"] = start["model"]
        if wanted == "transformer" or config.model.kind == "transformer":
            # sequences and points differ in how many examples make a task
            changes["data.n_samples"] = start["data"]["n_samples"]
            changes["data.batch_size"] = start["data"]["batch_size"]
            changes["train.loss"] = "auto"
            changes["train.label_smoothing"] = 0.0
    if wanted == "cnn" and value not in REAL_DATASETS:
        changes["data.n_classes"] = min(config.data.n_classes, SHAPES_MAX_CLASSES)
    if value in TWO_CLASS_DATASETS:
        changes["data.n_classes"] = 2
    if value in REGRESSION_DATASETS or config.data.name in REGRESSION_DATASETS:
        changes["train.loss"] = "auto"
        changes["train.label_smoothing"] = 0.0
    if value in REAL_SIZES:  # a small table: a batch no larger than its training set
        n_train = REAL_SIZES[value] - round(REAL_SIZES[value] * config.data.test_fraction)
        batch = changes.get("data.batch_size", config.data.batch_size)
        changes["data.batch_size"] = min(batch, n_train)
    if wanted == "transformer":
        context = (
            config.model.transformer.context
            if config.model.kind == "transformer"
            else PRESETS[TOKEN_MODEL_PRESET].model.transformer.context
        )
        name = "text" if value == FILE_DATASET else value
        _cover_context(config, name, config.data.seq_len, changes, context)
    return changes


def _cover_context(
    config: ExperimentConfig,
    name: str,
    seq_len: Any,
    changes: dict[str, Any],
    context: int | None = None,
) -> None:
    """Lengthen the Transformer's context to the task's sequences (never
    shorten it: a longer context costs nothing until it is used)."""
    if not isinstance(seq_len, int):
        return  # a typed value the config will refuse with its own message
    context = config.model.transformer.context if context is None else context
    needed = sequence_length(name, seq_len)
    if needed > context:
        changes["model.transformer.context"] = needed
