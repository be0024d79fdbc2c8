"""What every reader of a user's file shares: UTF-8 with the offending byte
named, the memory check made before anything large is read, and how a
target decides between classification and regression."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil

from lab.core.errors import FileError, TooLarge
from lab.core.units import size

MOST_CLASS_VALUES = 20  # a numeric target with at most this many integer values is a class
FREE_SHARE = 0.5  # a dataset may take at most this share of the memory that is free


def read_utf8(path: Path) -> str:
    """The file's text; a clear ``FileError`` when it is missing, a folder or not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise FileError("does not exist", path) from exc
    except IsADirectoryError as exc:
        raise FileError("is a folder, not a file", path) from exc
    except OSError as exc:
        raise FileError(f"cannot be read: {exc.strerror or exc}", path) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileError(
            f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} (line"
            f" {line}); save it as UTF-8",
            path,
        ) from exc


def free_memory() -> int:
    return int(psutil.virtual_memory().available)


def check_memory(need: int, path: Path | str, what: str) -> None:
    """Refuse up front, with the estimate, a file whose data would not fit."""
    free = free_memory()
    if need > FREE_SHARE * free:
        raise TooLarge(
            "data.limit",
            f"{path}: {what} would take about {size(need)} in memory, and {size(free)} is"
            f" free; use a smaller file, or set data.limit to read fewer examples",
            need,
            free,
        )


def decide_task(values: np.ndarray | None, kind: str) -> str:
    """classification or regression for a target: ``kind`` unless "auto";
    auto: text, or a few integer values, is classification."""
    if kind != "auto":
        return kind
    if values is None:
        return "classification"
    whole = bool(np.all(values == np.round(values)))
    return (
        "classification" if whole and np.unique(values).size <= MOST_CLASS_VALUES else "regression"
    )


def encode_labels(values: np.ndarray | list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices (int64) and the class names, sorted (numbers by value)."""
    array = np.asarray(values)
    classes, codes = np.unique(array, return_inverse=True)
    if array.dtype.kind == "f":
        names = tuple(f"{c:g}" for c in classes)
    else:
        names = tuple(str(c) for c in classes)
    return codes.astype(np.int64).reshape(-1), names
