"""The window against faults, with a real engine: a frozen engine is
noticed and restarted, an out-of-memory in training and a view that cannot
draw show in the window with their traceback one click away, and an
experiment left by a crash is offered back at the next launch."""

from __future__ import annotations

import os
import signal
import sys

import pytest
from PySide6.QtWidgets import QMessageBox

from app.autosave import CLEAN_MARKER
from lab.core import protocol as p
from tests.app.conftest import open_window
from tests.app.test_window import recorder


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX")
def test_a_frozen_engine_is_noticed_and_restarted(qtbot, window):
    rec = recorder(window)
    client = window.client
    client.heartbeat_seconds = 2.0
    frozen = client.process
    os.kill(frozen.pid, signal.SIGSTOP)  # alive, but answers nothing
    try:
        qtbot.waitUntil(lambda: "not answered" in window.banner.text(), timeout=10_000)
        assert window.banner.action.text() == "Restart engine"
        mark = rec.mark()
        window.banner.action.click()
        rec.wait_for(qtbot, p.Ready, after=mark, timeout=60)
        rec.wait_for(qtbot, p.Built, after=mark, timeout=60)
        assert client.process is not frozen and not frozen.is_alive()
    finally:
        if frozen.is_alive():
            os.kill(frozen.pid, signal.SIGKILL)
    mark = rec.mark()
    window.step_once()  # the new engine trains
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 1, after=mark)


def test_out_of_memory_in_training_shows_with_its_traceback(qtbot, settings, monkeypatch):
    monkeypatch.setenv("KNOBLAB_FAULT", "train-oom")  # the engine process inherits it
    win = open_window(qtbot, settings)
    try:
        mark = win.recorder.mark()
        win.step_once()
        error = win.recorder.wait_for(qtbot, p.Error, after=mark)
        assert "out of memory" in error.message
        qtbot.waitUntil(lambda: "out of memory" in win.banner.text())
        assert win.banner.action.text() == "Details…"
        win.banner.action.click()
        boxes = win.findChildren(QMessageBox)
        assert boxes and "OutOfMemoryError" in boxes[-1].detailedText()
        mark = win.recorder.mark()
        win.client.send(p.Ping(5))  # the engine still serves
        win.recorder.wait_for(qtbot, p.Pong, after=mark)
    finally:
        win.close()


def test_a_view_that_cannot_draw_says_so_and_the_window_goes_on(qtbot, window):
    view = window.tabs.currentWidget()

    def broken() -> None:
        raise ValueError("no data like this")

    view.draw = broken
    view.dirty = True
    window.tick()
    assert "could not draw" in window.banner.text() and "no data like this" in window.banner.text()
    assert window.banner.action.text() == "Details…"
    window.tick()  # the next ticks go on
    assert window.isVisible()


def test_an_experiment_left_by_a_crash_is_offered_back(qtbot, settings, tmp_path):
    win = open_window(qtbot, settings)
    rec = win.recorder
    mark = rec.mark()
    win.client.send(p.Step(7))
    rec.wait_for(qtbot, p.Status, lambda e: e.step == 7, after=mark)
    qtbot.waitUntil(lambda: win.autosave._step() == 7)
    mark = rec.mark()
    assert win.autosave.save()
    saved = rec.wait_for(qtbot, p.Saved, after=mark)
    assert saved.autosave and win.run_path is None  # not the run's folder: no title change
    folder = win.autosave.folder
    assert (folder / "checkpoint.pt").exists() and not (folder / CLEAN_MARKER).exists()
    win.client.process.kill()  # a crash: no clean end
    win.client.process.join(5)
    win.timer.stop()
    win.autosave.timer.stop()
    win.autosave.lock.unlock()  # (a crashed window's process is gone, and its lock with it)

    again = open_window(qtbot, settings)
    try:
        assert "did not close cleanly" in again.banner.text()
        mark = again.recorder.mark()
        again.banner.action.click()  # Restore
        again.recorder.wait_for(qtbot, p.Opened, after=mark)
        status = again.recorder.wait_for(qtbot, p.Status, lambda e: e.step == 7, after=mark)
        assert status.step == 7
    finally:
        again.close()
    assert (folder / CLEAN_MARKER).exists()  # this one ended cleanly
    third = open_window(qtbot, settings)
    try:
        assert "did not close cleanly" not in third.banner.text()
    finally:
        third.close()


def test_a_job_that_fails_on_its_worker_thread_shows_with_its_traceback(qtbot, window, tmp_path):
    rec = recorder(window)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    mark = rec.mark()
    window.export_onnx(str(blocker / "model.onnx"))  # its folder cannot be made
    done = rec.wait_for(qtbot, p.JobFinished, lambda e: e.kind == p.JobKind.EXPORT, after=mark)
    assert done.outcome == p.JobOutcome.FAILED and "Traceback" in done.details
    qtbot.waitUntil(lambda: "export" in window.banner.text())
    assert window.banner.action.text() == "Details…"
    mark = rec.mark()
    window.step_once()  # the lab goes on
    rec.wait_for(qtbot, p.Status, lambda e: e.step >= 1, after=mark)
