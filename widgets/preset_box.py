"""The chooser of named experiments (the toolbar's and the Model panel's):
every preset with what it is in its drop-down list, the full note with what
to look for in its tooltip, and the preset the experiment is — or that it is
a custom one — shown in the box."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QFont, QPainter
from PySide6.QtWidgets import QComboBox, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from lab.core.config import ExperimentConfig
from lab.core.presets import PRESET_NOTES, PRESETS

CUSTOM = "custom experiment"
DESCRIPTION = Qt.ItemDataRole.UserRole + 1  # an item's description, its second line
POPUP_WIDTH = 460


def preset_text(name: str) -> str:
    """A preset's note: what it is, and what to look for."""
    note = PRESET_NOTES[name]
    return f"{note.description}\nWhat to look for: {note.look_for}"


def shown_preset(config: ExperimentConfig) -> str:
    """The preset ``config`` is, or "" for a custom experiment."""
    return config.name if PRESETS.get(config.name) == config else ""


class TwoLines(QStyledItemDelegate):
    """A drop-down item as its name and, below it in grey, its description."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        description = index.data(DESCRIPTION)
        if not description:
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        text, option.text = option.text, ""
        if style is not None:  # the background and selection, as for a plain item
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        rect = option.rect.adjusted(6, 2, -6, -2)
        top = QRect(rect.left(), rect.top(), rect.width(), rect.height() // 2)
        bottom = QRect(rect.left(), top.bottom(), rect.width(), rect.height() - top.height())
        painter.save()
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        role = (
            option.palette.ColorRole.HighlightedText if selected else option.palette.ColorRole.Text
        )
        painter.setPen(option.palette.color(role))
        painter.drawText(top, Qt.AlignmentFlag.AlignVCenter, text)
        small = QFont(option.font)
        small.setPointSizeF(max(6.0, option.font.pointSizeF() * 0.9))
        painter.setFont(small)
        if not selected:
            painter.setPen(option.palette.color(option.palette.ColorRole.PlaceholderText))
        elided = painter.fontMetrics().elidedText(
            description, Qt.TextElideMode.ElideRight, bottom.width()
        )
        painter.drawText(bottom, Qt.AlignmentFlag.AlignVCenter, elided)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        if index.data(DESCRIPTION):
            size.setHeight(2 * size.height() + 4)
        return size


class PresetBox(QComboBox):
    """``itemData`` of each item: the preset's name ("" for the custom item)."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("preset")
        self.addItem(CUSTOM, "")
        for name in PRESETS:
            self.addItem(name, name)
            index = self.count() - 1
            self.setItemData(index, preset_text(name), Qt.ItemDataRole.ToolTipRole)
            self.setItemData(index, PRESET_NOTES[name].description, DESCRIPTION)
        self.setItemDelegate(TwoLines(self))
        self.view().setMinimumWidth(POPUP_WIDTH)  # the descriptions, not the box, set the width
        self.setToolTip("start from a named experiment")

    def show_config(self, config: ExperimentConfig) -> None:
        """Show the preset ``config`` is, or that it is a custom experiment
        (without emitting: nothing was chosen)."""
        index = self.findData(shown_preset(config))
        self.blockSignals(True)
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)
