"""Forms over dotted config paths, generated from the config's own field
metadata: each field's editor, label, range, slider and tooltip come from its
``Knob`` (``lab.core.config.field_knob``), so a bound is written once, in the
config. A form emits ``changed(path, value)`` for a valid value; the window
validates the whole experiment (rules between fields) and marks a refused
field in place, with the message below the form: nothing typed is lost."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget
from superqt import QCollapsible

from lab.core.config import field_knob
from widgets.inputs import Editor, editor_for


class FieldForm(QWidget):
    changed = Signal(str, object)
    validityChanged = Signal(str, str)  # noqa: N815 - path, message ("" once valid)

    def __init__(
        self,
        groups: list[tuple[str, list[str]]],
        parent: QWidget | None = None,
        *,
        collapsible: bool = False,
    ) -> None:
        """``collapsible``: each group folds away under its title (superqt's
        QCollapsible; the Knobs dock is longer than a laptop's screen)."""
        super().__init__(parent)
        self.editors: dict[str, Editor] = {}
        self.labels: dict[str, QLabel] = {}
        self.groups: dict[str, QGroupBox | QCollapsible] = {}
        self._rows: dict[str, QFormLayout] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        for title, paths in groups:
            box: QGroupBox | QCollapsible
            if collapsible:
                box = QCollapsible(title)
                box.setContentsMargins(0, 0, 0, 0)
                box.layout().setContentsMargins(0, 0, 0, 0)
                body = QWidget()
                form = QFormLayout(body)
                box.addWidget(body)
                box.expand(animate=False)
            else:
                box = QGroupBox(title)
                form = QFormLayout(box)
            form.setContentsMargins(6, 4, 6, 4)
            for path in paths:
                knob = field_knob(path)
                editor = editor_for(path, knob)
                editor.edited.connect(lambda value, path=path: self.changed.emit(path, value))
                editor.validity.connect(
                    lambda message, path=path: self.validityChanged.emit(path, message)
                )
                label = QLabel(knob.caption)
                label.setToolTip(knob.tooltip)
                form.addRow(label, editor)
                self.editors[path] = editor
                self.labels[path] = label
                self._rows[path] = form
            self.groups[title] = box
            layout.addWidget(box)
        self.refused: str | None = None  # the field the experiment refused, if any
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        layout.addWidget(self.error)
        layout.addStretch(1)

    def set_values(self, flat: dict[str, Any]) -> None:
        """Show values without emitting ``changed``; a field the person left
        invalid keeps what they typed."""
        for path, editor in self.editors.items():
            if path in flat and not editor.invalid:
                editor.setValue(flat[path])

    def show_rows(self, shown: dict[str, bool]) -> None:
        """Show or hide fields (and their labels): a form shows only the
        fields the experiment's model and data read."""
        for path, on in shown.items():
            self._rows[path].setRowVisible(self.editors[path], on)

    def value(self, path: str) -> Any:
        return self.editors[path].value()

    def invalid(self) -> dict[str, str]:
        """Fields holding a value they do not take, with the reason."""
        return {path: e.error for path, e in self.editors.items() if e.invalid}

    def show_error(self, path: str | None, message: str) -> str | None:
        """A value the experiment refused (a rule between fields): ``path``
        marked with ``message``, the message below the form. None clears
        the refusal shown before and returns its path (the window then shows
        the value the experiment uses there); a typing error stays."""
        before, self.refused = self.refused, path
        if before is not None and before != path:
            self.editors[before].set_error("")
        if path is not None:
            self.editors[path].set_error(message)
        self.error.setText(message)
        return before if path is None else None
