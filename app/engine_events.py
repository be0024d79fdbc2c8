"""What the window does with each event from the engine: one handler per
event type, in one table. The handlers only update widgets and the window's
copy of the experiment; they never compute."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QStyle

from app.export_dialog import ExportReportDialog
from lab.core import protocol as p
from lab.core.config import ExperimentConfig
from lab.core.metrics import MetricStore
from lab.core.protocol import ChangeKind, JobKind, JobOutcome, RunState

if TYPE_CHECKING:
    from app.main_window import MainWindow


class EngineEvents:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.handlers: dict[type, Callable[[Any], None]] = {
            p.Ready: self.ready,
            p.Built: self.built,
            p.ConfigApplied: self.config_applied,
            p.MetricRows: self.metric_rows,
            p.Status: self.status,
            p.SignalPropagation: self.signal,
            p.DecisionBoundary: self.boundary,
            p.AttentionMaps: self.attention,
            p.Samples: self.samples,
            p.JobProgress: self.job_progress,
            p.JobFinished: self.job_finished,
            p.Stopped: self.stopped,
            p.Error: lambda event: window.show_error(event.message, event.field, event.details),
            p.Saved: self.saved,
            p.Opened: lambda event: self.run_folder(event.path, "opened"),
        }

    def handle(self, event: Any) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)

    def ready(self, event: p.Ready) -> None:
        w = self.window
        if event.version != p.PROTOCOL_VERSION:
            w.client.stop()
            w.engine_down(
                f"The engine speaks protocol version {event.version}; this window speaks"
                f" {p.PROTOCOL_VERSION}. They come from different Knoblab versions:"
                " reinstall Knoblab so both are the same."
            )
            return
        w.device.blockSignals(True)
        w.device.clear()
        w.device.addItems(event.devices)
        if w.config.train.device in event.devices:
            w.device.setCurrentText(w.config.train.device)
        w.device.blockSignals(False)
        w.recipe_catalog = event.recipes
        if w.recipes is not None:
            w.recipes.set_catalog(event.recipes)
        w.send_speed()
        w.watch_sent = None  # a fresh engine watches nothing yet
        w.client.send(p.SetConfig(w.config.to_dict()))
        w.notice(f"engine ready: torch {event.torch_version}, devices {', '.join(event.devices)}")

    def built(self, event: p.Built) -> None:
        w = self.window
        w.config = ExperimentConfig.from_dict(event.config)
        w.show_config(w.config)
        if not w.banner.sticky:
            w.banner.dismiss()  # a fresh experiment: old pauses and errors no longer apply
        w.model_panel.set_summary(event.summary_rows, event.n_params)
        w.data_panel.set_data(event.x_train, event.y_train, event.task, event.class_names)
        tokens = event.task == "next_token"
        if not tokens:
            w.boundary_view.set_data(event.x_train, event.y_train, event.class_names)
        for name in ("activation_view", "landscape_view", "attention_view", "samples_view"):
            if name in w.tabs.views:  # what belonged to other weights
                w.tabs.views[name].clear()
        w.tabs.show_task(tokens)
        w.send_watch()
        w.vocab = len(event.class_names)
        if "kv_view" in w.tabs.views:
            w.tabs.views["kv_view"].set_lab_model(w.config, w.vocab)
        w.show_probe_settings(w.config)
        w.tabs.set_store(MetricStore())
        w.undo_action.setEnabled(bool(event.undo))
        w.undo_action.setToolTip(
            f"bring back {event.undo}" if event.undo else "nothing was replaced yet"
        )
        if event.undo and event.reason != "start":
            reason = "Started over" if event.reason == "reset" else event.reason
            w.banner.show_message(
                f"{reason[:1].upper()}{reason[1:]}. Undo brings back the run it replaced:"
                f" {event.undo}.",
                "warning",
                ("Undo", w.undo),
            )
        elif event.reason != "start":
            w.notice(event.reason)
        w.update_title()

    def config_applied(self, event: p.ConfigApplied) -> None:
        w = self.window
        if event.kind != ChangeKind.NONE:
            w.notice(event.message)
        applied = ExperimentConfig.from_dict(event.config)
        if applied.probes != w.probes_shown and event.kind != ChangeKind.REBUILD:
            # histograms binned the old way were dropped (MetricRows.dropped) before this
            w.show_probe_settings(applied)

    def metric_rows(self, event: p.MetricRows) -> None:
        w = self.window
        for prefix in event.dropped:  # as the engine did, before its newer rows
            w.store.drop(prefix)
        for name, (columns, steps, values) in event.series.items():
            w.store.extend(name, steps, values, columns)
        for view in w.tabs.store_views():
            view.rows_arrived(list(event.series))

    def status(self, event: p.Status) -> None:
        w = self.window
        w.engine_state = event.state
        running = event.state == RunState.RUNNING
        w.play_action.setText("Pause" if running else "Play")
        icon = (
            QStyle.StandardPixmap.SP_MediaPause if running else QStyle.StandardPixmap.SP_MediaPlay
        )
        w.play_action.setIcon(w.style().standardIcon(icon))
        labels = w.status_labels
        labels["state"].setText(event.state)
        labels["step"].setText(f"step {event.step:,}")
        labels["rate"].setText(f"{event.steps_per_second:,.0f} steps/s" if running else "")
        labels["device"].setText(event.device)
        memory = []
        if event.memory_bytes is not None:
            memory.append(f"CUDA allocated {event.memory_bytes / 2**20:,.1f} MiB")
        if event.rss_bytes is not None:
            memory.append(f"engine RSS {event.rss_bytes / 2**20:,.0f} MiB")
        labels["memory"].setText(" · ".join(memory))

    def signal(self, event: p.SignalPropagation) -> None:
        self.window.signal_view.set_signal(
            event.layer_names, event.output_std, event.act_grad_norm, event.grad_norm
        )

    def boundary(self, event: p.DecisionBoundary) -> None:
        self.window.boundary_view.set_boundary(
            event.xs, event.ys, event.values, event.confidence, event.step
        )

    def attention(self, event: p.AttentionMaps) -> None:
        self.window.tabs.view("attention_view").set_maps(event.step, event.tokens, event.maps)

    def samples(self, event: p.Samples) -> None:
        text = self.window.config.data.name == "chars"
        self.window.tabs.view("samples_view").set_samples(event, text)

    def job_progress(self, event: p.JobProgress) -> None:
        w = self.window
        if event.kind == JobKind.LANDSCAPE:
            view = w.landscape_view
            view.job_bar.progress(event.job, event.fraction, event.message)
            if event.partial is not None:
                view.set_landscape(event.partial)
        elif event.kind == JobKind.EXPORT:
            w.export_bar.show()
            w.export_bar.progress(event.job, event.fraction, event.message)
        elif event.kind == JobKind.DECODE:
            view = w.tabs.view("kv_view")
            view.job_bar.progress(event.job, event.fraction, event.message)
            if event.partial is not None:
                view.set_decode(event.partial)
        elif event.kind == JobKind.RECIPE and w.recipes is not None:
            w.recipes.progress(event)

    def job_finished(self, event: p.JobFinished) -> None:
        w = self.window
        if event.kind == JobKind.LANDSCAPE:
            view = w.landscape_view
            view.job_bar.finished(event.job, event.outcome, event.error)
            if event.result is not None:
                view.set_landscape(event.result, event.outcome)
        elif event.kind == JobKind.DECODE:
            view = w.tabs.view("kv_view")
            view.job_bar.finished(event.job, event.outcome, event.error)
            if event.result is not None:
                view.set_decode(event.result)
        elif event.kind == JobKind.RECIPE and w.recipes is not None:
            w.recipes.finished(event)
        elif event.kind == JobKind.EXPORT:
            w.export_bar.finished(event.job, event.outcome, event.error)
            if event.outcome == JobOutcome.DONE:
                w.export_bar.hide()
                w.export_dialog = ExportReportDialog(event.result, w)
                w.export_dialog.show()  # not modal: training and the views go on
                w.notice(f"exported and verified: {event.result['path']}")
        if event.outcome == JobOutcome.FAILED:
            w.show_error(f"{event.kind}: {event.error}", details=event.details)

    def stopped(self, event: p.Stopped) -> None:
        self.window.banner.show_message(f"Training paused: {event.reason}", "warning")

    def saved(self, event: p.Saved) -> None:
        if not event.autosave:  # an autosave is not the run's folder: title and path stay
            self.run_folder(event.path, "saved run to")

    def unresponsive(self, seconds: float) -> None:
        """The engine stopped answering (or, ``seconds`` 0, answers again)."""
        w = self.window
        if seconds:
            w.banner.show_message(
                f"The engine has not answered for {seconds:.0f} s: it is stuck in one long"
                " computation, or frozen. Wait, or restart it (what was not saved is lost).",
                "error",
                ("Restart engine", w.restart_engine),
            )
        elif w.banner.sticky and "not answered" in w.banner.text():
            w.banner.dismiss()

    def run_folder(self, path: str, what: str) -> None:
        """The run now lives in ``path`` (saved there, or opened from it)."""
        self.window.run_path = path
        self.window.update_title()
        self.window.notice(f"{what} {path}")
