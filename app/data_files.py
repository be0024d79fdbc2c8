"""A person's data into the lab: Open data… and Image folder… (the Data
panel's buttons and the File menu), a file dropped onto the window, a set
by name fetched when it is not here yet (asked first, then a job with
progress and Cancel in the Data panel), and a run whose data file moved or
changed (say so, offer to pick it). The engine reads the files; the window
only names them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from app.data_panel import DataPanel
from app.session import Session
from lab.core import protocol as p
from lab.core.config.choices import FILE_FORMATS
from widgets.job_bar import JobView

LAST_DATA = "last_data_folder"
FILTER = (
    "Data files (*.csv *.tsv *.npz *.npy *.txt *.text *.md);;Tables (*.csv *.tsv);;"
    "Arrays (*.npz *.npy);;Text (*.txt *.text *.md);;All files (*)"
)


def readable(path: str) -> bool:
    """Whether a dropped path is data Knoblab reads: a folder, or a known suffix."""
    target = Path(path)
    return target.is_dir() or target.suffix.lower() in FILE_FORMATS


class DataFiles(JobView):
    def __init__(
        self,
        session: Session,
        panel: DataPanel,
        settings: QSettings,
        parent: QWidget,
        change: Callable[[str, Any], None],
    ) -> None:
        """``change(path, value)``: how the window applies a field it changed."""
        self.session, self.panel, self.settings, self.parent = session, panel, settings, parent
        self.change = change
        self.job_bar = panel.download
        self.job_bar.cancelRequested.connect(session.cancel_job)
        self.pending: dict[int, dict] = {}  # a set being fetched: the change to send after
        self.dialog: QMessageBox | None = None  # the question open now (tests answer it)
        panel.openFile.connect(self.ask_file)
        panel.openFolder.connect(self.ask_folder)
        session.needsDownload.connect(self.offer_download)
        session.dataProblem.connect(self.offer_pick)
        session.modelCode.connect(self.ask_to_run)
        session.show_jobs(p.JobKind.DOWNLOAD, self)

    # ------------------------------------------------------------ choosing

    def _start(self) -> str:
        return str(self.settings.value(LAST_DATA, "") or Path.home())

    def ask_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open data", self._start(), FILTER)
        if path:
            self.use(path)

    def ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self.parent, "Open an image folder (one subfolder per class)", self._start()
        )
        if path:
            self.use(path)

    def use(self, path: str) -> None:
        """Train on the file or folder at ``path`` (the engine reads it)."""
        self.settings.setValue(LAST_DATA, str(Path(path).parent))
        self.session.notice.emit(f"reading {path}…")
        self.change("data.path", path)

    def ask_model(self) -> None:
        """Open model…: a Python file, then the function in it that makes the model."""
        path, _ = QFileDialog.getOpenFileName(
            self.parent, "Open your model (a Python file)", self._start(), "Python (*.py)"
        )
        if not path:
            return
        function, ok = QInputDialog.getText(
            self.parent, "The function", "The function that returns the nn.Module,"
            " given (input_shape, n_outputs):", text="make_model",
        )  # fmt: skip
        if ok and function.strip():
            self.settings.setValue(LAST_DATA, str(Path(path).parent))
            self.change("model.source", f"{path}:{function.strip()}")

    def dropped(self, paths: list[str]) -> bool:
        """Files dropped onto the window: the first readable one is the data."""
        for path in paths:
            if readable(path):
                self.use(path)
                return True
        if paths:
            self.session.error.emit(
                f"{paths[0]} is not data Knoblab reads: drop a CSV/TSV, NPZ/NPY or text file,"
                " or a folder of images",
                None,
                "",
            )
        return False

    # ------------------------------------------------------------ downloads

    def offer_download(self, event: p.NeedsDownload) -> None:
        size = f"{event.size / 2**20:.1f} MB"
        self.dialog = box = QMessageBox(
            QMessageBox.Icon.Question,
            "Download the dataset?",
            f"{event.name} is not on this computer yet. Download it ({size}) into"
            f" {event.folder}? Each file is checked against its published SHA-256.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self.parent,
        )
        box.button(QMessageBox.StandardButton.Yes).setText("Download")
        box.finished.connect(lambda answer: self._answered(event, answer))
        box.open()

    def _answered(self, event: p.NeedsDownload, answer: int) -> None:
        self.dialog = None
        if answer != QMessageBox.StandardButton.Yes:
            self.session.notice.emit(f"{event.name} not downloaded; the data stays as it was")
            return
        job = self.session.start_job(lambda job: p.FetchData(job, event.name))
        self.pending[job] = dict(event.changes)
        self.job_bar.started(job, f"downloading {event.name}…")
        self.job_bar.show()

    def job_progress(self, event: p.JobProgress) -> None:
        self.job_bar.show()
        super().job_progress(event)

    def job_finished(self, event: p.JobFinished) -> None:
        super().job_finished(event)
        changes = self.pending.pop(event.job, None)
        if event.outcome == p.JobOutcome.DONE and changes:
            self.job_bar.hide()
            self.session.send(p.ChangeConfig(changes))  # now the set is here

    # ------------------------------------------------------------ a run's data

    def offer_pick(self, event: p.DataProblem) -> None:
        buttons = QMessageBox.StandardButton.Cancel
        self.dialog = box = QMessageBox(
            QMessageBox.Icon.Warning, "The run's data", f"{event.message}.", buttons, self.parent
        )
        pick = box.addButton("Pick the file…", QMessageBox.ButtonRole.AcceptRole)
        anyway = None
        if event.problem == "changed":
            box.setInformativeText("Its curves were measured on the file as it was.")
            anyway = box.addButton("Open anyway", QMessageBox.ButtonRole.DestructiveRole)

        def answered(_result: int) -> None:
            self.dialog = None
            clicked = box.clickedButton()
            if clicked is pick:
                self._pick_for(event)
            elif anyway is not None and clicked is anyway:
                self.session.send(
                    p.OpenRun(event.path, accept_changed=True, run_code=event.run_code)
                )

        box.finished.connect(answered)
        box.open()

    def ask_to_run(self, event: p.ModelCode) -> None:
        """A run whose model is Python code: opening it runs the file."""
        self.dialog = box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Run the model's code?",
            f"{event.message[:1].upper()}{event.message[1:]}. Opening the run runs that file,"
            " with your permissions. Open it only if you trust where it came from.",
            QMessageBox.StandardButton.Cancel,
            self.parent,
        )
        run = box.addButton("Run it and open", QMessageBox.ButtonRole.AcceptRole)

        def answered(_result: int) -> None:
            self.dialog = None
            if box.clickedButton() is run:
                self.session.send(p.OpenRun(event.path, run_code=True))

        box.finished.connect(answered)
        box.open()

    def _pick_for(self, event: p.DataProblem) -> None:
        start = str(Path(event.data_path).parent)
        if Path(event.data_path).suffix:
            path, _ = QFileDialog.getOpenFileName(self.parent, "Pick the run's data", start, FILTER)
        else:
            path = QFileDialog.getExistingDirectory(
                self.parent, "Pick the run's image folder", start
            )
        if path:
            self.session.send(
                p.OpenRun(event.path, data_path=path, accept_changed=True, run_code=event.run_code)
            )
