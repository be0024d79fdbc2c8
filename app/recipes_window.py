"""The Recipes window: the gallery beside the Compare view. It starts a
recipe as an engine job and draws what the engine reports; the lab's own
experiment goes on in the main window meanwhile. One window per lab, made
on first use and kept (a closed one keeps its last result)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMainWindow, QSplitter, QWidget

from app.session import Session
from lab.core import protocol as p
from lab.core.config import ConfigError, ExperimentConfig
from lab.core.recipes import RecipeInfo, RecipeResult
from widgets.compare_view import CompareView
from widgets.recipe_gallery import RecipeGallery

SIZE = (1180, 760)
GALLERY_WIDTH = 320


class RecipesWindow(QMainWindow):
    """``armOpened(config, views)``: an arm, to make the lab's experiment, and
    the lab's tabs that show what its recipe is about."""

    armOpened = Signal(object, tuple)  # noqa: N815

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("recipes_window")
        self.setWindowTitle("Knoblab — Recipes")
        self.session = session
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
        self.compare.job_bar.cancelRequested.connect(session.cancel_job)
        self.compare.openArm.connect(self.open_arm)
        session.show_jobs(p.JobKind.RECIPE, self)
        session.ready.connect(lambda _event: self.set_catalog(session.recipe_catalog))
        self.set_catalog(session.recipe_catalog)

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
        self.job = self.session.next_job()
        self.compare.start(info, self.job, fast)
        self.session.send(p.RunRecipe(self.job, name, fast))

    def job_progress(self, event: p.JobProgress) -> None:
        if event.job == self.job:  # (a replaced run's reports are not drawn)
            self.compare.job_progress(event)

    def job_finished(self, event: p.JobFinished) -> None:
        if event.job != self.job:
            return  # a replaced run's end
        self.running = None
        if event.result is not None:
            self.results[event.result.info.name] = event.result
        self.compare.job_finished(event)

    def open_arm(self, config: dict[str, Any]) -> None:
        """Make an arm the lab's experiment (the run it replaces stays one Undo away)."""
        try:
            made = ExperimentConfig.from_dict(config)
        except ConfigError as exc:  # an arm of another Knoblab version
            self.session.error.emit(str(exc), exc.field, "")
            return
        info = self.compare.info
        self.armOpened.emit(made, info.views if info is not None else ())
