"""NPZ and NPY files: an ``.npz`` holding ``x`` and ``y`` (and optionally
``x_test`` and ``y_test``), or one 2-D ``.npy`` whose last column is the
target. Read with ``allow_pickle=False``: an array of Python objects is
refused, never unpickled."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.core.errors import FileError
from lab.data.reading import check_memory, decide_task, encode_labels


@dataclass(frozen=True)
class Arrays:
    x: np.ndarray  # float32 or uint8; (n, features) or images (n, channels, height, width)
    y: np.ndarray
    task: str
    class_names: tuple[str, ...]
    test: tuple[np.ndarray, np.ndarray] | None  # the file's own test split


def _load(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise FileError("does not exist", path)
    check_memory(
        4 * path.stat().st_size if path.suffix == ".npz" else path.stat().st_size,
        path,
        "its arrays",
    )  # fmt: skip  (compressed npz: up to ~4x)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"": loaded}
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise FileError(
                "holds Python objects, which Knoblab never unpickles; save plain numeric"
                " arrays (np.savez(path, x=..., y=...))",
                path,
            ) from exc
        raise FileError(f"is not a numpy array file: {exc}", path) from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise FileError(f"is damaged or not a numpy file ({exc})", path) from exc


def _as_images(x: np.ndarray) -> np.ndarray:
    """(n, h, w) gets a channel axis; channels-last (n, h, w, c) becomes (n, c, h, w)."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def _numbers(x: np.ndarray) -> np.ndarray:
    """float32, but bytes stay bytes: images, scaled to [0, 1] when split."""
    return x if x.dtype == np.uint8 else x.astype(np.float32)


def _check(path: Path, key: str, array: np.ndarray) -> None:
    if array.dtype.kind not in "biuf":
        raise FileError(f"array {key!r} has dtype {array.dtype}, not numbers", path)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        index = np.argwhere(~np.isfinite(array))[0]
        where = ", ".join(str(int(i)) for i in index)
        raise FileError(f"array {key!r} holds {array[tuple(index)]} at [{where}]", path)


def read_arrays(path: str | Path, target_kind: str = "auto") -> Arrays:
    path = Path(path)
    arrays = _load(path)
    if "" in arrays:  # a single .npy: features, then the target in the last column
        table = arrays.pop("")
        if table.ndim != 2 or table.shape[1] < 2:
            raise FileError(
                f"holds one array of shape {table.shape}; a .npy is read as a table whose last"
                " column is the target (rows, features + 1). For images or separate labels"
                " save an .npz with x and y",
                path,
            )
        arrays = {"x": table[:, :-1], "y": table[:, -1]}
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        held = ", ".join(sorted(arrays)) or "nothing"
        raise FileError(
            f"has no array {missing[0]!r}; an .npz needs x and y (optionally x_test, y_test),"
            f" and this one holds {held}",
            path,
        )
    for key, array in arrays.items():
        _check(path, key, array)
    pairs = [("x", "y")] + ([("x_test", "y_test")] if "x_test" in arrays else [])
    for xs, ys in pairs:
        if ys not in arrays:
            raise FileError(f"has {xs} but no {ys}", path)
        if arrays[xs].ndim < 2 or arrays[ys].ndim != 1 or len(arrays[xs]) != len(arrays[ys]):
            raise FileError(
                f"{xs} has shape {arrays[xs].shape} and {ys} {arrays[ys].shape}; {xs} needs one"
                f" row per example and {ys} one value for each",
                path,
            )
    if len(arrays["x"]) == 0:
        raise FileError("x has no examples", path)
    y_all = np.concatenate([arrays[ys] for _, ys in pairs])
    values = y_all.astype(np.float64)
    task = decide_task(values, target_kind)
    if task == "classification":
        labels, names = encode_labels(values if y_all.dtype.kind == "f" else y_all)
        if len(names) < 2:
            raise FileError(f"y has one class only ({names[0]}): nothing to tell apart", path)
    else:
        labels, names = values.astype(np.float32), ()
    n = len(arrays["x"])
    x = _numbers(_as_images(arrays["x"]))
    test = None
    if len(pairs) == 2:
        test = (_numbers(_as_images(arrays["x_test"])), labels[n:])
        if test[0].shape[1:] != x.shape[1:]:
            raise FileError(
                f"x_test's examples have shape {test[0].shape[1:]}, x's {x.shape[1:]}", path
            )
    return Arrays(x, labels[:n], task, names, test)
