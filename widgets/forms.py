"""Forms over dotted config paths: each field is an editor that shows a value
and emits ``changed(path, value)`` when the user edits it. The window validates
with ``ExperimentConfig.with_changes``; a refused value stays in its editor,
marked, with the message beside the form (nothing typed is lost)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets.log_slider import LogSlider

ERROR_STYLE = "background-color: #ffd7d7;"


@dataclass(frozen=True)
class Field:
    path: str
    label: str
    kind: str  # "choice", "int", "float", "bool", "log"
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1.0
    decimals: int = 4
    step: float = 0.1
    tip: str = ""


class FieldForm(QWidget):
    changed = Signal(str, object)

    def __init__(
        self, groups: list[tuple[str, list[Field]]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.editors: dict[str, QWidget] = {}
        self.fields: dict[str, Field] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        for title, fields in groups:
            box = QGroupBox(title)
            form = QFormLayout(box)
            form.setContentsMargins(6, 4, 6, 4)
            for spec in fields:
                editor = self._make(spec)
                editor.setToolTip(spec.tip or spec.path)
                form.addRow(spec.label, editor)
                self.editors[spec.path] = editor
                self.fields[spec.path] = spec
            layout.addWidget(box)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        layout.addWidget(self.error)
        layout.addStretch(1)

    def _make(self, spec: Field) -> QWidget:
        emit = lambda value, path=spec.path: self.changed.emit(path, value)  # noqa: E731
        if spec.kind == "choice":
            editor = QComboBox()
            editor.addItems(spec.choices)
            editor.currentTextChanged.connect(emit)
        elif spec.kind == "bool":
            editor = QCheckBox()
            editor.toggled.connect(emit)
        elif spec.kind == "int":
            editor = QSpinBox()
            editor.setRange(int(spec.low), int(spec.high))
            editor.setKeyboardTracking(False)
            editor.valueChanged.connect(emit)
        elif spec.kind == "float":
            editor = QDoubleSpinBox()
            editor.setRange(spec.low, spec.high)
            editor.setDecimals(spec.decimals)
            editor.setSingleStep(spec.step)
            editor.setKeyboardTracking(False)
            editor.valueChanged.connect(emit)
        elif spec.kind == "log":
            editor = LogSlider(spec.low, spec.high, spec.low)
            editor.valueChanged.connect(emit)
        else:  # pragma: no cover - specs are written in this package
            raise ValueError(spec.kind)
        return editor

    def set_values(self, flat: dict[str, Any]) -> None:
        """Show values without emitting ``changed``."""
        for path, editor in self.editors.items():
            if path not in flat:
                continue
            value = flat[path]
            editor.blockSignals(True)
            if isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, LogSlider | QSpinBox | QDoubleSpinBox):
                editor.setValue(value)
            editor.blockSignals(False)

    def value(self, path: str) -> Any:
        editor = self.editors[path]
        if isinstance(editor, QComboBox):
            return editor.currentText()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        return editor.value()

    def show_error(self, path: str | None, message: str) -> None:
        for name, editor in self.editors.items():
            editor.setStyleSheet(ERROR_STYLE if name == path else "")
        self.error.setText(message)
