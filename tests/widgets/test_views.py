"""Views fed with fake arrays: they draw what they are given and export it."""

import dataclasses

import numpy as np
import pytest
from PySide6.QtGui import QColor

from lab.core import wire
from lab.core.metrics import MetricStore
from widgets.activation_view import ActivationView, share_ceiling
from widgets.base import PALETTE, LogAxis
from widgets.boundary_view import BoundaryView
from widgets.gradient_view import BAR_WIDTH, GradientView
from widgets.loss_view import LossView
from widgets.signal_view import SignalView
from widgets.small_plots import DataThumbnail, image_mosaic

LAYERS = ("layer1", "layer2", "layer3", "head")


def fake_store() -> MetricStore:
    store = MetricStore()
    rng = np.random.default_rng(0)
    for step in range(1, 201):
        store.append("step", step, (1 / step, 0.01, 0.0), ("loss", "lr", "clipped"))
        if step % 50 == 0:
            store.append(
                "eval",
                step,
                {
                    "train_loss": 1 / step,
                    "test_loss": 2 / step,
                    "train_acc": 0.9,
                    "test_acc": 0.8,
                    "lr": 0.01,
                    "batch_loss": 1 / step,
                    "grad_norm": 1.0,
                },
            )
        if step % 10 == 0:
            store.append("probe/grad_norm", step, [1e-3, 1e-2, 1e-1, 1.0], LAYERS)
            store.append("probe/act_grad_norm", step, [1e-6, 1e-4, 1e-2, 1.0], LAYERS)
            store.append("probe/act_std", step, [0.5, 0.4, 0.3], LAYERS[:3])
            store.append("probe/output_std", step, [0.5, 0.4, 0.3, 2.0], LAYERS)
            store.append("probe/update_ratio", step, [1e-4, 1e-3, 1e-2, 0.0], LAYERS)
            clipped = step in (30, 70)
            store.append(
                "probe/global_grad_norm",
                step,
                (step / 10, 1.0 if clipped else step / 10, float(clipped)),
                ("before_clip", "after_clip", "clipped"),
            )
            store.append("probe/saturation", step, [0.9, np.nan, 0.1], LAYERS[:3])
            store.append("probe/dead_fraction", step, [np.nan, 0.25, 0.5], LAYERS[:3])
            store.append("probe/dead_now", step, [np.nan, 0.5, 0.75], LAYERS[:3])
            for name in LAYERS[:3]:
                store.append(
                    f"probe/hist/{name}",
                    step,
                    rng.integers(0, 50, 40),
                    [f"bin{i}" for i in range(40)],
                )
                store.append(
                    f"probe/dead_map/{name}", step, [0, 1, 0, 1], [f"unit{i}" for i in range(4)]
                )
    return store


def test_loss_view_draws_the_series_and_exports_them(qtbot, tmp_path):
    view = LossView()
    qtbot.addWidget(view)
    store = fake_store()
    view.set_store(store)
    view.refresh()
    assert view.log_y.isChecked()  # by itself: the loss spans more than two decades
    view.log_y.click()  # the person's choice holds from now on
    view.dirty = True
    view.refresh()
    assert not view.log_y.isChecked() and view.log_by_hand
    x, y = view.curves["test_loss"].getData()
    np.testing.assert_array_equal(x, [50, 100, 150, 200])
    np.testing.assert_allclose(y, [2 / 50, 2 / 100, 2 / 150, 2 / 200])
    assert "80.0%" in view.caption.text()
    view.export_csv(str(tmp_path / "loss.csv"))
    lines = (tmp_path / "loss.csv").read_text().splitlines()
    assert lines[0].startswith("step,batch_loss,lr,train_loss")
    assert len(lines) == 201 and lines[50].startswith("50,0.02,0.01,0.02,0.04")
    view.log_y.setChecked(True)
    assert view.loss_plot.getAxis("left").logMode
    low, high = view.lr_plot.viewRange()[1]  # a constant rate: drawn from zero
    assert low == 0 and high == pytest.approx(0.011)
    assert view.acc_plot.isVisible()
    regression = MetricStore()  # no accuracy: no empty accuracy plot
    nan = float("nan")
    regression.append("eval", 10, [0.5, 0.6, nan, nan, 0.01, 0.5, 1.0], store["eval"].columns)
    view.set_store(regression)
    view.refresh()
    assert not view.acc_plot.isVisible() and view.caption.text() == "step 10: test loss 0.6000"


