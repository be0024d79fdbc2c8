"""The window as a new user meets it: nothing lost, nothing guessed, common
edits in one action, pictures that fit at 1280x800 (issue 21's journeys)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QPushButton, QWidget

from lab.core import protocol as p
from lab.core.presets import PRESETS
from tests.app.test_window import recorder
from tests.qt_helpers import type_into, wheel


def sent(window, kind: type) -> list:
    return [c for c in window.client.sent if isinstance(c, kind)]


# ---------------------------------------------------------------- nothing lost


def test_a_wheel_over_the_knobs_changes_nothing(qtbot, quiet_window):
    before = quiet_window.config
    editors = list(quiet_window.knobs_panel.form.editors.values())
    for editor in editors:
        for target in (getattr(editor, "slider", editor),):
            wheel(target)
            wheel(target, up=False)
    assert (
        quiet_window.config == before
        and sent(quiet_window, p.SetConfig) == sent(quiet_window, p.ChangeConfig) == []
    )


def test_a_rebuild_keeps_the_trained_run_one_click_away(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    window.client.send(p.Step(30))
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 30, after=mark)
    mark = rec.mark()
    type_into(qtbot, window.model_panel.layers.table.cellWidget(0, 0), "32")  # a width: rebuild
    built = rec.wait_for(qtbot, p.Built, after=mark)
    assert built.undo and "30 steps" in built.undo
    qtbot.waitUntil(lambda: window.banner.action.isVisible(), timeout=5000)
    assert window.banner.action.text() == "Undo" and window.undo_action.isEnabled()
    mark = rec.mark()
    qtbot.mouseClick(window.banner.action, Qt.MouseButton.LeftButton)
    back = rec.wait_for(qtbot, p.Built, lambda e: e.reason.startswith("undo"), after=mark)
    assert back.config["model"]["layers"][0]["width"] == 64
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 30, after=mark)
    qtbot.waitUntil(lambda: window.status.labels["step"].text() == "step 30", timeout=5000)


# ---------------------------------------------------------------- nothing guessed


def test_typing_1e_4_sets_the_optimisers_learning_rate(qtbot, window):
    rec = recorder(window)
    mark = rec.mark()
    type_into(qtbot, window.knobs_panel.form.editors["optim.lr"], "1e-4")
    window.step_action.trigger()
    status = rec.wait_for(qtbot, p.Status, lambda e: e.step == 1, after=mark)
    assert status.lr == pytest.approx(1e-4)


@pytest.mark.parametrize(
    ("where", "text", "words"),
    [
        ("optim.lr", "-1", "> 0"),
        ("optim.lr", "abc", "not a number"),
        ("data.test_fraction", "1", "<= 0.9"),
        ("data.n_classes", "1", ">= 2"),
        ("data.n_samples", "lots", "not a number"),
        ("width", "99999", "<= 65536"),
        ("width", "0", ">= 1"),
    ],
)
def test_an_invalid_value_stays_as_typed_and_play_says_so(qtbot, quiet_window, where, text, words):
    w = quiet_window
    if where == "width":
        box = w.model_panel.layers.table.cellWidget(0, 0)
    else:
        panel = w.knobs_panel if where.startswith("optim") else w.data_panel
        box = panel.form.editors[where]
    before = w.config
    type_into(qtbot, box, text)
    field = getattr(box, "box", box)
    assert field.text() == text  # never replaced by another number
    assert words in field.toolTip() and field.styleSheet()
    assert w.config == before and sent(w, p.SetConfig) == sent(w, p.ChangeConfig) == []
    assert w.invalid_label.isVisible() and words in w.invalid_label.text()
    assert "last valid" in w.invalid_label.text()
    qtbot.keyClick(field, Qt.Key.Key_Escape)  # back to the value in use
    assert not w.invalid_label.isVisible()


def test_a_landscape_grid_of_301_is_asked_for_as_301(qtbot, quiet_window):
    view = quiet_window.tabs.view("landscape_view")
    type_into(qtbot, view.grid, "301")
    view.compute.click()
    (request,) = sent(quiet_window, p.ComputeLandscape)
    assert request.resolution == 301


def test_every_knob_is_found_by_its_config_path(qtbot, quiet_window):
    w = quiet_window
    for path in ("optim.lr", "train.seed", "data.noise", "model.norm_position", "init.gain"):
        assert w.findChild(QWidget, path) is not None, path
    w.apply_config(PRESETS["deep-relu-he"])
    assert w.findChild(QWidget, "model.layers[3].activation").value() == "relu"
    assert (
        w.tabs.view("landscape_view").findChild(QWidget, "landscape.resolution")
        is w.tabs.view("landscape_view").grid
    )


# ---------------------------------------------------------------- common edits


def test_a_20_layer_activation_change_is_one_edit_and_one_rebuild(qtbot, quiet_window):
    w = quiet_window
    w.apply_config(PRESETS["deep-sigmoid"])
    w.client.sent.clear()
    editor = w.model_panel.layers
    editor.table.selectAll()
    editor.table.cellWidget(7, 1).setCurrentText("relu")  # one combo of a selected row
    (change,) = sent(w, p.ChangeConfig)  # the layers, not the whole config
    assert [layer["activation"] for layer in change.changes["model.layers"]] == ["relu"] * 20
    assert editor.selected_rows() == list(range(20))  # the selection survives the refill


def test_a_column_header_sets_every_layer(qtbot, quiet_window, monkeypatch):
    w = quiet_window
    w.apply_config(PRESETS["deep-sigmoid"])
    w.client.sent.clear()
    monkeypatch.setattr("widgets.layer_editor.QInputDialog.getText", lambda *a, **k: ("32", True))
    w.model_panel.layers.ask_column(0)  # the "width" header, nothing selected: all layers
    (change,) = sent(w, p.ChangeConfig)
    assert {layer["width"] for layer in change.changes["model.layers"]} == {32}


def test_the_quick_builder_makes_a_stack_in_one_rebuild(qtbot, quiet_window):
    w = quiet_window
    builder = w.model_panel.layers.builder
    type_into(qtbot, builder.depth, "12")
    type_into(qtbot, builder.width, "48")
    builder.activation.setCurrentText("tanh")
    w.client.sent.clear()
    build = next(b for b in builder.findChildren(QPushButton) if b.text() == "Build")
    qtbot.mouseClick(build, Qt.MouseButton.LeftButton)
    (change,) = sent(w, p.ChangeConfig)
    layers = change.changes["model.layers"]
    assert len(layers) == 12 and {(x["width"], x["activation"]) for x in layers} == {(48, "tanh")}


def test_scroll_position_and_selection_survive_a_rebuild(qtbot, quiet_window):
    w = quiet_window
    w.apply_config(PRESETS["deep-relu-he"])
    table = w.model_panel.layers.table
    table.verticalScrollBar().setValue(table.verticalScrollBar().maximum())
    scroll = table.verticalScrollBar().value()
    w.model_panel.layers.select_rows([15, 16])
    w.show_config(w.config.with_changes({"optim.lr": 0.02}))  # the table is refilled
    assert table.verticalScrollBar().value() == scroll > 0
    assert w.model_panel.layers.selected_rows() == [15, 16]


def test_a_rebuild_while_a_width_has_focus_raises_nothing(qtbot, quiet_window):
    editor = quiet_window.model_panel.layers
    cell = editor.table.cellWidget(2, 0)
    cell.setFocus()
    cell.setText("40")  # typed, not yet confirmed
    editor.set_layers(editor.layers()[:1], cnn=False)  # the row goes while it has focus
    qtbot.wait(50)  # the focus-out that used to reach a deleted row (pytest-qt fails on errors)
    assert editor.table.rowCount() == 1


def test_both_preset_boxes_show_the_same_experiment(qtbot, quiet_window):
    w = quiet_window
    w.load_preset("moons-mlp")
    assert w.preset_box.currentText() == w.model_panel.preset.currentText() == "moons-mlp"
    type_into(qtbot, w.knobs_panel.form.editors["optim.lr"], "0.02")
    custom = "custom experiment"
    assert w.preset_box.currentText() == w.model_panel.preset.currentText() == custom
    index = w.preset_box.findData("deep-sigmoid")
    assert "What to look for" in w.preset_box.itemData(index, Qt.ItemDataRole.ToolTipRole)


# ---------------------------------------------------------------- the picture


def test_the_banner_never_moves_the_tabs(qtbot, quiet_window):
    tabs = quiet_window.tabs.tabBar()
    before = tabs.mapToGlobal(tabs.rect().topLeft())
    quiet_window.banner.show_message("Training paused: a long message " * 5, "warning")
    qtbot.wait(50)
    assert tabs.mapToGlobal(tabs.rect().topLeft()) == before


def test_opening_any_tab_keeps_the_panels_widths_at_1280x800(qtbot, quiet_window):
    w = quiet_window
    docks = w.findChildren(QDockWidget)
    widths = [dock.width() for dock in docks]
    for index in range(w.tabs.count()):
        w.tabs.setCurrentIndex(index)
        qtbot.wait(30)
        assert [dock.width() for dock in docks] == widths, w.tabs.tabText(index)
    slider = w.knobs_panel.form.editors["optim.lr"].slider
    assert slider.width() >= 100  # a wide panel beside it once squeezed it to 40 px


def test_panels_dock_only_side_by_side_and_the_layout_resets(qtbot, quiet_window):
    w = quiet_window
    assert not w.dockOptions() & QMainWindow.DockOption.AllowTabbedDocks
    knobs = next(d for d in w.findChildren(QDockWidget) if d.objectName() == "dock_Knobs")
    knobs.setFloating(True)
    knobs.hide()
    w.reset_layout()
    assert knobs.isVisible() and not knobs.isFloating()


def test_contours_are_cleared_on_a_new_compute_and_on_a_rebuild(qtbot, quiet_window):
    from tests.widgets.test_views import fake_landscape

    view = quiet_window.tabs.view("landscape_view")
    view.set_landscape(fake_landscape())
    view.refresh()
    assert view.contours
    view.compute.click()  # a new landscape: the old contours go at once
    assert view.contours == [] and all(c.scene() is None for c in view.contours)
    view.set_landscape(fake_landscape())
    view.refresh()
    old = list(view.contours)
    assert old
    built = p.Built(
        PRESETS["moons-mlp"].to_dict(), [("layer1", "Linear", (4,), 12)], 12, "classification",
        np.zeros((4, 2), np.float32), np.zeros(4, np.int64), "reset",
    )  # fmt: skip
    quiet_window.on_event(built)  # Reset and Open arrive as Built
    assert view.contours == [] and all(c.scene() is None for c in old)
    assert view.update_event is None and view.image.image is None


def test_default_speed_lets_a_person_watch_and_full_speed_is_one_click_away(quiet_window):
    assert quiet_window.speed.currentText() == "50 steps/s"
    assert quiet_window.speed.findText("full speed") >= 0


# ---------------------------------------------------------------- words and files


def test_save_asks_for_a_new_folder_and_remembers_where(qtbot, quiet_window, tmp_path, monkeypatch):
    asked = []

    def fake_dialog(parent, title, start, *args, **kwargs):
        asked.append(start)
        return str(tmp_path / "my-new-run"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_dialog)
    w = quiet_window
    w.save_run()
    (save,) = sent(w, p.SaveRun)
    assert save.path == str(tmp_path / "my-new-run")  # a folder that does not exist yet
    assert "Knoblab" not in asked[0] or not asked[0].startswith(str(tmp_path))
    w.save_run()
    assert asked[1] == str(tmp_path / w.config.name)  # starts where the last one went
    w.on_event(p.Saved(str(tmp_path / "my-new-run")))
    assert str(tmp_path / "my-new-run") in w.windowTitle() and w.config.name in w.windowTitle()


def test_the_knobs_sections_fold_away_and_come_back(qtbot, quiet_window):
    from superqt import QCollapsible

    sections = quiet_window.knobs_panel.form.groups
    probes = sections["Probes"]
    assert isinstance(probes, QCollapsible) and probes.isExpanded()
    panel = quiet_window.knobs_panel
    probes.collapse(animate=False)
    qtbot.waitUntil(lambda: not probes.isExpanded() and probes.content().height() == 0)
    probes.expand(animate=False)
    qtbot.waitUntil(lambda: probes.content().height() > 0)
    type_into(qtbot, panel.form.editors["probes.every"], "5")
    assert quiet_window.config.probes.every == 5
