"""What a new user hit, tried as a new user would: one test per item, each
of which failed on the window before it was fixed (what is new is imported
inside its test, so that the others run against the old window too). Most run the window with
a real engine; some only need the window (``quiet_window``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QStyleOptionViewItem

from app.main_window import MainWindow
from lab.core import protocol as p
from lab.core import wire
from lab.core.presets import PRESET_NOTES, PRESETS
from tests.app.conftest import open_window
from tests.qt_helpers import type_into


def train(qtbot, win: MainWindow, steps: int) -> None:
    mark = win.recorder.mark()
    win.client.send(p.Step(steps))
    win.recorder.wait_for(qtbot, p.Status, lambda e: e.step == steps, after=mark)
    qtbot.waitUntil(lambda: wire.STEP in win.store and win.store[wire.STEP].latest_step == steps)


# ---------------------------------------------------------------- nothing lost


def test_a_clean_quit_keeps_the_trained_run(qtbot, settings):
    """Train, quit with Ctrl+Q, launch again: the run is back where it was,
    as after a crash, without a path of its own in the title."""
    first = open_window(qtbot, settings)
    train(qtbot, first, 25)
    first.close()
    again = open_window(qtbot, settings)
    try:
        opened = again.recorder.wait_for(qtbot, p.Opened)
        assert opened.autosave
        again.recorder.wait_for(qtbot, p.Status, lambda e: e.step == 25)
        qtbot.waitUntil(lambda: wire.STEP in again.store)
        assert again.store[wire.STEP].latest_step == 25 and again.run_path is None
        assert "autosave" not in again.windowTitle()
        assert "did not close cleanly" not in again.banner.text()  # it is simply back
    finally:
        again.close()


def test_the_users_autosave_folder_is_untouched(qtbot, tmp_path, monkeypatch):
    """A window with a settings file of its own (a test's, a bench's, the
    self-test's) autosaves beside that file: the person's data folder, here a
    temporary one, gets nothing."""
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    settings = QSettings(str(tmp_path / "own" / "knoblab.ini"), QSettings.Format.IniFormat)
    win = open_window(qtbot, settings)
    train(qtbot, win, 12)
    mark = win.recorder.mark()
    assert win.autosave.save()
    win.recorder.wait_for(qtbot, p.Saved, after=mark)
    win.close()
    assert not (data / "knoblab").exists()
    assert (win.autosave.folder / "checkpoint.pt").exists()
    assert win.autosave.folder.parent == tmp_path / "own" / "autosave"


def test_two_windows_open_at_once_autosave_apart(qtbot, settings):
    windows = [MainWindow(settings=settings, client=fake()) for _ in range(2)]
    for win in windows:
        qtbot.addWidget(win)
        win.autosave.start()
    first, second = (w.autosave.folder for w in windows)
    assert first is not None and second is not None and first != second
    for win in windows:
        win.close()


def fake():
    from tests.app.conftest import FakeClient

    return FakeClient()


# ---------------------------------------------------------------- stale pictures


def test_reset_leaves_no_picture_of_the_old_run(qtbot, window):
    """After Reset the Activations tab showed the old run's learning rate at
    step 0, and the Loss axes kept the range they were zoomed to."""
    rec = window.recorder
    window.tabs.setCurrentIndex(2)  # Activations: its learning-rate strip
    train(qtbot, window, 40)
    activations = window.tabs.view("activation_view")
    qtbot.waitUntil(lambda: activations.lr_curve.getData()[0] is not None)
    loss = window.tabs.view("loss_view")
    loss.loss_plot.setXRange(10, 20)  # a person zooms in
    assert not loss.loss_plot.vb.autoRangeEnabled()[0]
    mark = rec.mark()
    window.reset_action.trigger()
    rec.wait_for(qtbot, p.Built, lambda e: e.reason == "reset", after=mark)
    qtbot.wait(100)
    activations.refresh()
    x, _ = activations.lr_curve.getData()
    assert x is None or len(x) == 0
    assert all(loss.loss_plot.vb.autoRangeEnabled())


# ---------------------------------------------------------------- undo and reset


def test_a_typed_learning_rate_can_be_undone_and_redone(qtbot, window):
    rec = window.recorder
    editor = window.knobs_panel.form.editors["optim.lr"]
    before = window.config.optim.lr
    mark = rec.mark()
    type_into(qtbot, editor, "0.05")
    rec.wait_for(qtbot, p.ConfigApplied, lambda e: e.changes == {"optim.lr": 0.05}, after=mark)
    qtbot.waitUntil(lambda: window.undo_action.isEnabled())
    assert window.undo_action.text() == f"Undo learning rate {before:g} → 0.05"
    mark = rec.mark()
    window.undo_action.trigger()
    rec.wait_for(qtbot, p.ConfigApplied, lambda e: e.changes == {"optim.lr": before}, after=mark)
    qtbot.waitUntil(lambda: window.config.optim.lr == before)
    assert editor.value() == before  # the knob shows it
    qtbot.waitUntil(lambda: window.redo_action.isEnabled())
    mark = rec.mark()
    window.redo_action.trigger()
    rec.wait_for(qtbot, p.ConfigApplied, lambda e: e.changes == {"optim.lr": 0.05}, after=mark)
    qtbot.waitUntil(lambda: window.config.optim.lr == 0.05)


def test_back_to_the_preset_undoes_every_changed_knob(qtbot, quiet_window):
    w = quiet_window
    w.load_preset("moons-mlp")
    assert not w.back_to_preset.isEnabled()  # nothing changed yet
    w.on_field_changed("optim.lr", 0.2)
    w.on_field_changed("init.scheme", "xavier_normal")
    assert w.back_to_preset.isEnabled() and "moons-mlp" in w.back_to_preset.text()
    w.client.sent.clear()
    w.back_to_preset.trigger()
    (sent,) = [c for c in w.client.sent if isinstance(c, p.SetConfig)]
    assert sent.config == PRESETS["moons-mlp"].to_dict() and w.config == PRESETS["moons-mlp"]


def test_undo_after_open_brings_back_the_run_open_replaced(qtbot, window, tmp_path):
    """Open replaced a run with changed knobs and nothing trained yet; Undo
    brought back the run just opened (kept from before), and those knobs
    were gone."""
    rec = window.recorder
    train(qtbot, window, 30)
    mark = rec.mark()
    window.save_run(str(tmp_path / "spirals"))
    rec.wait_for(qtbot, p.Saved, after=mark)
    mark = rec.mark()
    window.load_preset("moons-mlp")
    rec.wait_for(qtbot, p.Built, lambda e: e.config["name"] == "moons-mlp", after=mark)
    mark = rec.mark()
    window.on_field_changed("optim.lr", 0.07)  # the person's own setting, not trained yet
    rec.wait_for(qtbot, p.ConfigApplied, after=mark)
    mark = rec.mark()
    window.open_run(str(tmp_path / "spirals"))
    rec.wait_for(qtbot, p.Opened, after=mark)
    rec.wait_for(qtbot, p.UndoState, lambda e: e.undo == "open spirals-mlp", after=mark)
    mark = rec.mark()
    window.undo_action.trigger()
    back = rec.wait_for(qtbot, p.Built, lambda e: e.reason.startswith("undo"), after=mark)
    assert back.config["name"] == "moons-mlp" and back.config["optim"]["lr"] == 0.07
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 0, after=mark)


# ---------------------------------------------------------------- recipes


def built_event(config) -> p.Built:
    return p.Built(
        config.to_dict(), [], 0, "classification", np.zeros((0, 2)), np.zeros(0), "opened arm"
    )


def test_an_arm_opened_from_a_recipe_is_called_what_it_is_and_shows_its_views(
    qtbot, quiet_window, monkeypatch
):
    from lab.recipes import RECIPES, catalog
    from lab.recipes.base import slug

    w = quiet_window
    recipe = RECIPES["vanishing-gradients"]
    info = next(i for i in catalog() if i.name == recipe.name)
    arm = recipe.arms(True)[0]
    window = w.show_recipes()
    window.compare.preview(info)
    w.tabs.setCurrentIndex(0)  # the Loss tab is open
    window.compare.openArm.emit(arm.config.to_dict())
    assert w.config.name == f"vanishing-gradients-{slug(arm.label)}" == arm.config.name
    assert w.config.name in w.windowTitle()
    asked = {}
    monkeypatch.setattr(
        "app.files.QFileDialog.getSaveFileName",
        lambda *args, **kwargs: asked.setdefault("default", args[2]) and ("", ""),
    )
    w.export_onnx()
    assert Path(asked["default"]).name == f"{arm.config.name}.onnx"
    w.on_event(built_event(w.config))
    assert w.tabs.tabText(w.tabs.currentIndex()) == info.views[0]


# ---------------------------------------------------------------- first contact


def test_opening_a_folder_that_is_not_a_run_says_so(qtbot, window, tmp_path):
    (tmp_path / "photos").mkdir()
    rec = window.recorder
    mark = rec.mark()
    window.open_run(str(tmp_path / "photos"))
    error = rec.wait_for(qtbot, p.Error, after=mark)
    assert "is not a Knoblab run folder" in error.message
    assert "does not exist" not in error.message
    qtbot.waitUntil(lambda: "not a Knoblab run folder" in window.banner.text())


def test_the_help_menu_has_the_readme_the_shortcuts_and_the_version(
    qtbot, quiet_window, monkeypatch
):
    from app import help as helps  # here: the module is what was missing

    w = quiet_window
    help_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Help")
    texts = [a.text() for a in help_menu.actions()]
    assert texts == ["Read me", "Keyboard and mouse", "About Knoblab"]
    readme = helps.readme_dialog(w)
    assert "make run" in readme.browser.toPlainText()
    rows = dict(helps.shortcut_rows(w))
    assert rows["Ctrl+Z"].startswith(("Undo", "Nothing to undo")) and "Space" in rows
    assert rows["Ctrl+Shift+R"] == "Recipes"
    shown = {}
    monkeypatch.setattr(
        helps.QMessageBox, "about", lambda _p, _t, text: shown.setdefault("t", text)
    )
    help_menu.actions()[2].trigger()
    assert "knoblab" in shown["t"] and "torch" in shown["t"] and "Python" in shown["t"]


def test_each_preset_says_what_it_is_in_the_box(qtbot, quiet_window):
    from widgets.preset_box import DESCRIPTION  # here: the module is what was missing

    box = quiet_window.preset_box
    index = box.findData("deep-sigmoid")
    assert box.itemData(index, DESCRIPTION) == PRESET_NOTES["deep-sigmoid"].description
    delegate = box.itemDelegate()
    option = QStyleOptionViewItem()
    option.rect = box.view().rect()
    plain = delegate.sizeHint(option, box.model().index(0, 0))  # "custom experiment"
    described = delegate.sizeHint(option, box.model().index(index, 0))
    assert described.height() > 1.5 * plain.height()  # a second line: the description
    assert box.view().minimumWidth() >= 400


# ---------------------------------------------------------------- views


def test_the_kv_budget_says_its_unit(qtbot, quiet_window):
    kv = quiet_window.tabs.view("kv_view")
    labels = [label.text() for label in kv.findChildren(type(quiet_window.invalid_label))]
    assert "budget (GiB)" in labels
