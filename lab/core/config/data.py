"""The data section: which dataset (generated here, a real set by name, or a
person's file) and how it is read, split and batched. Known without reading
anything: a file's kind by its suffix, its task once read ("auto")."""

from __future__ import annotations

import os
from dataclasses import dataclass

from lab.core.config.choices import (
    COLOURS,
    DATASETS,
    FILE_DATASET,
    FILE_FORMATS,
    IMAGE_SHAPES,
    IMPUTE,
    REAL_DATASETS,
    REAL_SIZES,
    REGRESSION_DATASETS,
    SEED_MAX,
    SEQUENCE_DATASETS,
    SYMBOL_TASKS,
    TARGET_KINDS,
    TWO_CLASS_DATASETS,
)
from lab.core.fields import ConfigError, knob, validate_section


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