def test_gradient_view_shows_the_ratio_and_heatmap(qtbot):
    view = GradientView()
    qtbot.addWidget(view)
    view.set_store(fake_store())
    view.refresh()
    assert "= 0.0001" in view.caption.text()  # layer1 / layer3 = 1e-6 / 1e-2
    assert view.image.image.shape == (20, 4)  # steps x layers
    heights = view.act_bars.opts["height"]
    np.testing.assert_allclose(heights, [-6, -4, -2, 0])
    # side by side: weight gradients, activation gradients, output std
    np.testing.assert_allclose(view.weight_bars.opts["height"], [-3, -2, -1, 0])
    np.testing.assert_allclose(view.std_bars.opts["height"], np.log10([0.5, 0.4, 0.3, 2.0]))
    np.testing.assert_allclose(view.weight_bars.opts["x"], np.arange(4) - BAR_WIDTH)
    np.testing.assert_allclose(view.std_bars.opts["x"], np.arange(4) + BAR_WIDTH)
    # the update ratio per layer over time; the head's zero update has no log-axis point
    assert len(view.ratio_curves) == 4
    x, y = view.ratio_curves[1].getOriginalDataset()
    np.testing.assert_array_equal(x, np.arange(10, 201, 10))
    np.testing.assert_allclose(y, 1e-3)
    assert view.ratio_curves[3].getOriginalDataset()[0] is None  # emptied
    assert "update/weight 0.0001–0.01" in view.caption.text()
    # the global norm before and after clipping, and the steps where clipping fired
    x, y = view.norm_curves["before_clip"].getOriginalDataset()
    np.testing.assert_allclose(y, x / 10)
    x, y = view.norm_curves["clipped"].getOriginalDataset()
    np.testing.assert_array_equal(x, [30, 70])
    np.testing.assert_allclose(y, [3.0, 7.0])
    _, after = view.norm_curves["after_clip"].getOriginalDataset()
    assert after[2] == 1.0 and after[3] == 4.0
    assert "clipping fired on 10% of probed steps" in view.caption.text()
    assert "▼ fired" in view.norm_plot.titleLabel.text


def test_gradient_view_without_clipping_draws_one_norm_curve(qtbot):
    view = GradientView()
    qtbot.addWidget(view)
    store = MetricStore()
    for step in (10, 20):
        store.append("probe/grad_norm", step, [1.0, 2.0], ("layer1", "head"))
        store.append(
            "probe/global_grad_norm",
            step,
            (2.2, 2.2, 0.0),
            ("before_clip", "after_clip", "clipped"),
        )
    view.set_store(store)
    view.refresh()
    assert len(view.norm_curves["before_clip"].getOriginalDataset()[0]) == 2
    assert view.norm_curves["after_clip"].getOriginalDataset()[0] is None
    assert "clipping" not in view.caption.text()
    assert view.norm_plot.titleLabel.text == "global gradient norm (clipping never fired)"
    assert len(view.std_bars.opts["x"]) == 0  # no activation probes: no std bars


def test_activation_view_histograms_and_dead_units(qtbot, tmp_path):
    view = ActivationView()
    qtbot.addWidget(view)
    store = fake_store()
    view.set_store(store)
    view.refresh()
    shares = view.hist_image.image.T
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    counts = store["probe/hist/layer2"].latest
    np.testing.assert_allclose(shares[1], counts / counts.sum())
    assert view.hist_bar.levels() == (0.0, share_ceiling(shares))
    assert set(view.dead_curves) == {"layer2", "layer3"}  # layer1 is not ReLU-family
    assert "most in layer3 (50%)" in view.caption.text()
    assert "silent on this batch: 62.5%" in view.caption.text()
    view.export_csv(str(tmp_path / "act.csv"))
    assert "dead_fraction,layer3,0.5" in (tmp_path / "act.csv").read_text()


def test_histogram_colour_ceiling_is_a_round_90th_percentile_of_occupied_bins():
    # a ReLU-like layer: half the values in the zero bin, the rest spread thin
    shares = np.zeros((2, 40))
    shares[:, 0] = 0.5
    shares[:, 1:11] = np.linspace(0.01, 0.08, 10)
    top = np.percentile(shares[shares > 0], 90)
    assert 0.05 < top < 0.1 and share_ceiling(shares) == pytest.approx(0.1)
    assert share_ceiling(np.full((1, 4), 0.25)) == pytest.approx(0.5)
    assert share_ceiling(np.array([[1.0, 0.0]])) == 1.0
    assert share_ceiling(np.zeros((1, 3))) == 1.0


