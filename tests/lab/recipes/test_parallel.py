"""Arms in processes of their own give the figures and verdict of arms run
one after another; a recipe that times its arms never runs them side by side."""

from __future__ import annotations

import pytest

from lab.engine.runs import load_run, save_run
from lab.recipes import parallel as par
from lab.recipes import recipe
from tests.lab.recipes.test_recipes import _finish, fast_result


def test_arms_in_parallel_equal_arms_in_turn(tmp_path):
    name = "exploding-signals"
    steps = par.run_parallel(recipe(name), True, 2, out=tmp_path, save=save_run)
    partial_counts = []
    try:
        while True:
            report = next(steps)
            partial_counts.append(len(report.partial.arms))
    except StopIteration as stop:
        result = stop.value
    assert partial_counts == [1, 2, 3]
    alone = fast_result(name)
    assert result.passed and [c.passed for c in result.checks] == [c.passed for c in alone.checks]
    for arm, same in zip(result.arms, alone.arms, strict=True):
        assert arm.label == same.label
        for key, value in same.scalars.items():
            assert arm.scalars[key] == pytest.approx(value, rel=1e-4)
        assert load_run(arm.run_dir).config.to_dict() == arm.config  # its run folder


def test_a_recipe_that_times_its_arms_runs_them_one_at_a_time(monkeypatch):
    kv = recipe("kv-cache")
    assert not kv.parallel and par.default_workers(kv, True) == 1

    def no_pool(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a pool was made for a timed recipe")

    monkeypatch.setattr(par, "ProcessPoolExecutor", no_pool)
    result = _finish(par.run_parallel(kv, True, 3))
    assert result.passed and len(result.arms) == 3
