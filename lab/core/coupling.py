"""Fields that must change together for a config to stay valid: the model
family follows the data (a CNN for images, an MLP for points), two-class
datasets have two classes, regression has its own loss. The window applies
these when a person changes one of them, instead of refusing the change."""

from __future__ import annotations

from typing import Any

from lab.core.config import (
    IMAGE_DATASETS,
    REGRESSION_DATASETS,
    TWO_CLASS_DATASETS,
    ExperimentConfig,
)
from lab.core.presets import DEFAULT_PRESET, PRESETS

IMAGE_MODEL_PRESET = "shapes-cnn"  # the CNN a switch to image data starts from
SHAPES_MAX_CLASSES = 4


def coupled_changes(config: ExperimentConfig, path: str, value: Any) -> dict[str, Any]:
    """``{path: value}`` and what must change with it."""
    changes = {path: value}
    if path != "data.name":
        return changes
    images = value in IMAGE_DATASETS
    if images and config.model.kind != "cnn":
        changes["model"] = PRESETS[IMAGE_MODEL_PRESET].to_dict()["model"]
        changes["data.n_classes"] = min(config.data.n_classes, SHAPES_MAX_CLASSES)
    elif not images and config.model.kind == "cnn":
        changes["model"] = PRESETS[DEFAULT_PRESET].to_dict()["model"]
    if value in TWO_CLASS_DATASETS:
        changes["data.n_classes"] = 2
    if value in REGRESSION_DATASETS or config.data.name in REGRESSION_DATASETS:
        changes["train.loss"] = "auto"
        changes["train.label_smoothing"] = 0.0
    return changes
