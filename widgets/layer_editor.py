"""The layer editor: one row per hidden layer (width or channels, activation,
norm, residual, dropout; kernel and pooling for CNNs); add, remove, move."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTableWidget, QVBoxLayout, QWidget

from lab.core.config import LayerConfig, field_knob
from widgets.inputs import editor_for

COLUMNS = ["width", "activation", "norm", "residual", "dropout", "kernel", "pool"]


class LayerEditor(QWidget):
    layersChanged = Signal(list)  # noqa: N815 - list of layer dicts

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setMinimumHeight(136)  # header and four rows; deeper nets scroll
        buttons = QHBoxLayout()
        for text, slot, tip in [
            ("+", self.add_layer, "add a layer after the selected one"),
            ("−", self.remove_layer, "remove the selected layer"),
            ("↑", lambda: self.move_layer(-1), "move the selected layer up"),
            ("↓", lambda: self.move_layer(1), "move the selected layer down"),
        ]:
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setFixedWidth(32)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.cnn = False

    # ------------------------------------------------------------ rows

    def set_layers(self, layers: list[dict[str, Any]], cnn: bool) -> None:
        self.cnn = cnn
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for layer in layers:
            self._append_row(layer)
        self.table.setColumnHidden(COLUMNS.index("kernel"), not cnn)
        self.table.setColumnHidden(COLUMNS.index("pool"), not cnn)
        self.table.resizeColumnsToContents()
        self.table.blockSignals(False)

    def _append_row(self, layer: dict[str, Any], row: int | None = None) -> None:
        """A row of editors made from the layer fields' knobs (bounds and
        tooltips from the config), each named by its config path."""
        row = self.table.rowCount() if row is None else row
        self.table.insertRow(row)
        for column, name in enumerate(COLUMNS):
            path = f"model.layers[{row}].{name}"
            editor = editor_for(path, field_knob(path))
            editor.setValue(layer.get(name, LayerConfig().__getattribute__(name)))
            editor.edited.connect(self._emit)
            self.table.setCellWidget(row, column, editor)

    def layers(self) -> list[dict[str, Any]]:
        out = []
        for row in range(self.table.rowCount()):
            values = {name: self.table.cellWidget(row, c).value() for c, name in enumerate(COLUMNS)}
            values["pool"] = values["pool"] and self.cnn
            out.append(values)
        return out

    def _selected(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else self.table.rowCount() - 1

    def _emit(self, *_args: object) -> None:
        self.layersChanged.emit(self.layers())

    # ------------------------------------------------------------ editing

    def add_layer(self) -> None:
        layers = self.layers()
        row = self._selected()
        default = {
            "width": 64,
            "activation": "relu",
            "norm": "none",
            "residual": False,
            "dropout": 0.0,
        }
        template = dict(layers[row]) if layers else default
        template["pool"] = False
        layers.insert(row + 1, template)
        self.set_layers(layers, self.cnn)
        self.table.selectRow(row + 1)
        self._emit()

    def remove_layer(self) -> None:
        layers = self.layers()
        if not layers:
            return
        row = self._selected()
        del layers[row]
        self.set_layers(layers, self.cnn)
        self._emit()

    def move_layer(self, offset: int) -> None:
        layers = self.layers()
        row = self._selected()
        target = row + offset
        if not layers or not 0 <= target < len(layers):
            return
        layers[row], layers[target] = layers[target], layers[row]
        self.set_layers(layers, self.cnn)
        self.table.selectRow(target)
        self._emit()
