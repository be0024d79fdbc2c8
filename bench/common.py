"""Shared helpers for the benches: interleaved timing and the last-line verdict."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout


def interleaved_rates(
    loops: dict[str, Callable[[int], Any]], steps: int, rounds: int
) -> dict[str, list[float]]:
    """Steps per second of each loop, ``rounds`` times ``steps`` steps each.

    The loops take turns in short rounds, in rotating order: this shared VM's
    speed drifts by a third within a minute, and a ratio of two rates taken
    within half a second of each other is immune to that.
    """
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for run in loops.values():
        run(max(steps, 20))  # warm up
    names = list(loops)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            loops[name](steps)
            rates[name].append(steps / (time.perf_counter() - start))
    return rates


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median of per-round ratios (rounds are paired in time)."""
    return median([a / b for a, b in zip(numerator, denominator, strict=True)])


def verdict(figures: dict[str, Any], targets: dict[str, Any], passed: bool) -> None:
    print(json.dumps({"figures": figures, "targets": targets, "pass": bool(passed)}))
