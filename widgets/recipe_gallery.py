"""The recipe gallery: every recipe by title, what it claims, and Run (the
quick variant or the full one). It lists what the engine announced; it
runs nothing itself."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lab.core.recipes import RecipeInfo


class RecipeGallery(QWidget):
    runRequested = Signal(str, bool)  # noqa: N815 - recipe name, quick variant
    chosen_changed = Signal(str)  # a recipe's name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.infos: dict[str, RecipeInfo] = {}
        heading = QLabel("<b>Recipes</b>: textbook claims, put to the test")
        self.list = QListWidget()
        self.list.setObjectName("recipes.list")
        self.list.setWordWrap(True)  # long titles wrap instead of hiding behind a scroll bar
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentItemChanged.connect(self._describe)
        self.list.itemDoubleClicked.connect(lambda _item: self.run())
        self.description = QLabel("The recipes arrive when the engine is ready.")
        self.description.setWordWrap(True)
        self.description.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.description.setMinimumHeight(90)
        self.fast = QCheckBox("quick variant")
        self.fast.setChecked(True)
        self.fast.setToolTip(
            "fewer steps and smaller sweeps: seconds instead of a minute; the full variant"
            " gives the clearer picture"
        )
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("run every arm of this recipe, then its verdict")
        self.run_button.clicked.connect(self.run)
        self.run_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.description)
        layout.addWidget(self.fast)
        layout.addWidget(self.run_button)

    def set_catalog(self, infos: tuple[RecipeInfo, ...]) -> None:
        self.infos = {info.name: info for info in infos}
        self.list.clear()
        for number, info in enumerate(infos, 1):
            item = QListWidgetItem(f"{number}. {info.title}")
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(info.claim)
            self.list.addItem(item)
        if infos:
            self.list.setCurrentRow(0)
        self.run_button.setEnabled(bool(infos))

    def chosen(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def choose(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)

    def run(self) -> None:
        name = self.chosen()
        if name is not None:
            self.runRequested.emit(name, self.fast.isChecked())

    def _describe(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        info = self.infos[item.data(Qt.ItemDataRole.UserRole)]
        arms = "".join(f"<br>&nbsp;{i + 1}. {html.escape(a)}" for i, a in enumerate(info.arms))
        views = ", ".join(info.views)
        self.description.setText(
            f"<b>Arms</b>{arms}<br><i>One arm, live in the lab: Open arm, then the {views} tab"
            f"{'s' if len(info.views) > 1 else ''}.</i>"
        )
        self.chosen_changed.emit(info.name)
