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

from lab.core.protocol import Ping, Shutdown
from lab.engine import entry as engine_entry

MAX_DRAIN_SECONDS = 0.012  # per timer tick: leave the GUI thread time to paint
PING_SECONDS = 2.0  # how often the window asks the engine whether it is there


class EngineClient(QObject):
    """``unresponsive(seconds)``: the engine has said nothing, not even to a
    ping, for ``heartbeat_seconds`` (frozen, or stuck in one long
    computation); ``unresponsive(0)`` when it speaks again."""

    event = Signal(object)
    died = Signal(str)
    unresponsive = Signal(float)
    heartbeat_seconds = 15.0  # silence that counts as not answering

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Any = None
        self.alive = False
        self.started_at = 0.0
        self.heard_at: float | None = None  # the last event; None until the first
        self.pinged_at = 0.0
        self.pings = 0
        self.silent = False  # unresponsive was said and not taken back

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
        self.heard_at, self.silent = None, False  # torch's import takes a while: wait for Ready

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
        self._heartbeat(delivered)
        return delivered

    def _heartbeat(self, delivered: int) -> None:
        """Ping every few seconds; say when the engine has been silent too long."""
        now = time.perf_counter()
        if delivered:
            self.heard_at = now
            if self.silent:
                self.silent = False
                self.unresponsive.emit(0.0)
        if self.heard_at is None:
            return
        if now - self.pinged_at >= PING_SECONDS:
            self.pinged_at = now
            self.pings += 1
            self.send(Ping(self.pings))
        silence = now - self.heard_at
        if silence >= self.heartbeat_seconds and not self.silent:
            self.silent = True
            self.unresponsive.emit(silence)

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
