"""A bounded metric store: named series of rows (a step and a vector of values).

A series holds at most ``capacity`` rows. When it fills up, every other row is
dropped and from then on only every second offered row is kept (the stride
doubles), so a run of any length keeps an evenly spaced picture of its whole
history in fixed memory. This module imports no torch: the GUI keeps a store of
its own, fed from the engine's batches; both take each series' capacity from
the wire contract (``lab.core.wire``), so they keep the same rows.

A producer may hold rows back and write them in batches (the probes turn many
collections into rows at once, far cheaper than one at a time): it registers
its flush with ``defer``, and every read of the store runs it first, so no
reader ever sees a store behind its producers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence

import numpy as np

from lab.core import wire
from lab.core.wire import DEFAULT_CAPACITY


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

    def extend(self, steps: Sequence[int] | np.ndarray, rows: np.ndarray) -> None:
        """Offer many rows (one per step) at once; the same rows are kept as
        by one ``append`` each, with a few array copies instead of a call per row."""
        n = len(steps)
        rows = np.asarray(rows, dtype=np.float64).reshape(n, -1 if n else len(self.columns))
        if rows.shape[1] != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} values, got {rows.shape[1]}")
        if n == 0:
            return
        steps = np.asarray(steps, dtype=np.int64)
        self.latest, self.latest_step = rows[-1].copy(), int(steps[-1])
        i = 0  # the next row to offer; self._offered is its number among all offered
        while i < n:
            skip = -self._offered % self._stride  # rows before the next one kept
            if skip >= n - i:
                self._offered += n - i
                return
            i += skip
            self._offered += skip
            if self._len == self.capacity:  # full: thin by half, as append does
                half = self.capacity // 2
                self._steps[:half] = self._steps[0 : self.capacity : 2]
                self._values[:half] = self._values[0 : self.capacity : 2]
                self._len = half
                self._stride *= 2
                if self._offered % self._stride:  # falls between the coarser samples
                    self._offered += 1
                    i += 1
                    continue
            stride = self._stride
            count = min(self.capacity - self._len, (n - 1 - i) // stride + 1)
            span = stride * (count - 1) + 1  # rows offered, first to last kept
            kept = slice(i, i + span, stride)
            self._steps[self._len : self._len + count] = steps[kept]
            self._values[self._len : self._len + count] = rows[kept]
            self._len += count
            self._offered += span
            i += span

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
    """Series by name; creates a series on its first row, with the rows the
    wire contract gives its name (or ``capacity`` rows for every series)."""

    def __init__(self, capacity: int | Callable[[str], int] = wire.capacity) -> None:
        self.capacity = capacity if callable(capacity) else (lambda _name, rows=capacity: rows)
        self._series: dict[str, Series] = {}
        self._deferred: list[Callable[[], None]] = []

    @property
    def series(self) -> dict[str, Series]:
        """Every series by name, after the rows producers hold back are in."""
        self.sync()
        return self._series

    @series.setter
    def series(self, series: dict[str, Series]) -> None:
        self._series = series

    def defer(self, flush: Callable[[], None]) -> None:
        """Have ``flush`` (which writes rows its producer holds back) run
        before the store is next read; once, however often it is deferred."""
        if flush not in self._deferred:
            self._deferred.append(flush)

    def sync(self) -> None:
        """Run the deferred flushes (each once)."""
        while self._deferred:
            self._deferred.pop(0)()

    def _series_for(self, name: str, columns: Sequence[str] | None) -> Series:
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = Series(columns or ("value",), self.capacity(name))
        return series

    def append(
        self,
        name: str,
        step: int,
        values: dict[str, float] | Sequence[float],
        columns: Sequence[str] | None = None,
    ) -> None:
        """Append a row; the series is made on its first row, with ``columns``
        (or the dict's keys)."""
        if isinstance(values, dict):
            columns, values = tuple(values), list(values.values())
        self._series_for(name, columns).append(step, values)

    def extend(
        self,
        name: str,
        steps: Sequence[int] | np.ndarray,
        rows: np.ndarray,
        columns: Sequence[str],
    ) -> None:
        """Append ``rows`` (one per step) as one ``append`` each would."""
        self._series_for(name, columns).extend(steps, rows)

    def __contains__(self, name: str) -> bool:
        return name in self.series

    def get(self, name: str) -> Series | None:
        return self.series.get(name)  # (the property syncs deferred rows first)

    def __getitem__(self, name: str) -> Series:
        return self.series[name]

    def drop(self, prefix: str) -> None:
        """Remove every series whose name starts with ``prefix``."""
        for name in [n for n in self.series if n.startswith(prefix)]:
            del self._series[name]

    def clear(self) -> None:
        self._series.clear()
        self._deferred.clear()  # rows held back belong to what is being cleared

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
        cls, arrays: dict[str, np.ndarray], capacity: int | Callable[[str], int] = wire.capacity
    ) -> MetricStore:
        store = cls(capacity)
        names = sorted({key.rsplit("/", 1)[0] for key in arrays})
        for name in names:
            columns = [str(c) for c in arrays[f"{name}/columns"]]
            store.extend(name, arrays[f"{name}/steps"], arrays[f"{name}/values"], columns)
        return store


def series_to_csv(series: Series) -> str:
    """CSV text with a ``step`` column, then the series' columns; NaN as empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", *series.columns])
    for step, row in zip(series.steps, series.values, strict=True):
        writer.writerow([int(step), *("" if np.isnan(v) else f"{v:.8g}" for v in row)])
    return buffer.getvalue()
