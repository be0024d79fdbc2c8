"""Doing what a person does to a widget, for pytest-qt tests."""

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget


def type_into(qtbot, box: QWidget, text: str) -> None:
    """Select everything in ``box``, type ``text`` and press Enter."""
    box = getattr(box, "box", box)  # a slider's typed box
    box.setFocus()
    box.selectAll()
    qtbot.keyClick(box, Qt.Key.Key_Backspace)
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def wheel(widget: QWidget, up: bool = True) -> None:
    """One notch of a mouse wheel over ``widget``."""
    delta = QPoint(0, 120 if up else -120)
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre, widget.mapToGlobal(centre), QPoint(), delta,
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)
