"""Nothing lost: every minute in which the run changed, and on quit, the
window has the engine save the experiment (config, metrics, checkpoint)
into an autosave folder, atomically file by file. Quitting writes a marker
that the session ended cleanly; a launch that finds an autosave without it
(Knoblab crashed, or was killed) offers to restore it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from PySide6.QtCore import QSettings, QTimer

from lab.core import protocol as p
from lab.core import wire
from lab.core.fileio import atomic_write_text

if TYPE_CHECKING:
    from app.main_window import MainWindow

AUTOSAVE_SECONDS = 60
CLEAN_MARKER = "closed-cleanly"
CONFIG_FILE = "config.toml"  # (the run folder's; see lab.engine.runs)


def folder_for(settings: QSettings) -> Path:
    """Where autosaves go: the person's data folder, or beside a settings
    file of its own (a test's, a benchmark's) so that one never touches it."""
    chosen = settings.value("autosave_folder", "")
    if chosen:
        return Path(str(chosen))
    if settings.format() == QSettings.Format.IniFormat:
        return Path(settings.fileName()).parent / "autosave"
    return Path(platformdirs.user_data_dir("knoblab")) / "autosave"


class Autosave:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        chosen = window.settings.value("autosave_folder", "")
        self.folder = (
            Path(str(chosen))
            if chosen
            else Path(platformdirs.user_data_dir("knoblab")) / "autosave"
        )
        self.saved_step = -1  # the step of the last autosave
        self.timer = QTimer(window)
        self.timer.setInterval(AUTOSAVE_SECONDS * 1000)
        self.timer.timeout.connect(self.save)

    def start(self) -> None:
        """Offer what a session that did not end cleanly left; from now on
        this session is the one that has not ended."""
        marker = self.folder / CLEAN_MARKER
        if (self.folder / CONFIG_FILE).exists() and not marker.exists():
            stamp = time.strftime("%H:%M on %d %b", time.localtime(self.folder.stat().st_mtime))
            self.window.banner.show_message(
                f"Knoblab did not close cleanly last time. Its experiment was autosaved at"
                f" {stamp}: restore it?",
                "warning",
                ("Restore", lambda: self.window.open_run(str(self.folder))),
            )
        marker.unlink(missing_ok=True)
        self.timer.start()

    def _step(self) -> int:
        series = self.window.store.get(wire.STEP)
        return -1 if series is None else series.latest_step

    def save(self) -> bool:
        """Ask the engine for an autosave if the run moved since the last one."""
        step = self._step()
        if step < 0 or step == self.saved_step or self.window.engine_state is None:
            return False
        self.saved_step = step
        return self.window.client.send(p.SaveRun(str(self.folder), autosave=True))

    def close(self) -> None:
        """On quit: a last autosave (the engine does it before it shuts down),
        then the mark of a clean end."""
        self.timer.stop()
        self.save()
        atomic_write_text(self.folder / CLEAN_MARKER, time.strftime("%Y-%m-%d %H:%M:%S\n"))
