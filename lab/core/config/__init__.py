"""Experiment configuration: frozen dataclasses, validated on construction, to
and from TOML and JSON.

This module imports no torch: the GUI process builds its forms from it and
speaks the engine protocol with it without loading torch.

Every field carries its ``Knob`` (``lab.core.fields``): its label, help,
bounds, slider range and whether changing it rebuilds the experiment. Each
section checks its own fields from those; rules between fields live in the
section's ``__post_init__`` and in ``ExperimentConfig``. An
``ExperimentConfig`` that exists is valid. Invalid values raise
``ConfigError`` naming the field (as a dotted path such as
``model.layers[2].width``), the bad value and what is allowed.
"""

from lab.core.config.choices import (
    ACTIVATIONS,
    CLIP_MODES,
    DATASETS,
    DEAD_UNIT_ACTIVATIONS,
    DEVICES,
    FFN_KINDS,
    IMAGE_DATASETS,
    INIT_SCHEMES,
    INPUT_WIDTHS,
    LOSSES,
    MAX_CONTEXT,
    MAX_LAYERS,
    MODEL_KINDS,
    NORM_POSITIONS,
    NORMS,
    OPTIMIZER_FIELDS,
    OPTIMIZERS,
    POSITIONAL,
    PRECISIONS,
    REGRESSION_DATASETS,
    RESIDUAL_SCALES,
    SCHEDULE_FIELDS,
    SCHEDULES,
    SCHEMA_VERSION,
    SEED_MAX,
    SEQUENCE_DATASETS,
    SYMBOL_TASKS,
    TRANSFORMER_NORMS,
    TWO_CLASS_DATASETS,
)
from lab.core.config.data import DataConfig, sequence_length
from lab.core.config.experiment import ExperimentConfig, field_knob, field_label, rebuilds
from lab.core.config.landscape import LandscapeSettings
from lab.core.config.model import LayerConfig, ModelConfig, mlp_layers
from lab.core.config.probes import ProbesConfig, dead_units_absent, histogram_span
from lab.core.config.training import InitConfig, OptimConfig, TrainConfig
from lab.core.config.transformer import TransformerConfig
from lab.core.fields import ConfigError, Knob
from lab.core.serialize import flatten

__all__ = [
    "FFN_KINDS",
    "sequence_length",
    "MAX_CONTEXT",
    "POSITIONAL",
    "SEQUENCE_DATASETS",
    "SYMBOL_TASKS",
    "TRANSFORMER_NORMS",
    "ACTIVATIONS",
    "CLIP_MODES",
    "DATASETS",
    "DEAD_UNIT_ACTIVATIONS",
    "DEVICES",
    "IMAGE_DATASETS",
    "INIT_SCHEMES",
    "INPUT_WIDTHS",
    "LOSSES",
    "MAX_LAYERS",
    "MODEL_KINDS",
    "NORMS",
    "NORM_POSITIONS",
    "OPTIMIZERS",
    "OPTIMIZER_FIELDS",
    "PRECISIONS",
    "REGRESSION_DATASETS",
    "RESIDUAL_SCALES",
    "SCHEDULES",
    "SCHEDULE_FIELDS",
    "SCHEMA_VERSION",
    "SEED_MAX",
    "TWO_CLASS_DATASETS",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "InitConfig",
    "Knob",
    "LandscapeSettings",
    "LayerConfig",
    "ModelConfig",
    "OptimConfig",
    "ProbesConfig",
    "TrainConfig",
    "TransformerConfig",
    "dead_units_absent",
    "field_knob",
    "field_label",
    "flatten",
    "histogram_span",
    "mlp_layers",
    "rebuilds",
]
