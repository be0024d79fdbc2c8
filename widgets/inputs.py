"""Editors for one config field each, made from the field's ``Knob``: a choice
box, a check box, a typed number box, and a slider with a typed box beside it.

They share one contract: ``value()``, ``setValue(v)`` (shows a value, emits
nothing), the ``edited(value)`` signal for a valid value the person entered,
``set_error(message)`` to mark the field invalid in place, and
``validity(message)`` when the field becomes invalid ("" when valid again).

What a person types is never replaced by another number: a value that is not
a number, or out of the field's range, stays as typed, marked, with the range
in its tooltip, until it is corrected (or Escape brings back the last valid
value). A mouse wheel changes a field only when it has focus: scrolling a
panel over a box must not rebuild the experiment.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLineEdit, QSlider, QWidget

from lab.core.fields import ConfigError, Knob

ERROR_STYLE = "background-color: #ffd7d7;"
SLIDER_TICKS = 1000
SLIDER_MIN_WIDTH = 100
CHOICE_CHARACTERS = 7


def format_value(value: Any) -> str:
    """A value as a box shows it: integers whole, floats to 10 significant digits."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return format(value, ".10g")


class WheelGuard:
    """Mixin: wheel events go to the widget only when it has focus (else to the
    scrolling panel around it)."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt naming)
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()


class _Marked:
    """Mixin: an editor that can show itself invalid, with the reason as its
    tooltip (each editor declares its own ``validity`` signal)."""

    validity: Signal

    def _setup_marks(self, tip: str) -> None:
        self.tip = tip
        self.error = ""
        self.setToolTip(tip)  # type: ignore[attr-defined]

    def set_error(self, message: str) -> None:
        """Mark (or with "" unmark) the field; the message leads its tooltip."""
        if message == self.error:
            return
        self.error = message
        self.setStyleSheet(ERROR_STYLE if message else "")  # type: ignore[attr-defined]
        self.setToolTip(f"⚠ {message}\n{self.tip}" if message else self.tip)  # type: ignore[attr-defined]
        self.validity.emit(message)

    @property
    def invalid(self) -> bool:
        return bool(self.error)


class ChoiceBox(WheelGuard, _Marked, QComboBox):
    edited = Signal(object)
    validity = Signal(str)

    def __init__(self, path: str, knob: Knob) -> None:
        super().__init__()
        self.setObjectName(path)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # as narrow as a short name needs (a long one still shows in the list):
        # a box as wide as its longest choice widened every panel it was in
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(CHOICE_CHARACTERS)
        self.addItems(knob.choices)
        self._setup_marks(knob.tooltip)
        self.currentTextChanged.connect(self._chosen)

    def _chosen(self, text: str) -> None:
        self.set_error("")
        self.edited.emit(text)

    def value(self) -> str:
        return self.currentText()

    def setValue(self, value: Any) -> None:  # noqa: N802 (Qt naming)
        self.blockSignals(True)
        self.setCurrentText(str(value))
        self.blockSignals(False)


class CheckBox(_Marked, QCheckBox):
    edited = Signal(object)
    validity = Signal(str)

    def __init__(self, path: str, knob: Knob) -> None:
        super().__init__()
        self.setObjectName(path)
        self._setup_marks(knob.tooltip)
        self.toggled.connect(lambda on: self.edited.emit(on))

    def value(self) -> bool:
        return self.isChecked()

    def setValue(self, value: Any) -> None:  # noqa: N802 (Qt naming)
        self.blockSignals(True)
        self.setChecked(bool(value))
        self.blockSignals(False)


class NumberBox(_Marked, QLineEdit):
    """A number typed in any ordinary notation (``0.001``, ``1e-3``,
    ``2_000``), checked against the field's range when Enter is pressed or
    the box loses focus."""

    edited = Signal(object)
    validity = Signal(str)

    def __init__(self, path: str, knob: Knob) -> None:
        super().__init__()
        self.path, self.knob = path, knob
        self.setObjectName(path)
        self._value: Any = None
        self._setup_marks(knob.tooltip)
        self.setMinimumWidth(56)
        self.setMaximumWidth(90)
        self.editingFinished.connect(self._typed)

    def value(self) -> Any:
        """The last valid value (what the experiment uses)."""
        return self._value

    def setValue(self, value: Any) -> None:  # noqa: N802 (Qt naming)
        self._value = value
        self.blockSignals(True)
        self.setText(format_value(value))
        self.blockSignals(False)
        self.set_error("")

    def check(self, text: str) -> Any:
        """The value of ``text`` if the field takes it; ``ValueError`` (or
        ``ConfigError``) saying why not."""
        try:
            value = self.knob.parse(text)
        except ValueError as exc:
            raise ValueError(f"{exc}; allowed: {self.knob.allowed()}") from None
        return self.knob.check(self.path, value)

    def _typed(self) -> None:
        text = self.text()
        if text == format_value(self._value) and not self.invalid:
            return  # nothing new (focus left an unchanged box)
        try:
            value = self.check(text)
        except ConfigError as exc:
            self.set_error(exc.message)
            return
        except ValueError as exc:
            self.set_error(str(exc))
            return
        self._value = value
        self.set_error("")
        self.edited.emit(value)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt naming)
        if event.key() == Qt.Key.Key_Escape and self._value is not None:
            self.setValue(self._value)  # back to the last valid value
            return
        super().keyPressEvent(event)


class TextBox(NumberBox):
    """Text (a file's path, a column's name): as wide as the panel allows,
    taken when Enter is pressed or the box loses focus; the whole path shows
    in its tooltip."""

    def __init__(self, path: str, knob: Knob) -> None:
        super().__init__(path, knob)
        self.setMaximumWidth(16777215)
        self.setPlaceholderText("(none)" if path != "data.target" else "(the last column)")

    def setValue(self, value: Any) -> None:  # noqa: N802 (Qt naming)
        super().setValue(value)
        self.setCursorPosition(0)
        if value:
            self.setToolTip(f"{value}\n{self.tip}")


class Slider(WheelGuard, QSlider):
    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setRange(0, SLIDER_TICKS)


class SliderBox(QWidget):
    """A slider over the knob's slider range (log-scaled where it spans
    decades) with a typed box beside it; a typed value beyond the slider's
    range is fine where the field allows it (the slider then rests at its end).
    A knob that rebuilds the experiment applies when the slider is released,
    not at every position on the way."""

    edited = Signal(object)
    validity = Signal(str)

    def __init__(self, path: str, knob: Knob) -> None:
        super().__init__()
        assert knob.slider is not None
        self.path, self.knob = path, knob
        self.setObjectName(path)
        self.low, self.high = knob.slider
        if knob.log:
            self.low, self.high = math.log10(self.low), math.log10(self.high)
        self.slider = Slider()
        self.slider.setMinimumWidth(SLIDER_MIN_WIDTH)  # a narrow panel must not squeeze it to a dot
        self.slider.setObjectName(f"{path}:slider")
        self.slider.setTracking(not knob.rebuild)
        self.slider.setToolTip(knob.tooltip)
        self.box = NumberBox(path, knob)
        self.box.setObjectName(f"{path}:box")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.box)
        self.slider.valueChanged.connect(self._slid)
        self.box.edited.connect(self._typed)
        self.box.validity.connect(self.validity)

    @property
    def invalid(self) -> bool:
        return self.box.invalid

    @property
    def error(self) -> str:
        return self.box.error

    def set_error(self, message: str) -> None:
        self.box.set_error(message)

    def value(self) -> Any:
        return self.box.value()

    def setValue(self, value: Any) -> None:  # noqa: N802 (Qt naming)
        self.box.setValue(value)
        self._place(value)

    def setToolTip(self, text: str) -> None:  # noqa: N802 (Qt naming)
        super().setToolTip(text)
        self.slider.setToolTip(text)
        self.box.tip = text
        self.box.setToolTip(text)

    def position_of(self, value: float) -> int:
        if self.knob.log:
            value = math.log10(value) if value > 0 else self.low
        share = (value - self.low) / (self.high - self.low)
        return round(min(max(share, 0.0), 1.0) * SLIDER_TICKS)

    def value_at(self, position: int) -> Any:
        share = position / SLIDER_TICKS
        value = self.low + (self.high - self.low) * share
        if self.knob.log:
            value = 10**value
        if self.knob.kind == "int":
            step = int(self.knob.step or 1)
            return int(round(value / step) * step)
        if self.knob.step and not self.knob.log:
            value = round(value / self.knob.step) * self.knob.step
        return float(f"{value:.3g}")  # round numbers: 0.0031, not 0.003098

    def _place(self, value: Any) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self.position_of(float(value)))
        self.slider.blockSignals(False)

    def _slid(self, position: int) -> None:
        value = self.value_at(position)
        try:
            value = self.knob.check(self.path, value)
        except ConfigError:  # an end of the slider the field excludes (lr 0): stay inside
            return
        self.box.setValue(value)
        self.edited.emit(value)

    def _typed(self, value: Any) -> None:
        self._place(value)
        self.edited.emit(value)


Editor = ChoiceBox | CheckBox | NumberBox | TextBox | SliderBox


def editor_for(path: str, knob: Knob, *, slider: bool = True) -> Editor:
    """The editor a field gets: a slider where its knob has a slider range
    (unless ``slider`` is False: a table cell has no room for one)."""
    if knob.kind == "choice":
        return ChoiceBox(path, knob)
    if knob.kind == "bool":
        return CheckBox(path, knob)
    if knob.kind == "text":
        return TextBox(path, knob)
    if knob.slider is not None and slider:
        return SliderBox(path, knob)
    return NumberBox(path, knob)
