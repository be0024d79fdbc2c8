"""A CSV or TSV table with a header, read into features and a target: numeric
columns as they are, text columns one-hot, the target column the one named
(the last by default). Every refusal names the file, the line and the column.

The user's file is only read, never written.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.core.errors import FileError
from lab.data.reading import check_memory, decide_task, encode_labels, read_utf8

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
MOST_CATEGORIES = 256  # a text feature with more values is an id or free text, not a category
PREVIEW_ROWS = 8
CELL_OVERHEAD = 12  # bytes in memory per byte of a table while it is parsed


@dataclass(frozen=True)
class Table:
    features: np.ndarray  # float32 (rows, features), one-hot columns expanded
    target: np.ndarray  # int64 class indices or float32 values
    task: str  # "classification" or "regression"
    class_names: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (header name, role) in file order
    feature_names: tuple[str, ...]  # one per feature column (a one-hot: "colour=red")
    head: tuple[tuple[str, ...], ...]  # the first rows as written, for a preview


def _delimiter(path: Path, sample: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    first = sample.split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=counts.get)  # type: ignore[arg-type]
    return best if counts[best] else ","


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    if path.is_file():  # each cell becomes a Python string first: ~12x the file's bytes
        check_memory(path.stat().st_size * CELL_OVERHEAD, path, "its cells")
    text = read_utf8(path)
    if not text.strip():
        raise FileError("is empty: a table needs a header line and rows", path)
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(path, text[:4096]))
    try:
        rows = [row for row in reader if row]
    except csv.Error as exc:
        raise FileError(f"is not a readable table: line {reader.line_num}: {exc}", path) from exc
    header = [name.strip() for name in rows[0]]
    body = rows[1:]
    if not body:
        raise FileError("has a header but no rows", path)
    if len(header) != len(set(header)):
        twice = sorted({name for name in header if header.count(name) > 1})
        raise FileError(f"has the column name {twice[0]!r} twice in its header", path)
    width = len(header)
    for index, row in enumerate(body):
        if len(row) != width:
            raise FileError(
                f"line {index + 2} has {len(row)} fields; the header has {width}"
                " (a ragged row: a missing or extra delimiter?)",
                path,
            )
    return header, body


def _parse(cells: list[str]) -> tuple[np.ndarray, list[int]]:
    """The column as float64, NaN where missing, and the rows holding text
    (empty when the column is all numbers); each cell is parsed once."""
    try:
        return np.array(cells, dtype=np.float64), []
    except ValueError:
        pass
    values = np.full(len(cells), math.nan)
    text = []
    for i, cell in enumerate(cells):
        if cell.strip().lower() in MISSING:
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            text.append(i)
    return values, text


def read_table(
    path: str | Path, target: str = "", target_kind: str = "auto", impute: str = "refuse"
) -> Table:
    """Read ``path``; ``target``: the target column's name (empty: the last)."""
    path = Path(path)
    header, body = _rows(path)
    if len(header) < 2:
        raise FileError(
            f"has only the column {header[0]!r}: a table needs feature columns besides the"
            " target (a label-only file?)",
            path,
        )
    target = target.strip() or header[-1]
    if target not in header:
        raise FileError(
            f"has no column {target!r} (data.target); its columns are {', '.join(header)}", path
        )
    columns = list(zip(*body, strict=True))
    blocks: list[np.ndarray] = []
    names: list[str] = []
    roles: list[tuple[str, str]] = []
    target_cells: list[str] = []
    for name, cells in zip(header, columns, strict=True):
        cells = list(cells)
        if name == target:
            target_cells = cells
            roles.append((name, "target"))
            continue
        block, block_names, role = _feature(path, name, cells, impute)
        blocks.append(block)
        names += block_names
        roles.append((name, role))
    labels, task, class_names = _target(path, target, target_cells, target_kind)
    return Table(
        np.concatenate(blocks, axis=1).astype(np.float32),
        labels,
        task,
        class_names,
        tuple(roles),
        tuple(names),
        tuple(tuple(row) for row in body[:PREVIEW_ROWS]),
    )


