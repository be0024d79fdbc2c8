"""A real window with a real engine process (spawn), offscreen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QObject, QSettings, Signal

from app.main_window import MainWindow
from lab.core import protocol as p


class Recorder:
    """Keeps every event the window receives, for waiting on them."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.events: list[Any] = []
        window.client.event.connect(self.events.append)

    def wait_for(
        self,
        qtbot,
        kind: type,
        predicate: Callable[[Any], bool] = lambda e: True,
        timeout: float = 30.0,
        after: int = 0,
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events[after:]:
                if isinstance(event, kind) and predicate(event):
                    return event
            qtbot.wait(20)
        names = [type(e).__name__ for e in self.events[after:]][-30:]
        raise AssertionError(f"no {kind.__name__} within {timeout}s; last events: {names}")

    def mark(self) -> int:
        return len(self.events)


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "knoblab.ini"), QSettings.Format.IniFormat)


def open_window(qtbot, settings: QSettings) -> MainWindow:
    """A shown window whose engine has built the experiment and reported;
    its events kept in ``window.recorder``."""
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    win.recorder = Recorder(win)  # type: ignore[attr-defined]
    win.start()
    win.recorder.wait_for(qtbot, p.Built)
    win.recorder.wait_for(qtbot, p.Status)
    return win


@pytest.fixture
def window(qtbot, settings):
    win = open_window(qtbot, settings)
    yield win
    win.close()


class FakeClient(QObject):
    """An engine client that records what the window sends."""

    event = Signal(object)
    died = Signal(str)
    unresponsive = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.sent: list = []
        self.stopped = False

    def start(self) -> None:
        pass

    def send(self, command) -> bool:
        self.sent.append(command)
        return True

    def poll(self) -> int:
        return 0

    def stop(self, timeout: float = 3.0) -> None:
        self.stopped = True


@pytest.fixture
def quiet_window(qtbot, settings):
    """A window without an engine: what it sends is recorded in ``client.sent``."""
    client = FakeClient()
    win = MainWindow(settings=settings, client=client)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
