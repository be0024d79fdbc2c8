"""What the data is, at a glance, beside its picture: where it came from, a
table's first rows under each column's name and role, a text's opening,
and how many examples each class has in training and test. It shows a
``DataInfo`` the engine sent with ``Built``; it computes nothing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lab.core.datainfo import DataInfo

TABLE_HEIGHT = 150
ROLE_COLOURS = {"target": "#D55E00"}  # the target column stands out
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def _table(rows: int, columns: int, name: str) -> QTableWidget:
    table = QTableWidget(rows, columns)
    table.setObjectName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.verticalHeader().setDefaultSectionSize(18)
    table.setFixedHeight(TABLE_HEIGHT)
    return table


class DataPreview(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info: DataInfo | None = None
        self.source = QLabel("")
        self.source.setObjectName("data.source")
        self.source.setWordWrap(True)
        self.source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rows = _table(0, 0, "data.rows")
        self.rows.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.text = QPlainTextEdit()
        self.text.setObjectName("data.text")
        self.text.setReadOnly(True)
        self.text.setFixedHeight(TABLE_HEIGHT)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        self.counts = _table(0, 3, "data.class_counts")
        self.counts.setHorizontalHeaderLabels(["class", "train", "test"])
        self.counts.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.counts.verticalHeader().hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.source, self.rows, self.text, self.counts):
            layout.addWidget(widget)
        self.show_info(None)

    def show_info(self, info: DataInfo | None) -> None:
        self.info = info
        if info is None:
            for widget in (self.source, self.rows, self.text, self.counts):
                widget.hide()
            return
        self.source.show()
        lines = [info.words()]
        if info.sha256:
            lines.append(f"SHA-256 {info.sha256[:16]}…")
        if info.version:
            lines.append(f"version: {info.version}")
        self.source.setText("\n".join(lines))
        self.source.setToolTip(info.sha256 or info.source)
        self._show_rows(info)
        self.text.setVisible(bool(info.text))
        if info.text:
            self.text.setPlainText(info.text)
        self._show_counts(info)

    def _show_rows(self, info: DataInfo) -> None:
        self.rows.setVisible(bool(info.columns))
        if not info.columns:
            return
        self.rows.clear()
        self.rows.setColumnCount(len(info.columns))
        self.rows.setRowCount(len(info.head))
        for c, (name, role) in enumerate(info.columns):
            header = QTableWidgetItem(f"{name}\n{role}")
            header.setToolTip(f"{name}: {role}")
            if role in ROLE_COLOURS:
                header.setForeground(QColor(ROLE_COLOURS[role]))
            self.rows.setHorizontalHeaderItem(c, header)
        for r, row in enumerate(info.head):
            for c, cell in enumerate(row):
                self.rows.setItem(r, c, QTableWidgetItem(cell))

    def _show_counts(self, info: DataInfo) -> None:
        self.counts.setVisible(bool(info.class_counts))
        self.counts.setRowCount(len(info.class_counts))
        for r, (name, train, test) in enumerate(info.class_counts):
            for c, value in enumerate((name, f"{train:,}", f"{test:,}")):
                item = QTableWidgetItem(value)
                if c:
                    item.setTextAlignment(RIGHT)
                self.counts.setItem(r, c, item)
        shown = min(len(info.class_counts), 6)
        self.counts.setFixedHeight(24 + 19 * shown)
