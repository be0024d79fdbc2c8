"""A recipe: its description (``lab.core.recipes.RecipeInfo``), its arms
(full experiment configs, plus how the recipe runs each), how one arm is
measured, and a verdict over the arms' figures.

Running a recipe is a job (``lab.jobs``): the arms run one after another,
each measured a chunk at a time so progress and cancel reach it, and every
finished arm is a partial result the window draws at once. Headless, on a
machine with the cores, ``lab.recipes.parallel`` runs them side by side.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lab.core.config import ExperimentConfig
from lab.core.recipes import ArmResult, Check, RecipeInfo, RecipeResult
from lab.jobs import Progress
from lab.train.trainer import Trainer

# An arm's measurement, as job steps: its figures, and the trainer whose run
# folder stands for the arm (None when the arm trains nothing to keep).
Measured = tuple[ArmResult, Any]
ArmSteps = Generator[Progress, None, Measured]


@dataclass(frozen=True)
class Arm:
    label: str
    config: ExperimentConfig
    options: dict[str, Any] = field(default_factory=dict)  # how the recipe runs it

    def changed(self, changes: dict[str, Any], **options: Any) -> Arm:
        """This arm with config fields changed (dotted paths) and options set."""
        return replace(
            self, config=self.config.with_changes(changes), options={**self.options, **options}
        )


@dataclass(frozen=True)
class Recipe:
    info: RecipeInfo
    make_arms: Callable[[bool], list[Arm]]  # fast -> the arms
    measure: Callable[[Arm, bool], ArmSteps]  # (arm, fast) -> its figures
    verdict: Callable[[Verdict], None]  # adds checks
    parallel: bool = True  # False: its arms time themselves, one at a time
    # config changes every arm takes (a person's data: ``on_data``); plain
    # values, so a worker process can be told them
    data: dict[str, Any] = field(default_factory=dict)

    def on_data(self, changes: dict[str, Any]) -> Recipe:
        """The recipe with every arm on other data (``{"data": {...}, ...}``)."""
        return replace(self, data=dict(changes))

    @property
    def name(self) -> str:
        return self.info.name

    def arms(self, fast: bool) -> list[Arm]:
        """The arms, each config named after the recipe and the arm
        ("vanishing-gradients-sigmoid"): opened in the lab, an arm is called
        what it is, not after the preset it started from."""
        arms = self.make_arms(fast)
        if self.data:
            arms = [arm.changed(self.data) for arm in arms]
        return [
            replace(arm, config=replace(arm.config, name=f"{self.name}-{slug(arm.label)}"))
            for arm in arms
        ]


class Verdict:
    """The checks of a verdict, reading figures only from the arms' results
    (by label), and remembering which it read."""

    def __init__(self, arms: Sequence[ArmResult]) -> None:
        self.arms = {arm.label: arm for arm in arms}
        self.checks: list[Check] = []
        self._used: dict[str, float] = {}

    def __call__(self, label: str, key: str) -> float:
        """Scalar ``key`` of arm ``label``."""
        value = float(self.arms[label].scalars[key])
        self._used[f"{label}: {key}"] = value
        return value

    def series(self, label: str, key: str) -> tuple[list[float], list[float]]:
        return self.arms[label].series[key]

    def check(self, claim: str, passed: bool, detail: str) -> None:
        """Record a claim with the figures read since the last check."""
        self.checks.append(Check(claim, bool(passed), detail, dict(self._used)))
        self._used = {}


def run_recipe(
    recipe: Recipe,
    fast: bool,
    *,
    out: str | Path | None = None,
    save: Callable[[Path, Any], None] | None = None,
) -> Generator[Progress, None, RecipeResult]:
    """The recipe as job steps: each arm measured in turn, then the verdict.
    With ``out``, each arm's run folder is written under it by ``save(folder,
    trainer)``: its trained weights, or its initial ones where the recipe
    measured the arm at initialisation."""
    result = RecipeResult(recipe.info, fast, [])
    yield from measure_arms(recipe, fast, recipe.arms(fast), result, out=out, save=save)
    return judge(recipe, result)


def judge(recipe: Recipe, result: RecipeResult) -> RecipeResult:
    """``result`` with the recipe's verdict over its arms."""
    verdict = Verdict(result.arms)
    recipe.verdict(verdict)
    result.checks = verdict.checks
    result.done = True
    return result


def measure_arms(
    recipe: Recipe,
    fast: bool,
    arms: list[Arm],
    result: RecipeResult,
    *,
    out: str | Path | None = None,
    save: Callable[[Path, Any], None] | None = None,
    first: int = 0,
) -> Generator[Progress, None, None]:
    """Measure ``arms`` one after another into ``result.arms``; after each,
    a partial result (a copy: later arms do not change it under a reader).
    ``first``: the number of the first arm among the recipe's (run folders
    are numbered by it)."""
    for index, arm in enumerate(arms, first):
        start = time.perf_counter()
        steps = recipe.measure(arm, fast)
        try:
            while True:
                progress = next(steps)
                fraction = (index - first + progress.fraction) / len(arms)
                yield Progress(fraction, f"{arm.label}: {progress.message}".rstrip(": "))
        except StopIteration as stop:
            figures, trainer = stop.value
        figures.seconds = time.perf_counter() - start
        if out is not None and save is not None:
            folder = Path(out) / f"{index + 1}-{slug(arm.label)}"
            save(folder, trainer if trainer is not None else Trainer(arm.config))
            figures.run_dir = str(folder)
        result.arms.append(figures)
        yield Progress((index - first + 1) / len(arms), f"{arm.label}: measured", _copy(result))


def _copy(result: RecipeResult) -> RecipeResult:
    """A partial result that later arms do not change under the reader's feet."""
    return replace(result, arms=list(result.arms), checks=list(result.checks))


def slug(label: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in label.lower())
    return "-".join(part for part in keep.split("-") if part)


def arm_result(arm: Arm, **figures: Any) -> ArmResult:
    """An arm's figures with its config and options attached."""
    return ArmResult(arm.label, arm.config.to_dict(), options=dict(arm.options), **figures)
