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

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from lab.core.fields import ConfigError, Knob, knob, knob_at, validate_section
from lab.core.fileio import atomic_write_text
from lab.core.serialize import build, flatten, set_path, to_builtin

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
MAX_LAYERS = 256
SEED_MAX = 2**32 - 1


# ---------------------------------------------------------------- sections


@dataclass(frozen=True)
class LayerConfig:
    """One hidden layer: a Linear (MLP) or Conv2d (CNN) block.

    Validated by ``ModelConfig``, which knows the layer's index for messages.
    """

    width: int = knob(
        64, "width", "Units of the layer (channels for a CNN)", lo=1, hi=65536, rebuild=True
    )
    activation: str = knob(
        "relu", "activation", "The nonlinearity after the layer", choices=ACTIVATIONS, rebuild=True
    )
    norm: str = knob(
        "none",
        "norm",
        "Normalisation of the layer's output: BatchNorm (over the batch), LayerNorm or"
        " RMSNorm (over the units of one sample)",
        choices=NORMS,
        rebuild=True,
    )
    residual: bool = knob(
        False,
        "residual",
        "Add the block's input to its output (a skip connection); input and output widths"
        " must be equal",
        rebuild=True,
    )
    dropout: float = knob(
        0.0,
        "dropout",
        "Share of the layer's outputs zeroed at random while training (off in evaluation)",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.9),
        step=0.05,
        rebuild=True,
    )
    kernel: int = knob(
        3, "kernel", "Side of the convolution's square kernel (CNN only)", lo=1, hi=15,
        rebuild=True,
    )  # fmt: skip
    pool: bool = knob(
        False, "pool", "A 2x2 max-pool after the block halves the image (CNN only)", rebuild=True
    )


def mlp_layers(
    depth: int, width: int, activation: str = "relu", **kw: Any
) -> tuple[LayerConfig, ...]:
    """``depth`` identical hidden layers."""
    return tuple(LayerConfig(width=width, activation=activation, **kw) for _ in range(depth))


@dataclass(frozen=True)
class ModelConfig:
    kind: str = knob(
        "mlp",
        "model",
        "The network family: a multi-layer perceptron for points, a CNN for images",
        choices=MODEL_KINDS,
        rebuild=True,
    )
    layers: tuple[LayerConfig, ...] = field(default_factory=lambda: mlp_layers(4, 64))
    residual_scale: str = knob(
        "none",
        "branch scale",
        "How residual branches are scaled: not at all, by 1/sqrt(2N) for N residual blocks,"
        " or by a learned scalar that starts at 0 (ReZero)",
        choices=RESIDUAL_SCALES,
        rebuild=True,
    )
    norm_position: str = knob(
        "post",
        "norm position",
        "post: the norm after the weights; pre: before them (a residual block's branch"
        " becomes norm, activation, weights)",
        choices=NORM_POSITIONS,
        rebuild=True,
    )

    def __post_init__(self) -> None:
        validate_section(self, "model")
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))
        if len(self.layers) > MAX_LAYERS:
            raise ConfigError(
                "model.layers", f"{len(self.layers)} layers; allowed: at most {MAX_LAYERS}"
            )
        for i, layer in enumerate(self.layers):
            p = f"model.layers[{i}]"
            if not isinstance(layer, LayerConfig):
                raise ConfigError(p, f"{layer!r} is not a layer table")
            validate_section(layer, p)
            if self.kind == "cnn" and layer.kernel % 2 == 0:
                raise ConfigError(f"{p}.kernel", f"{layer.kernel} is even; allowed: odd sizes")
            if layer.pool and self.kind != "cnn":
                raise ConfigError(f"{p}.pool", "pooling is for CNN layers; the model is an MLP")
            if layer.residual and layer.pool:
                raise ConfigError(f"{p}.residual", "a residual block cannot pool; turn one off")


@dataclass(frozen=True)
class InitConfig:
    scheme: str = knob(
        "he_normal",
        "scheme",
        "How weights start: He (for ReLU), Xavier (for tanh and sigmoid), torch's default,"
        " orthogonal, a plain normal of the given std, or zeros",
        choices=INIT_SCHEMES,
        rebuild=True,
    )
    gain: float = knob(
        1.0,
        "gain",
        "Multiplies the scheme's standard deviation: above 1 signals grow layer by layer,"
        " below 1 they shrink",
        lo=0.0,
        hi=100.0,
        slider=(0.0, 4.0),
        step=0.05,
        rebuild=True,
    )
    std: float = knob(
        0.02,
        "std (normal)",
        "Standard deviation of the weights for the plain normal scheme",
        lo=0.0,
        hi=100.0,
        slider=(1e-4, 10.0),
        log=True,
        rebuild=True,
    )
    bias: float = knob(
        0.0,
        "bias",
        "The value every bias starts at (a small positive bias keeps ReLUs alive at first)",
        lo=-1e6,
        hi=1e6,
        slider=(-1.0, 1.0),
        step=0.01,
        rebuild=True,
    )

    def __post_init__(self) -> None:
        validate_section(self, "init")


