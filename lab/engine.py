"""The engine loop for the app: receives commands over a connection, runs the
trainer between them, and streams events back — metric rows at most ~30 times a
second, status, the model summary, signal propagation at init and the decision
boundary. Errors become ``Error`` events; the loop itself never dies of them.

Tests drive ``Engine`` in-process over a ``multiprocessing.Pipe``; the app runs
it in its own process through ``lab.engine_entry``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lab import protocol as p
from lab.config import ConfigError, ExperimentConfig
from lab.data import examples_per_class
from lab.devices import available_devices, memory_in_use, process_rss
from lab.export import ExportError, export_onnx
from lab.landscape import LandscapeJob
from lab.metrics import MetricStore
from lab.models import summarize
from lab.signal import signal_propagation
from lab.store import StoreError, load_run, restore, save_run
from lab.trainer import Trainer, TrainingStopped

FLUSH_SECONDS = 1 / 30  # metric batches: at most ~30 a second
THUMBNAIL_IMAGES_PER_CLASS = 8
CHUNK_SECONDS = 1 / 60  # commands are looked at least this often while running
BOUNDARY_SECONDS = 0.25  # decision boundary refresh while running
BOUNDARY_GRID = 80
LANDSCAPE_UPDATE_SECONDS = 0.1  # partial landscapes: at most ~10 a second


class StreamingStore(MetricStore):
    """A metric store that also queues every new row for the GUI."""

    def __init__(self, outbox: p.Outbox) -> None:
        super().__init__()
        self.outbox = outbox

    def append(
        self, name: str, step: int, values: Any, columns: Any = None, capacity: Any = None
    ) -> None:
        super().append(name, step, values, columns, capacity)
        series = self._series[name]
        self.outbox.add(name, series.columns, step, series.latest)

    def extend(self, name: str, steps: Any, rows: Any, columns: Any, capacity: Any = None) -> None:
        super().extend(name, steps, rows, columns, capacity)
        series = self._series[name]
        self.outbox.add_rows(
            name, series.columns, np.asarray(steps), np.asarray(rows).reshape(len(steps), -1)
        )


class Engine:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.outbox = p.Outbox()
        self.trainer: Trainer | None = None
        self.state = "ready"
        self.speed = 0.0  # steps per second; 0 = as fast as possible
        self.running = True
        self._last_flush = 0.0
        self._last_boundary = 0.0
        self._boundary_step = -1
        self._step_times: deque[tuple[float, int]] = deque(maxlen=60)
        self.landscape: LandscapeJob | None = None
        self.landscape_request = p.ComputeLandscape()
        self.landscape_auto = 0
        self._landscape_sent = 0.0
        self._landscape_step = -(10**9)  # step of the last landscape started
        self._send_lock = threading.Lock()
        self._next_step_at = 0.0

    # ------------------------------------------------------------ plumbing

    def send(self, event: Any) -> None:
        with self._send_lock:  # the export worker sends too; a Connection is not thread-safe
            self.conn.send(event)

    def serve(self) -> None:
        self.send(p.Ready(p.PROTOCOL_VERSION, available_devices(), str(torch.__version__)))
        while self.running:
            # idle only when nothing computes: a landscape while paused ran at a
            # quarter of its speed, 1/60 s of work then 50 ms of waiting
            busy = self.state == "running" or self.landscape is not None
            timeout = 0.0 if busy else 0.05
            while self.running and self.conn.poll(timeout):
                self.handle(self.conn.recv())
                timeout = 0.0
            if self.state == "running":
                self._guarded(self._run_chunk)
            if self.landscape is not None and not self._guarded(self._advance_landscape):
                self._drop_landscape()  # a failed landscape is not retried chunk after chunk
            elif self.landscape is None and self._landscape_due():
                self.handle(self.landscape_request)
            self._flush()

    def _guarded(self, action: Callable[[], None]) -> bool:
        """Run ``action``; an error becomes an Error event (and a pause), never
        the end of the engine. Returns whether it succeeded."""
        try:
            action()
            return True
        except ConfigError as exc:
            self.send(p.Error(str(exc), field=exc.field))
        except (StoreError, ExportError) as exc:
            self.send(p.Error(str(exc)))
        except Exception as exc:  # report, pause, keep serving
            self._set_state("paused")
            self.send(p.Error(f"{type(exc).__name__}: {exc}", details=traceback.format_exc()))
        return False

    def handle(self, command: Any) -> None:
        handler = getattr(self, f"on_{type(command).__name__}", None)

        def run() -> None:
            if handler is None:
                raise TypeError(f"unknown command {type(command).__name__}")
            handler(command)

        self._guarded(run)
        self._flush(force=True)

    def _set_state(self, state: str) -> None:
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

    def _flush(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_flush < FLUSH_SECONDS:
            return
        self._last_flush = now
        self._send_rows()
        if self.trainer is not None:
            if self.state == "running":
                self._send_status()
            boundary_due = now - self._last_boundary >= BOUNDARY_SECONDS
            if self.trainer.step_count != self._boundary_step and (
                boundary_due or self.state != "running"
            ):
                self._send_boundary()

    def _send_rows(self) -> None:
        """The metric rows gathered since the last send, if any."""
        if self.trainer is not None:
            self.trainer.store.sync()  # rows the probes hold back, into the outbox
        rows = self.outbox.flush()
        if rows is not None:
            self.send(rows)

    # ------------------------------------------------------------ building

    def _build(self, config: ExperimentConfig, reason: str) -> None:
        self.outbox.rows.clear()
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
        self._drop_landscape()  # it was around weights that are gone
        summary = summarize(trainer.model, trainer.data.input_shape)
        rows = [
            (layer.name, layer.description, layer.output_shape, layer.n_params)
            for layer in summary.layers
        ]
        x, y = trainer.data.x_train, trainer.data.y_train
        if x.ndim > 2:  # images: a few of each class, not a scatter
            x, y = examples_per_class(x, y, THUMBNAIL_IMAGES_PER_CLASS)
        self.send(
            p.Built(
                trainer.config.to_dict(),
                rows,
                summary.n_params,
                trainer.data.task,
                x[:2000],
                y[:2000],
                reason,
                trainer.data.class_names,
            )
        )
        self._step_times.clear()
        self._boundary_step = -1
        self._send_signal()
        self._send_status()

    def _send_signal(self) -> None:
        trainer = self.trainer
        assert trainer is not None
        snap = signal_propagation(trainer.config, data=trainer.data)
        self.send(
            p.SignalPropagation(
                snap.layer_names,
                snap.act_names,
                snap.act_std,
                snap.output_std,
                snap.act_grad_norm,
                snap.grad_norm,
            )
        )

    def _send_boundary(self) -> None:
        trainer = self.trainer
        assert trainer is not None
        self._last_boundary = time.perf_counter()
        self._boundary_step = trainer.step_count
        x = trainer.data.x_train
        if x.ndim != 2 or x.shape[1] not in (1, 2):
            return
        low, high = x.min(axis=0), x.max(axis=0)
        margin = 0.1 * (high - low)
        low, high = low - margin, high + margin
        if x.shape[1] == 1:
            xs = np.linspace(low[0], high[0], 200, dtype=np.float32)
            values = trainer.predict(xs[:, None])[:, 0]
            self.send(p.DecisionBoundary(xs, None, values, None, trainer.step_count))
            return
        xs = np.linspace(low[0], high[0], BOUNDARY_GRID, dtype=np.float32)
        ys = np.linspace(low[1], high[1], BOUNDARY_GRID, dtype=np.float32)
        grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        logits = trainer.predict(grid)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        shape = (BOUNDARY_GRID, BOUNDARY_GRID)  # rows follow ys, columns xs
        self.send(
            p.DecisionBoundary(
                xs,
                ys,
                probs.argmax(axis=1).reshape(shape),
                probs.max(axis=1).reshape(shape),
                trainer.step_count,
            )
        )

    # ------------------------------------------------------------ training

    def _train(self, steps: int) -> None:
        trainer = self.trainer
        assert trainer is not None
        for _ in range(steps):
            try:
                trainer.step()
            except TrainingStopped as exc:
                self._set_state("paused")
                self.send(p.Stopped(str(exc)))
                return
            self._step_times.append((time.perf_counter(), trainer.step_count))

    def _run_chunk(self) -> None:
        trainer = self.trainer
        if trainer is None:
            self._set_state("ready")
            return
        deadline = time.perf_counter() + CHUNK_SECONDS
        while self.state == "running" and time.perf_counter() < deadline:
            if trainer.step_count >= trainer.config.train.steps:
                self._set_state("paused")
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
            self._train(1)

    # ------------------------------------------------------------ landscapes

    def _landscape_due(self) -> bool:
        trainer = self.trainer
        if not self.landscape_auto or trainer is None or self.state != "running":
            return False
        return trainer.step_count - self._landscape_step >= self.landscape_auto

    def _advance_landscape(self) -> None:
        """Compute chunks for up to one training chunk's time, then report."""
        job = self.landscape
        assert job is not None
        deadline = time.perf_counter() + CHUNK_SECONDS
        going = True
        while going and time.perf_counter() < deadline:
            going = job.advance()
        now = time.perf_counter()
        if not going or now - self._landscape_sent >= LANDSCAPE_UPDATE_SECONDS:
            self._send_landscape(job, cancelled=False)
        if not going:
            self._drop_landscape()

    def _send_landscape(self, job: LandscapeJob, cancelled: bool) -> None:
        self._landscape_sent = time.perf_counter()
        r = job.result
        self.send(
            p.LandscapeUpdate(
                job.step,
                r.kind,
                r.surface.alphas,
                r.surface.betas,
                r.surface.losses.copy(),
                job.fraction,
                job.complete,
                cancelled,
                r.center_loss,
                r.trajectory,
                r.trajectory_steps,
                r.explained,
                r.n_points,
                r.line_t,
                r.line_losses.copy(),
                r.direction_norms,
            )
        )

    def on_ComputeLandscape(self, command: p.ComputeLandscape) -> None:
        if self.trainer is None:
            return
        try:
            job = LandscapeJob(
                self.trainer,
                kind=command.kind,
                resolution=command.resolution,
                span=command.span,
                n_points=command.n_points,
                seed=command.seed,
            )
        except ValueError as exc:
            self.send(p.Error(f"landscape: {exc}"))
            return
        self.landscape_request = command
        self._drop_landscape()  # a new request replaces one under way
        self.landscape = job
        self._landscape_step = self.trainer.step_count

    def on_CancelLandscape(self, _command: p.CancelLandscape) -> None:
        if self.landscape is not None:
            self._send_landscape(self.landscape, cancelled=True)
            self._drop_landscape()

    def _drop_landscape(self) -> None:
        """Forget the landscape under way, freeing what it holds now."""
        if self.landscape is not None:
            self.landscape.close()
            self.landscape = None

    def on_SetLandscapeAuto(self, command: p.SetLandscapeAuto) -> None:
        self.landscape_auto = max(0, int(command.every_steps))

    # ------------------------------------------------------------ commands

    def on_SetConfig(self, command: p.SetConfig) -> None:
        config = ExperimentConfig.from_dict(command.config)
        if self.trainer is None:
            self._build(config, "start")
            return
        self._send_rows()  # rows of the old config go out before the change
        self.trainer.submit(config)
        report = self.trainer.apply_pending()
        self.send(p.ConfigApplied(report.kind, report.message, self.trainer.config.to_dict()))
        if report.kind == "rebuild":
            self._announce_build(report.message)
        elif report.kind != "none" and self.state != "running":
            self._send_boundary()

    def on_Play(self, _command: p.Play) -> None:
        if self.trainer is not None:
            self._next_step_at = 0.0
            self._set_state("running")

    def on_Pause(self, _command: p.Pause) -> None:
        if self.trainer is not None:
            self._set_state("paused")

    def on_Step(self, command: p.Step) -> None:
        if self.trainer is not None:
            self._set_state("paused")
            self._train(command.count)
            self._send_status()

    def on_Reset(self, _command: p.Reset) -> None:
        if self.trainer is not None:
            self.trainer.reset()
            self.state = "paused"
            self._announce_build("reset")

    def on_SetSpeed(self, command: p.SetSpeed) -> None:
        self.speed = max(0.0, float(command.steps_per_second))
        self._next_step_at = 0.0

    def on_SaveRun(self, command: p.SaveRun) -> None:
        if self.trainer is None:
            raise StoreError("nothing to save yet")
        save_run(command.path, self.trainer)
        self.send(p.Saved(command.path))

    def on_OpenRun(self, command: p.OpenRun) -> None:
        run = load_run(command.path)
        self.state = "paused"
        if self.trainer is None:
            self._build(run.config, "opened")
        trainer = self.trainer
        assert trainer is not None
        restore(trainer, run)
        trainer.store.series = dict(run.metrics.series)  # the curves as saved
        self._announce_build(f"opened {command.path}")
        for name, series in trainer.store.series.items():
            self.outbox.rows[name] = (series.columns, list(series.steps), list(series.values))
        self.send(p.Opened(command.path))

    def on_ExportOnnx(self, command: p.ExportOnnx) -> None:
        trainer = self.trainer
        if trainer is None:
            raise ExportError("nothing to export yet")
        model = copy.deepcopy(trainer.model)  # the weights of now; training may go on
        shape, config_json = trainer.data.input_shape, trainer.config.to_json()

        def work() -> None:
            try:
                report = export_onnx(
                    model,
                    shape,
                    command.path,
                    config_json=config_json,
                    legacy=command.legacy,
                    progress=lambda stage: self.send(p.ExportProgress(command.path, stage)),
                )
                self.send(p.ExportDone(dataclasses.asdict(report)))
            except ExportError as exc:
                self.send(p.Error(f"export: {exc}"))
            except Exception as exc:  # a full disk, a bad path: say so, keep serving
                self.send(
                    p.Error(f"export: {type(exc).__name__}: {exc}", details=traceback.format_exc())
                )

        threading.Thread(target=work, name="knoblab-export", daemon=True).start()

    def on_Shutdown(self, _command: p.Shutdown) -> None:
        self.running = False


def serve(conn: Any) -> None:
    """Run the engine loop until Shutdown or until the other end goes away."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # import torch._dynamo now, not mid-run
    engine = Engine(conn)
    with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
        engine.serve()  # ends on Shutdown, or when the GUI closes the connection
