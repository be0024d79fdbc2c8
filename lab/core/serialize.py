"""Config sections to and from plain data (dicts, TOML, JSON) and dotted
paths: ``flatten`` turns nested tables into ``{"model.layers[0].width": 64}``,
``set_path`` writes one such path, ``build`` makes a section class from a
table, checking names and types on the way."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from lab.core.fields import ConfigError


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


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
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


def to_builtin(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_builtin(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_builtin(v) for v in obj]
    return obj


def build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
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
            raise ConfigError(path, f"{repr(value)} is not a table")
        return build(hint, value, path)
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(path, f"{repr(value)} is not a list")
        return tuple(_convert(item_hint, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (types.UnionType, typing.Union):  # pragma: no cover - no optional fields yet
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # TOML/JSON write 1.0 as 1 sometimes
    return value
