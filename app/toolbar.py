"""The toolbar: play, step, reset, speed, device, save, open, export,
presets, recipes. It only holds the controls and shows the engine's state;
the window connects what they do."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel, QMenu, QStyle, QToolBar, QToolButton, QWidget

from app.actions import action
from lab.core.protocol import RunState
from widgets.preset_box import PresetBox

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


class RunToolbar(QToolBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Run", parent)
        self.setObjectName("toolbar_run")
        w = self
        self.play_action = action(w, "Play", None, "Space", "play / pause training")
        self.play_action.setIcon(w.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.step_action = action(w, "Step", None, "S", "one optimiser step")
        tip = "fresh weights from the current config (Undo brings the trained run back)"
        self.reset_action = action(w, "Reset", None, "R", tip)
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
        self.save_action = action(w, "Save…", None, "Ctrl+S", "save config, checkpoint and metrics")
        self.open_action = action(w, "Open…", None, "Ctrl+O", "open a saved run folder")
        self.addAction(self.save_action)
        self.addAction(self.open_action)
        self.export_action = action(
            w, "Export ONNX…", None, "Ctrl+E",
            "export the model to ONNX and verify it with onnxruntime",
        )  # fmt: skip
        self.legacy_export_action = legacy = action(w, "Export ONNX with the TorchScript exporter…")
        export_button = QToolButton()
        export_button.setDefaultAction(self.export_action)
        export_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QMenu(export_button)
        menu.addAction(legacy)
        export_button.setMenu(menu)
        self.addWidget(export_button)
        self.addSeparator()
        self.preset_box = PresetBox()
        self.addWidget(self.preset_box)
        self.addSeparator()
        self.recipes_action = action(
            w, "Recipes…", None, "Ctrl+Shift+R",
            "textbook claims one click away: ready experiments of two or more arms, run side"
            " by side, with a verdict",
        )  # fmt: skip
        self.addAction(self.recipes_action)

    def show_state(self, state: RunState | None) -> None:
        """Play becomes Pause while training runs."""
        running = state == RunState.RUNNING
        self.play_action.setText("Pause" if running else "Play")
        icon = (
            QStyle.StandardPixmap.SP_MediaPause if running else QStyle.StandardPixmap.SP_MediaPlay
        )
        self.play_action.setIcon(self.style().standardIcon(icon))

    def show_devices(self, devices: list[str], chosen: str) -> None:
        """The engine's devices, ``chosen`` selected (without emitting)."""
        self.device.blockSignals(True)
        self.device.clear()
        self.device.addItems(devices)
        if chosen in devices:
            self.device.setCurrentText(chosen)
        self.device.blockSignals(False)


class InvalidFieldsBar(QToolBar):
    """A row right under Play, shown while a field holds a value it does not
    take: the run goes on with the last valid values, and says so. (On the
    toolbar itself a long message went into its overflow, out of sight.)"""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Invalid fields", parent)
        self.setObjectName("toolbar_invalid")
        self.setMovable(False)
        self.label = QLabel("")
        self.label.setObjectName("invalid_fields")
        self.label.setStyleSheet("color: #8a0010; background: #fde2e2; padding: 2px;")
        self.addWidget(self.label)
        self.setVisible(False)
