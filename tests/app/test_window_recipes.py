"""Recipes in the window, with a real engine: the gallery lists what the
engine announced, Run starts the recipe as a job, the Compare view draws
each arm as it arrives and the verdict with its numbers, Cancel stops it,
and an arm opens in the lab. A pinned reference overlays the next runs."""

from __future__ import annotations

import numpy as np

from lab.core import protocol as p
from lab.core import wire
from lab.core.protocol import JobKind, JobOutcome
from lab.core.recipes import PlotKind
from tests.app.test_window import recorder


def points(curve) -> int:  # noqa: ANN001
    x, _ = curve.getData()
    return 0 if x is None else len(x)


def test_gallery_runs_a_recipe_and_shows_arms_and_verdict(qtbot, window):
    rec = recorder(window)
    recipes = window.toolbar.recipes_action
    recipes.trigger()
    win = window.recipes
    assert win is not None and win.isVisible()
    gallery, compare = win.gallery, win.compare
    assert gallery.list.count() == 16
    gallery.choose("exploding-signals")
    assert "He x 1.5" in gallery.description.text()
    assert "gain" in win.compare.claim.text()  # the chosen recipe, previewed
    mark = rec.mark()
    gallery.fast.setChecked(True)
    gallery.run_button.click()
    done = rec.wait_for(
        qtbot, p.JobFinished, lambda e: e.kind == JobKind.RECIPE, timeout=60, after=mark
    )
    assert done.outcome == JobOutcome.DONE and done.result.passed
    partial = [e for e in rec.events[mark:] if isinstance(e, p.JobProgress) and e.partial]
    assert [len(e.partial.arms) for e in partial] == [1, 2, 3]
    qtbot.waitUntil(lambda: "PASS" in compare.verdict.text())
    # the numbers in the verdict are the arms' figures the plots draw
    arm = done.result.arms[2]
    ratio = arm.scalars["std last/first"]
    assert f"{ratio:.3g}" in compare.verdict.text()
    profile = compare.plots[0]
    assert done.result.info.plots[0].kind == PlotKind.PROFILE
    curves = [item for item in profile.listDataItems() if item.name() == arm.label]
    x, y = curves[0].getData()
    assert np.allclose(10**y if profile.ctrl.logYCheck.isChecked() else y, arm.series["std"][1])
    assert compare.arm_box.count() == 3

    # an arm opens in the lab as the experiment
    mark = rec.mark()
    compare.arm_box.setCurrentIndex(2)
    compare.open_button.click()
    built = rec.wait_for(qtbot, p.Built, after=mark)
    assert built.config["init"]["gain"] == 2.0
    assert window.config.init.gain == 2.0


def test_a_recipe_can_be_cancelled(qtbot, window):
    rec = recorder(window)
    window.toolbar.recipes_action.trigger()
    win = window.recipes
    win.gallery.choose("warmup")
    mark = rec.mark()
    win.gallery.run_button.click()
    rec.wait_for(qtbot, p.JobProgress, lambda e: e.kind == JobKind.RECIPE, after=mark)
    win.compare.job_bar.cancel.click()
    done = rec.wait_for(
        qtbot, p.JobFinished, lambda e: e.kind == JobKind.RECIPE, timeout=30, after=mark
    )
    assert done.outcome == JobOutcome.CANCELLED
    qtbot.waitUntil(lambda: "No verdict" in win.compare.verdict.text())
    assert window.isVisible() and window.engine_state is not None  # the lab goes on


def test_a_pinned_run_is_overlaid_dashed_on_the_next(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    window.client.send(p.Step(60))
    rec.wait_for(qtbot, p.MetricRows, lambda e: wire.EVAL in e.series, after=mark)
    qtbot.waitUntil(lambda: wire.EVAL in window.store and len(window.store[wire.EVAL]) >= 2)
    window.references.pin_action.trigger()
    pinned = window.references.pinned
    assert pinned is not None and "@ step" in pinned.name
    loss = window.tabs.view("loss_view")
    mark = rec.mark()
    window.reset_action.trigger()  # a new run: the reference stays
    rec.wait_for(qtbot, p.Built, after=mark)
    qtbot.waitUntil(lambda: points(loss.reference_curves["test_loss"]) >= 2)
    x, y = loss.reference_curves["test_loss"].getData()
    pinned_loss = pinned.evaluation.column("test_loss")
    assert np.allclose(y, pinned_loss[np.isfinite(pinned_loss)])
    signal = window.tabs.view("signal_view")
    assert pinned.signal is not None and signal.reference[0] == pinned.name
    window.references.clear_action.trigger()
    qtbot.waitUntil(lambda: points(loss.reference_curves["test_loss"]) == 0)
