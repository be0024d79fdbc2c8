"""A Transformer in the window, with a real engine: its form instead of the
layer table, token data as text, the Attention and Samples views fed only
while on screen, typed input, and a switch of dataset that brings the right
model along."""

from __future__ import annotations

from lab.core import protocol as p
from lab.core.presets import PRESETS
from tests.app.test_window import recorder
from tests.qt_helpers import type_into

SMALL = {"data.n_samples": 400, "model.transformer.d_model": 32}


def small_copy():
    return PRESETS["copy-transformer"].with_changes(SMALL)


def test_a_transformer_gets_its_form_its_token_data_and_its_views(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    window.apply_config(small_copy())
    built = rec.wait_for(qtbot, p.Built, after=mark)
    assert built.task == "next_token"
    model, data = window.model_panel, window.data_panel
    assert model.form.groups["Transformer"].isVisible() and not model.layers.isVisible()
    assert "block1" in model.summary.text()
    assert data.sequences.isVisible() and not data.thumbnail.isVisible()
    assert data.form.editors["data.seq_len"].isVisible()
    assert not data.form.editors["data.noise"].isVisible()
    tabs = window.tabs
    names = ["boundary_view", "attention_view", "samples_view"]
    boundary, attention, samples = (tabs.indexOf(tabs.view(n)) for n in names)
    assert not tabs.isTabEnabled(boundary) and tabs.isTabEnabled(attention)

    mark = rec.mark()
    tabs.setCurrentIndex(attention)
    maps = rec.wait_for(qtbot, p.AttentionMaps, after=mark)
    assert maps.maps.shape[:2] == (2, 4)
    qtbot.waitUntil(lambda: len(window.tabs.views["attention_view"].images) == 8)

    mark = rec.mark()
    tabs.setCurrentIndex(samples)
    rec.wait_for(qtbot, p.Samples, after=mark)
    view = window.tabs.views["samples_view"]
    qtbot.waitUntil(lambda: "answer tokens right" in view.caption.text())

    mark = rec.mark()
    type_into(qtbot, view.input.text, "1 2 3 |")
    typed = rec.wait_for(qtbot, p.Samples, after=mark)
    assert typed.rows[0].prompt == ("1", "2", "3", "|") and not typed.rows[0].expected
    # the other view shows the same input
    assert window.tabs.view("attention_view").input.value()[0] == "1 2 3 |"

    mark = rec.mark()
    type_into(qtbot, view.input.text, "1 2 z")
    rec.wait_for(qtbot, p.Error, after=mark)
    qtbot.waitUntil(lambda: "no token of this task" in window.banner.text())


def test_the_engine_computes_token_pictures_only_for_a_view_on_screen(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    window.apply_config(small_copy())
    rec.wait_for(qtbot, p.Built, after=mark)
    assert not window.tokens.sent.attention and not window.tokens.sent.samples
    window.tabs.setCurrentIndex(window.tabs.indexOf(window.tabs.view("attention_view")))
    assert window.tokens.sent.attention
    window.tabs.setCurrentIndex(0)
    assert not window.tokens.sent.attention


def test_choosing_a_token_dataset_brings_a_transformer_and_back(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    window.data_panel.form.editors["data.name"].setCurrentText("reverse")
    built = rec.wait_for(qtbot, p.Built, after=mark)
    assert built.config["model"]["kind"] == "transformer"
    assert built.config["data"]["name"] == "reverse"
    mark = rec.mark()
    window.data_panel.form.editors["data.name"].setCurrentText("moons")
    built = rec.wait_for(qtbot, p.Built, after=mark)
    assert built.config["model"]["kind"] == "mlp"
    assert window.model_panel.layers.isVisible()
    assert window.tabs.isTabEnabled(window.tabs.indexOf(window.tabs.view("boundary_view")))


def test_decode_now_measures_the_run_s_model_as_a_job(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    window.apply_config(small_copy())
    rec.wait_for(qtbot, p.Built, after=mark)
    view = window.tabs.view("kv_view")
    window.tabs.setCurrentWidget(view)
    assert view.editors["model"].value() == "lab model" and view.decode.isEnabled()
    mark = rec.mark()
    view.editors["layout"].setCurrentText("paged")
    view.decode.click()
    done = rec.wait_for(qtbot, p.JobFinished, lambda e: e.kind == "decode", after=mark)
    assert done.outcome == "done", done.error
    qtbot.waitUntil(lambda: view.decoded is not None and len(view.decoded.layouts) == 3)
    assert view.decoded.layout == "paged" and view.decoded.lengths[-1] == 16
    assert not view.job_bar.running
