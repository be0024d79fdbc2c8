"""Every recipe's fast variant passes its verdict, and fails it when the arm
that carries the effect is changed (so no verdict is one that cannot fail);
the numbers a verdict reads are the arms' own figures, the ones the Compare
view draws."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pytest

from lab.core.errors import UsageError
from lab.core.recipes import ArmResult, PlotKind, RecipeResult
from lab.recipes import RECIPES, Arm, Recipe, recipe, run_recipe
from lab.recipes.base import Verdict, measure_arms
from lab.recipes.measure import calibration_error, log_slope, mlp, steps_to
from lab.recipes.surface import local_minima, roughness


def _finish(steps):  # noqa: ANN001, ANN202
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        return stop.value


@functools.cache
def fast_result(name: str) -> RecipeResult:
    return _finish(run_recipe(recipe(name), True))


def verdict_of(r: Recipe, arms: list[ArmResult]) -> Verdict:
    v = Verdict(arms)
    r.verdict(v)
    return v


@pytest.mark.parametrize("name", list(RECIPES))
def test_fast_verdict_passes_and_reads_the_arms_own_figures(name: str) -> None:
    result = fast_result(name)
    assert result.done and len(result.arms) >= 2
    assert result.passed, result.verdict_text()
    by_label = {arm.label: arm for arm in result.arms}
    used = 0
    for check in result.checks:
        assert check.uses, f"{check.claim}: a check that reads no figure"
        for key, value in check.uses.items():
            label, scalar = key.split(": ", 1)
            assert by_label[label].scalars[scalar] == value or (
                np.isnan(value) and np.isnan(by_label[label].scalars[scalar])
            )
            used += 1
    assert used >= 2
    # every plot of the Compare view finds its figures in the arms
    for plot in result.info.plots:
        if plot.kind == PlotKind.BARS:
            assert any(plot.key in arm.scalars for arm in result.arms), plot.key
        else:
            assert any(plot.key in arm.series for arm in result.arms), plot.key
    for arm in result.arms:
        assert arm.config["name"]  # a full experiment config, ready to open in the lab
        for x, y in arm.series.values():
            assert len(x) == len(y)


def _relu_he(a: Arm) -> Arm:
    return Arm(a.label, mlp(a.config, 20, 64, "relu").with_changes({"init.scheme": "he_normal"}))


# For each recipe: the arm that carries the effect, changed so the effect is gone.
FLIPS: dict[str, tuple[str, Callable[[Arm], Arm]]] = {
    "vanishing-gradients": ("sigmoid, Xavier", _relu_he),
    "exploding-signals": ("He x 1.5", lambda a: a.changed({"init.gain": 1.0})),
    "init-pairing": ("ReLU, He", lambda a: a.changed({"init.scheme": "xavier_normal"})),
    "batchnorm-bad-init": (
        "gain 2, BatchNorm",
        lambda a: Arm(a.label, mlp(a.config, 10, 64, "relu"), a.options),
    ),
    "dying-relus": ("ReLU", lambda a: Arm(a.label, a.config, {**a.options, "spike": 0})),
    "forgot-eval": ("*", lambda a: Arm(a.label, mlp(a.config, 4, 64, "relu"), a.options)),
    "clip-norm-vs-value": ("clip by value", lambda a: a.changed({"optim.clip": "norm"})),
    "accumulation": (
        "4 x 64, BatchNorm",
        lambda a: Arm(a.label, mlp(a.config, 4, 64, "relu"), a.options),
    ),
    "optimizers": ("SGD", lambda a: a.changed({"optim.momentum": 0.9})),
    "label-smoothing": ("smoothing 0.2", lambda a: a.changed({"train.label_smoothing": 0.0})),
    "dropout": ("dropout 0.3", lambda a: Arm(a.label, mlp(a.config, 3, 256, "relu"), a.options)),
    "residual-depth-30": (
        "residual, 30 layers",
        lambda a: Arm(
            a.label,
            mlp(a.config, 30, 64, "relu").with_changes({"model.residual_scale": "none"}),
            a.options,
        ),
    ),
    "attention-scaling": (
        "unscaled",
        lambda a: a.changed({"model.transformer.scale_attention": True}),
    ),
    "warmup": ("post-norm, warm-up", lambda a: a.changed({"optim.schedule": "constant"})),
    "kv-cache": ("GQA, 2 KV heads", lambda a: a.changed({"model.transformer.kv_heads": 4})),
    "landscape-skips": (
        "plain, 30 layers",
        lambda a: Arm(
            a.label,
            mlp(a.config, 30, 32, "relu", residual=True).with_changes(
                {"model.residual_scale": "inv_sqrt_2n"}
            ),
            a.options,
        ),
    ),
}


def test_every_recipe_has_a_flip() -> None:
    assert set(FLIPS) == set(RECIPES)


@pytest.mark.parametrize("name", list(RECIPES))
def test_verdict_fails_without_the_effect(name: str) -> None:
    r = recipe(name)
    label, flip = FLIPS[name]
    arms = r.arms(True)
    changed = [flip(a) if label in ("*", a.label) else None for a in arms]
    assert any(changed), f"no arm named {label!r}"
    measured = RecipeResult(r.info, True, [])
    _finish(measure_arms(r, True, [a for a in changed if a is not None], measured))
    fresh = iter(measured.arms)
    results = [
        next(fresh) if c is not None else old
        for c, old in zip(changed, fast_result(name).arms, strict=True)
    ]
    v = verdict_of(r, results)
    assert not all(c.passed for c in v.checks), f"{name} passed with {label} changed"


def test_an_unknown_recipe_is_a_usage_error_listing_the_recipes() -> None:
    with pytest.raises(UsageError, match="'no-such-recipe' is not one of vanishing-gradients"):
        recipe("no-such-recipe")


def test_every_arm_is_named_after_its_recipe_and_label() -> None:
    """An arm opened in the lab is called what it is, not after its preset."""
    for r in RECIPES.values():
        names = [arm.config.name for arm in r.arms(True)]
        assert all(name.startswith(f"{r.name}-") for name in names), names
        assert len(set(names)) == len(names)


def test_partial_results_arrive_per_arm_and_progress_rises() -> None:
    steps = run_recipe(recipe("exploding-signals"), True)
    fractions, partial_arms = [], []
    try:
        while True:
            report = next(steps)
            fractions.append(report.fraction)
            if report.partial is not None:
                partial_arms.append(len(report.partial.arms))
    except StopIteration as stop:
        result = stop.value
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert partial_arms == [1, 2, 3]
    assert result.passed


# ---------------------------------------------------------------- figures by hand


def test_roughness_and_local_minima_against_by_hand_grids() -> None:
    a = np.linspace(-1, 1, 21)
    bowl = 1.0 + np.add.outer(a**2, a**2)
    rng = np.random.default_rng(0)
    dented = bowl * np.exp(0.05 * rng.standard_normal(bowl.shape))
    assert roughness(dented) > 3 * roughness(bowl)
    assert local_minima(bowl) == 1
    # brute force: every inner point against its eight neighbours
    count = sum(
        all(
            dented[i, j] < dented[i + di, j + dj]
            for di in (-1, 0, 1)
            for dj in (-1, 0, 1)
            if di or dj
        )
        for i in range(1, 20)
        for j in range(1, 20)
    )
    assert local_minima(dented) == count > 1


def test_calibration_error_by_hand() -> None:
    # two examples at confidence 0.9 (one right), two at 0.6 (both right)
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    assert calibration_error(p, y) == pytest.approx(0.5 * abs(0.9 - 0.5) + 0.5 * abs(0.6 - 1.0))


def test_steps_to_and_log_slope() -> None:
    assert steps_to([1, 2, 3], [0.9, 0.5, 0.2], 0.5) == 2
    assert steps_to([1, 2], [0.9, 0.8], 0.5) == float("inf")
    x = [1.0, 4.0, 16.0]
    assert log_slope(x, [np.sqrt(v) * 3 for v in x]) == pytest.approx(0.5)
