"""A window action (menu item, toolbar button, shortcut) in one call."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence


def action(
    parent: QObject,
    text: str,
    slot: Callable | None = None,
    shortcut: str | None = None,
    tip: str = "",
) -> QAction:
    made = QAction(text, parent)
    if slot is not None:
        made.triggered.connect(slot)
    if shortcut:
        made.setShortcut(QKeySequence(shortcut))
    made.setToolTip(tip or text)
    return made
