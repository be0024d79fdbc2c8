"""The toolbar: play, step, reset, speed, device, save, open, export, presets.
It only holds the controls; the window connects what they do."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QMainWindow, QMenu, QStyle, QToolBar, QToolButton

from app.recipes_window import RecipesWindow
from lab.core.presets import PRESET_NOTES, PRESETS

SPEEDS = {
    "full speed": 0.0,
    "200 steps/s": 200.0,
    "50 steps/s": 50.0,
    "10 steps/s": 10.0,
    "2 steps/s": 2.0,
}
# A pace a person can watch and steer: the default experiment takes ~40 s
# (at full speed it was over in 1.5 s, before anyone could touch a knob).
DEFAULT_SPEED = "50 steps/s"


def action(
    parent: QMainWindow, text: str, slot: Callable, shortcut: str | None = None, tip: str = ""
) -> QAction:
    made = QAction(text, parent)
    made.triggered.connect(slot)
    if shortcut:
        made.setShortcut(QKeySequence(shortcut))
    made.setToolTip(tip or text)
    return made


class RunToolbar(QToolBar):
    def __init__(self, window: QMainWindow) -> None:
        super().__init__("Run", window)
        self.setObjectName("toolbar_run")
        w = window
        self.play_action = action(w, "Play", w.toggle_play, "Space", "play / pause training")
        self.play_action.setIcon(w.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.step_action = action(w, "Step", w.step_once, "S", "one optimiser step")
        tip = "fresh weights from the current config (Undo brings the trained run back)"
        self.reset_action = action(w, "Reset", w.reset, "R", tip)
        for made in (self.play_action, self.step_action, self.reset_action):
            self.addAction(made)
        self.addSeparator()
        self.speed = QComboBox()
        self.speed.addItems(list(SPEEDS))
        self.speed.setCurrentText(DEFAULT_SPEED)
        self.speed.setToolTip("how fast training runs while playing; full speed is one click away")
        self.addWidget(QLabel(" speed "))
        self.addWidget(self.speed)
        self.device = QComboBox()
        self.device.addItems(["cpu"])
        self.device.setToolTip("where the model trains (changing it starts the experiment over)")
        self.addWidget(QLabel(" device "))
        self.addWidget(self.device)
        self.addSeparator()
        self.save_action = action(
            w, "Save…", w.save_run, "Ctrl+S", "save config, checkpoint and metrics"
        )
        self.open_action = action(w, "Open…", w.open_run, "Ctrl+O", "open a saved run")
        self.addAction(self.save_action)
        self.addAction(self.open_action)
        self.export_action = action(
            w,
            "Export ONNX…",
            w.export_onnx,
            "Ctrl+E",
            "export the model to ONNX and verify it with onnxruntime",
        )
        legacy = action(
            w, "Export ONNX with the TorchScript exporter…", lambda: w.export_onnx(legacy=True)
        )
        export_button = QToolButton()
        export_button.setDefaultAction(self.export_action)
        export_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(export_button)
        menu.addAction(legacy)
        export_button.setMenu(menu)
        self.addWidget(export_button)
        self.addSeparator()
        self.preset_box = preset_box()
        self.addWidget(self.preset_box)
        self.addSeparator()
        self.recipes_action = action(
            w, "Recipes…", lambda: RecipesWindow.show_for(w), "Ctrl+Shift+R",
            "textbook claims one click away: ready experiments of two or more arms, run side"
            " by side, with a verdict",
        )  # fmt: skip
        self.addAction(self.recipes_action)


class InvalidFieldsBar(QToolBar):
    """A row right under Play, shown while a field holds a value it does not
    take: the run goes on with the last valid values, and says so. (On the
    toolbar itself a long message went into its overflow, out of sight.)"""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__("Invalid fields", window)
        self.setObjectName("toolbar_invalid")
        self.setMovable(False)
        self.label = QLabel("")
        self.label.setObjectName("invalid_fields")
        self.label.setStyleSheet("color: #8a0010; background: #fde2e2; padding: 2px;")
        self.addWidget(self.label)
        self.setVisible(False)


CUSTOM = "custom experiment"


def preset_box() -> QComboBox:
    """A chooser of named experiments: each item says what it is and what to
    look for; it shows the preset the experiment is, or that it is custom."""
    box = QComboBox()
    box.setObjectName("preset")
    box.addItem(CUSTOM, "")
    for name in PRESETS:
        box.addItem(name, name)
        box.setItemData(box.count() - 1, preset_text(name), Qt.ItemDataRole.ToolTipRole)
    box.setToolTip("start from a named experiment")
    return box


def preset_text(name: str) -> str:
    note = PRESET_NOTES[name]
    return f"{note.description}\nWhat to look for: {note.look_for}"
