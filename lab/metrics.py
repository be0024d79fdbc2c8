"""A bounded metric store: named series of rows (a step and a vector of values).

A series holds at most ``capacity`` rows. When it fills up, every other row is
dropped and from then on only every second offered row is kept (the stride
doubles), so a run of any length keeps an evenly spaced picture of its whole
history in fixed memory. This module imports no torch: the GUI keeps a store of
its own, fed from the engine's batches.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

DEFAULT_CAPACITY = 4096
# The trainer's test-set confusion counts (true class x predicted, row-major),
# named here where both the trainer and the window's view can read it.
CONFUSION = "confusion"


class Series:
    """Rows of ``len(columns)`` float values, each tagged with an integer step."""

    def __init__(self, columns: Sequence[str], capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.columns = tuple(columns)
        self.capacity = capacity
        self._steps = np.zeros(capacity, dtype=np.int64)
        self._values = np.full((capacity, len(self.columns)), np.nan)
        self._len = 0
        self._stride = 1  # keep every stride-th offered row
        self._offered = 0
        self.latest: np.ndarray | None = None  # the last row offered, kept or not
        self.latest_step = -1

    def __len__(self) -> int:
        return self._len

    @property
    def stride(self) -> int:
        return self._stride

    def append(self, step: int, values: Sequence[float] | np.ndarray) -> None:
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        if row.shape[0] != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} values, got {row.shape[0]}")
        self.latest, self.latest_step = row, step
        keep = self._offered % self._stride == 0
        self._offered += 1
        if not keep:
            return
        if self._len == self.capacity:
            half = self.capacity // 2
            self._steps[:half] = self._steps[0 : self.capacity : 2]
            self._values[:half] = self._values[0 : self.capacity : 2]
            self._len = half
            self._stride *= 2
            if (self._offered - 1) % self._stride:
                return  # this row falls between the new, coarser samples
        self._steps[self._len] = step
        self._values[self._len] = row
        self._len += 1

    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self._len].copy()

    @property
    def values(self) -> np.ndarray:
        return self._values[: self._len].copy()

    def column(self, name: str) -> np.ndarray:
        return self._values[: self._len, self.columns.index(name)].copy()

    def nbytes(self) -> int:
        return self._steps.nbytes + self._values.nbytes


class MetricStore:
    """Series by name; creates a series on its first row."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.series: dict[str, Series] = {}

    def append(
        self,
        name: str,
        step: int,
        values: dict[str, float] | Sequence[float],
        columns: Sequence[str] | None = None,
        capacity: int | None = None,
    ) -> None:
        """Append a row; the series is made on its first row, with ``columns``
        (or the dict's keys) and ``capacity`` (default: the store's)."""
        if isinstance(values, dict):
            columns, values = tuple(values), list(values.values())
        series = self.series.get(name)
        if series is None:
            series = self.series[name] = Series(columns or ("value",), capacity or self.capacity)
        series.append(step, values)

    def __contains__(self, name: str) -> bool:
        return name in self.series

    def __getitem__(self, name: str) -> Series:
        return self.series[name]

    def clear(self) -> None:
        self.series.clear()

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.series.values())

    # ------------------------------------------------------------ files

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, series in self.series.items():
            out[f"{name}/steps"] = series.steps
            out[f"{name}/values"] = series.values
            out[f"{name}/columns"] = np.array(series.columns)
        return out

    @classmethod
    def from_npz_dict(
        cls, arrays: dict[str, np.ndarray], capacity: int = DEFAULT_CAPACITY
    ) -> MetricStore:
        store = cls(capacity)
        names = sorted({key.rsplit("/", 1)[0] for key in arrays})
        for name in names:
            columns = [str(c) for c in arrays[f"{name}/columns"]]
            for step, row in zip(arrays[f"{name}/steps"], arrays[f"{name}/values"], strict=True):
                store.append(name, int(step), row, columns)
        return store


def series_to_csv(series: Series) -> str:
    """CSV text with a ``step`` column, then the series' columns; NaN as empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", *series.columns])
    for step, row in zip(series.steps, series.values, strict=True):
        writer.writerow([int(step), *("" if np.isnan(v) else f"{v:.8g}" for v in row)])
    return buffer.getvalue()
