"""The engine's metric store, which also queues every new row (and every
dropped series) for the window, sent in batches of at most ~30 a second."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.core.metrics import MetricStore
from lab.core.protocol import MetricRows


@dataclass
class Outbox:
    """Rows appended since the last flush, by series, and the prefixes of
    series dropped meanwhile (the window drops them before adding the rows)."""

    rows: dict[str, tuple[tuple[str, ...], list[int], list[np.ndarray]]] = field(
        default_factory=dict
    )
    dropped: list[str] = field(default_factory=list)

    def add_rows(
        self, name: str, columns: tuple[str, ...], steps: Sequence[int], rows: np.ndarray
    ) -> None:
        entry = self.rows.get(name)
        if entry is None:
            entry = self.rows[name] = (columns, [], [])
        entry[1].extend(int(s) for s in steps)
        entry[2].append(np.asarray(rows, dtype=np.float64).reshape(len(steps), -1))

    def drop(self, prefix: str) -> None:
        """Rows of these series not sent yet are gone with them."""
        for name in [n for n in self.rows if n.startswith(prefix)]:
            del self.rows[name]
        self.dropped.append(prefix)

    def clear(self) -> None:
        self.rows.clear()
        self.dropped.clear()

    def flush(self) -> MetricRows | None:
        if not self.rows and not self.dropped:
            return None
        series = {
            name: (columns, np.asarray(steps, dtype=np.int64), np.vstack(values))
            for name, (columns, steps, values) in self.rows.items()
        }
        batch = MetricRows(series, tuple(self.dropped))
        self.clear()
        return batch


class StreamingStore(MetricStore):
    """A metric store that also queues every new row for the window."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self.outbox = outbox

    def append(self, name: str, step: int, values: Any, columns: Any = None) -> None:
        super().append(name, step, values, columns)
        series = self._series[name]
        self.outbox.add_rows(name, series.columns, [step], series.latest)

    def extend(self, name: str, steps: Any, rows: Any, columns: Any) -> None:
        super().extend(name, steps, rows, columns)
        self.outbox.add_rows(name, self._series[name].columns, np.asarray(steps), rows)

    def drop(self, prefix: str) -> None:
        super().drop(prefix)
        self.outbox.drop(prefix)

    def resend(self) -> None:
        """Queue every row the store holds (after it was filled from a file)."""
        for name, series in self.series.items():
            self.outbox.add_rows(name, series.columns, series.steps, series.values)
