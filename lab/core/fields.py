"""What each config field accepts, what it does and how a form shows it,
written once beside the field (``knob(...)``) and read by everyone: the
config's validation, the window's generated forms and tooltips, the change
classifier (live change or rebuild) and ``knoblab`` help.

No torch here: the GUI process builds its forms from these.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lab.core.errors import ConfigError

Kind = Literal["choice", "int", "float", "bool", "text"]
TEXT_MOST = 4096  # characters in a text field (a path, a column name)

__all__ = ["ConfigError", "Knob", "knob", "knob_at", "knobs_of", "validate_section"]


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Knob:
    """One field's rules and presentation.

    ``lo``/``hi`` bound what the field accepts (open bounds exclude the
    value itself); ``slider`` is the part of that range a slider covers
    (typed values may go beyond it, within the bounds), on a log scale when
    ``log``. ``rebuild``: changing the field starts the experiment over
    (fresh weights); every other field applies on the next step.
    """

    label: str
    help: str
    kind: Kind
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    slider: tuple[float, float] | None = None
    log: bool = False
    step: float | None = None
    unit: str = ""
    rebuild: bool = False

    # ------------------------------------------------------------ rules

    def allowed(self) -> str:
        """What the field accepts, in words: "number > 0 and <= 100"."""
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "text":
            return f"text of at most {TEXT_MOST} characters"
        what = "integer" if self.kind == "int" else "number"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_number(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {_number(self.hi)}")
        return f"{what} {' and '.join(parts)}" if parts else what

    def check(self, path: str, value: Any) -> Any:
        """``value`` as the field keeps it (an integer becomes a float for a
        float field); ``ConfigError`` naming ``path`` when it does not fit."""
        if self.kind == "choice":
            if value not in self.choices:
                raise ConfigError(path, f"{value!r} is not {self.allowed()}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(path, f"{value!r} is not true or false")
            return value
        if self.kind == "text":
            if not isinstance(value, str) or len(value) > TEXT_MOST or "\0" in value:
                raise ConfigError(path, f"{value!r:.80} is not {self.allowed()}")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(path, f"{value!r} is not an integer")
            if self.lo is not None and value < self.lo:
                raise ConfigError(path, f"{value} is too small; allowed: {self.allowed()}")
            if self.hi is not None and value > self.hi:
                raise ConfigError(path, f"{value} is too large; allowed: {self.allowed()}")
            return value
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise ConfigError(path, f"{value!r} is not a finite number")
        low = self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo))
        high = self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi))
        if low or high:
            raise ConfigError(path, f"{value:g} is out of range; allowed: {self.allowed()}")
        return float(value)

    def parse(self, text: str) -> Any:
        """A value typed by a person, in the field's ordinary notations
        (``1e-4``, ``2_000``, ``2e3`` for an integer, ``true``/``yes``);
        ``ValueError`` with a short reason when it is no value of that kind.
        The range is ``check``'s job."""
        if self.kind == "text":
            return text.strip()
        text = text.strip()
        if self.kind == "choice":
            return text
        if self.kind == "bool":
            lowered = text.lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ValueError(f"{text!r} is not true or false")
        try:
            number = float(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if self.kind == "int":
            if not math.isfinite(number) or number != int(number):
                raise ValueError(f"{text!r} is not a whole number")
            return int(number)
        return number

    @property
    def caption(self) -> str:
        """The label as a form shows it, with its unit ("budget (GiB)")."""
        if self.unit and self.unit not in self.label:
            return f"{self.label} ({self.unit})"
        return self.label

    @property
    def tooltip(self) -> str:
        """Plain words: what it does, then what it accepts."""
        unit = f" ({self.unit})" if self.unit else ""
        effect = " Changing it starts the experiment over." if self.rebuild else ""
        return f"{self.help}{unit}.{effect} Allowed: {self.allowed()}."


def knob(default: Any, label: str, help: str, **rules: Any) -> Any:  # noqa: A002 (help text)
    """A dataclass field with its ``Knob``; the kind follows the default's
    type (a choice where ``choices`` are given)."""
    if "choices" in rules:
        kind: Kind = "choice"
        rules["choices"] = tuple(rules["choices"])
    elif isinstance(default, str):
        kind = "text"
    elif isinstance(default, bool):
        kind = "bool"
    elif isinstance(default, int):
        kind = "int"
    else:
        kind = "float"
    spec = Knob(label, help, kind, **rules)
    return dataclasses.field(default=default, metadata={"knob": spec})


def knobs_of(cls: type) -> dict[str, Knob]:
    """The knobs of a section class, by field name, in declaration order."""
    return {f.name: f.metadata["knob"] for f in dataclasses.fields(cls) if "knob" in f.metadata}


def validate_section(section: Any, prefix: str) -> None:
    """Check every knob field of a frozen section (in place: an integer in a
    float field is stored as a float)."""
    for name, spec in knobs_of(type(section)).items():
        value = spec.check(f"{prefix}.{name}", getattr(section, name))
        if value is not getattr(section, name):
            object.__setattr__(section, name, value)


_INDEX = re.compile(r"\[\d+\]")


def knob_at(root: type, path: str) -> Knob:
    """The knob of a dotted path below ``root`` (``optim.lr``,
    ``model.layers[3].width``: list indices do not matter)."""
    import typing

    cls: Any = root
    parts = _INDEX.sub("", path).split(".")
    for depth, name in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if name not in fields:
            raise ConfigError(path, "is not a field of the config")
        field = fields[name]
        if depth == len(parts) - 1:
            if "knob" not in field.metadata:
                raise ConfigError(path, "has no single value to set")
            return field.metadata["knob"]
        hint = typing.get_type_hints(cls)[name]
        args: Sequence[Any] = typing.get_args(hint)
        cls = args[0] if typing.get_origin(hint) is tuple else hint
    raise ConfigError(path, "is not a field of the config")  # pragma: no cover
