"""A slider on a log scale with a spin box beside it that shows the value and
accepts typed values (the learning-rate knob)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QSlider, QWidget

TICKS = 1000


class LogSlider(QWidget):
    valueChanged = Signal(float)  # noqa: N815 (Qt naming)

    def __init__(
        self, low: float, high: float, value: float, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.low, self.high = math.log10(low), math.log10(high)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, TICKS)
        self.box = QDoubleSpinBox()
        self.box.setDecimals(6)
        self.box.setRange(low, high)
        self.box.setKeyboardTracking(False)  # apply on Enter / focus out, not per keystroke
        self.box.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.box)
        self._value = value
        self._sync(value)
        self.slider.valueChanged.connect(self._from_slider)
        self.box.valueChanged.connect(self._from_box)

    def value(self) -> float:
        return self._value

    def setValue(self, value: float) -> None:  # noqa: N802 (Qt naming)
        if value != self._value:
            self._value = value
            self._sync(value)

    def _sync(self, value: float) -> None:
        for widget in (self.slider, self.box):
            widget.blockSignals(True)
        position = (math.log10(max(value, 10**self.low)) - self.low) / (self.high - self.low)
        self.slider.setValue(round(position * TICKS))
        self.box.setValue(value)
        for widget in (self.slider, self.box):
            widget.blockSignals(False)

    def _from_slider(self, position: int) -> None:
        value = float(f"{10 ** (self.low + (self.high - self.low) * position / TICKS):.3g}")
        self._value = value
        self.box.blockSignals(True)
        self.box.setValue(value)
        self.box.blockSignals(False)
        self.valueChanged.emit(value)

    def _from_box(self, value: float) -> None:
        self._value = value
        self._sync(value)
        self.valueChanged.emit(value)
