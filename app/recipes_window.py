"""The Recipes window: the gallery beside the Compare view. It starts a
recipe as an engine job and draws what the engine reports; the lab's own
experiment goes on in the main window meanwhile. One window per lab, made
on first use and kept (a closed one keeps its last result)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QSplitter

from lab.core import protocol as p
from lab.core.config import ConfigError, ExperimentConfig
from lab.core.recipes import RecipeInfo, RecipeResult
from widgets.compare_view import CompareView
from widgets.recipe_gallery import RecipeGallery

if TYPE_CHECKING:
    from app.main_window import MainWindow

SIZE = (1180, 760)
GALLERY_WIDTH = 320


class RecipesWindow(QMainWindow):
    def __init__(self, lab: MainWindow) -> None:
        super().__init__(lab, Qt.WindowType.Window)
        self.setObjectName("recipes_window")
        self.setWindowTitle("Knoblab — Recipes")
        self.lab = lab
        self.job: int | None = None
        self.gallery = RecipeGallery()
        self.compare = CompareView()
        splitter = QSplitter()
        splitter.addWidget(self.gallery)
        splitter.addWidget(self.compare)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([GALLERY_WIDTH, SIZE[0] - GALLERY_WIDTH])
        self.setCentralWidget(splitter)
        self.resize(*SIZE)
        self.results: dict[str, RecipeResult] = {}  # the last finished run of each recipe
        self.running: str | None = None  # the recipe of the job under way
        self.gallery.runRequested.connect(self.run)
        self.gallery.chosen_changed.connect(self.show_recipe)
        self.compare.job_bar.cancelRequested.connect(lab.cancel_job)
        self.compare.openArm.connect(self.open_arm)

    @classmethod
    def show_for(cls, lab: MainWindow) -> RecipesWindow:
        """The lab's Recipes window, made on first use, shown and raised."""
        if lab.recipes is None:
            lab.recipes = cls(lab)
            lab.recipes.set_catalog(lab.recipe_catalog)
        lab.recipes.show()
        lab.recipes.raise_()
        return lab.recipes

    def set_catalog(self, infos: tuple[RecipeInfo, ...]) -> None:
        self.gallery.set_catalog(infos)

    def show_recipe(self, name: str) -> None:
        """The chosen recipe's last result, or a preview (not while another runs)."""
        if self.running is not None:
            return
        if name in self.results:
            self.compare.set_result(self.results[name])
        else:
            self.compare.preview(self.gallery.infos[name])

    def run(self, name: str, fast: bool) -> None:
        info = self.gallery.infos[name]
        self.running = name
        self.job = self.lab.next_job()
        self.compare.start(info, self.job, fast)
        self.lab.client.send(p.RunRecipe(self.job, name, fast))

    def progress(self, event: p.JobProgress) -> None:
        self.compare.job_bar.progress(event.job, event.fraction, event.message)
        if event.partial is not None and event.job == self.job:
            self.compare.set_result(event.partial)

    def finished(self, event: p.JobFinished) -> None:
        if event.job != self.job:
            return  # a replaced run's end
        self.running = None
        if event.result is not None:
            self.results[event.result.info.name] = event.result
            self.compare.set_result(event.result)
        self.compare.finished(event.job, event.outcome, event.error)

    def open_arm(self, config: dict[str, Any]) -> None:
        """Make an arm the lab's experiment (the run it replaces stays one Undo away)."""
        try:
            made = ExperimentConfig.from_dict(config)
        except ConfigError as exc:  # an arm of another Knoblab version
            self.lab.show_error(str(exc), exc.field)
            return
        self.lab.run_path = None
        self.lab.apply_config(made)
        self.lab.raise_()
        self.lab.activateWindow()