def test_boundary_view_colours_and_regression_curve(qtbot):
    view = BoundaryView()
    qtbot.addWidget(view)
    x = np.array([[0, 0], [1, 1]], dtype=np.float32)
    view.set_data(x, np.array([0, 1]))
    xs = ys = np.linspace(0, 1, 4, dtype=np.float32)
    classes = np.array([[0, 0, 1, 1]] * 4)
    confidence = np.full((4, 4), 1.0)
    view.set_boundary(xs, ys, classes, confidence, step=3)
    view.refresh()
    image = view.image.image  # x, y, rgb
    assert image.shape == (4, 4, 3)
    assert not np.array_equal(image[0, 0], image[3, 0])  # two classes, two colours
    header, rows = view.csv_table()
    assert header == ["x", "y", "class", "confidence"] and len(rows) == 16
    view.set_data(np.array([[0.0], [1.0]], dtype=np.float32), np.array([0.5, 1.5]))
    view.set_boundary(np.array([0.0, 1.0]), None, np.array([0.4, 1.6]), None, step=5)
    view.refresh()
    np.testing.assert_allclose(view.fit.getData()[1], [0.4, 1.6])


@pytest.mark.parametrize(
    ("grads", "word"),
    [
        ([1e-9, 1e-3, 1.0], "vanishing"),
        ([1.0, 1.0, 1.0], "healthy"),
        ([1e3, 1.0, 1.0], "exploding"),
    ],
)
def test_signal_view_verdict(qtbot, grads, word):
    view = SignalView()
    qtbot.addWidget(view)
    view.set_signal(["layer1", "layer2", "head"], np.ones(3), np.array(grads), np.ones(3))
    view.refresh()
    assert word in view.caption.text()


def fake_landscape(complete: bool = True):
    from lab.core import protocol as p

    coords = np.linspace(-1, 1, 9)
    losses = 1.0 + coords[:, None] ** 2 + 2 * coords[None, :] ** 2
    if not complete:
        losses[1::2] = np.nan
    path = np.array([[0.8, 0.6], [0.4, 0.3], [0.0, 0.0]])
    line_t = np.linspace(-0.5, 1.5, 41)
    line = 0.5 + (line_t - 1.2) ** 2
    if not complete:
        line[:] = np.nan
    return p.LandscapeUpdate(
        7,
        "filter",
        coords,
        coords.copy(),
        losses,
        1.0 if complete else 0.5,
        complete,
        1.0,
        path,
        np.array([0, 10, 20]),
        None,
        256,
        line_t,
        line,
        (2.0, 3.0),
    )


def test_landscape_view_draws_grid_path_and_centre(qtbot, tmp_path):
    from widgets.landscape_view import LandscapeView

    view = LandscapeView()
    qtbot.addWidget(view)
    asked = []
    view.computeRequested.connect(lambda *args: asked.append(args))
    view.compute.click()
    assert asked == [("filter", 41, 1.0, 1024)]
    assert view.log_colour.isChecked()  # by default: surfaces often span decades
    view.log_colour.setChecked(False)
    view.set_landscape(fake_landscape())
    view.refresh()
    np.testing.assert_allclose(
        view.image.image, fake_landscape().losses
    )  # [i, j] = (alpha_i, beta_j)
    rect = view.image.mapRectToParent(view.image.boundingRect())
    assert rect.left() == pytest.approx(-1.125) and rect.right() == pytest.approx(1.125)
    np.testing.assert_allclose(view.path.getData()[0], [0.8, 0.4, 0.0])
    line = fake_landscape()
    np.testing.assert_allclose(view.line_curve.getData()[1], line.line_losses)
    ends_t, ends_loss = view.line_ends.getData()
    np.testing.assert_allclose(ends_t, [0.0, 1.0])  # the initial and the current weights
    np.testing.assert_allclose(ends_loss, [0.5 + 1.2**2, 0.5 + 0.2**2])
    assert len(view.contours) == 10 and "step 7" in view.caption.text()
    assert "‖d1‖\u00a0=\u00a02, ‖d2‖\u00a0=\u00a03" in view.caption.text()
    pca = dataclasses.replace(fake_landscape(), kind="pca", explained=np.array([0.8, 0.1]))
    view.set_landscape(pca)
    view.refresh()
    assert "PCA explains 80% + 10% of the path; axes fit the path: 1 = 2 in" in view.caption.text()
    view.set_landscape(fake_landscape())
    view.refresh()
    view.log_colour.setChecked(True)
    view.refresh()
    np.testing.assert_allclose(view.image.image, np.log10(fake_landscape().losses))
    # the line plot goes to log y, and the end markers with it (they sat at the
    # raw values in log coordinates before)
    end_losses = np.array([0.5 + 1.2**2, 0.5 + 0.2**2])
    np.testing.assert_allclose(view.line_ends.getData()[1], np.log10(end_losses))
    t, shown = view.line_curve.getData()
    np.testing.assert_allclose(shown[np.isin(t, [0.0, 1.0])], np.log10(end_losses))
    view.export_csv(str(tmp_path / "l.csv"))
    lines = (tmp_path / "l.csv").read_text().splitlines()
    assert lines[0] == "alpha,beta,loss" and len(lines) == 82 and lines[1] == "-1.0,-1.0,4.0"
    assert not view.gl_ok  # offscreen: no OpenGL, the 3-D switch is off
    assert not view.three_d.isEnabled()


