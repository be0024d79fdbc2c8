"""The sections of how a model trains: initialisation, data, optimiser and
schedule, the run itself."""

from __future__ import annotations

import os
from dataclasses import dataclass

from lab.core.config.choices import (
    CLIP_MODES,
    COLOURS,
    DATASETS,
    DEVICES,
    FILE_DATASET,
    FILE_FORMATS,
    IMAGE_SHAPES,
    IMPUTE,
    INIT_SCHEMES,
    LOSSES,
    OPTIMIZERS,
    PRECISIONS,
    REAL_DATASETS,
    REAL_SIZES,
    REGRESSION_DATASETS,
    SCHEDULES,
    SEED_MAX,
    SEQUENCE_DATASETS,
    SYMBOL_TASKS,
    TARGET_KINDS,
    TWO_CLASS_DATASETS,
)
from lab.core.fields import ConfigError, knob, validate_section


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
    seq_len: int = knob(
        8,
        "sequence length",
        "Token sequences: symbols in each question (copy, reverse, sort), in each half"
        " (induction), or characters in each window (chars)",
        lo=2,
        hi=1024,
        unit="tokens",
        rebuild=True,
    )
    vocab: int = knob(
        10, "symbols", "Distinct symbols the token tasks draw from (chars: the text's own)",
        lo=2, hi=256, rebuild=True,
    )  # fmt: skip

    # ---- real data (data.name "file", or a set by name)
    path: str = knob(
        "", "file", "Your data: a CSV/TSV table with a header, an NPZ/NPY array file, a folder"
        " with one subfolder of PNG/JPEG images per class, or a UTF-8 text file"
        " (data.name = \"file\")", rebuild=True,
    )  # fmt: skip
    target: str = knob(
        "", "target column", "The table column the network predicts (empty: the last one)",
        rebuild=True,
    )  # fmt: skip
    target_kind: str = knob(
        "auto", "target is", "Classification or regression; auto: classification when the"
        " target is text or a few integers, regression otherwise", choices=TARGET_KINDS,
        rebuild=True,
    )  # fmt: skip
    impute: str = knob(
        "refuse", "missing values", "A table's empty cells: refused with their row and column,"
        " or filled with the column's mean (its most common value for text)", choices=IMPUTE,
        rebuild=True,
    )  # fmt: skip
    standardize: bool = knob(
        True, "standardise", "Shift and scale each feature to mean 0 and std 1 on the training"
        " set (images: each channel's pixels)", rebuild=True,
    )  # fmt: skip
    limit: int = knob(
        0, "sample limit", "Use at most this many examples of a real set, drawn at random with"
        " the data seed (0: all of them)", lo=0, hi=10_000_000, rebuild=True,
    )  # fmt: skip
    image_size: int = knob(
        28, "image size", "An image folder's pictures are resized to this many pixels a side",
        lo=4, hi=256, unit="px", rebuild=True,
    )  # fmt: skip
    colour: str = knob(
        "grayscale", "colour", "An image folder's pictures as one grey channel or three (RGB)",
        choices=COLOURS, rebuild=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate_section(self, "data")
        if self.name == FILE_DATASET and not self.path.strip():
            raise ConfigError("data.path", 'is empty; data.name = "file" reads the file it names')
        if self.name == FILE_DATASET and self.file_kind is None:
            known = ", ".join(sorted(FILE_FORMATS))
            raise ConfigError(
                "data.path",
                f"{self.path!r} has a suffix Knoblab does not read; give a folder of images or"
                f" a file ending in {known}",
            )
        if self.real:
            self._check_real_batch()
            return
        if self.name in TWO_CLASS_DATASETS and self.n_classes != 2:
            raise ConfigError(
                "data.n_classes", f"{self.n_classes}; {self.name} has exactly 2 classes"
            )
        if self.name == "shapes" and self.n_classes > 4:
            raise ConfigError("data.n_classes", f"{self.n_classes}; shapes has 2 to 4 classes")
        self._check_batch(self.n_samples)

    def _check_real_batch(self) -> None:
        """A set by name knows its size; a file's is checked when it is read."""
        size = REAL_SIZES.get(self.name)
        if size is not None:
            self._check_batch(min(size, self.limit) if self.limit else size)

    def _check_batch(self, n_samples: int) -> None:
        n_train = n_samples - round(n_samples * self.test_fraction)
        if self.batch_size > n_train:
            raise ConfigError(
                "data.batch_size",
                f"{self.batch_size} is larger than the training set ({n_train} samples)",
            )

    @property
    def real(self) -> bool:
        """Real data: a set by name or a file, rather than one generated here."""
        return self.name in REAL_DATASETS

    @property
    def file_kind(self) -> str | None:
        """What a ``file`` is: "table", "arrays", "images" (a folder) or "text";
        None for data that is no file, or a suffix Knoblab does not read."""
        if self.name != FILE_DATASET:
            return None
        path = self.path.strip().rstrip("/\\")
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        if "." not in name or os.path.isdir(path):
            return "images"  # a folder (a file without a suffix is refused when read)
        return FILE_FORMATS.get("." + name.rsplit(".", 1)[1].lower())

    @property
    def text(self) -> bool:
        """Running text, a character per token: the corpus, or a text file."""
        return self.name == "chars" or self.file_kind == "text"

    @property
    def pixels(self) -> bool:
        """Images a CNN can read (an MLP reads them flattened): a real image set
        or an image folder; arrays may be images too, known only once read."""
        return self.name in IMAGE_SHAPES or self.file_kind == "images"

    @property
    def task(self) -> str:
        """classification, regression or next_token; "auto" for a table or
        arrays whose target decides (known once the file is read)."""
        if self.name in SEQUENCE_DATASETS or self.file_kind == "text":
            return "next_token"
        if self.file_kind in ("table", "arrays"):
            return "auto" if self.target_kind == "auto" else self.target_kind
        return "regression" if self.name in REGRESSION_DATASETS else "classification"

    @property
    def sequence_length(self) -> int:
        return sequence_length("text" if self.file_kind == "text" else self.name, self.seq_len)


def sequence_length(name: str, seq_len: int) -> int:
    """Tokens a model reads at once on token task ``name`` (the whole
    sequence but its last token, which is only a target); 0 for other data."""
    if name in SYMBOL_TASKS:
        return 2 * seq_len  # question, separator, answer: 2n + 1 tokens
    if name == "induction":
        return 2 * seq_len - 1
    return seq_len if name in ("chars", "text") else 0


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
        hi=1e6,  # absurd rates are allowed: seeing them diverge is part of the lesson
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
