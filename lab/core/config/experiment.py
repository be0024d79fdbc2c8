"""The whole experiment: its sections, the rules between them, files
(TOML, JSON) and changes by dotted path."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from lab.core.config.choices import (
    FIELDS_SINCE,
    IMAGE_DATASETS,
    IMAGE_SHAPES,
    IMAGE_SIZE,
    INPUT_WIDTHS,
    SCHEMA_VERSION,
)
from lab.core.config.data import DataConfig
from lab.core.config.model import ModelConfig
from lab.core.config.probes import ProbesConfig
from lab.core.config.training import InitConfig, OptimConfig, TrainConfig
from lab.core.errors import ConfigError, FileError
from lab.core.fields import Knob, knob_at
from lab.core.fileio import atomic_write_text
from lab.core.serialize import build, flatten, set_path, to_builtin

FILE_WORDS = {"table": "a table", "arrays": "arrays", "images": "an image folder", "text": "text"}


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
        self._check_model_fits_data()
        if self.data.task != "auto":
            self.check_task(self.data.task)

    def check_task(self, task: str) -> None:
        """The loss fits the task (a file's task is known once it is read)."""
        loss = self.loss_for(task)
        if task == "classification" and loss != "cross_entropy":
            raise ConfigError(
                "train.loss", f"{loss!r} does not fit classification; use cross_entropy"
            )
        if task == "regression" and loss == "cross_entropy":
            raise ConfigError(
                "train.loss", "cross_entropy does not fit regression; use mse or huber"
            )
        if task == "regression" and self.train.label_smoothing > 0:
            raise ConfigError("train.label_smoothing", "label smoothing is for classification")

    def _check_model_fits_data(self) -> None:
        """The model family fits the data: a CNN for images (or an MLP reading
        them flattened), a Transformer for token sequences (with a context as
        long as them), an MLP for the rest."""
        kind, name = self.model.kind, self.data.name
        if kind == "custom":  # a model of the person's own: the data it reads is its concern
            if self.data.task == "next_token":
                raise ConfigError(
                    "model.kind", "a model of your own reads points or images; for token"
                    " sequences use the lab's Transformer",
                )  # fmt: skip
            return
        allowed = data_families(self.data)
        if kind not in allowed:
            wanted = allowed[0]
            needs = {"cnn": "image data", "transformer": "token sequences", "mlp": "points"}
            if kind != "mlp":
                message = f"a {kind.upper() if kind == 'cnn' else 'Transformer'} needs"
                what = (
                    f"{self.data.path} is {FILE_WORDS.get(self.data.file_kind or '', 'a file')}"
                    if name == "file"
                    else f"data.name is {name!r}"
                )
                raise ConfigError("model.kind", f"{message} {needs[kind]}; {what}")
            raise ConfigError("model.kind", f"{needs[wanted]} need model.kind = {wanted!r}")
        if kind == "transformer":
            length, context = self.data.sequence_length, self.model.transformer.context
            if length > context:
                raise ConfigError(
                    "model.transformer.context",
                    f"{context} tokens is shorter than the task's sequences ({length} tokens);"
                    f" allowed: at least {length}",
                )
            return
        if kind == "cnn":
            side = image_side(self.data)
            if side is not None:
                self.check_pools(side)
        width = input_width(self.data, kind)
        if width is not None:
            self.check_residuals(width)

    def check_pools(self, side: int) -> None:
        """Each pooling layer halves the image; the last may leave one pixel."""
        pools = sum(layer.pool for layer in self.model.layers)
        most = side.bit_length() - 1
        if pools > most:
            raise ConfigError(
                "model.layers", f"{pools} pooling layers; {side}x{side} images allow {most}"
            )

    def check_residuals(self, width: int) -> None:
        """A residual block's input and output widths agree (``width``: the data's)."""
        for i, layer in enumerate(self.model.layers):
            if layer.residual and layer.width != width:
                raise ConfigError(
                    f"model.layers[{i}].residual",
                    f"the block's input has width {width} and its output {layer.width};"
                    " a residual block needs them equal",
                )
            width = layer.width

    @property
    def loss(self) -> str:
        """The loss actually used, with ``auto`` resolved by the dataset's task
        (a table's task: see ``loss_for``)."""
        return self.loss_for(self.data.task)

    def loss_for(self, task: str) -> str:
        if self.train.loss != "auto":
            return self.train.loss
        return "mse" if task == "regression" else "cross_entropy"

    # ------------------------------------------------------------ conversion

    def to_dict(self) -> dict[str, Any]:
        return to_builtin(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, whole: bool = False) -> ExperimentConfig:
        """``whole``: every field must be written out (a file Knoblab wrote:
        one missing was cut short, and its default would change the
        experiment without a word)."""
        if not isinstance(data, Mapping):
            raise FileError("a config is a table of sections (model, data, optim, ...)")
        written_schema = data.get("schema", SCHEMA_VERSION)
        if isinstance(written_schema, int) and written_schema < SCHEMA_VERSION:
            data = {**data, "schema": SCHEMA_VERSION}  # read into this version's fields
        config = build(cls, data, "")
        if whole:
            written = set(flatten(data)) | _added_since(written_schema)
            missing = [key for key in flatten(config.to_dict()) if key not in written]
            if missing:
                more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
                raise FileError(
                    f"is incomplete (cut short?): it has no {', '.join(missing[:3])}{more}"
                )
        return config

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str, *, whole: bool = False) -> ExperimentConfig:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FileError(f"is not a Knoblab config: malformed TOML ({exc})") from exc
        return cls.from_dict(data, whole=whole)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str, *, whole: bool = False) -> ExperimentConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileError(f"is not a Knoblab config: malformed JSON ({exc})") from exc
        return cls.from_dict(data, whole=whole)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        text = self.to_json() if path.suffix == ".json" else self.to_toml()
        atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | Path, *, whole: bool = False) -> ExperimentConfig:
        """A config file (``.json``, else TOML). ``FileError`` names the file
        when it is missing, unreadable, malformed or cut short; a field it
        holds that is not valid is a ``ConfigError`` naming the field."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise FileError("does not exist", path) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise FileError(f"cannot be read: {exc}", path) from exc
        parse = cls.from_json if path.suffix == ".json" else cls.from_toml
        try:
            return parse(text, whole=whole)
        except FileError as exc:
            raise FileError(exc.message, path) from exc

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


def _added_since(schema: Any) -> set[str]:
    """Fields a file of version ``schema`` cannot have: later versions added them."""
    if not isinstance(schema, int):
        return set()
    return {key for v, keys in FIELDS_SINCE.items() if v > schema for key in keys}


def data_families(data: DataConfig) -> tuple[str, ...]:
    """The model kinds that read ``data``, the usual one first."""
    if data.task == "next_token":
        return ("transformer",)
    if data.name in IMAGE_DATASETS:
        return ("cnn",)
    if data.pixels:
        return ("cnn", "mlp")  # an MLP reads the pixels flattened
    if data.file_kind == "arrays":
        return ("mlp", "cnn")  # a CNN needs images: checked once the file is read
    return ("mlp",)


def image_side(data: DataConfig) -> int | None:
    """The side of ``data``'s images where it is known without reading them."""
    if data.name in IMAGE_DATASETS:
        return IMAGE_SIZE
    if data.name in IMAGE_SHAPES:
        return min(IMAGE_SHAPES[data.name][1:])
    return data.image_size if data.file_kind == "images" else None


def input_width(data: DataConfig, kind: str) -> int | None:
    """Features (an MLP) or channels (a CNN) of ``data``, where known without
    reading it: a file's are known once it is read."""
    if data.name in IMAGE_SHAPES:
        channels, height, width = IMAGE_SHAPES[data.name]
        return channels if kind == "cnn" else channels * height * width
    return INPUT_WIDTHS.get(data.name)


def field_knob(path: str) -> Knob:
    """The knob of a config path such as ``optim.lr`` or ``model.layers[3].width``."""
    return knob_at(ExperimentConfig, path)


def field_label(path: str) -> str:
    """A field's label in words (its knob's), or the path where it has none."""
    try:
        return field_knob(path).label
    except ConfigError:
        return path


def rebuilds(path: str) -> bool:
    """Whether changing ``path`` starts the experiment over: a field marked so,
    the layer list itself, the experiment's name or schema."""
    if path in ("name", "schema") or path.startswith("model.layers"):
        return True
    try:
        return field_knob(path).rebuild
    except ConfigError:
        return True  # a table replaced whole (a section): start over
