"""Experiment configuration: frozen dataclasses, validation, TOML/JSON round-trip.

This module imports no torch: the GUI process builds its forms from it and
speaks the engine protocol with it without loading torch.

Every section validates itself on construction, so an ``ExperimentConfig`` that
exists is valid. Invalid values raise ``ConfigError`` naming the field (as a
dotted path such as ``model.layers[2].width``), the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from lab.fileio import atomic_write_text

SCHEMA_VERSION = 1

MODEL_KINDS = ("mlp", "cnn")
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid", "identity")
# Activations whose units can die (no positive output for any input): the dead-unit probe's
DEAD_UNIT_ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu")
NORMS = ("none", "batch", "layer", "rms")
NORM_POSITIONS = ("post", "pre")
# How a residual branch is scaled: not at all, by 1/sqrt(2N) for N residual
# blocks, or by a learnable scalar that starts at zero (ReZero).
RESIDUAL_SCALES = ("none", "inv_sqrt_2n", "rezero")
INIT_SCHEMES = (
    "default",
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "orthogonal",
    "normal",
    "zeros",
)
DATASETS = ("spirals", "moons", "circles", "xor", "gaussians", "regression1d", "shapes")
TWO_CLASS_DATASETS = ("moons", "xor")
IMAGE_DATASETS = ("shapes",)
# Input features (MLP) or channels (CNN) of each dataset, known without generating it.
INPUT_WIDTHS = {"regression1d": 1, "shapes": 1} | {
    name: 2 for name in ("spirals", "moons", "circles", "xor", "gaussians")
}
REGRESSION_DATASETS = ("regression1d",)
OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam", "adamw")
SCHEDULES = ("constant", "step", "warmup_cosine", "one_cycle")
# The optim fields each optimiser reads (all of them live: a running optimiser
# takes a change on its next step) and each schedule reads besides lr.
OPTIMIZER_FIELDS = {
    "sgd": ("lr", "momentum", "weight_decay", "nesterov"),
    "rmsprop": ("lr", "momentum", "alpha", "eps", "weight_decay"),
    "adagrad": ("lr", "eps", "weight_decay"),
    "adam": ("lr", "beta1", "beta2", "eps", "weight_decay"),
    "adamw": ("lr", "beta1", "beta2", "eps", "weight_decay"),
}
SCHEDULE_FIELDS = {
    "constant": (),
    "step": ("step_size", "gamma"),
    "warmup_cosine": ("warmup_steps", "min_lr_ratio"),
    "one_cycle": ("warmup_steps",),
}
CLIP_MODES = ("none", "norm", "value")
DEVICES = ("cpu", "cuda", "mps", "auto")
PRECISIONS = ("fp32", "bf16")
LOSSES = ("auto", "cross_entropy", "mse", "huber")


class ConfigError(ValueError):
    """An invalid configuration value. ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ---------------------------------------------------------------- checks


def _fmt(value: Any) -> str:
    return repr(value)


