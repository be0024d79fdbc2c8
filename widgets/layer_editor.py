"""The layer editor: one row per hidden layer (width or channels, activation,
norm, residual, dropout; kernel and pooling for CNNs); add, remove, move.

Common edits take one action and make one rebuild: an edit in a row of a
multi-row selection applies to every selected row; a column's header applies
a value to the selected rows (all rows when one or none is selected); the
quick builder makes a stack of identical layers. The scroll position and the
selection survive the table being refilled."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lab.core.config import LayerConfig, field_knob
from widgets.inputs import ChoiceBox, NumberBox, editor_for

COLUMNS = ["width", "activation", "norm", "residual", "dropout", "kernel", "pool"]
CNN_ONLY = ("kernel", "pool")
DEFAULT_LAYER = {name: getattr(LayerConfig(), name) for name in COLUMNS}


class QuickBuilder(QWidget):
    """depth x width x activation x norm: a whole stack in one rebuild."""

    built = Signal(list)  # the layers

    def __init__(self) -> None:
        super().__init__()
        self.depth = NumberBox("builder.depth", _depth_knob())
        self.depth.setValue(4)
        self.width = NumberBox("builder.width", field_knob("model.layers[0].width"))
        self.width.setValue(64)
        for box in (self.depth, self.width):
            box.setMinimumWidth(40)
            box.setMaximumWidth(52)
        self.activation = ChoiceBox("builder.activation", field_knob("model.layers[0].activation"))
        self.norm = ChoiceBox("builder.norm", field_knob("model.layers[0].norm"))
        build = QPushButton("Build")
        build.setToolTip("replace the hidden layers by this stack (one rebuild)")
        build.clicked.connect(self._build)
        # two short rows: one row of all six was wider than the Model panel
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widgets in (
            (QLabel("stack of"), self.depth, QLabel("layers ×"), self.width, QLabel("units")),
            (self.activation, self.norm, build),
        ):
            row = QHBoxLayout()
            for widget in widgets:
                row.addWidget(widget)
            row.addStretch(1)
            layout.addLayout(row)

    def show_stack(self, layers: list[dict[str, Any]]) -> None:
        """Start from the stack shown: its depth and its first layer."""
        if layers:
            self.depth.setValue(len(layers))
            self.width.setValue(layers[0]["width"])
            self.activation.setValue(layers[0]["activation"])
            self.norm.setValue(layers[0]["norm"])

    def _build(self) -> None:
        if self.depth.invalid or self.width.invalid:
            return
        layer = DEFAULT_LAYER | {
            "width": self.width.value(),
            "activation": self.activation.value(),
            "norm": self.norm.value(),
        }
        self.built.emit([dict(layer) for _ in range(self.depth.value())])


def _depth_knob():  # noqa: ANN202 - a Knob
    from lab.core.config import MAX_LAYERS
    from lab.core.fields import Knob

    return Knob("depth", "How many identical hidden layers", "int", lo=1, hi=MAX_LAYERS)


class LayerEditor(QWidget):
    layersChanged = Signal(list)  # noqa: N815 - list of layer dicts
    validityChanged = Signal(str, str)  # noqa: N815 - path, message ("" once valid)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.ExtendedSelection)
        self.table.setMinimumHeight(136)  # header and four rows; deeper nets scroll
        header = self.table.horizontalHeader()
        header.setToolTip("click a column's name to set it for the selected rows (or all)")
        header.sectionClicked.connect(self.ask_column)
        for column, name in enumerate(COLUMNS):
            item = self.table.horizontalHeaderItem(column)
            item.setToolTip(field_knob(f"model.layers[0].{name}").tooltip)
        self.builder = QuickBuilder()
        self.builder.built.connect(self._replace)
        buttons = QHBoxLayout()
        for text, slot, tip in [
            ("+", self.add_layer, "add a layer after the selected one"),
            ("−", self.remove_layer, "remove the selected layers"),
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
        layout.addWidget(self.builder)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.cnn = False
        self._filling = False  # set while the table is refilled: edits then are not the user's

    # ------------------------------------------------------------ rows

    def set_layers(self, layers: list[dict[str, Any]], cnn: bool) -> None:
        """Show ``layers``, keeping the scroll position and the selection."""
        self.cnn = cnn
        scroll = self.table.verticalScrollBar().value()
        selected = self.selected_rows()
        self._filling = True
        self.table.blockSignals(True)
        try:
            self.table.setRowCount(0)
            for layer in layers:
                self._append_row(layer)
            for name in CNN_ONLY:
                self.table.setColumnHidden(COLUMNS.index(name), not cnn)
            self.table.resizeColumnsToContents()
            self.select_rows([row for row in selected if row < self.table.rowCount()])
            self.builder.show_stack(layers)
        finally:
            self.table.blockSignals(False)
            self._filling = False
        self.table.verticalScrollBar().setValue(scroll)

    def _append_row(self, layer: dict[str, Any]) -> None:
        """A row of editors made from the layer fields' knobs (bounds and
        tooltips from the config), each named by its config path."""
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, name in enumerate(COLUMNS):
            path = f"model.layers[{row}].{name}"
            editor = editor_for(path, field_knob(path), slider=False)  # no room to slide
            editor.setValue(layer.get(name, DEFAULT_LAYER[name]))
            editor.edited.connect(lambda value, row=row, name=name: self._edited(row, name, value))
            editor.validity.connect(
                lambda message, path=path: self.validityChanged.emit(path, message)
            )
            self.table.setCellWidget(row, column, editor)

    def layers(self) -> list[dict[str, Any]]:
        out = []
        for row in range(self.table.rowCount()):
            values = {name: self.table.cellWidget(row, c).value() for c, name in enumerate(COLUMNS)}
            values["pool"] = values["pool"] and self.cnn
            out.append(values)
        return out

    def selected_rows(self) -> list[int]:
        return sorted(index.row() for index in self.table.selectionModel().selectedRows())

    def select_rows(self, rows: list[int]) -> None:
        model = self.table.selectionModel()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for row in rows:
            model.select(self.table.model().index(row, 0), flags)

    def _selected(self) -> int:
        rows = self.selected_rows()
        return rows[0] if rows else self.table.rowCount() - 1

    # ------------------------------------------------------------ editing

    def _edited(self, row: int, name: str, value: Any) -> None:
        """An edit in a row of a multi-row selection applies to every selected row."""
        if self._filling:
            return
        rows = self.selected_rows()
        self.set_column(name, value, rows if row in rows and len(rows) > 1 else [row])

    def set_column(self, name: str, value: Any, rows: list[int] | None = None) -> None:
        """``value`` for field ``name`` of ``rows`` (all when None): one change."""
        layers = self.layers()
        for row in range(len(layers)) if rows is None else rows:
            layers[row][name] = value
        self._replace(layers)

    def ask_column(self, column: int) -> None:
        """A column's header: choose a value for the selected rows (or all)."""
        name = COLUMNS[column]
        rows = self.selected_rows()
        target = rows if len(rows) > 1 else None
        where = f"{len(rows)} selected layers" if target else "all layers"
        knob = field_knob(f"model.layers[0].{name}")
        if knob.kind == "choice":
            menu = QMenu(self)
            for choice in knob.choices:
                menu.addAction(choice, lambda choice=choice: self.set_column(name, choice, target))
            menu.setTitle(f"{name} of {where}")
            menu.popup(QCursor.pos())
            return
        if knob.kind == "bool":
            current = all(layer[name] for layer in self.layers())
            self.set_column(name, not current, target)
            return
        prompt = f"{knob.tooltip}\n\n{name}:"
        while True:  # asked again, with the reason, until valid or cancelled
            text, ok = QInputDialog.getText(self, f"{name} of {where}", prompt)
            if not ok:
                return
            try:
                value = knob.check(f"model.layers[0].{name}", knob.parse(text))
            except ValueError as exc:  # ConfigError is one too
                prompt = f"⚠ {exc}\n\n{knob.tooltip}\n\n{name}:"
                continue
            self.set_column(name, value, target)
            return

    def _replace(self, layers: list[dict[str, Any]]) -> None:
        self.set_layers(layers, self.cnn)
        self._emit()

    def _emit(self, *_args: object) -> None:
        self.layersChanged.emit(self.layers())

    def add_layer(self) -> None:
        layers = self.layers()
        row = self._selected()
        template = dict(layers[row]) if layers else dict(DEFAULT_LAYER)
        template["pool"] = False
        layers.insert(row + 1, template)
        self.table.clearSelection()
        self._replace(layers)
        self.table.selectRow(row + 1)

    def remove_layer(self) -> None:
        layers = self.layers()
        if not layers:
            return
        rows = self.selected_rows() or [len(layers) - 1]
        layers = [layer for row, layer in enumerate(layers) if row not in rows]
        self.table.clearSelection()
        self._replace(layers)

    def move_layer(self, offset: int) -> None:
        layers = self.layers()
        row = self._selected()
        target = row + offset
        if not layers or not 0 <= target < len(layers):
            return
        layers[row], layers[target] = layers[target], layers[row]
        self.table.clearSelection()
        self._replace(layers)
        self.table.selectRow(target)