def _where(row: int, column: str) -> str:
    return f"line {row + 2}, column {column!r}"


def _feature(
    path: Path, name: str, cells: list[str], impute: str
) -> tuple[np.ndarray, list[str], str]:
    values, text = _parse(cells)
    if text:
        if len(text) <= len(cells) / 2:  # a numeric column with a stray word in it
            bad = text[0]
            raise FileError(
                f"{_where(bad, name)} holds {cells[bad]!r}, text in a numeric column", path
            )
        return _one_hot(path, name, cells, impute)
    infinite = np.flatnonzero(np.isinf(values))
    if infinite.size:
        row = int(infinite[0])
        raise FileError(f"{_where(row, name)} is {cells[row]!r}, not a finite number", path)
    missing = np.flatnonzero(np.isnan(values))
    if missing.size:
        row = int(missing[0])
        if impute != "mean":
            raise FileError(
                f"{_where(row, name)} is missing ({cells[row]!r}); fill it in, or set"
                ' data.impute = "mean" to use the column\'s mean',
                path,
            )
        if missing.size == values.size:
            raise FileError(f"column {name!r} has no value at all to impute from", path)
        values[missing] = np.nanmean(values)
    return values[:, None], [name], "numeric"


def _one_hot(
    path: Path, name: str, cells: list[str], impute: str
) -> tuple[np.ndarray, list[str], str]:
    cells = [cell.strip() for cell in cells]
    present = [cell for cell in cells if cell.lower() not in MISSING]
    missing = [i for i, cell in enumerate(cells) if cell.lower() in MISSING]
    if missing:
        if impute != "mean" or not present:
            raise FileError(
                f"{_where(missing[0], name)} is missing; fill it in, or set"
                ' data.impute = "mean" to use the column\'s most common value',
                path,
            )
        common = max(set(present), key=present.count)
        cells = [common if i in set(missing) else cell for i, cell in enumerate(cells)]
    categories = sorted(set(cells))
    if len(categories) > MOST_CATEGORIES:
        raise FileError(
            f"column {name!r} holds {len(categories)} different texts: too many to one-hot"
            f" (at most {MOST_CATEGORIES}); an id or free text? Remove the column",
            path,
        )
    codes = np.searchsorted(np.array(categories), np.array(cells))
    block = np.zeros((len(cells), len(categories)), dtype=np.float32)
    block[np.arange(len(cells)), codes] = 1.0
    return block, [f"{name}={c}" for c in categories], f"one-hot ({len(categories)})"


def _target(
    path: Path, name: str, cells: list[str], kind: str
) -> tuple[np.ndarray, str, tuple[str, ...]]:
    stripped = [cell.strip() for cell in cells]
    missing = [i for i, cell in enumerate(stripped) if cell.lower() in MISSING]
    if missing:
        raise FileError(f"{_where(missing[0], name)} is missing: every row needs its target", path)
    parsed, text = _parse(stripped)
    values = None if text else parsed  # a target with text in it is classes
    if values is not None and np.isinf(values).any():
        row = int(np.flatnonzero(np.isinf(values))[0])
        raise FileError(f"{_where(row, name)} is {cells[row]!r}, not a finite number", path)
    task = decide_task(values, kind)
    if task == "regression":
        if values is None:
            raise FileError(
                f"{_where(text[0], name)} holds {stripped[text[0]]!r}: a regression"
                " target must be numeric",
                path,
            )
        return values.astype(np.float32), task, ()
    labels, class_names = encode_labels(stripped if values is None else values)
    if len(class_names) < 2:
        raise FileError(
            f"target column {name!r} has one class only ({class_names[0]!r}): there is"
            " nothing to tell apart",
            path,
        )
    return labels, task, class_names