def test_partial_landscape_shows_progress_and_no_contours(qtbot):
    from widgets.landscape_view import LandscapeView

    view = LandscapeView()
    qtbot.addWidget(view)
    view.log_colour.setChecked(False)  # the values below are linear
    view.job_bar.progress(3, 0.5, "grid")
    view.set_landscape(fake_landscape(complete=False))
    view.refresh()
    assert view.job_bar.bar.value() == 500 and view.job_bar.cancel.isEnabled()
    assert view.contours == [] and "computing 50%" in view.caption.text()
    # a cell not computed yet shows the computed corner of its 2x2 block
    losses = np.clip(fake_landscape().losses, None, view.image.image.max())  # the colour range
    corners = losses[0:-1:2][:, (np.arange(9) // 2) * 2]
    np.testing.assert_allclose(view.image.image[1::2], corners)
    np.testing.assert_allclose(view.image.image[0::2], losses[0::2])


def test_a_partial_grid_is_drawn_as_blocks_of_what_was_computed():
    from lab.landscape import refinement_order
    from widgets.landscape_view import fill_from_coarser

    truth = np.arange(21 * 21, dtype=float).reshape(21, 21)
    grid = np.full_like(truth, np.nan)
    first, second, _ = refinement_order(21)
    grid[first[:, 0], first[:, 1]] = truth[first[:, 0], first[:, 1]]
    shown = fill_from_coarser(grid)
    assert np.isfinite(shown).all()  # the coarse pass covers the whole grid as 4x4 blocks
    assert shown[5, 7] == truth[4, 4] and shown[3, 3] == truth[0, 0]
    grid[second[:, 0], second[:, 1]] = truth[second[:, 0], second[:, 1]]
    shown = fill_from_coarser(grid)
    assert shown[5, 7] == truth[4, 6] and shown[2, 2] == truth[2, 2]
    nothing = fill_from_coarser(np.full((5, 5), np.nan))
    assert np.isnan(nothing).all()  # nothing computed: nothing made up


def test_log_axis_labels_decades_and_2_5_steps_only_when_few_decades(qtbot):
    axis = LogAxis("left")
    levels = axis.logTickValues(-3.2, -1.9, 200, [])
    assert levels[0] == (1.0, [-3.0, -2.0])
    np.testing.assert_allclose(levels[1][1], np.log10([2e-3, 5e-3]))
    wide = axis.logTickValues(-13.5, 0.2, 100, [])  # 14 decades on 100 px: every 5th
    assert wide == [(5.0, [-13.0, -8.0, -3.0])]


def test_activation_legend_lists_saturation_only_where_a_layer_saturates(qtbot):
    view = ActivationView()
    qtbot.addWidget(view)

    def listed() -> list[str]:
        return [label.text for _, label in view.stats_legend.items]

    view.set_store(fake_store())  # layer1 saturates
    view.refresh()
    assert listed() == ["std", "saturated share"]
    relu_only = MetricStore()
    relu_only.append("probe/hist/layer1", 10, [1, 2], ("bin0", "bin1"))
    relu_only.append("probe/act_std", 10, [0.5, 0.7], ("layer1", "layer2"))
    relu_only.append("probe/saturation", 10, [np.nan, np.nan], ("layer1", "layer2"))
    view.set_store(relu_only)
    view.refresh()
    assert listed() == ["std"]
    relu_only.append("probe/dead_fraction", 10, [0.0, 0.0], ("layer1", "layer2"))
    view.set_store(relu_only)
    view.refresh()
    assert "no ReLU-family unit dead" in view.caption.text()


def test_data_thumbnail_shows_images_a_row_per_class_then_points_again(qtbot):
    thumb = DataThumbnail()
    qtbot.addWidget(thumb)
    y = np.array([0, 1, 0, 1, 1])
    x = np.zeros((5, 1, 4, 3))
    x[:, 0] = np.arange(5)[:, None, None]  # image i is filled with i
    thumb.set_data(x, y, "classification", ("circle", "square"))
    mosaic = image_mosaic(x, y)
    assert mosaic.shape == (2 * 5 - 1, 3 * 4 - 1)  # 2 rows of 4x3 images, 3 columns
    np.testing.assert_array_equal(mosaic[0:4, 4:7], 2)  # class 0, second image
    np.testing.assert_array_equal(mosaic[5:9, 8:11], 4)  # class 1, third image
    np.testing.assert_array_equal(mosaic[0:4, 8:11], 0)  # class 0 has two: background
    np.testing.assert_array_equal(thumb.mosaic.image, mosaic.T)
    assert [label.toPlainText() for label in thumb.row_labels] == ["circle", "square"]
    thumb.set_data(
        np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2, "classification"
    )
    assert thumb.mosaic.image is None and not thumb.row_labels
    assert len(thumb.scatter.data) == 10
    assert thumb.getViewBox().state["aspectLocked"]  # 2-D points: round spirals stay round
    thumb.set_data(np.linspace(-1, 1, 10)[:, None], np.arange(10.0), "regression")
    assert not thumb.getViewBox().state["aspectLocked"]  # y against x: free


def test_image_classifiers_get_the_test_confusion_matrix_instead_of_a_boundary(qtbot, tmp_path):
    view = BoundaryView()
    qtbot.addWidget(view)
    names = ("circle", "square", "triangle")
    view.set_data(np.zeros((8, 1, 16, 16)), np.arange(8) % 3, names)  # what the engine sends
    view.refresh()
    assert "first evaluation" in view.caption.text() and "Confusion" in view.heading.text()
    store = MetricStore()
    counts = np.array([[10, 0, 0], [1, 6, 3], [0, 2, 8]])  # true x predicted
    columns = [f"true{t}_pred{p}" for t in range(3) for p in range(3)]
    store.append("confusion", 40, counts.reshape(-1), columns)
    view.set_store(store)
    view.refresh()
    assert view.caption.text() == (
        "test set at step 40: 80.0% correct; most confused: square taken for triangle (3 of 10)"
    )
    # each cell's count sits on its cell: true class t on row k-1-t, the first on top
    cells = {
        (round(t.pos().x() - 0.5), round(t.pos().y() - 0.5)): t.toPlainText()
        for t in view.cell_texts
    }
    assert cells[(0, 2)] == "10" and cells[(2, 1)] == "3" and cells[(1, 0)] == "2"
    shaded = view.image.image  # x = predicted, y = 2 - true; full colour = whole row
    assert shaded[0, 2].tolist() == list(QColor(PALETTE[0]).getRgb()[:3])
    assert shaded[1, 2].tolist() == [255, 255, 255]  # no circle taken for a square
    ticks = view.plot.getAxis("left")._tickLevels[0]
    assert [label for _, label in sorted(ticks)] == ["triangle", "square", "circle"]
    view.export_csv(str(tmp_path / "confusion.csv"))
    assert "square,triangle,3" in (tmp_path / "confusion.csv").read_text()
    view.set_data(np.zeros((4, 2)), np.arange(4) % 2)  # 2-D points again: plain axes
    view.refresh()
    assert not view.cell_texts and view.plot.getAxis("left")._tickLevels is None


def test_dead_map_leaves_units_a_narrower_layer_lacks_blank(qtbot):
    view = ActivationView()
    qtbot.addWidget(view)
    store = MetricStore()
    store.append("probe/hist/layer1", 10, [1, 2], ("bin0", "bin1"))
    store.append("probe/dead_fraction", 10, [0.5, 0.5], ("layer1", "layer2"))
    store.append("probe/dead_map/layer1", 10, [1, 0, 1, 0], [f"unit{i}" for i in range(4)])
    store.append("probe/dead_map/layer2", 10, [0, 1], ["unit0", "unit1"])
    view.set_store(store)
    view.refresh()
    grid = view.map_image.image  # unit x layer
    np.testing.assert_array_equal(grid[:, 0], [1, 0, 1, 0])
    np.testing.assert_array_equal(grid[:2, 1], [0, 1])
    assert np.isnan(grid[2:, 1]).all()


def test_surface_at_interpolates_the_grid_bilinearly_and_is_nan_outside():
    from widgets.surface_view import surface_at

    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-2, 2, 9)
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    values = 1 + 2 * a - 3 * b + a * b  # bilinear: interpolation is exact everywhere
    points = np.array([[0.3, -1.7], [-1.0, 2.0], [1.0, -2.0], [0.0, 0.0], [0.71, 0.13]])
    expected = 1 + 2 * points[:, 0] - 3 * points[:, 1] + points[:, 0] * points[:, 1]
    np.testing.assert_allclose(surface_at(alphas, betas, values, points), expected)
    outside = surface_at(alphas, betas, values, np.array([[1.2, 0.0], [0.0, -2.5]]))
    assert np.isnan(outside).all()


def test_layer_ticks_thin_long_axes_and_keep_the_head_apart():
    from widgets.base import layer_ticks

    short = [f"layer{i}" for i in range(1, 4)] + ["head"]
    assert layer_ticks(short) == [[(0, "1"), (1, "2"), (2, "3"), (3, "head")]]
    deep = [f"layer{i}" for i in range(1, 21)] + ["head"]  # 21 names, at most 12 labels
    labels = [label for _, label in layer_ticks(deep)[0]]
    assert labels == ["1", "3", "5", "7", "9", "11", "13", "15", "17", "19", "head"]
    deep = [f"layer{i}" for i in range(1, 22)] + ["head"]  # 22: 21 would touch the head
    labels = [label for _, label in layer_ticks(deep)[0]]
    assert labels[-2:] == ["19", "head"]
    assert layer_ticks(["probe/hist/layer2"], offset=0.5) == [[(0.5, "2")]]


def test_dead_units_of_many_layers_are_coloured_by_depth_without_a_legend(qtbot):
    def store_of(layers: int) -> MetricStore:
        store = MetricStore()
        names = tuple(f"layer{i}" for i in range(1, layers + 1))
        for step in (10, 20):
            store.append("probe/dead_fraction", step, np.linspace(0, 0.5, layers), names)
            for name in names:
                store.append(f"probe/hist/{name}", step, np.ones(4), ("b0", "b1", "b2", "b3"))
        return store

    view = ActivationView()
    qtbot.addWidget(view)
    view.set_store(store_of(12))
    view.refresh()
    assert len(view.dead_curves) == 12 and not view.dead_plot.legend.items
    assert "dark: first" in view.dead_plot.titleLabel.text
    first, last = view.dead_curves["layer1"], view.dead_curves["layer12"]
    assert first.opts["pen"].color().lightness() < last.opts["pen"].color().lightness()
    np.testing.assert_allclose(last.getData()[1], [0.5, 0.5])
    view.set_store(store_of(3))  # few layers: a legend names them
    view.refresh()
    assert [item[1].text for item in view.dead_plot.legend.items] == ["layer1", "layer2", "layer3"]
    assert "dark" not in view.dead_plot.titleLabel.text


def test_a_model_without_relu_family_layers_shows_why_it_has_no_dead_units(qtbot):
    """Switching from a ReLU CNN to a sigmoid MLP left the CNN's dead-unit map
    and caption on screen: the view now clears them and says why."""
    view = ActivationView()
    qtbot.addWidget(view)
    view.set_store(fake_store())  # has dead-unit maps
    view.refresh()
    assert view.map_image.image is not None and view.dead_curves
    view.clear()  # a new model is built
    view.set_dead_watch("no ReLU-family layer; sigmoid and tanh units saturate instead")
    sigmoid = MetricStore()
    sigmoid.append("probe/hist/layer1", 20, [1, 2], ("bin0", "bin1"))
    sigmoid.append("probe/act_std", 20, [0.1, 0.2], ("layer1", "layer2"))
    sigmoid.append("probe/saturation", 20, [0.25, 0.5], ("layer1", "layer2"))
    view.set_store(sigmoid)
    view.refresh()
    assert view.map_image.image is None and not view.dead_curves
    assert not view.dead_plot.isVisible() and not view.map_plot.isVisible()
    assert view.caption.text() == (
        "step 20: no dead-unit figures (no ReLU-family layer; sigmoid and tanh units"
        " saturate instead); most saturated: layer2 (50.0% of outputs)"
    )
    sigmoid.append("probe/saturation", 30, [0.0, 0.0], ("layer1", "layer2"))
    view.set_store(sigmoid)
    view.refresh()
    assert view.caption.text().endswith("; no output saturated")
    view.set_dead_watch(None)  # a ReLU model again: the plots come back
    assert view.dead_plot.isVisible() and view.map_plot.isVisible()


def test_log_axis_labels_round_values_where_no_three_1_2_5_marks_are_in_view(qtbot):
    """Layer stds of 0.7 to 1.6 on a log axis were labelled with a lone "1"."""
    axis = LogAxis("left")
    levels = axis.logTickValues(np.log10(0.7), np.log10(1.6), 300, [])
    assert levels[0] == (1.0, [0.0])
    labelled = sorted(levels[0][1] + levels[1][1])
    np.testing.assert_allclose(10.0 ** np.array(labelled), [0.8, 1.0, 1.2, 1.4, 1.6])
    assert axis.logTickStrings(labelled, 1.0, None) == ["0.8", "1", "1.2", "1.4", "1.6"]
    narrow = axis.logTickValues(np.log10(2.03), np.log10(2.11), 300, [])  # no decade at all
    np.testing.assert_allclose(10.0 ** np.array(narrow[1][1]), [2.04, 2.06, 2.08, 2.1])
    # far from 1, labels keep pyqtgraph's powers of ten
    assert axis.logTickStrings([-5.0, np.log10(2e-5), 0.0], 1.0, None) == ["10⁻⁵", "2·10⁻⁵", "1"]


def test_legend_goes_where_the_right_hand_edge_has_fewest_points():
    from widgets.base import freest_height

    x = np.arange(20)
    rising, falling = np.linspace(0.1, 1.0, 20), np.linspace(1.0, 0.1, 20)
    assert freest_height(x, [rising]) == 1.0  # bottom right is free
    assert freest_height(x, [falling]) == 0.0
    # the deep sigmoid net: std high on the right, saturation flat at zero
    std = np.r_[0.03, np.full(18, 0.13), 0.01]
    assert freest_height(x, [std, np.zeros(20)]) == 0.5
    assert freest_height(x, [np.full(20, np.nan)]) == 0.0  # nothing drawn yet


def test_boundary_view_redraws_for_boundaries_and_confusion_rows_only(qtbot):
    """Every metric row marked the tab dirty, and each redraw rebuilt 1600
    per-point brushes: ~87 ms a frame at up to 30 frames a second."""
    view = BoundaryView()
    qtbot.addWidget(view)
    x, y = np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 2
    view.set_data(x, y)
    view.refresh()
    view.rows_arrived(["step", "eval", "probe/grad_norm"])
    assert not view.dirty
    view.rows_arrived(["step", "confusion"])
    assert view.dirty
    points = view.points.data
    grid = np.linspace(-3, 3, 5)
    view.set_boundary(grid, grid, np.zeros((5, 5), int), np.ones((5, 5)), step=4)
    view.refresh()
    assert view.points.data is points  # the training points are not rebuilt
    assert len(view.points.data) == 50 and view.image.image is not None


def test_probe_views_wait_in_a_plain_frame_and_fit_the_first_data(qtbot):
    view = ActivationView()
    qtbot.addWidget(view)
    view.resize(600, 800)
    view.show()
    view.refresh()  # nothing probed yet
    assert view.hist_plot.viewRange()[0] == pytest.approx([0, 1])
    view.set_store(fake_store())
    view.refresh()
    qtbot.waitUntil(lambda: view.hist_plot.viewRange()[0][1] >= 40)  # 40 bins in view
    low, high = view.hist_plot.viewRange()[1]
    assert low <= 0 and high >= 3  # three layers


def test_job_bar_reports_progress_cancel_and_the_end(qtbot):
    from lab.core.protocol import JobOutcome
    from widgets.job_bar import JobBar

    bar = JobBar()
    qtbot.addWidget(bar)
    asked = []
    bar.cancelRequested.connect(asked.append)
    assert not bar.cancel.isEnabled()
    bar.progress(4, 0.25, "exporting")
    assert bar.bar.value() == 250 and bar.message.text() == "exporting" and bar.running
    bar.cancel.click()
    assert asked == [4]
    bar.finished(3, JobOutcome.DONE)  # an older job's end changes nothing
    assert bar.running and bar.bar.value() == 250
    bar.finished(4, JobOutcome.FAILED, "disk full")
    assert not bar.running and not bar.cancel.isEnabled()
    assert bar.message.text() == "failed: disk full"


def test_empty_image_plots_stay_a_plain_frame_until_data_arrives(qtbot):
    view = GradientView()
    qtbot.addWidget(view)
    view.set_store(MetricStore())
    view.refresh()
    (x_low, x_high), (y_low, y_high) = view.heat_plot.viewRange()
    assert (x_low, y_low) == pytest.approx((0, 0), abs=1e-9)  # not +-0.0005 ("x0.001")
    assert (x_high, y_high) == pytest.approx((1, 1), abs=1e-9)
    view.set_store(fake_store())
    view.refresh()
    view.heat_plot.getViewBox().updateAutoRange()
    assert view.image.isVisible() and view.heat_plot.viewRange()[0][1] > 1  # the data's range


def test_a_single_step_shows_as_a_point(qtbot):
    view = LossView()
    qtbot.addWidget(view)
    store = MetricStore()
    store.append("step", 1, (0.7, 0.01, 0.0), ("loss", "lr", "clipped"))
    view.set_store(store)
    view.refresh()
    assert view.curves["batch"].opts["symbol"] == "o"  # one point draws no line
    assert view.curves["batch"].getData()[1].tolist() == [0.7]
    view.set_store(fake_store())  # 200 steps: a line is enough
    view.refresh()
    assert view.curves["batch"].opts["symbol"] is None


def test_the_activation_view_says_why_units_die_and_draws_the_lr_beside_them(qtbot):
    from widgets.activation_view import WHY_DEAD

    view = ActivationView()
    qtbot.addWidget(view)
    view.set_store(fake_store())  # dead shares of 25% and 50%
    view.refresh()
    assert WHY_DEAD in view.caption.text()
    steps, lr = view.lr_curve.getData()
    assert len(steps) == 200 and set(lr) == {0.01}
    assert view.lr_plot.getViewBox().state["linkedViews"][0] is not None  # x shared with deaths
    assert "saturat" in view.stats_plot.titleLabel.text  # layer1 saturates in the fake store


def test_the_3d_surface_has_axes_with_values_and_a_colour_scale(qtbot):
    surface_view = pytest.importorskip("widgets.surface_view")
    try:
        view = surface_view.SurfaceView()
    except Exception as exc:  # no OpenGL here at all  # noqa: BLE001
        pytest.skip(f"no OpenGL: {exc}")
    qtbot.addWidget(view)
    coords = np.linspace(-2, 2, 5)
    z = coords[:, None] ** 2 + coords[None, :] ** 2
    view.set_surface(coords, coords, z, 0.0, 8.0, np.zeros((0, 2)), log=False)
    texts = [label.text for label in view.labels]
    assert "α (direction 1)" in texts and "β (direction 2)" in texts and "loss" in texts
    assert "-2" in texts and "2" in texts and "8" in texts  # the grid's own values
    assert view.scale.levels() == (0.0, 8.0)


def test_layer_ticks_name_transformer_blocks_by_their_block():
    from widgets.base import layer_ticks

    names = ["probe/hist/block1", "probe/hist/block2"]
    assert layer_ticks(names) == [[(0, "block1"), (1, "block2")]]


def test_a_blown_up_net_gets_a_log_std_axis_and_says_its_histograms_are_clipped(qtbot):
    """After a blow-up (std ~3e5) the histogram was one black band and the
    std one line on a linear axis: a log axis, and the caption says the
    values left the histogram's range, by how much and which knob widens it."""
    view = ActivationView()
    qtbot.addWidget(view)
    view.set_ranges({"layer1": (-1.0, 5.0), "layer2": (-1.0, 5.0)})
    store = MetricStore()
    bins = np.zeros(8)
    edges = bins.copy()
    edges[[0, -1]] = [40, 60]  # every value at or beyond the ends
    middle = bins.copy()
    middle[3] = 100
    store.append("probe/hist/layer1", 5, middle, tuple(map(str, range(8))))
    store.append("probe/hist/layer2", 5, edges, tuple(map(str, range(8))))
    store.append(wire.PROBE_ACT_STD, 5, np.array([1.2, 3e5]), ("layer1", "layer2"))
    store.append(wire.PROBE_SATURATION, 5, np.array([np.nan, np.nan]), ("layer1", "layer2"))
    view.set_store(store)
    view.set_dead_watch("no ReLU-family layer")
    view.refresh()
    assert view.stats_plot.getAxis("left").logMode
    caption = view.caption.text()
    assert "Histograms clipped: in 1 of 2 layers" in caption and "[-1, 5]" in caption
    assert "std up to 3e+05" in caption and "histogram range" in caption


def test_boundary_view_shows_tables_of_many_features_as_a_matrix_or_against_truth(qtbot):
    view = BoundaryView()
    qtbot.addWidget(view)
    rng = np.random.default_rng(0)
    view.set_data(rng.normal(size=(20, 13)).astype(np.float32), np.arange(20) % 3)
    view.refresh()
    assert view.mode == "confusion" and "more than two features" in view.caption.text()
    view.set_data(rng.normal(size=(20, 10)).astype(np.float32), rng.normal(size=20))
    truth = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    view.set_boundary(truth, None, np.array([1.5, 2.0, 2.5]), None, step=7, r2=0.75)
    view.refresh()
    assert view.mode == "truth" and view.heading.text() == "<b>Prediction</b>"
    assert view.caption.text().endswith("R² 0.750")
    np.testing.assert_allclose(view.points.getData()[1], [1.5, 2.0, 2.5])
    np.testing.assert_allclose(view.fit.getData()[0], [1.0, 3.0])  # the line of exact answers
    assert view.csv_table() == (["target", "prediction"], [[1.0, 1.5], [2.0, 2.0], [3.0, 2.5]])
