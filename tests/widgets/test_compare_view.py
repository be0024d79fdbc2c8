"""The Compare view alone, with made-up figures: each arm's line or bar is
the figure it was given, the verdict shows the numbers as written (a "<"
included), and a preview has frames without numbers."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from lab.core.protocol import JobFinished, JobKind, JobOutcome
from lab.core.recipes import ArmResult, Check, Plot, PlotKind, RecipeInfo, RecipeResult
from widgets.compare_view import CompareView, figure_text
from widgets.recipe_gallery import RecipeGallery

INFO = RecipeInfo(
    "made-up",
    "A made-up recipe",
    "Arm b beats arm a.",
    "Look at the bars.",
    (
        Plot("depth", "by depth", PlotKind.PROFILE, "layer", log_y=True),
        Plot("curve", "over steps", PlotKind.CURVE),
        Plot("figure", "a figure", PlotKind.BARS, log_y=True),
    ),
    ("Loss",),
    ("a", "b"),
)


def arms() -> list[ArmResult]:
    return [
        ArmResult(
            label,
            {"name": label},
            series={"depth": ([1, 2, 3], [1.0, 0.1, 0.01 * k]), "curve": ([0, 10], [1.0, k])},
            scalars={"figure": 1e-6 * 10**k},
        )
        for k, label in ((1, "a"), (4, "b"))
    ]


def test_arms_are_drawn_with_their_own_figures_and_the_verdict_escaped(qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    view.start(INFO, 7, fast=True)
    assert "quick variant" in view.title.text() and view.job_bar.job == 7
    partial = RecipeResult(INFO, True, arms()[:1])
    view.set_result(partial)
    assert "verdict comes" in view.verdict.text()
    result = RecipeResult(
        INFO, True, arms(), [Check("b beats a", True, "1e-2 against 1e-5 (< 1e-3)", {})], True
    )
    view.job_finished(JobFinished(7, JobKind.RECIPE, JobOutcome.DONE, result))
    depth = view.plots[0]
    lines = {item.name(): item for item in depth.listDataItems()}
    assert set(lines) == {"a", "b"}
    _x, y = lines["b"].getData()
    assert np.allclose(10**y, [1.0, 0.1, 0.04])  # a log axis draws log10 of the figure
    bars = [item for item in view.plots[2].items if isinstance(item, pg.BarGraphItem)]
    heights = [b.opts["y0"][0] + b.opts["height"][0] for b in bars]
    assert np.allclose(heights, [math.log10(1e-5), math.log10(1e-2)])
    labels = [i.toPlainText() for i in view.plots[2].items if isinstance(i, pg.TextItem)]
    assert labels == [figure_text(1e-5), figure_text(1e-2)]
    assert "PASS" in view.verdict.text() and "(&lt; 1e-3)" in view.verdict.text()
    assert view.arm_box.count() == 2
    opened = []
    view.openArm.connect(opened.append)
    view.arm_box.setCurrentIndex(1)
    view.open_button.click()
    assert opened == [{"name": "b"}]


def test_a_failed_run_says_there_is_no_verdict(qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    view.start(INFO, 3, fast=False)
    view.job_finished(JobFinished(3, JobKind.RECIPE, JobOutcome.FAILED, None, "boom"))
    assert "No verdict" in view.verdict.text() and "boom" in view.verdict.text()


def test_figures_read_as_people_write_them():
    assert figure_text(1024.0) == "1,024"
    assert figure_text(math.inf) == "never"
    assert figure_text(9.47e-13) == "9.47e-13"
    assert figure_text(0.965) == "0.965"
    assert figure_text(math.nan) == "n/a"


def test_gallery_lists_the_catalog_and_asks_to_run(qtbot):
    gallery = RecipeGallery()
    qtbot.addWidget(gallery)
    gallery.set_catalog((INFO,))
    assert gallery.list.count() == 1 and "1. a" in gallery.description.text()
    asked = []
    gallery.runRequested.connect(lambda name, fast: asked.append((name, fast)))
    gallery.fast.setChecked(False)
    gallery.run_button.click()
    assert asked == [("made-up", False)]
