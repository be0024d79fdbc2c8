"""Where runs and exports go: the dialogs start in the folder used last (at
first the user's documents, never the folder Knoblab is installed in), and
a run is saved as a new folder of the name the person types."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

LAST_FOLDER = "last_folder"


class RunFiles:
    def __init__(self, parent: QWidget, settings: QSettings) -> None:
        self.parent = parent
        self.settings = settings

    def start_folder(self) -> Path:
        last = self.settings.value(LAST_FOLDER, "")
        if last and Path(str(last)).is_dir():
            return Path(str(last))
        return Path(platformdirs.user_documents_dir())

    def remember(self, path: str) -> None:
        """The folder ``path`` is in becomes where the next dialog starts."""
        self.settings.setValue(LAST_FOLDER, str(Path(path).parent))

    def ask_save_folder(self, name: str) -> str | None:
        """A new (or existing) folder to save the run into."""
        path, _ = QFileDialog.getSaveFileName(
            self.parent,
            "Save the run as a folder",
            str(self.start_folder() / name),
            "Knoblab run folder (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        return self._chosen(path)

    def ask_open_folder(self) -> str | None:
        path = QFileDialog.getExistingDirectory(
            self.parent, "Open a run folder", str(self.start_folder())
        )
        return self._chosen(path)

    def ask_export_file(self, name: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(
            self.parent,
            "Export to ONNX",
            str(self.start_folder() / f"{name}.onnx"),
            "ONNX (*.onnx)",
        )
        return self._chosen(path)

    def _chosen(self, path: str) -> str | None:
        if not path:
            return None
        self.remember(path)
        return path
