"""The GUI's side of the engine: starts the engine process (spawn), sends
commands, and drains events from the GUI thread's timer without blocking.

The engine process imports torch; this module must not (it names the spawn
target through ``lab.engine.entry``, which loads torch only in the child).
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from lab.core.protocol import Shutdown
from lab.engine import entry as engine_entry

MAX_DRAIN_SECONDS = 0.012  # per timer tick: leave the GUI thread time to paint


class EngineClient(QObject):
    event = Signal(object)
    died = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Any = None
        self.alive = False
        self.started_at = 0.0

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=engine_entry.main, args=(child,), daemon=True, name="knoblab-engine"
        )
        self.process.start()
        child.close()
        self.alive = True
        self.started_at = time.perf_counter()

    def send(self, command: Any) -> bool:
        if not self.alive:
            return False
        try:
            self.conn.send(command)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self._report_death()
            return False

    def poll(self) -> int:
        """Deliver waiting events (for at most a few ms); notice a dead engine."""
        if not self.alive:
            return 0
        delivered = 0
        deadline = time.perf_counter() + MAX_DRAIN_SECONDS
        try:
            while time.perf_counter() < deadline and self.conn.poll():
                self.event.emit(self.conn.recv())
                delivered += 1
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            self._report_death()
            return delivered
        if self.process is not None and not self.process.is_alive():
            self._report_death()
        return delivered

    def _report_death(self) -> None:
        if not self.alive:
            return
        self.alive = False
        code = self.process.exitcode if self.process is not None else None
        how = (
            f"exit code {code}"
            if code is not None and code >= 0
            else f"signal {-code}"
            if code
            else "unknown cause"
        )
        self.died.emit(f"The engine process stopped ({how}).")

    def stop(self, timeout: float = 3.0) -> None:
        if self.process is None:
            return
        if self.alive:
            self.send(Shutdown())
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.alive = False
        if self.conn is not None:
            self.conn.close()
