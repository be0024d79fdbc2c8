"""The window's bars: the run toolbar (its actions wired to the window) and
the invalid-fields bar under it, and the menu bar: File (runs, data, a
model, exports), Edit (undo, redo, back to the preset), View, Recipes and
Help. The actions they make are kept on the window, which updates them."""

from __future__ import annotations

from typing import Any

from app import help as helps
from app.actions import action
from app.toolbar import InvalidFieldsBar, RunToolbar
from lab.core import protocol as p


def build_toolbar(window: Any) -> None:
    bar = window.toolbar = RunToolbar(window)
    window.addToolBar(bar)
    window.play_action, window.step_action = bar.play_action, bar.step_action
    window.reset_action, window.export_action = bar.reset_action, bar.export_action
    window.speed, window.device, window.preset_box = bar.speed, bar.device, bar.preset_box
    for made, slot in (
        (bar.play_action, window.toggle_play),
        (bar.step_action, lambda: window.session.send(p.Step(1))),
        (bar.reset_action, lambda: window.session.send(p.Reset())),
        (bar.save_action, lambda: window.save_run()),
        (bar.open_action, lambda: window.open_run()),
        (bar.export_action, lambda: window.export_onnx()),
        (bar.legacy_export_action, lambda: window.export_onnx(legacy=True)),
        (bar.recipes_action, window.show_recipes),
    ):
        made.triggered.connect(slot)
    window.addToolBarBreak()
    window.invalid_bar = InvalidFieldsBar(window)
    window.addToolBar(window.invalid_bar)
    window.invalid_label = window.invalid_bar.label
    window.speed.currentTextChanged.connect(lambda _text: window.send_speed())
    window.device.currentTextChanged.connect(
        lambda name: window.on_field_changed("train.device", name)
    )
    window.preset_box.activated.connect(
        lambda index: window.load_preset(window.preset_box.itemData(index) or "")
    )


def build_menus(window: Any) -> None:
    bar, tb = window.menuBar(), window.toolbar
    files = bar.addMenu("&File")
    for made in (tb.save_action, tb.open_action, tb.export_action, tb.legacy_export_action):
        files.addAction(made)
    files.addSeparator()
    files.addAction(
        action(window, "Open data…", window.data_files.ask_file, "Ctrl+Shift+O",
               "train on your own CSV/TSV, NPZ/NPY or text file")
    )  # fmt: skip
    files.addAction(
        action(window, "Open image folder…", window.data_files.ask_folder,
               tip="train on a folder of images, one subfolder per class")
    )  # fmt: skip
    files.addAction(
        action(window, "Open model…", window.data_files.ask_model,
               tip="train your own nn.Module, made by a function in a Python file")
    )  # fmt: skip
    files.addSeparator()
    files.addAction(action(window, "Quit", window.close, "Ctrl+Q"))
    edit = bar.addMenu("&Edit")
    window.undo_action = action(window, "Undo", lambda: window.session.send(p.Undo()), "Ctrl+Z")
    window.redo_action = action(
        window, "Redo", lambda: window.session.send(p.Redo()), "Ctrl+Shift+Z"
    )
    window.back_to_preset = action(window, "Back to the preset", window.restore_preset)
    for made in (window.undo_action, window.redo_action):
        edit.addAction(made)
    edit.addSeparator()
    edit.addAction(window.back_to_preset)
    window.show_undo("", "")
    view = bar.addMenu("&View")
    view.addAction(window.references.pin_action)
    view.addAction(window.references.clear_action)
    view.addSeparator()
    view.addAction(
        action(
            window, "Reset layout", window.reset_layout, tip="put the panels back where they were"
        )
    )
    bar.addMenu("&Recipes").addAction(tb.recipes_action)
    helps_menu = bar.addMenu("&Help")
    window.help_dialog = None
    for text, make, keys in (
        ("Read me", helps.readme_dialog, "F1"),
        ("Keyboard and mouse", helps.shortcuts_dialog, None),
    ):
        helps_menu.addAction(action(window, text, lambda make=make: _show_help(window, make), keys))
    helps_menu.addAction(action(window, "About Knoblab", lambda: helps.about(window)))


def _show_help(window: Any, make: Any) -> None:
    window.help_dialog = make(window)
    window.help_dialog.show()  # not modal: the lab goes on beside it