def _check_choice(path: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(path, f"{_fmt(value)} is not one of {', '.join(allowed)}")


def _check_int(path: str, value: Any, lo: int | None = None, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"{_fmt(value)} is not an integer")
    if lo is not None and value < lo:
        raise ConfigError(path, f"{value} is too small; allowed: integer >= {lo}")
    if hi is not None and value > hi:
        raise ConfigError(path, f"{value} is too large; allowed: integer <= {hi}")


def _check_float(
    path: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(path, f"{_fmt(value)} is not a finite number")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        op = ">" if lo_open else ">="
        raise ConfigError(path, f"{value} is out of range; allowed: number {op} {lo}")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        op = "<" if hi_open else "<="
        raise ConfigError(path, f"{value} is out of range; allowed: number {op} {hi}")


def _check_bool(path: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(path, f"{_fmt(value)} is not true or false")


# ---------------------------------------------------------------- sections


@dataclass(frozen=True)
class LayerConfig:
    """One hidden layer: a Linear (MLP) or Conv2d (CNN) block.

    Validated by ``ModelConfig``, which knows the layer's index for messages.
    """

    width: int = 64  # units (MLP) or channels (CNN)
    activation: str = "relu"
    norm: str = "none"
    residual: bool = False
    dropout: float = 0.0
    kernel: int = 3  # CNN only
    pool: bool = False  # CNN only: 2x2 max-pool after the block


def mlp_layers(
    depth: int, width: int, activation: str = "relu", **kw: Any
) -> tuple[LayerConfig, ...]:
    """``depth`` identical hidden layers."""
    return tuple(LayerConfig(width=width, activation=activation, **kw) for _ in range(depth))


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "mlp"
    layers: tuple[LayerConfig, ...] = field(default_factory=lambda: mlp_layers(4, 64))
    residual_scale: str = "none"
    norm_position: str = "post"

    def __post_init__(self) -> None:
        _check_choice("model.kind", self.kind, MODEL_KINDS)
        _check_choice("model.residual_scale", self.residual_scale, RESIDUAL_SCALES)
        _check_choice("model.norm_position", self.norm_position, NORM_POSITIONS)
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))
        if len(self.layers) > 256:
            raise ConfigError("model.layers", f"{len(self.layers)} layers; allowed: at most 256")
        for i, layer in enumerate(self.layers):
            p = f"model.layers[{i}]"
            if not isinstance(layer, LayerConfig):
                raise ConfigError(p, f"{_fmt(layer)} is not a layer table")
            _check_int(f"{p}.width", layer.width, 1, 65536)
            _check_choice(f"{p}.activation", layer.activation, ACTIVATIONS)
            _check_choice(f"{p}.norm", layer.norm, NORMS)
            _check_bool(f"{p}.residual", layer.residual)
            _check_float(f"{p}.dropout", layer.dropout, 0.0, 1.0, hi_open=True)
            _check_int(f"{p}.kernel", layer.kernel, 1, 15)
            if self.kind == "cnn" and layer.kernel % 2 == 0:
                raise ConfigError(f"{p}.kernel", f"{layer.kernel} is even; allowed: odd sizes")
            _check_bool(f"{p}.pool", layer.pool)
            if layer.pool and self.kind != "cnn":
                raise ConfigError(f"{p}.pool", "pooling is for CNN layers; the model is an MLP")
            if layer.residual and layer.pool:
                raise ConfigError(f"{p}.residual", "a residual block cannot pool; turn one off")


@dataclass(frozen=True)
class InitConfig:
    scheme: str = "he_normal"
    gain: float = 1.0  # multiplies the scheme's standard deviation
    std: float = 0.02  # for scheme "normal"
    bias: float = 0.0  # every Linear/Conv bias starts at this value

    def __post_init__(self) -> None:
        _check_choice("init.scheme", self.scheme, INIT_SCHEMES)
        _check_float("init.gain", self.gain, 0.0, 100.0)
        _check_float("init.std", self.std, 0.0, 100.0)
        _check_float("init.bias", self.bias, -1e6, 1e6)


@dataclass(frozen=True)
class DataConfig:
    name: str = "spirals"
    n_samples: int = 2000
    noise: float = 0.1
    n_classes: int = 2
    test_fraction: float = 0.2
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        _check_choice("data.name", self.name, DATASETS)
        _check_int("data.n_samples", self.n_samples, 20, 1_000_000)
        _check_float("data.noise", self.noise, 0.0, 10.0)
        _check_int("data.n_classes", self.n_classes, 2, 10)
        if self.name in TWO_CLASS_DATASETS and self.n_classes != 2:
            raise ConfigError(
                "data.n_classes", f"{self.n_classes}; {self.name} has exactly 2 classes"
            )
        if self.name == "shapes" and self.n_classes > 4:
            raise ConfigError("data.n_classes", f"{self.n_classes}; shapes has 2 to 4 classes")
        _check_float("data.test_fraction", self.test_fraction, 0.0, 0.9, lo_open=True)
        _check_int("data.batch_size", self.batch_size, 1, 1_000_000)
        _check_int("data.seed", self.seed, 0, 2**32 - 1)
        n_train = self.n_samples - round(self.n_samples * self.test_fraction)
        if self.batch_size > n_train:
            raise ConfigError(
                "data.batch_size",
                f"{self.batch_size} is larger than the training set ({n_train} samples)",
            )

    @property
    def task(self) -> str:
        return "regression" if self.name in REGRESSION_DATASETS else "classification"


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9  # SGD and RMSprop
    nesterov: bool = False  # SGD
    beta1: float = 0.9  # Adam/AdamW
    beta2: float = 0.999
    eps: float = 1e-8
    alpha: float = 0.99  # RMSprop smoothing
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 500  # schedule "step": decay every step_size steps
    gamma: float = 0.5  # schedule "step": decay factor
    warmup_steps: int = 100  # "warmup_cosine"; "one_cycle" rises over this many steps
    min_lr_ratio: float = 0.0  # floor of the cosine, as a fraction of lr
    clip: str = "none"
    clip_value: float = 1.0  # max norm, or max |g| for value clipping
    accumulation: int = 1  # micro-batches per optimiser step

    def __post_init__(self) -> None:
        _check_choice("optim.name", self.name, OPTIMIZERS)
        _check_float("optim.lr", self.lr, 0.0, 100.0, lo_open=True)
        _check_float("optim.momentum", self.momentum, 0.0, 1.0, hi_open=True)
        _check_bool("optim.nesterov", self.nesterov)
        if self.nesterov and self.name == "sgd" and self.momentum == 0.0:
            raise ConfigError("optim.nesterov", "Nesterov needs momentum > 0")
        _check_float("optim.beta1", self.beta1, 0.0, 1.0, hi_open=True)
        _check_float("optim.beta2", self.beta2, 0.0, 1.0, hi_open=True)
        _check_float("optim.eps", self.eps, 0.0, 1.0, lo_open=True)
        _check_float("optim.alpha", self.alpha, 0.0, 1.0, hi_open=True)
        _check_float("optim.weight_decay", self.weight_decay, 0.0, 10.0)
        _check_choice("optim.schedule", self.schedule, SCHEDULES)
        _check_int("optim.step_size", self.step_size, 1)
        _check_float("optim.gamma", self.gamma, 0.0, 1.0, lo_open=True)
        _check_int("optim.warmup_steps", self.warmup_steps, 0)
        _check_float("optim.min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        _check_choice("optim.clip", self.clip, CLIP_MODES)
        _check_float("optim.clip_value", self.clip_value, 0.0, 1e6, lo_open=True)
        _check_int("optim.accumulation", self.accumulation, 1, 1024)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    loss: str = "auto"  # auto: cross-entropy for classes, MSE for regression
    label_smoothing: float = 0.0
    eval_every: int = 100  # steps between train/test evaluations (rows of metrics.csv)
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default

    def __post_init__(self) -> None:
        _check_int("train.steps", self.steps, 1, 10**9)
        _check_int("train.seed", self.seed, 0, 2**32 - 1)
        _check_choice("train.device", self.device, DEVICES)
        _check_choice("train.precision", self.precision, PRECISIONS)
        _check_choice("train.loss", self.loss, LOSSES)
        _check_float("train.label_smoothing", self.label_smoothing, 0.0, 1.0, hi_open=True)
        _check_int("train.eval_every", self.eval_every, 1)
        _check_int("train.threads", self.threads, 0, 1024)


@dataclass(frozen=True)
class ProbesConfig:
    """Per-layer instruments (see lab/probes.py). All of them run every
    ``every`` steps; statistics are taken on that step's batch."""

    enabled: bool = True
    every: int = 10
    gradients: bool = True  # grad/weight norms per tensor and layer, update/weight ratio
    activation_grads: bool = True  # ||dL/dh|| of each layer's output h
    activations: bool = True  # mean, std, histogram, saturation after each activation
    dead_units: bool = True  # ReLU-family units with no positive output
    dead_window: int = 8  # probed batches a unit must stay silent in to count as dead
    hist_bins: int = 40
    hist_range: float = 4.0  # histogram span [-r, r] (relu [0, r], sigmoid [0, 1], tanh [-1, 1])
    saturation: float = 0.99  # tanh |a| > s, sigmoid a < 1-s or a > s

    def __post_init__(self) -> None:
        _check_bool("probes.enabled", self.enabled)
        _check_int("probes.every", self.every, 1)
        for name in ("gradients", "activation_grads", "activations", "dead_units"):
            _check_bool(f"probes.{name}", getattr(self, name))
        _check_int("probes.dead_window", self.dead_window, 1, 1024)
        _check_int("probes.hist_bins", self.hist_bins, 2, 1024)
        _check_float("probes.hist_range", self.hist_range, 0.0, 1e6, lo_open=True)
        _check_float("probes.saturation", self.saturation, 0.5, 1.0, lo_open=True, hi_open=True)

    @property
    def binning(self) -> tuple[int, float]:
        """What a histogram series is binned by: one series holds one binning."""
        return self.hist_bins, self.hist_range


def histogram_span(activation: str, probes: ProbesConfig) -> tuple[float, float]:
    """The value range of an activation's histogram: the output range of
    sigmoid and tanh, [0, hist_range] for ReLU (never negative: a symmetric
    span would leave half the bins empty), else [-hist_range, hist_range]."""
    if activation == "relu":
        return 0.0, probes.hist_range
    if activation == "sigmoid":
        return 0.0, 1.0
    if activation == "tanh":
        return -1.0, 1.0
    return -probes.hist_range, probes.hist_range


def dead_units_absent(model: ModelConfig, probes: ProbesConfig) -> str | None:
    """Why a run has no dead-unit figures, or None when it has them."""
    if not (probes.enabled and probes.dead_units):
        return "the dead-unit probe is off"
    if not any(layer.activation in DEAD_UNIT_ACTIVATIONS for layer in model.layers):
        return "no ReLU-family layer; sigmoid and tanh units saturate instead"
    return None


@dataclass(frozen=True)
class ExperimentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    probes: ProbesConfig = field(default_factory=ProbesConfig)
    name: str = "experiment"
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("name", f"{_fmt(self.name)} is not a non-empty name")
        _check_int("schema", self.schema, 1)
        if self.schema > SCHEMA_VERSION:
            raise ConfigError(
                "schema",
                f"version {self.schema} is newer than this Knoblab reads ({SCHEMA_VERSION})",
            )
        images = self.data.name in IMAGE_DATASETS
        if self.model.kind == "cnn" and not images:
            raise ConfigError(
                "model.kind", f"a CNN needs image data; data.name is {self.data.name!r}"
            )
        if self.model.kind == "mlp" and images:
            raise ConfigError("model.kind", "image data needs model.kind = 'cnn'")
        if self.model.kind == "cnn":
            pools = sum(layer.pool for layer in self.model.layers)
            if pools > 4:  # 16x16 images: four halvings leave 1x1
                raise ConfigError("model.layers", f"{pools} pooling layers; 16x16 images allow 4")
        width = INPUT_WIDTHS[self.data.name]
        for i, layer in enumerate(self.model.layers):
            if layer.residual and layer.width != width:
                raise ConfigError(
                    f"model.layers[{i}].residual",
                    f"the block's input has width {width} and its output {layer.width};"
                    " a residual block needs them equal",
                )
            width = layer.width
        loss = self.loss
        if self.data.task == "classification" and loss != "cross_entropy":
            raise ConfigError(
                "train.loss", f"{loss!r} does not fit classification; use cross_entropy"
            )
        if self.data.task == "regression" and loss == "cross_entropy":
            raise ConfigError(
                "train.loss", "cross_entropy does not fit regression; use mse or huber"
            )
        if self.data.task == "regression" and self.train.label_smoothing > 0:
            raise ConfigError("train.label_smoothing", "label smoothing is for classification")

    @property
    def loss(self) -> str:
        """The loss actually used, with ``auto`` resolved by the dataset's task."""
        if self.train.loss != "auto":
            return self.train.loss
        return "mse" if self.data.task == "regression" else "cross_entropy"

    # ------------------------------------------------------------ conversion

    def to_dict(self) -> dict[str, Any]:
        return _to_builtin(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentConfig:
        if not isinstance(data, Mapping):
            raise ConfigError("config", "is not a table of sections")
        return _build(cls, data, "")

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str) -> ExperimentConfig:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config file", f"malformed TOML: {exc}") from exc
        return cls.from_dict(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ExperimentConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("config file", f"malformed JSON: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        text = self.to_json() if path.suffix == ".json" else self.to_toml()
        atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | Path) -> ExperimentConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError("config file", f"{str(path)!r} does not exist") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("config file", f"{str(path)!r} cannot be read: {exc}") from exc
        return cls.from_json(text) if path.suffix == ".json" else cls.from_toml(text)

    # ------------------------------------------------------------ changes

    def with_changes(self, changes: Mapping[str, Any]) -> ExperimentConfig:
        """A new config with dotted-path changes, e.g. ``{"optim.lr": 0.1,
        "model.layers[1].activation": "tanh"}``; validated as a whole."""
        data = self.to_dict()
        for path, value in changes.items():
            _set_path(data, path, value)
        return ExperimentConfig.from_dict(data)

    def diff(self, other: ExperimentConfig) -> list[str]:
        """Dotted paths whose values differ between two configs."""
        mine, theirs = flatten(self.to_dict()), flatten(other.to_dict())
        return sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))


# ---------------------------------------------------------------- helpers


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists to ``{"model.layers[0].width": 64, ...}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            out.update(flatten(value, path))
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            out[f"{path}.#"] = len(value)
            for i, item in enumerate(value):
                out.update(flatten(item, f"{path}[{i}]"))
        else:
            out[path] = value
    return out


_PATH_PART = re.compile(r"^([A-Za-z_]\w*)(?:\[(\d+)\])?$")


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        match = _PATH_PART.match(part)
        if not match:
            raise ConfigError(path, "is not a field path like optim.lr or model.layers[0].width")
        key, index = match.group(1), match.group(2)
        last = depth == len(parts) - 1
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(path, f"unknown field {key!r}")
        if index is not None:
            seq = node[key]
            if not isinstance(seq, list) or int(index) >= len(seq):
                raise ConfigError(path, f"index {index} is out of range")
            if last:
                seq[int(index)] = value
            node = seq[int(index)]
        elif last:
            node[key] = value
        else:
            node = node[key]


def _to_builtin(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_builtin(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_to_builtin(v) for v in obj]
    return obj


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking names and types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(where, f"unknown field; known: {', '.join(sorted(names))}")
    kwargs: dict[str, Any] = {}
    for name in names & data.keys():
        path = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _convert(hints[name], data[name], path)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the name check above
        raise ConfigError(prefix or "config", str(exc)) from exc


def _convert(hint: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"{_fmt(value)} is not a table")
        return _build(hint, value, path)
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(path, f"{_fmt(value)} is not a list")
        return tuple(_convert(item_hint, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (types.UnionType, typing.Union):  # pragma: no cover - no optional fields yet
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # TOML/JSON write 1.0 as 1 sometimes
    return value
