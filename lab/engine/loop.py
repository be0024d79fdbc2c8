"""The engine loop for the app: receives commands over a connection, runs the
trainer and the jobs between them, and streams events back — metric rows at
most ~30 times a second, status, the model summary, signal propagation at
init and the decision boundary. Errors become ``Error`` events (a job's, a
``JobFinished`` that failed); the loop itself never dies of them.

Tests drive ``Engine`` in-process over a ``multiprocessing.Pipe``; the app runs
it in its own process through ``lab.engine.entry``.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

import torch

from lab.core import protocol as p
from lab.core.changes import ChangeReport
from lab.core.config import ExperimentConfig, flatten
from lab.core.errors import UserError
from lab.core.messages import MessageError, decode
from lab.core.protocol import ChangeKind, JobKind, RunState
from lab.engine import faults, pictures, tokens
from lab.engine.config_commands import ConfigCommands
from lab.engine.history import History, Step
from lab.engine.job_commands import JobCommands
from lab.engine.run_commands import RunCommands
from lab.engine.runs import Run
from lab.engine.streaming import Outbox, StreamingStore
from lab.jobs import JobRunner
from lab.recipes import catalog
from lab.train.devices import available_devices, memory_in_use, process_rss
from lab.train.trainer import Trainer, TrainingStopped

FLUSH_SECONDS = 1 / 30  # metric batches: at most ~30 a second
CHUNK_SECONDS = 1 / 60  # commands are looked at least this often while running
BOUNDARY_SECONDS = 0.25  # decision boundary refresh while running
TOKENS_SECONDS = 0.5  # attention maps and samples while training: about twice a second
IDLE_POLL = 0.05  # how long the loop waits for a command when nothing computes
JOB_POLL = 0.01  # ... while a background job may report


class Engine(ConfigCommands, JobCommands, RunCommands):
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.outbox = Outbox()
        self.trainer: Trainer | None = None
        self.state = RunState.READY
        self.speed = 0.0  # steps per second; 0 = as fast as possible
        self.running = True
        self.jobs = JobRunner(self.send, faults.after_failure)
        self.landscape_request: p.ComputeLandscape | None = None  # the last one, for auto
        self.landscape_auto = 0  # recompute every N steps while training (0 = off)
        self._landscape_step = -(10**9)  # step of the last landscape started
        self._last_flush = 0.0
        self._last_boundary = 0.0
        self._boundary_step = -1
        self._shape: pictures.IOShape | None = None  # what the model reads and writes
        self._step_times: deque[tuple[float, int]] = deque(maxlen=60)
        self._next_step_at = 0.0
        self._step_seconds = 0.0  # a training step's recent duration (moving average)
        self.history = History()  # what Undo and Redo go back and forth between
        self.watch: p.WatchTokens | None = None  # the Attention or Samples view is on screen
        self._tokens_sent = (-1, 0.0)  # the step and time of the last ones sent
        self._handlers: dict[type, Callable[[Any], None]] = {
            p.SetConfig: self._set_config,
            p.ChangeConfig: self._change_config,
            p.Play: self._play,
            p.Pause: self._pause,
            p.Step: self._step,
            p.Reset: self._reset,
            p.SetSpeed: self._set_speed,
            p.SaveRun: self._save_run,
            p.OpenRun: self._open_run,
            p.FetchData: self._fetch_data,
            p.ComputeLandscape: self._compute_landscape,
            p.SetLandscapeAuto: self._set_landscape_auto,
            p.ExportOnnx: self._export_onnx,
            p.DecodeKV: self._decode_kv,
            p.RunRecipe: self._run_recipe,
            p.CancelJob: self._cancel_job,
            p.Undo: self._undo,
            p.Redo: self._redo,
            p.WatchTokens: self._watch_tokens,
            p.Shutdown: self._shutdown,
            p.Ping: lambda ping: self.send(p.Pong(ping.number)),
        }

    # ------------------------------------------------------------ plumbing

    def send(self, event: Any) -> None:
        self.conn.send(event)

    def serve(self) -> None:
        self.send(
            p.Ready(p.PROTOCOL_VERSION, available_devices(), str(torch.__version__), catalog())
        )
        while self.running:
            # idle only when nothing computes: a landscape while paused ran at a
            # quarter of its speed, 1/60 s of work then 50 ms of waiting
            computing = self.state == RunState.RUNNING or self.jobs.busy
            timeout = 0.0 if computing else JOB_POLL if self.jobs.jobs else IDLE_POLL
            while self.running and self.conn.poll(timeout):
                self.receive()
                timeout = 0.0
            if self.state == RunState.RUNNING:
                self._guarded(self._run_chunk)
            if self.jobs.jobs:
                self.jobs.advance(CHUNK_SECONDS)
            elif self._landscape_due():
                self.handle(self.landscape_request)
            self._flush()

    def _guarded(self, action: Callable[[], None]) -> bool:
        """Run ``action``; an error becomes an Error event (and a pause), never
        the end of the engine. Returns whether it succeeded."""
        try:
            action()
            return True
        except UserError as exc:  # the person's to fix: the message says how
            self.send(p.Error(str(exc), field=getattr(exc, "field", None)))
        except torch.OutOfMemoryError as exc:  # the run is kept; the device's cache goes
            self._set_state(RunState.PAUSED)
            faults.release_memory()
            device = self.trainer.device if self.trainer is not None else "the device"
            self.send(
                p.Error(
                    f"out of memory on {device}; training is paused and the run kept. Make the"
                    f" model, batch or context smaller. ({exc})",
                    details=traceback.format_exc(),
                )
            )
        except Exception as exc:  # report, pause, keep serving
            self._set_state(RunState.PAUSED)
            self.send(p.Error(f"{type(exc).__name__}: {exc}", details=traceback.format_exc()))
        return False

    def receive(self) -> None:
        """The next message, built from the protocol's types only: anything
        else (random bytes, a foreign class) is answered with an error."""
        try:
            command = decode(self.conn.recv_bytes())
        except MessageError as exc:
            self.send(p.Error(f"the engine could not read a command: {exc}"))
            return
        self.handle(command)

    def handle(self, command: Any) -> None:
        handler = self._handlers.get(type(command))
        if handler is None:
            self.send(p.Error(f"the engine does not know the command {type(command).__name__}"))
            return
        self._guarded(lambda: handler(command))
        self._flush(force=True)

    def _set_state(self, state: RunState) -> None:
        self.state = state
        self._send_status()

    def _send_status(self) -> None:
        trainer = self.trainer
        if trainer is None:
            return
        rate = 0.0
        if len(self._step_times) >= 2:
            (t0, s0), (t1, s1) = self._step_times[0], self._step_times[-1]
            rate = (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
        lr = float(trainer.optimizer.param_groups[0]["lr"])
        memory = memory_in_use(trainer.device)
        self.send(
            p.Status(
                self.state, trainer.step_count, rate, str(trainer.device), memory, lr, process_rss()
            )
        )

    def _flush_due(self, now: float) -> bool:
        """A batch of rows is due: ~30 a second. With steps of a sizeable
        fraction of that (a Transformer's 14 ms), the batch goes at the step
        that ends nearest the due time, not at the first one after it: else
        every third step flushed, 24 times a second instead of 30."""
        return now - self._last_flush >= FLUSH_SECONDS - self._step_seconds / 2

    def _flush(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and not self._flush_due(now):
            return
        self._last_flush = now
        self._send_rows()
        if self.trainer is not None:
            if self.state == RunState.RUNNING:
                self._send_status()
            boundary_due = now - self._last_boundary >= BOUNDARY_SECONDS
            if self.trainer.step_count != self._boundary_step and (
                boundary_due or self.state != RunState.RUNNING
            ):
                self._send_boundary()
            if self.watch is not None and not self._guarded(self._send_tokens):
                self.watch = None  # a bad input is reported once, not every flush

    def _send_rows(self) -> None:
        """The metric rows (and dropped series) gathered since the last send."""
        if self.trainer is not None:
            self.trainer.store.sync()  # rows the probes hold back, into the outbox
        rows = self.outbox.flush()
        if rows is not None:
            self.send(rows)

    def _send_boundary(self) -> None:
        assert self.trainer is not None
        self._last_boundary = time.perf_counter()
        self._boundary_step = self.trainer.step_count
        event = pictures.boundary(self.trainer)
        if event is not None:
            self.send(event)

    def _send_tokens(self, force: bool = False) -> None:
        """Attention maps and samples for the views on screen, when the
        weights moved and at most ~twice a second."""
        trainer, watch = self.trainer, self.watch
        if watch is None or not tokens.is_token_model(trainer):
            return
        assert trainer is not None
        step, now = trainer.step_count, time.perf_counter()
        last_step, last_time = self._tokens_sent
        if not force and (step == last_step or now - last_time < TOKENS_SECONDS):
            return
        self._tokens_sent = (step, now)
        if watch.attention:
            self.send(tokens.attention(trainer, watch))
        if watch.samples:
            self.send(tokens.samples(trainer, watch))

    def _watch_tokens(self, command: p.WatchTokens) -> None:
        if not (command.attention or command.samples):
            self.watch = None
            return
        if tokens.is_token_model(self.trainer):
            assert self.trainer is not None
            tokens.watched_input(self.trainer, command)  # typed text it cannot read: refused
        self.watch = command
        self._send_tokens(force=True)

    # ------------------------------------------------------------ building

    def _build(self, config: ExperimentConfig, reason: str) -> None:
        self.outbox.clear()
        if self.trainer is None:
            if not config.train.threads:  # leave the GUI a core
                torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
            self.trainer = Trainer(config, store=StreamingStore(self.outbox))
        else:
            self.trainer.submit(config)
            self.trainer.reset()
        self._announce_build(reason)

    def _announce_build(self, reason: str) -> None:
        trainer = self.trainer
        assert trainer is not None
        self.jobs.cancel_kind(JobKind.LANDSCAPE)  # it was around weights that are gone
        undo = self.history.undo[-1].brings_back if self.history.undo else ""
        shape, self._shape = self._shape, pictures.io_shape(trainer)
        if shape is not None and shape != self._shape:  # the model follows the data
            reason = f"{reason}; {pictures.io_change(shape, self._shape)}"
        self.send(pictures.built(trainer, reason, undo=undo))
        self._step_times.clear()
        self._boundary_step = -1
        self.send(pictures.signal(trainer))
        self._send_status()
        self._tokens_sent = (-1, 0.0)
        if self.watch is not None and not self._guarded(lambda: self._send_tokens(force=True)):
            self.watch = None  # typed text the new task cannot read

    def _apply(
        self,
        config: ExperimentConfig,
        reason: str = "",
        then: Callable[[ChangeReport, Run | None], None] | None = None,
    ) -> tuple[ChangeReport, Run | None]:
        """Make ``config`` the experiment: live fields on the next step, a
        rebuild when it takes one (``reason``: what its ``Built`` says, else
        the change in words); ``then(report, replaced)`` before it is
        announced (the history is then up to date in ``Built``). The report,
        and the run a rebuild replaced."""
        trainer = self.trainer
        assert trainer is not None
        self._send_rows()  # rows of the old config go out before the change
        replaced: list[Run | None] = []
        trainer.submit(config)
        report = trainer.apply_pending(before_rebuild=lambda: replaced.append(self._kept()))
        rebuilt = report.kind == ChangeKind.REBUILD
        if rebuilt:
            self.outbox.clear()  # the window starts a fresh store with Built
        else:
            self._send_rows()  # series it dropped (histograms binned the old way) go first
        kept = replaced[0] if replaced else None
        if then is not None:
            then(report, kept)
        values = (
            {} if rebuilt else {f: flatten(trainer.config.to_dict()).get(f) for f in report.fields}
        )
        self.send(p.ConfigApplied(report.kind, report.message, values))
        if rebuilt:
            self._announce_build(reason or report.message)
        elif report.kind != ChangeKind.NONE and self.state != RunState.RUNNING:
            self._send_boundary()
        return report, kept

    # ------------------------------------------------------------ training

    def _train(self, steps: int) -> None:
        trainer = self.trainer
        assert trainer is not None
        for _ in range(steps):
            faults.inject("train")
            try:
                trainer.step()
            except TrainingStopped as exc:
                self._set_state(RunState.PAUSED)
                self.send(p.Stopped(str(exc)))
                return
            self._step_times.append((time.perf_counter(), trainer.step_count))

    def _run_chunk(self) -> None:
        trainer = self.trainer
        if trainer is None:
            self._set_state(RunState.READY)
            return
        deadline = time.perf_counter() + CHUNK_SECONDS
        while self.state == RunState.RUNNING and time.perf_counter() < deadline:
            if trainer.step_count >= trainer.config.train.steps:
                self._set_state(RunState.PAUSED)
                self.send(
                    p.Stopped(
                        f"reached train.steps = {trainer.config.train.steps}; raise it to go on"
                    )
                )
                return
            if self.speed > 0:
                now = time.perf_counter()
                if now < self._next_step_at:
                    time.sleep(min(self._next_step_at - now, CHUNK_SECONDS))
                    return
                self._next_step_at = max(now, self._next_step_at) + 1.0 / self.speed
            started = time.perf_counter()
            self._train(1)
            ended = time.perf_counter()
            self._step_seconds = 0.8 * self._step_seconds + 0.2 * (ended - started)
            if self._flush_due(ended):
                return  # the window's next batch is due: send it before the next step

    # ------------------------------------------------------------ commands

    def _play(self, _command: p.Play) -> None:
        if self.trainer is not None:
            self._next_step_at = 0.0
            self._set_state(RunState.RUNNING)

    def _pause(self, _command: p.Pause) -> None:
        if self.trainer is not None:
            self._set_state(RunState.PAUSED)

    def _step(self, command: p.Step) -> None:
        if self.trainer is not None:
            self._set_state(RunState.PAUSED)
            self._train(command.count)
            self._send_status()

    def _reset(self, _command: p.Reset) -> None:
        if self.trainer is not None:
            kept = self._kept()
            self.trainer.reset()
            self.outbox.clear()
            self.state = RunState.PAUSED
            if kept is not None:  # a fresh start is undoable when something was trained
                self.history.record(Step("reset", None, kept))
            self._announce_build("reset")
            self._send_history()

    def _set_speed(self, command: p.SetSpeed) -> None:
        self.speed = max(0.0, float(command.steps_per_second))
        self._next_step_at = 0.0

    def _shutdown(self, _command: p.Shutdown) -> None:
        self.jobs.cancel_all()
        self.running = False


def serve(conn: Any) -> None:
    """Run the engine loop until Shutdown or until the other end goes away."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # import torch._dynamo now, not mid-run
    engine = Engine(conn)
    with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
        engine.serve()  # ends on Shutdown, or when the GUI closes the connection
