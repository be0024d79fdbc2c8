"""A message strip for what the person must know now (training paused by a
divergence, a refused value, a dead engine), with an optional action button
and a dismiss button. It sits below the views, so showing it never moves the
tabs under the pointer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

STYLES = {
    "warning": "background: #fff3cd; color: #5c4400; padding: 6px;",
    "error": "background: #fde2e2; color: #8a0010; padding: 6px;",
}
Level = Literal["warning", "error"]


class Banner(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.action = QPushButton()
        self.action.hide()
        self._on_action: Callable[[], None] | None = None
        self.action.clicked.connect(self._act)
        self.close_button = QPushButton("✕")
        self.close_button.setFixedWidth(28)
        self.close_button.setToolTip("dismiss this message")
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action)
        layout.addWidget(self.close_button)
        self.level: Level = "warning"
        self.hide()

    def text(self) -> str:
        return self.label.text()

    @property
    def sticky(self) -> bool:
        """Whether it waits for its action (a dead engine), not for a new experiment."""
        return self.isVisible() and self.action.isVisible()

    def show_message(
        self,
        text: str,
        level: Level = "warning",
        action: tuple[str, Callable[[], None]] | None = None,
    ) -> None:
        self.level = level
        self.label.setText(text)
        self.label.setStyleSheet(STYLES[level])
        self._on_action = None if action is None else action[1]
        self.action.setVisible(action is not None)
        if action is not None:
            self.action.setText(action[0])
        self.show()

    def dismiss(self) -> None:
        self.hide()
        self.action.hide()
        self._on_action = None

    def _act(self) -> None:
        callback = self._on_action
        self.dismiss()
        if callback is not None:
            callback()


def show_details(parent: QWidget, message: str, details: str) -> QMessageBox:
    """What went wrong, with the traceback behind "Show Details" (not modal:
    the app goes on)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Knoblab: what went wrong", message, parent=parent)
    box.setDetailedText(details)
    box.setModal(False)
    box.show()
    return box
