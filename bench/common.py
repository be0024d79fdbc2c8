"""Shared helpers for the benches: timing, and the last-line JSON verdict."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any


def best_rate(run: Callable[[int], Any], steps: int, repeats: int) -> float:
    """Median steps per second over ``repeats`` runs of ``steps`` steps."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(steps)
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def verdict(figures: dict[str, Any], targets: dict[str, Any], passed: bool) -> None:
    print(json.dumps({"figures": figures, "targets": targets, "pass": bool(passed)}))
