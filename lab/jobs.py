"""One model for every long piece of work in the engine (a landscape, an
export, a decode sweep, a recipe's arms): start, progress as a fraction with
a message, partial results, cancel, then done, cancelled or failed.

A job is a generator: each ``yield Progress(...)`` reports how far it is (and
may carry a partial result the window can draw); its ``return`` value is the
result. ``JobRunner`` drives every job the same way and turns what they
report into the protocol's ``JobProgress`` and ``JobFinished`` events:

- an *inline* job runs a chunk at a time in the engine loop, between
  training chunks, so it may read the live model (a landscape);
- a *background* job works on copies (an export of the weights of now) and
  runs on a worker thread, so a step that takes seconds (the exporter)
  does not stall training; the loop passes on what it reports.

Cancelling takes effect at the job's next ``yield``; what it computed so far
stays with the last partial result.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from lab.core.errors import UserError
from lab.core.protocol import JobFinished, JobKind, JobOutcome, JobProgress

PARTIAL_SECONDS = 0.1  # reports: at most ~10 a second per job, and each new stage


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1
    message: str = ""
    partial: Any = None  # what to draw so far (None: nothing new)


JobSteps = Generator[Progress, None, Any]


@dataclass
class Job:
    """A started piece of work: its steps, and whether they run on a thread."""

    kind: JobKind
    steps: JobSteps
    background: bool = False
    on_close: Callable[[], None] | None = None  # runs when it ends, however it ends


class _Steps:
    """A job's generator, stepped one ``Progress`` at a time; its return value
    is kept as ``result``."""

    def __init__(self, steps: JobSteps) -> None:
        self.steps = steps
        self.result: Any = None

    def next(self) -> Progress | None:
        """The next report, or None when the job has returned."""
        try:
            return next(self.steps)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def close(self) -> None:
        self.steps.close()


class _Worker:
    """A background job's thread: steps the job, queues what it reports, and
    stops at the next yield once cancelled."""

    def __init__(self, steps: _Steps) -> None:
        self.steps = steps
        self.reports: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="knoblab-job")
        self.thread.start()

    def _run(self) -> None:
        try:
            while (progress := self.steps.next()) is not None:
                self.reports.put(("progress", progress))
                if self.cancelled.is_set():
                    self.steps.close()
                    return
        except BaseException as exc:  # noqa: BLE001 - reported, not raised
            self.reports.put(("failed", (exc, traceback.format_exc())))
            return
        self.reports.put(("done", self.steps.result))


@dataclass
class _Running:
    job: Job
    steps: _Steps
    worker: _Worker | None = None
    last_partial: Any = None
    sent_at: float = 0.0
    message: str = ""  # the last one sent


class JobRunner:
    """Jobs by id; ``send`` takes the protocol events (from the loop's thread only)."""

    def __init__(
        self,
        send: Callable[[Any], None],
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.send = send
        self.jobs: dict[int, _Running] = {}
        self.on_failure = on_failure  # e.g. hand back device memory after an out-of-memory

    def start(self, job_id: int, job: Job, *, replace_kind: bool = True) -> None:
        """Start ``job`` under ``job_id``; with ``replace_kind`` a job of the
        same kind under way is cancelled first (one landscape at a time)."""
        if replace_kind:
            for other, running in list(self.jobs.items()):
                if running.job.kind == job.kind:
                    self.cancel(other)
        steps = _Steps(job.steps)
        worker = _Worker(steps) if job.background else None
        self.jobs[job_id] = _Running(job, steps, worker)
        self.send(JobProgress(job_id, job.kind, 0.0, "started", None))

    def refuse(self, job_id: int, kind: JobKind, error: str) -> None:
        """A job that could not start: reported as failed, as any job's failure."""
        self.send(JobFinished(job_id, kind, JobOutcome.FAILED, None, error))

    @property
    def busy(self) -> bool:
        """Whether an inline job wants loop time."""
        return any(r.worker is None for r in self.jobs.values())

    def kinds(self) -> set[JobKind]:
        return {r.job.kind for r in self.jobs.values()}

    def cancel(self, job_id: int) -> None:
        running = self.jobs.get(job_id)
        if running is None:
            return
        if running.worker is not None:
            running.worker.cancelled.set()  # it stops at its next yield
        else:
            running.steps.close()
        self._finish(job_id, JobOutcome.CANCELLED)

    def cancel_kind(self, kind: JobKind) -> None:
        for job_id, running in list(self.jobs.items()):
            if running.job.kind == kind:
                self.cancel(job_id)

    def cancel_all(self) -> None:
        for job_id in list(self.jobs):
            self.cancel(job_id)

    def advance(self, seconds: float) -> None:
        """Give inline jobs up to ``seconds`` of work (each at least one
        step), and pass on what background jobs reported."""
        deadline = time.perf_counter() + seconds
        for job_id in list(self.jobs):
            running = self.jobs.get(job_id)
            if running is None:
                continue
            if running.worker is not None:
                self._drain(job_id, running)
                continue
            try:
                while (progress := running.steps.next()) is not None:
                    self._note(job_id, running, progress)
                    if time.perf_counter() >= deadline:
                        break
                else:
                    self._finish(job_id, JobOutcome.DONE)
            except Exception as exc:  # a job's failure is reported, never the loop's end
                self._finish(job_id, JobOutcome.FAILED, exc, traceback.format_exc())

    def _drain(self, job_id: int, running: _Running) -> None:
        assert running.worker is not None
        while True:
            try:
                what, value = running.worker.reports.get_nowait()
            except queue.Empty:
                return
            if what == "progress":
                self._note(job_id, running, value)
            elif what == "done":
                self._finish(job_id, JobOutcome.DONE)
                return
            else:
                self._finish(job_id, JobOutcome.FAILED, *value)
                return

    def _note(self, job_id: int, running: _Running, progress: Progress) -> None:
        if progress.partial is not None:
            running.last_partial = progress.partial
        now = time.perf_counter()
        if now - running.sent_at >= PARTIAL_SECONDS or progress.message != running.message:
            running.sent_at, running.message = now, progress.message
            self.send(
                JobProgress(
                    job_id, running.job.kind, progress.fraction, progress.message, progress.partial
                )
            )

    def _finish(
        self,
        job_id: int,
        outcome: JobOutcome,
        error: BaseException | None = None,
        details: str = "",
    ) -> None:
        running = self.jobs.pop(job_id, None)
        if running is None:
            return
        if running.job.on_close is not None:
            running.job.on_close()
        if error is not None and self.on_failure is not None:
            self.on_failure(error)
        message = "" if error is None else _describe(error)
        self.send(
            JobFinished(
                job_id,
                running.job.kind,
                outcome,
                running.steps.result if outcome == JobOutcome.DONE else running.last_partial,
                message,
                details,
            )
        )


def _describe(error: BaseException) -> str:
    """The error as a person reads it: a ``UserError``'s own message, the
    type beside the message for anything else (a bug)."""
    if isinstance(error, UserError):
        return str(error)
    return f"{type(error).__name__}: {error}"
