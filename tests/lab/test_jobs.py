"""The one job model: progress, partial results, cancel, done and failure,
inline and on a worker thread, reported as the protocol's events."""

import threading
import time

import pytest

from lab.core.protocol import JobFinished, JobKind, JobOutcome, JobProgress
from lab.jobs import Job, JobRunner, Progress


def counting(n: int, fail_at: int | None = None, gate: threading.Event | None = None):
    for i in range(n):
        if gate is not None:
            gate.wait(5)
        if i == fail_at:
            raise RuntimeError(f"broke at {i}")
        yield Progress((i + 1) / n, f"chunk {i + 1}", partial=list(range(i + 1)))
    return "all done"


def run_until_finished(runner: JobRunner, events: list, timeout: float = 5.0) -> JobFinished:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.advance(0.01)
        finished = [e for e in events if isinstance(e, JobFinished)]
        if finished:
            return finished[-1]
        time.sleep(0.001)
    raise AssertionError(f"no JobFinished; got {events}")


@pytest.mark.parametrize("background", [False, True])
def test_a_job_reports_progress_then_its_result(background):
    events: list = []
    runner = JobRunner(events.append)
    runner.start(7, Job(JobKind.EXPORT, counting(5), background=background))
    finished = run_until_finished(runner, events)
    assert finished.job == 7 and finished.outcome == JobOutcome.DONE
    assert finished.result == "all done" and not runner.jobs
    progress = [e for e in events if isinstance(e, JobProgress)]
    assert progress[0].fraction == 0.0 and progress[0].message == "started"
    fractions = [e.fraction for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] > 0


@pytest.mark.parametrize("background", [False, True])
def test_a_failing_job_is_reported_with_its_traceback(background):
    events: list = []
    runner = JobRunner(events.append)
    runner.start(1, Job(JobKind.LANDSCAPE, counting(5, fail_at=2), background=background))
    finished = run_until_finished(runner, events)
    assert finished.outcome == JobOutcome.FAILED
    assert finished.error == "RuntimeError: broke at 2" and "Traceback" in finished.details
    assert finished.result == [0, 1]  # what it had computed stays


def test_cancel_stops_an_inline_job_at_once_and_keeps_its_partial_result():
    events: list = []
    closed = []
    runner = JobRunner(events.append)
    job = Job(JobKind.LANDSCAPE, counting(1000), on_close=lambda: closed.append(True))
    runner.start(3, job)
    runner.advance(0.0)  # one chunk
    runner.cancel(3)
    finished = [e for e in events if isinstance(e, JobFinished)]
    assert [e.outcome for e in finished] == [JobOutcome.CANCELLED]
    assert finished[0].result == [0] and closed == [True] and not runner.jobs
    runner.advance(0.01)  # nothing left to run
    assert len([e for e in events if isinstance(e, JobFinished)]) == 1


def test_cancel_stops_a_background_job_at_its_next_yield():
    events: list = []
    gate = threading.Event()
    runner = JobRunner(events.append)
    steps = counting(100, gate=gate)
    runner.start(4, Job(JobKind.EXPORT, steps, background=True))
    runner.cancel(4)
    gate.set()
    worker_done = time.monotonic() + 5
    while steps.gi_frame is not None and time.monotonic() < worker_done:
        time.sleep(0.01)
    assert steps.gi_frame is None  # the worker closed the generator: it computes no more
    outcomes = [e.outcome for e in events if isinstance(e, JobFinished)]
    assert outcomes == [JobOutcome.CANCELLED]


def test_a_new_job_of_a_kind_replaces_the_one_under_way():
    events: list = []
    runner = JobRunner(events.append)
    runner.start(1, Job(JobKind.LANDSCAPE, counting(1000)))
    runner.start(2, Job(JobKind.LANDSCAPE, counting(2)))
    assert list(runner.jobs) == [2]
    assert [(e.job, e.outcome) for e in events if isinstance(e, JobFinished)] == [
        (1, JobOutcome.CANCELLED)
    ]
    runner.start(3, Job(JobKind.EXPORT, counting(2)), replace_kind=False)
    assert set(runner.jobs) == {2, 3}


def test_a_refused_job_reads_as_a_failed_one():
    events: list = []
    JobRunner(events.append).refuse(9, JobKind.LANDSCAPE, "PCA needs a path")
    assert events == [
        JobFinished(9, JobKind.LANDSCAPE, JobOutcome.FAILED, None, "PCA needs a path")
    ]


@pytest.mark.parametrize("background", [False, True])
def test_a_failure_is_handed_to_on_failure_before_it_is_reported(background):
    """The engine passes ``lab.engine.faults.after_failure``: an out-of-memory
    in a job releases the device's cached memory."""
    events: list = []
    seen: list = []
    runner = JobRunner(events.append, on_failure=lambda exc: seen.append((exc, list(events))))
    runner.start(2, Job(JobKind.DECODE, counting(5, fail_at=1), background=background))
    finished = run_until_finished(runner, events)
    assert finished.outcome == JobOutcome.FAILED
    ((error, before),) = seen
    assert str(error) == "broke at 1" and not any(isinstance(e, JobFinished) for e in before)


def test_after_failure_releases_memory_only_for_an_out_of_memory(monkeypatch):
    import torch

    from lab.engine import faults

    released = []
    monkeypatch.setattr(faults, "release_memory", lambda: released.append(True))
    faults.after_failure(RuntimeError("no"))
    assert not released
    faults.after_failure(torch.OutOfMemoryError("CUDA out of memory"))
    assert released == [True]
