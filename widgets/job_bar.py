"""The one pattern for long work in the window: a progress bar with what the
job is doing, and a Cancel button, for a job of the engine (a landscape, an
export, ...). It shows a job from its first report to its end, then says how
it ended.

``JobView`` is the one interface of whatever shows a kind of job (a view, the
export's status): the window hands it every ``JobProgress`` and the
``JobFinished`` of its jobs, and it draws what they carry."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from lab.core.protocol import JobFinished, JobOutcome, JobProgress

STEPS = 1000


class JobBar(QWidget):
    cancelRequested = Signal(int)  # noqa: N815 - the job's id

    def __init__(self, idle_text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: int | None = None
        self.idle_text = idle_text
        self.bar = QProgressBar()
        self.bar.setRange(0, STEPS)
        self.bar.setMaximumWidth(140)
        self.bar.setTextVisible(True)
        self.message = QLabel(idle_text)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop this job; what it computed so far stays")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel)
        layout.addWidget(self.message, 1)

    @property
    def running(self) -> bool:
        return self.job is not None

    def started(self, job: int, message: str = "starting…") -> None:
        self.job = job
        self.bar.setValue(0)
        self.message.setText(message)
        self.cancel.setEnabled(True)

    def progress(self, job: int, fraction: float, message: str) -> None:
        if job != self.job:
            self.started(job)
        self.bar.setValue(round(STEPS * min(max(fraction, 0.0), 1.0)))
        if message:
            self.message.setText(message)

    def finished(self, job: int, outcome: JobOutcome, error: str = "") -> None:
        if self.job is not None and job != self.job:
            return  # an older job's end: the bar shows a newer one
        self.job = None
        self.cancel.setEnabled(False)
        if outcome == JobOutcome.DONE:
            self.bar.setValue(STEPS)
            self.message.setText("done")
        elif outcome == JobOutcome.CANCELLED:
            self.message.setText("cancelled: what was computed stays")
        else:
            self.message.setText(f"failed: {error}")

    def _cancel(self) -> None:
        if self.job is not None:
            self.cancelRequested.emit(self.job)


class JobView:
    """A mixin for what shows a kind of engine job: its ``job_bar`` follows
    the job, and what the job made so far is drawn by ``show_partial``, what
    it ended with by ``show_result`` (both do nothing unless overridden)."""

    job_bar: JobBar

    def job_progress(self, event: JobProgress) -> None:
        self.job_bar.progress(event.job, event.fraction, event.message)
        if event.partial is not None:
            self.show_partial(event.partial)

    def job_finished(self, event: JobFinished) -> None:
        self.job_bar.finished(event.job, event.outcome, event.error)
        if event.result is not None:
            self.show_result(event.result, event.outcome)

    def show_partial(self, partial: Any) -> None:
        pass

    def show_result(self, result: Any, outcome: JobOutcome) -> None:
        self.show_partial(result)
