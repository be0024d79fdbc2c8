"""What a recipe is and what it finds, torch-free so the window lists the
recipes and draws their results: a recipe's description (``RecipeInfo``:
the claim, what to look for, the plots of its Compare view), each arm's
figures (``ArmResult``), and the verdict (``Check`` and ``RecipeResult``).

One source for every number: the verdict reads only the arms' figures, the
Compare view draws the same figures, and each check lists the figures it
used (``Check.uses``), so a test can hold the two to each other. How the
arms run lives in ``lab.recipes``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class PlotKind(StrEnum):
    CURVE = "curve"  # a line per arm over steps, lengths, ...
    PROFILE = "profile"  # a line per arm over depth (layer 1 .. L)
    BARS = "bars"  # one bar per arm for a single figure


@dataclass(frozen=True)
class Plot:
    """One plot of a Compare view: ``key`` names a series (curves, profiles)
    or a scalar (bars) in every arm's figures."""

    key: str
    title: str
    kind: PlotKind = PlotKind.CURVE
    x_label: str = "step"
    log_y: bool = False


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    title: str
    claim: str  # the textbook sentence, as a person reads it
    look_for: str  # where to look and what it means
    plots: tuple[Plot, ...]
    views: tuple[str, ...] = ()  # the lab's tabs that show it for one arm (tab titles)
    arms: tuple[str, ...] = ()  # the arms' labels (filled in by ``lab.recipes.catalog``)


@dataclass
class ArmResult:
    """An arm's figures: series ``key -> (x, y)`` and single figures."""

    label: str
    config: dict[str, Any]  # the arm's full experiment config (ExperimentConfig.to_dict())
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # how the recipe ran it beyond the config
    run_dir: str = ""  # where its run folder was written, if anywhere
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "config": self.config,
            "options": self.options,
            "scalars": {k: _finite(v) for k, v in self.scalars.items()},
            "series": {
                k: {"x": [_finite(v) for v in x], "y": [_finite(v) for v in y]}
                for k, (x, y) in self.series.items()
            },
            "run_dir": self.run_dir,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Check:
    """One claim of a verdict, whether the runs bore it out, and the
    figures it read (``"arm label: scalar key" -> value``)."""

    claim: str
    passed: bool
    detail: str  # the numbers, in words
    uses: dict[str, float] = field(default_factory=dict)


@dataclass
class RecipeResult:
    info: RecipeInfo
    fast: bool
    arms: list[ArmResult]
    checks: list[Check] = field(default_factory=list)
    done: bool = False  # every arm ran and the verdict is in (a partial result is not)

    @property
    def passed(self) -> bool:
        return self.done and bool(self.checks) and all(c.passed for c in self.checks)

    def verdict_text(self) -> str:
        if not self.done:
            return f"{len(self.arms)} arm(s) measured so far"
        mark = "PASS" if self.passed else "FAIL"
        lines = [f"{mark}: {self.info.title}"]
        lines += [f"  [{'ok' if c.passed else 'no'}] {c.claim}: {c.detail}" for c in self.checks]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.info.name,
            "title": self.info.title,
            "claim": self.info.claim,
            "fast": self.fast,
            "pass": self.passed,
            "checks": [
                {
                    "claim": c.claim,
                    "pass": c.passed,
                    "detail": c.detail,
                    "uses": {k: _finite(v) for k, v in c.uses.items()},
                }
                for c in self.checks
            ],
            "arms": [arm.to_dict() for arm in self.arms],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: they become null."""
    value = float(value)
    return value if math.isfinite(value) else None
