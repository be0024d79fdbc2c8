"""The window driven through its real widgets, with the engine in its own process."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from lab.core import protocol as p
from lab.core import wire
from lab.core.presets import PRESETS
from tests.app.conftest import FakeClient
from tests.qt_helpers import type_into


def recorder(window):
    return window.recorder


def test_lr_slider_changes_the_optimizer_lr_within_one_step(qtbot, window):
    rec = recorder(window)
    slider = window.knobs_panel.form.editors["optim.lr"]
    mark = rec.mark()
    slider.slider.setValue(slider.slider.value() + 100)  # drag: one tenth of the scale
    new_lr = slider.value()
    assert new_lr != pytest.approx(0.01)
    applied = rec.wait_for(qtbot, p.ConfigApplied, after=mark)
    assert applied.kind == "live"
    before = window.status.labels["step"].text()
    window.step_action.trigger()
    status = rec.wait_for(qtbot, p.Status, lambda e: e.step == 1, after=mark)
    assert status.lr == pytest.approx(new_lr)
    assert window.status.labels["step"].text() != before


def test_typed_lr_applies_too(qtbot, window):
    rec = recorder(window)
    box = window.knobs_panel.form.editors["optim.lr"].box
    mark = rec.mark()
    type_into(qtbot, box, "0.0042")
    window.step_action.trigger()
    assert rec.wait_for(qtbot, p.Status, lambda e: e.step == 1, after=mark).lr == pytest.approx(
        0.0042
    )
    assert window.config.optim.lr == pytest.approx(0.0042)


def test_play_pause_step_reset(qtbot, window):
    rec = recorder(window)
    window.play_action.trigger()
    rec.wait_for(qtbot, p.Status, lambda e: e.state == "running" and e.step > 20)
    assert window.play_action.text() == "Pause"
    mark = rec.mark()
    window.play_action.trigger()
    paused = rec.wait_for(qtbot, p.Status, lambda e: e.state == "paused", after=mark)
    qtbot.wait(300)
    after_pause = rec.events[rec.events.index(paused) + 1 :]
    steps_after = [
        int(e.series["step"][1].max())
        for e in after_pause
        if isinstance(e, p.MetricRows) and "step" in e.series
    ]
    assert all(step <= paused.step for step in steps_after)  # nothing runs while paused
    mark = rec.mark()
    window.step_action.trigger()
    rec.wait_for(qtbot, p.Status, lambda e: e.step == paused.step + 1, after=mark)
    mark = rec.mark()
    window.reset_action.trigger()
    built = rec.wait_for(qtbot, p.Built, after=mark)
    assert built.reason == "reset"
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 0, after=mark)
    assert "step" not in window.store  # the curves start over


def test_curves_arrive_and_are_drawn(qtbot, window):
    rec = recorder(window)
    window.play_action.trigger()
    rec.wait_for(qtbot, p.MetricRows, lambda e: "eval" in e.series)
    qtbot.waitUntil(
        lambda: "eval" in window.store and len(window.store["eval"]) >= 2, timeout=30000
    )
    window.play_action.trigger()
    window.tabs.setCurrentWidget(window.tabs.view("loss_view"))
    qtbot.waitUntil(lambda: not window.tabs.view("loss_view").dirty, timeout=5000)
    x, y = window.tabs.view("loss_view").curves["test_loss"].getData()
    np.testing.assert_array_equal(x, window.store["eval"].steps[: len(x)])
    assert "test loss" in window.tabs.view("loss_view").caption.text()


def test_deep_sigmoid_rebuilds_and_the_gradient_view_shows_the_collapse(qtbot, window):
    rec = recorder(window)
    window.load_preset("deep-relu-he")
    rec.wait_for(qtbot, p.Built, lambda e: len(e.config["model"]["layers"]) == 20)
    table = window.model_panel.layers.table
    mark = rec.mark()
    for row in range(table.rowCount()):  # switch every layer's activation in the editor
        table.cellWidget(row, 1).setCurrentText("sigmoid")
    built = rec.wait_for(
        qtbot,
        p.Built,
        lambda e: all(layer["activation"] == "sigmoid" for layer in e.config["model"]["layers"]),
        after=mark,
    )
    assert "activation of layer" in built.reason
    signal = rec.wait_for(qtbot, p.SignalPropagation, after=rec.events.index(built))
    assert signal.act_grad_norm[0] / signal.act_grad_norm[19] < 1e-6
    window.tabs.setCurrentWidget(window.tabs.view("signal_view"))
    qtbot.waitUntil(
        lambda: "vanishing" in window.tabs.view("signal_view").caption.text(), timeout=10000
    )
    mark = rec.mark()
    for _ in range(10):  # up to the first probed step
        window.step_action.trigger()
    rec.wait_for(qtbot, p.MetricRows, lambda e: "probe/act_grad_norm" in e.series, after=mark)
    window.tabs.setCurrentWidget(window.tabs.view("gradient_view"))
    qtbot.waitUntil(
        lambda: "first/last" in window.tabs.view("gradient_view").caption.text(), timeout=10000
    )
    ratio = float(window.tabs.view("gradient_view").caption.text().split("= ")[1].split(" ")[0])
    assert ratio < 1e-6
    # the ReLU net's dead units are gone with it, and the view says why there are none
    window.tabs.setCurrentWidget(window.tabs.view("activation_view"))
    caption = window.tabs.view("activation_view").caption
    qtbot.waitUntil(lambda: "saturated" in caption.text(), timeout=10000)
    assert "no ReLU-family layer" in caption.text()
    assert window.tabs.view("activation_view").map_image.image is None


def test_typed_invalid_value_shows_an_error_not_a_crash(qtbot, window):
    spin = window.data_panel.form.editors["data.batch_size"]
    before = window.config
    type_into(qtbot, spin, "100000")  # more than the training set holds
    assert window.banner.isVisible()
    assert "data.batch_size" in window.banner.text()
    assert "larger than the training set" in window.data_panel.form.error.text()
    assert spin.text() == "100000"  # what was typed stays, marked
    assert "ffd7d7" in spin.styleSheet()
    assert window.config == before  # nothing invalid was sent
    type_into(qtbot, spin, "64")
    assert not window.banner.isVisible()
    assert window.config.data.batch_size == 64


def test_save_then_open_restores_config_and_curves(qtbot, window, tmp_path):
    rec = recorder(window)
    type_into(qtbot, window.knobs_panel.form.editors["optim.lr"], "0.003")
    mark = rec.mark()
    for _ in range(3):
        window.step_action.trigger()
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 3, after=mark)
    window.client.send(p.Step(200))
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 203, after=mark)
    evaluations = 7 + 2  # at steps 1, 2, 4, ... 64, then every 100: 100 and 200
    qtbot.waitUntil(
        lambda: "eval" in window.store and len(window.store["eval"]) == evaluations,
        timeout=10000,
    )
    saved_eval = window.store["eval"].values.copy()
    mark = rec.mark()
    window.save_run(str(tmp_path / "run"))
    rec.wait_for(qtbot, p.Saved, after=mark)
    type_into(qtbot, window.knobs_panel.form.editors["optim.lr"], "0.05")
    window.reset_action.trigger()
    rec.wait_for(qtbot, p.Built, lambda e: e.reason == "reset", after=mark)
    mark = rec.mark()
    window.open_run(str(tmp_path / "run"))
    rec.wait_for(qtbot, p.Opened, after=mark)
    qtbot.waitUntil(
        lambda: "eval" in window.store and len(window.store["eval"]) == evaluations,
        timeout=10000,
    )
    assert window.config.optim.lr == pytest.approx(0.003)
    assert window.knobs_panel.form.value("optim.lr") == pytest.approx(0.003)
    np.testing.assert_array_equal(window.store["eval"].values, saved_eval)
    assert window.status.labels["step"].text() == "step 203"


def test_killed_engine_is_reported_and_restart_resumes_the_last_config(qtbot, window):
    rec = recorder(window)
    type_into(qtbot, window.knobs_panel.form.editors["optim.lr"], "0.0031")
    window.play_action.trigger()
    rec.wait_for(qtbot, p.Status, lambda e: e.state == "running")
    window.client.process.kill()
    qtbot.waitUntil(lambda: window.banner.action.isVisible(), timeout=10000)
    assert "engine process stopped" in window.banner.text()
    # the window stays usable: knobs still edit the config
    type_into(qtbot, window.knobs_panel.form.editors["optim.weight_decay"], "0.001")
    assert window.config.optim.weight_decay == 0.001
    mark = rec.mark()
    qtbot.mouseClick(window.banner.action, Qt.MouseButton.LeftButton)
    built = rec.wait_for(qtbot, p.Built, after=mark)
    assert built.config["optim"]["lr"] == pytest.approx(0.0031)
    assert built.config["optim"]["weight_decay"] == pytest.approx(0.001)
    assert not window.banner.action.isVisible() and not window.banner.sticky
    window.step_action.trigger()
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 1, after=mark)


def test_views_export_png_and_csv(qtbot, window, tmp_path):
    rec = recorder(window)
    window.client.send(p.Step(20))
    rec.wait_for(qtbot, p.MetricRows, lambda e: "probe/hist/layer1" in e.series)
    window.client.send(p.ComputeLandscape(99, resolution=5, n_points=64))
    rec.wait_for(qtbot, p.JobFinished, lambda e: e.outcome == p.JobOutcome.DONE)
    qtbot.wait(200)
    for index, view in enumerate(window.tabs.all()):
        if not window.tabs.isTabEnabled(index):  # a Transformer's views, for an MLP
            continue
        window.tabs.setCurrentIndex(index)
        view.export_png(str(tmp_path / f"{index}.png"))
        view.export_csv(str(tmp_path / f"{index}.csv"))
        assert (tmp_path / f"{index}.png").stat().st_size > 1000
        lines = (tmp_path / f"{index}.csv").read_text().splitlines()
        assert len(lines) >= 2, view.title
    # the Gradients and Activations views: one layout, step,probe,layer,value
    series = window.store["probe/grad_norm"]
    for number in (1, 2):
        assert (tmp_path / f"{number}.csv").read_text().splitlines()[0] == "step,probe,layer,value"
    rows = [line.split(",") for line in (tmp_path / "1.csv").read_text().splitlines()[1:]]
    first = {
        r[2]: float(r[3]) for r in rows if r[1] == "grad_norm" and int(r[0]) == series.steps[0]
    }
    assert list(first) == list(series.columns)
    np.testing.assert_allclose(list(first.values()), series.values[0], rtol=1e-6)


def test_layout_and_last_experiment_are_remembered(qtbot, settings):
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.session.config = PRESETS["moons-mlp"].with_changes({"optim.lr": 0.02})
    first.show()
    first.resize(700, 520)  # fits the offscreen screen (Qt clamps restored geometry)
    qtbot.waitUntil(lambda: first.size().width() == 700)
    first.close()
    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    second.show()
    assert second.config == first.config
    assert second.data_panel.form.value("data.name") == "moons"
    assert second.size().width() == 700
    second.close()


def test_structural_change_says_so(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    window.knobs_panel.form.editors["init.scheme"].setCurrentText("xavier_normal")
    built = rec.wait_for(qtbot, p.Built, after=mark)
    assert "scheme" in built.reason and "xavier_normal" in built.reason
    qtbot.waitUntil(lambda: "rebuilt" in window.statusBar().currentMessage(), timeout=5000)
    assert not math.isnan(rec.wait_for(qtbot, p.Status, after=mark).lr)


def test_landscape_computes_while_training_and_can_be_cancelled(qtbot, window):
    rec = recorder(window)
    window.client.send(p.Step(50))
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 50)
    window.tabs.setCurrentWidget(window.tabs.view("landscape_view"))
    view = window.tabs.view("landscape_view")
    view.grid.setValue(21)
    view.points.setValue(256)
    mark = rec.mark()
    window.play_action.trigger()
    qtbot.mouseClick(view.compute, Qt.MouseButton.LeftButton)
    finished = rec.wait_for(qtbot, p.JobFinished, after=mark)
    assert finished.outcome == p.JobOutcome.DONE and finished.result.complete
    assert finished.result.step >= 50
    qtbot.waitUntil(lambda: "around the weights of step" in view.caption.text(), timeout=5000)
    assert view.job_bar.bar.value() == 1000 and not view.job_bar.cancel.isEnabled()
    assert view.image.image.shape == (21, 21)
    window.play_action.trigger()
    view.grid.setValue(151)
    view.points.setValue(2000)
    mark = rec.mark()
    qtbot.mouseClick(view.compute, Qt.MouseButton.LeftButton)
    rec.wait_for(qtbot, p.JobProgress, lambda e: e.partial is not None, after=mark)
    qtbot.waitUntil(view.job_bar.cancel.isEnabled, timeout=5000)
    qtbot.mouseClick(view.job_bar.cancel, Qt.MouseButton.LeftButton)
    cancelled = rec.wait_for(qtbot, p.JobFinished, after=mark)
    assert cancelled.outcome == p.JobOutcome.CANCELLED and not cancelled.result.complete
    qtbot.waitUntil(lambda: "cancelled" in view.caption.text(), timeout=5000)
    assert "cancelled" in view.job_bar.message.text()


def test_export_to_onnx_from_the_window(qtbot, window, tmp_path):
    rec = recorder(window)
    window.client.send(p.Step(30))
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 30)
    path = tmp_path / "model.onnx"
    mark = rec.mark()
    window.export_onnx(str(path))
    rec.wait_for(qtbot, p.JobProgress, lambda e: e.kind == p.JobKind.EXPORT, after=mark)
    done = rec.wait_for(qtbot, p.JobFinished, after=mark, timeout=60)
    assert done.outcome == p.JobOutcome.DONE
    assert path.exists() and (tmp_path / "model.report.json").exists()
    assert done.result["parity"]["64"]["max_abs"] <= 1e-4
    assert done.result["checker"].startswith("passed")
    qtbot.waitUntil(lambda: window.exports.dialog.isVisible(), timeout=5000)
    text = window.exports.dialog.label.text()
    assert "max abs" in text and str(path) in text and "onnxruntime" in text
    window.exports.dialog.close()
    mark = rec.mark()
    window.export_onnx("/proc/no/such/place.onnx")  # cannot be written
    failed = rec.wait_for(qtbot, p.JobFinished, after=mark, timeout=60)
    assert failed.outcome == p.JobOutcome.FAILED and failed.error
    qtbot.waitUntil(lambda: "export:" in window.banner.text(), timeout=5000)
    assert "failed" in window.exports.job_bar.message.text()
    window.step_action.trigger()  # still serving
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 31, after=mark)


def test_image_preset_shows_example_images_and_every_view_draws(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    window.load_preset("shapes-cnn")
    built = rec.wait_for(qtbot, p.Built, lambda e: e.config["data"]["name"] == "shapes", after=mark)
    thumb = window.data_panel.thumbnail
    assert thumb.mosaic.image is not None and built.x_train.ndim == 4
    assert [label.toPlainText() for label in thumb.row_labels] == list(built.class_names)
    for index in range(window.tabs.count()):  # each view draws what an image run gives it
        if not window.tabs.isTabEnabled(index):  # a Transformer's views
            continue
        window.tabs.setCurrentIndex(index)
        view = window.tabs.currentWidget()
        view.dirty = True
        view.refresh()
    assert "confusion matrix appears" in window.tabs.view("boundary_view").caption.text()
    mark = rec.mark()  # an evaluation brings the test set's confusion matrix
    window.play_action.trigger()
    rec.wait_for(qtbot, p.MetricRows, lambda e: "confusion" in e.series, after=mark)
    window.play_action.trigger()
    window.tabs.setCurrentWidget(window.tabs.view("boundary_view"))
    qtbot.waitUntil(
        lambda: "% correct" in window.tabs.view("boundary_view").caption.text(), timeout=10000
    )
    assert len(window.tabs.view("boundary_view").cell_texts) == len(built.class_names) ** 2


def test_data_panel_offers_a_class_count_only_where_the_dataset_has_one_to_choose(qtbot):
    from app.data_panel import DataPanel
    from lab.core.presets import PRESETS

    panel = DataPanel()
    qtbot.addWidget(panel)
    classes = panel.form.editors["data.n_classes"]
    for preset, free in [
        ("spirals-mlp", True),
        ("moons-mlp", False),
        ("regression-mlp", False),
        ("shapes-cnn", True),
    ]:
        panel.set_config(PRESETS[preset])
        assert classes.isEnabled() == free, preset
    assert classes.toolTip().startswith("How many classes")  # shapes-cnn last: in words
    panel.set_config(PRESETS["regression-mlp"])
    assert classes.toolTip() == "regression1d has no classes to choose"


def test_choosing_sgd_in_the_window_enables_momentum_at_once(qtbot, window):
    editors = window.knobs_panel.form.editors
    window.knobs_panel.form.editors["optim.name"].setCurrentText("adam")
    assert not editors["optim.momentum"].isEnabled()
    window.knobs_panel.form.editors["optim.name"].setCurrentText("sgd")
    assert editors["optim.momentum"].isEnabled() and not editors["optim.beta1"].isEnabled()


def test_knobs_the_chosen_optimiser_or_schedule_ignores_are_greyed_out(qtbot):
    from app.panels import KnobsPanel
    from lab.core.presets import PRESETS

    panel = KnobsPanel()
    qtbot.addWidget(panel)
    editors = panel.form.editors
    adam = PRESETS["spirals-mlp"].with_changes({"optim.name": "adam", "optim.clip": "none"})
    panel.set_config(adam)
    assert not editors["optim.momentum"].isEnabled() and editors["optim.beta1"].isEnabled()
    assert editors["optim.momentum"].toolTip() == "momentum: adam does not use it"
    assert not editors["optim.clip_value"].isEnabled()
    assert not editors["optim.step_size"].isEnabled()  # constant schedule
    assert not editors["init.std"].isEnabled()  # he_normal sets its own scale
    panel.set_config(adam.with_changes({"init.scheme": "normal"}))
    assert editors["init.std"].isEnabled() and editors["init.gain"].isEnabled()
    panel.set_config(
        adam.with_changes({"optim.name": "sgd", "optim.schedule": "step", "optim.clip": "norm"})
    )
    assert editors["optim.momentum"].isEnabled() and not editors["optim.beta1"].isEnabled()
    assert editors["optim.step_size"].isEnabled() and not editors["optim.warmup_steps"].isEnabled()
    assert editors["optim.clip_value"].isEnabled() and editors["optim.weight_decay"].isEnabled()


def test_probe_knobs_apply_live_and_histograms_are_never_labelled_with_another_range(qtbot, window):
    rec = recorder(window)
    editors = window.knobs_panel.form.editors
    type_into(qtbot, editors["probes.every"], "1")
    mark = rec.mark()
    window.step_action.trigger()
    rec.wait_for(qtbot, p.MetricRows, lambda e: "probe/hist/layer1" in e.series, after=mark)
    assert window.tabs.view("activation_view").ranges["layer1"] == (
        0.0,
        4.0,
    )  # ReLU: [0, hist_range]
    mark = rec.mark()
    type_into(qtbot, editors["probes.hist_range"], "2")
    rec.wait_for(qtbot, p.ConfigApplied, after=mark)  # the engine bins over [0, 2] from here
    assert window.tabs.view("activation_view").ranges["layer1"] == (0.0, 2.0)
    assert "probe/hist/layer1" not in window.store  # binned over [0, 4]: dropped
    type_into(qtbot, editors["probes.dead_window"], "3")
    mark = rec.mark()
    window.step_action.trigger()
    rec.wait_for(qtbot, p.MetricRows, lambda e: "probe/hist/layer1" in e.series, after=mark)
    assert window.config.probes.dead_window == 3 and window.config.probes.hist_range == 2.0


def test_layer_summary_shows_whole_module_names(qtbot):
    from app.panels import ModelPanel

    panel = ModelPanel()
    qtbot.addWidget(panel)
    rows = [
        ("layer1", "Conv2d-BatchNorm2d-ReLU-MaxPool2d", (16, 8, 8), 192),
        ("head", "Linear", (4,), 132),
    ]
    panel.set_summary(rows, 324)
    text = panel.summary.text()
    assert "Conv2d-BatchNorm2d-ReLU-MaxPool2d" in text
    lines = text.removeprefix("<pre>").removesuffix("</pre>").splitlines()
    assert len({len(line) for line in lines}) == 1  # columns line up, totals included
    assert lines[-1].startswith("total") and lines[-1].endswith("324")


def test_the_windows_store_keeps_the_engines_capacities(qtbot, window):
    """deep-relu-he after 2,000 steps: the window held ~68 MB of dead maps
    and histograms at the default capacity while the engine held ~6 MB."""
    from lab.train.trainer import Trainer

    rec = recorder(window)
    config = PRESETS["deep-relu-he"].with_changes({"train.steps": 2000})
    mark = rec.mark()
    window.apply_config(config)
    rec.wait_for(qtbot, p.Built, after=mark)
    window.speed.setCurrentText("full speed")
    window.play_action.trigger()
    rec.wait_for(qtbot, p.Stopped, after=mark, timeout=120)
    qtbot.waitUntil(lambda: window.store[wire.STEP].latest_step == 2000, timeout=10000)
    engine = Trainer(config)  # the engine's store, by the same steps (deterministic)
    engine.run(2000)
    assert set(window.store.series) == set(engine.store.series)
    for name, series in engine.store.series.items():
        assert window.store[name].capacity == series.capacity, name
    window_bytes, engine_bytes = window.store.nbytes(), engine.store.nbytes()
    assert window_bytes <= 1.5 * engine_bytes, (window_bytes, engine_bytes)
    assert window_bytes < 20 * 2**20


def test_an_engine_of_another_protocol_version_is_refused_clearly(qtbot, settings):
    client = FakeClient()
    win = MainWindow(settings=settings, client=client)
    qtbot.addWidget(win)
    win.on_event(p.Ready(p.PROTOCOL_VERSION + 1, ["cpu"], "2.99"))
    assert client.stopped and not any(isinstance(c, p.SetConfig) for c in client.sent)
    text = win.banner.text()
    assert f"version {p.PROTOCOL_VERSION + 1}" in text and str(p.PROTOCOL_VERSION) in text
    assert win.banner.action.text() == "Restart engine"
    win.on_event(p.Ready(p.PROTOCOL_VERSION, ["cpu"], "2.13"))  # the same version is served
    assert any(isinstance(c, p.SetConfig) for c in client.sent)
