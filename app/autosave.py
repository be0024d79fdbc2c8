"""Nothing lost: every minute in which the run changed, and on quit, the
window has the engine save the experiment (config, metrics, checkpoint)
into its autosave folder, atomically file by file.

Each open window has a folder of its own (a slot, held with a lock file, so
two windows never write into one). At the next launch the slot's run comes
back: after a clean quit it is reopened as it was, after a crash (no
``closed-cleanly`` marker) the window offers to restore it, since what
crashed may have been the run itself. Quitting never keeps less than a crash.

Where autosaves live: the person's data folder, or, for a settings file of
its own (a test's, a benchmark's, the self-test's), beside that file, so
that these never touch a person's autosave.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import platformdirs
from PySide6.QtCore import QLockFile, QObject, QSettings, QTimer, Signal

from app.session import Session
from lab.core import protocol as p
from lab.core import wire
from lab.core.fileio import atomic_write_text

AUTOSAVE_SECONDS = 60
CLEAN_MARKER = "closed-cleanly"
CONFIG_FILE = "config.toml"  # (the run folder's; see lab.engine.runs)
CHECKPOINT_FILE = "checkpoint.pt"
SLOTS = 16  # windows open at once, each with its own autosave


def folder_for(settings: QSettings) -> Path:
    """Where autosaves go: a folder the settings name, beside a settings
    file of its own, else the person's data folder."""
    chosen = settings.value("autosave_folder", "")
    if chosen:
        return Path(str(chosen))
    if settings.format() == QSettings.Format.IniFormat:
        return Path(settings.fileName()).parent / "autosave"
    return Path(platformdirs.user_data_dir("knoblab")) / "autosave"


class Autosave(QObject):
    """``offered(message, folder)``: a session that crashed left this run."""

    offered = Signal(str, str)

    def __init__(
        self, session: Session, settings: QSettings, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.root = folder_for(settings)
        self.folder: Path | None = None  # this window's slot, once taken
        self.lock: QLockFile | None = None
        self.saved_step = -1  # the step of the last autosave
        self.reopen: str | None = None  # a cleanly closed session's run, for the engine
        self.timer = QTimer(self)
        self.timer.setInterval(AUTOSAVE_SECONDS * 1000)
        self.timer.timeout.connect(self.save)
        session.ready.connect(self._engine_ready)

    def start(self) -> None:
        """Take the first free slot and see what its last session left: a
        run to reopen (clean quit) or to offer (crash). From now on this
        session is the one that has not ended."""
        self.root.mkdir(parents=True, exist_ok=True)
        for number in range(1, SLOTS + 1):
            lock = QLockFile(str(self.root / f"slot-{number}.lock"))
            if lock.tryLock(0):  # free, or its window is gone (a stale lock)
                self.lock, self.folder = lock, self.root / f"slot-{number}"
                break
        if self.folder is None:
            return  # every slot held: this window goes without an autosave
        self.folder.mkdir(exist_ok=True)
        marker = self.folder / CLEAN_MARKER
        if (self.folder / CHECKPOINT_FILE).exists():
            if marker.exists():
                self.reopen = str(self.folder)
            else:
                stamp = time.strftime(
                    "%H:%M on %d %b", time.localtime((self.folder / CONFIG_FILE).stat().st_mtime)
                )
                self.offered.emit(
                    "Knoblab did not close cleanly last time. Its experiment was autosaved at"
                    f" {stamp}: restore it?",
                    str(self.folder),
                )
        marker.unlink(missing_ok=True)
        self.timer.start()

    def _engine_ready(self, _event: p.Ready) -> None:
        """Reopen the last session's run once, after the engine built the
        window's experiment (a damaged autosave then leaves that one)."""
        if self.reopen is not None:
            self.session.send(p.OpenRun(self.reopen, autosave=True))
            self.reopen = None

    def _step(self) -> int:
        series = self.session.store.get(wire.STEP)
        return -1 if series is None else series.latest_step

    def save(self) -> bool:
        """Ask the engine for an autosave if the run moved since the last one."""
        step = self._step()
        if self.folder is None or step < 0 or step == self.saved_step:
            return False
        if self.session.engine_state is None:
            return False
        self.saved_step = step
        return self.session.send(p.SaveRun(str(self.folder), autosave=True))

    def close(self, stop_engine: object = None) -> None:
        """On quit: a last autosave (``stop_engine`` waits for the engine to
        write it and shut down), then the mark of a clean end. A run with
        nothing trained leaves nothing to reopen."""
        self.timer.stop()
        if self.folder is None:
            if callable(stop_engine):
                stop_engine()
            return
        if self._step() <= 0:
            self._forget_run()
        else:
            self.save()
        if callable(stop_engine):
            stop_engine()
        atomic_write_text(self.folder / CLEAN_MARKER, time.strftime("%Y-%m-%d %H:%M:%S\n"))
        if self.lock is not None:
            self.lock.unlock()

    def _forget_run(self) -> None:
        """The slot's older run: a fresh start replaced it, so nothing comes back."""
        assert self.folder is not None
        for path in self.folder.iterdir():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