@dataclass(frozen=True)
class DataConfig:
    name: str = knob(
        "spirals", "dataset", "The data the network learns", choices=DATASETS, rebuild=True
    )
    n_samples: int = knob(
        2000, "samples", "Examples generated (train and test together)", lo=20, hi=1_000_000,
        rebuild=True,
    )  # fmt: skip
    noise: float = knob(
        0.1,
        "noise",
        "How far examples scatter from the clean pattern",
        lo=0.0,
        hi=10.0,
        slider=(0.0, 1.0),
        step=0.01,
        rebuild=True,
    )
    n_classes: int = knob(2, "classes", "How many classes the data has", lo=2, hi=10, rebuild=True)
    test_fraction: float = knob(
        0.2,
        "test fraction",
        "Share of the examples held out to measure generalisation",
        lo=0.0,
        hi=0.9,
        lo_open=True,
        slider=(0.05, 0.9),
        step=0.05,
        rebuild=True,
    )
    batch_size: int = knob(
        128, "batch size", "Examples per optimiser step (applies on the next step)",
        lo=1, hi=1_000_000,
    )  # fmt: skip
    seed: int = knob(
        0, "data seed", "Seed of the generated data and its split", lo=0, hi=SEED_MAX, rebuild=True
    )

    def __post_init__(self) -> None:
        validate_section(self, "data")
        if self.name in TWO_CLASS_DATASETS and self.n_classes != 2:
            raise ConfigError(
                "data.n_classes", f"{self.n_classes}; {self.name} has exactly 2 classes"
            )
        if self.name == "shapes" and self.n_classes > 4:
            raise ConfigError("data.n_classes", f"{self.n_classes}; shapes has 2 to 4 classes")
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
    name: str = knob(
        "adam",
        "optimiser",
        "The update rule; another one starts with fresh state, the weights stay",
        choices=OPTIMIZERS,
    )
    lr: float = knob(
        0.01,
        "learning rate",
        "The step size of every update",
        lo=0.0,
        hi=100.0,
        lo_open=True,
        slider=(1e-5, 10.0),
        log=True,
    )
    momentum: float = knob(
        0.9,
        "momentum",
        "How much of the previous update carries into the next (SGD, RMSprop)",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.999),
        step=0.01,
    )
    nesterov: bool = knob(False, "Nesterov", "Look-ahead momentum (SGD with momentum > 0)")
    beta1: float = knob(
        0.9,
        "beta1",
        "Adam's decay of its running mean of gradients",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.999),
        step=0.01,
    )
    beta2: float = knob(
        0.999,
        "beta2",
        "Adam's decay of its running mean of squared gradients",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.9, 0.9999),
        step=0.0001,
    )
    eps: float = knob(
        1e-8,
        "epsilon",
        "Added to the denominator of adaptive optimisers, against division by ~0",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        slider=(1e-10, 1e-2),
        log=True,
    )
    alpha: float = knob(
        0.99,
        "alpha",
        "RMSprop's decay of its running mean of squared gradients",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.5, 0.999),
        step=0.001,
    )
    weight_decay: float = knob(
        0.0,
        "weight decay",
        "Pulls every weight towards zero at each step (L2; decoupled for AdamW)",
        lo=0.0,
        hi=10.0,
        slider=(1e-6, 1.0),
        log=True,
    )
    schedule: str = knob(
        "constant",
        "schedule",
        "How the learning rate changes over the run",
        choices=SCHEDULES,
    )
    step_size: int = knob(
        500, "step every", "The step schedule multiplies the rate by its factor this often",
        lo=1, unit="steps",
    )  # fmt: skip
    gamma: float = knob(
        0.5,
        "step factor",
        "What the step schedule multiplies the rate by",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        slider=(0.01, 1.0),
        step=0.01,
    )
    warmup_steps: int = knob(
        100,
        "warm-up steps",
        "Steps over which the rate rises from near 0 to its full value",
        lo=0,
        slider=(0, 2000),
        step=10,
        unit="steps",
    )
    min_lr_ratio: float = knob(
        0.0,
        "cosine floor",
        "Where the cosine schedule ends, as a share of the learning rate",
        lo=0.0,
        hi=1.0,
        slider=(0.0, 1.0),
        step=0.01,
    )
    clip: str = knob(
        "none",
        "clip",
        "Gradient clipping: scale the whole gradient down to a norm, or cut each value",
        choices=CLIP_MODES,
    )
    clip_value: float = knob(
        1.0,
        "clip value",
        "The largest gradient norm (norm clipping) or value (value clipping)",
        lo=0.0,
        hi=1e6,
        lo_open=True,
        slider=(1e-3, 100.0),
        log=True,
    )
    accumulation: int = knob(
        1,
        "accumulate",
        "Micro-batches whose gradients add up before each optimiser step",
        lo=1,
        hi=1024,
        slider=(1, 32),
        step=1,
    )

    def __post_init__(self) -> None:
        validate_section(self, "optim")
        if self.nesterov and self.name == "sgd" and self.momentum == 0.0:
            raise ConfigError("optim.nesterov", "Nesterov needs momentum > 0")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = knob(
        2000, "total steps", "Optimiser steps the run takes; raise it to go on", lo=1, hi=10**9
    )
    seed: int = knob(
        0, "seed", "Seed of the weights and of the order of batches", lo=0, hi=SEED_MAX,
        rebuild=True,
    )  # fmt: skip
    device: str = knob("cpu", "device", "Where the model trains", choices=DEVICES, rebuild=True)
    precision: str = knob(
        "fp32",
        "precision",
        "fp32, or bf16 autocast (faster on recent hardware, about 3 significant digits)",
        choices=PRECISIONS,
    )
    loss: str = knob(
        "auto",
        "loss",
        "auto: cross-entropy for classes, mean squared error for regression",
        choices=LOSSES,
        rebuild=True,
    )
    label_smoothing: float = knob(
        0.0,
        "label smoothing",
        "Share of each target spread over the other classes: discourages overconfidence",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.5),
        step=0.01,
    )
    eval_every: int = knob(
        100, "evaluate every", "Steps between evaluations on the whole train and test sets",
        lo=1, unit="steps",
    )  # fmt: skip
    threads: int = knob(
        0, "threads", "Torch's threads for training; 0 keeps its default", lo=0, hi=1024,
        rebuild=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate_section(self, "train")


@dataclass(frozen=True)
class ProbesConfig:
    """Per-layer instruments (see ``lab.probes``). All of them run every
    ``every`` steps; statistics are taken on that step's batch."""

    enabled: bool = knob(True, "probes on", "Measure inside every layer while training")
    every: int = knob(
        10, "probe every", "Steps between probe collections (the probes' cost knob)", lo=1,
        slider=(1, 100), unit="steps",
    )  # fmt: skip
    gradients: bool = knob(
        True, "gradients", "Gradient and weight norms per layer, and the update/weight ratio"
    )
    activation_grads: bool = knob(
        True, "activation gradients", "||dL/dh|| of each layer's output h, and its std"
    )
    activations: bool = knob(
        True, "activations", "Mean, std, histogram and saturation after each activation"
    )
    dead_units: bool = knob(True, "dead units", "ReLU-family units with no positive output")
    dead_window: int = knob(
        8,
        "dead window",
        "A unit counts as dead when it gave no positive output on each of the last K probed"
        " batches",
        lo=1,
        hi=1024,
        slider=(1, 64),
        unit="probed batches",
    )
    hist_bins: int = knob(40, "histogram bins", "Bins of each activation histogram", lo=2, hi=1024)
    hist_range: float = knob(
        4.0,
        "histogram range",
        "Activation histograms span [0, r] after ReLU and [-r, r] after other activations;"
        " sigmoid and tanh keep their output range",
        lo=0.0,
        hi=1e6,
        lo_open=True,
        slider=(0.1, 100.0),
        log=True,
    )
    saturation: float = knob(
        0.99,
        "saturated beyond",
        "Sigmoid outputs below 1-s or above s, and tanh |a| above s, count as saturated",
        lo=0.5,
        hi=1.0,
        lo_open=True,
        hi_open=True,
        slider=(0.51, 0.9999),
        step=0.001,
    )

    def __post_init__(self) -> None:
        validate_section(self, "probes")

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
            raise ConfigError("name", f"{self.name!r} is not a non-empty name")
        if isinstance(self.schema, bool) or not isinstance(self.schema, int) or self.schema < 1:
            raise ConfigError("schema", f"{self.schema!r} is not a version number (integer >= 1)")
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
        return to_builtin(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentConfig:
        if not isinstance(data, Mapping):
            raise ConfigError("config", "is not a table of sections")
        return build(cls, data, "")

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
            set_path(data, path, value)
        return ExperimentConfig.from_dict(data)

    def diff(self, other: ExperimentConfig) -> list[str]:
        """Dotted paths whose values differ between two configs."""
        mine, theirs = flatten(self.to_dict()), flatten(other.to_dict())
        return sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))


def field_knob(path: str) -> Knob:
    """The knob of a config path such as ``optim.lr`` or ``model.layers[3].width``."""
    return knob_at(ExperimentConfig, path)


def rebuilds(path: str) -> bool:
    """Whether changing ``path`` starts the experiment over: a field marked so,
    the layer list itself, the experiment's name or schema."""
    if path in ("name", "schema") or path.startswith("model.layers"):
        return True
    try:
        return field_knob(path).rebuild
    except ConfigError:
        return True  # a table replaced whole (a section): start over
