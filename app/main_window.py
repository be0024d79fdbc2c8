"""The Knoblab window: panels on the left and right, live views in the centre,
the engine in its own process. The GUI thread only draws, on a ~30 Hz timer."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QScrollArea,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.engine_client import EngineClient
from app.export_dialog import ExportReportDialog
from app.panels import DataPanel, KnobsPanel, ModelPanel
from app.tabs import ViewTabs
from app.toolbar import SPEEDS, RunToolbar
from lab.core import protocol as p
from lab.core.config import ConfigError, ExperimentConfig
from lab.core.coupling import coupled_changes
from lab.core.metrics import MetricStore
from lab.core.presets import DEFAULT_PRESET, PRESETS
from lab.core.protocol import ChangeKind, JobKind, JobOutcome, RunState
from lab.core.schedule import lr_curve
from widgets.banner import Banner
from widgets.base import ViewPanel
from widgets.job_bar import JobBar
from widgets.landscape_view import LandscapeView

TICK_MS = 33  # ~30 Hz


def scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    return area


class MainWindow(QMainWindow):
    def __init__(
        self, settings: QSettings | None = None, client: EngineClient | None = None
    ) -> None:
        super().__init__()
        self.setWindowTitle("Knoblab")
        self.settings = settings or QSettings("Knoblab", "Knoblab")
        self.config = self._last_config()
        self.engine_state: RunState | None = None  # None until the engine reports
        self.first_paint_at: float | None = None
        self.client = client or EngineClient(self)
        self.client.event.connect(self.on_event)
        self.client.died.connect(self.on_engine_died)
        self._job_ids = itertools.count(1)
        self._handlers: dict[type, Callable[[Any], None]] = {
            p.Ready: self._ready,
            p.Built: self._built,
            p.ConfigApplied: self._config_applied,
            p.MetricRows: self._metric_rows,
            p.Status: self._status,
            p.SignalPropagation: self._signal,
            p.DecisionBoundary: self._boundary,
            p.JobProgress: self._job_progress,
            p.JobFinished: self._job_finished,
            p.Stopped: self._stopped,
            p.Error: self._error,
            p.Saved: lambda event: self.notice(f"saved run to {event.path}"),
            p.Opened: lambda event: self.notice(f"opened {event.path}"),
        }

        # centre: live views
        self.tabs = ViewTabs()
        self.tabs.viewCreated.connect(self._wire_view)
        self.tabs.view("loss_view")
        self._probes_shown = self.config.probes  # the probe settings the views label
        self.banner = Banner()
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.tabs, 1)
        centre_layout.addWidget(self.banner)
        self.setCentralWidget(centre)

        # sides: panels
        self.model_panel, self.data_panel, self.knobs_panel = (
            ModelPanel(),
            DataPanel(),
            KnobsPanel(),
        )
        for panel in (self.model_panel, self.data_panel, self.knobs_panel):
            panel.changed.connect(self.on_field_changed)
        self.model_panel.presetChosen.connect(self.load_preset)
        self._dock("Model", self.model_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Data", self.data_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Knobs", self.knobs_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._build_toolbar()
        self._build_status_bar()
        self.show_config(self.config)
        self.restoreGeometry(self.settings.value("geometry", b""))
        self.restoreState(self.settings.value("window_state", b""))
        if not self.settings.contains("geometry"):
            self.resize(1500, 900)

        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.redraws = 0

    # ------------------------------------------------------------ views

    def _wire_view(self, view: ViewPanel) -> None:
        if isinstance(view, LandscapeView):
            view.computeRequested.connect(
                lambda kind, grid, span, points: self.client.send(
                    p.ComputeLandscape(next(self._job_ids), kind, grid, span, points)
                )
            )
            view.job_bar.cancelRequested.connect(self.cancel_job)
            view.autoChanged.connect(lambda steps: self.client.send(p.SetLandscapeAuto(steps)))

    loss_view = property(lambda self: self.tabs.view("loss_view"))
    gradient_view = property(lambda self: self.tabs.view("gradient_view"))
    activation_view = property(lambda self: self.tabs.view("activation_view"))
    boundary_view = property(lambda self: self.tabs.view("boundary_view"))
    signal_view = property(lambda self: self.tabs.view("signal_view"))
    landscape_view = property(lambda self: self.tabs.view("landscape_view"))

    @property
    def views(self) -> list[ViewPanel]:
        return self.tabs.all()

    @property
    def store(self) -> MetricStore:
        return self.tabs.store

    # ------------------------------------------------------------ building

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(scrolled(widget))
        self.addDockWidget(area, dock)

    def _build_toolbar(self) -> None:
        bar = self.toolbar = RunToolbar(self)
        self.addToolBar(bar)
        self.play_action, self.step_action = bar.play_action, bar.step_action
        self.reset_action, self.export_action = bar.reset_action, bar.export_action
        self.speed, self.device, self.preset_box = bar.speed, bar.device, bar.preset_box
        self.speed.currentTextChanged.connect(
            lambda text: self.client.send(p.SetSpeed(SPEEDS[text]))
        )
        self.device.currentTextChanged.connect(
            lambda name: self.on_field_changed("train.device", name)
        )
        self.preset_box.activated.connect(self._toolbar_preset)

    def _build_status_bar(self) -> None:
        self.export_bar = JobBar()
        self.export_bar.cancelRequested.connect(self.cancel_job)
        self.export_bar.hide()
        self.statusBar().addWidget(self.export_bar)
        self.status_labels = {
            name: QLabel("") for name in ("state", "step", "rate", "device", "memory")
        }
        for label in self.status_labels.values():
            self.statusBar().addPermanentWidget(label)
        self.status_labels["state"].setText("engine starting…")

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.client.start()
        self.timer.start()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt naming)
        if self.first_paint_at is None:
            self.first_paint_at = time.perf_counter()
        super().paintEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("last_config", self.config.to_json())
        self.settings.sync()
        self.timer.stop()
        self.client.stop()
        super().closeEvent(event)

    def _last_config(self) -> ExperimentConfig:
        text = self.settings.value("last_config", "")
        if text:
            try:
                return ExperimentConfig.from_json(str(text))
            except ConfigError:
                pass  # an older or damaged setting: start from the default preset
        return PRESETS[DEFAULT_PRESET]

    def tick(self) -> None:
        self.client.poll()
        view = self.tabs.currentWidget()
        if view is not None and view.dirty:
            view.refresh()
            self.redraws += 1

    # ------------------------------------------------------------ config

    def show_config(self, config: ExperimentConfig) -> None:
        self.model_panel.set_config(config)
        self.data_panel.set_config(config)
        self.knobs_panel.set_config(config)

    def on_field_changed(self, path: str, value: Any) -> None:
        changes = coupled_changes(self.config, path, value)
        try:
            new = self.config.with_changes(changes)
        except ConfigError as exc:
            self.show_error(str(exc), exc.field)
            return
        self.clear_error()
        self.apply_config(new, refresh_panels=len(changes) > 1)  # coupled fields changed too

    def _show_probe_settings(self, config: ExperimentConfig) -> None:
        self._probes_shown = config.probes
        self.tabs.show_probe_settings(config)

    def apply_config(self, config: ExperimentConfig, refresh_panels: bool = True) -> None:
        self.config = config
        if refresh_panels:
            self.show_config(config)
        else:
            self.knobs_panel.schedule.set_curve(*lr_curve(config.optim, config.train.steps))
            self.knobs_panel.show_used(config)  # an optimiser, schedule or clip change
        self.client.send(p.SetConfig(config.to_dict()))

    def load_preset(self, name: str) -> None:
        self.clear_error()
        self.apply_config(PRESETS[name])

    def _toolbar_preset(self, index: int) -> None:
        if index > 0:
            self.load_preset(self.preset_box.itemText(index))
            self.preset_box.setCurrentIndex(0)

    # ------------------------------------------------------------ messages

    def show_error(self, message: str, field: str | None = None) -> None:
        for panel in (self.model_panel, self.data_panel, self.knobs_panel):
            owned = field is not None and field in panel.form.editors
            panel.form.show_error(field if owned else None, message if owned else "")
        if not self.banner.sticky:
            self.banner.show_message(f"⚠ {message}", "error")

    def clear_error(self) -> None:
        for panel in (self.model_panel, self.data_panel, self.knobs_panel):
            panel.form.show_error(None, "")
        if not self.banner.sticky:
            self.banner.dismiss()

    def notice(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    # ------------------------------------------------------------ toolbar

    def toggle_play(self) -> None:
        self.client.send(p.Pause() if self.engine_state == RunState.RUNNING else p.Play())

    def step_once(self) -> None:
        self.client.send(p.Step(1))

    def reset(self) -> None:
        self.client.send(p.Reset())

    def save_run(self, path: str | None = None) -> None:
        path = path or QFileDialog.getExistingDirectory(self, "Save run into folder")
        if path:
            self.client.send(p.SaveRun(path))

    def open_run(self, path: str | None = None) -> None:
        path = path or QFileDialog.getExistingDirectory(self, "Open run folder")
        if path:
            self.client.send(p.OpenRun(path))

    def export_onnx(self, path: str | None = None, legacy: bool = False) -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export to ONNX", f"{self.config.name}.onnx", "ONNX (*.onnx)"
            )
        if path:
            job = next(self._job_ids)
            self.client.send(p.ExportOnnx(job, path, legacy))
            self.export_bar.started(job, f"exporting to {path}…")
            self.export_bar.show()

    def cancel_job(self, job: int) -> None:
        self.client.send(p.CancelJob(job))

    def restart_engine(self) -> None:
        self.banner.dismiss()
        self.status_labels["state"].setText("engine starting…")
        self.client.start()

    # ------------------------------------------------------------ events

    def on_event(self, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _ready(self, event: p.Ready) -> None:
        if event.version != p.PROTOCOL_VERSION:
            self.client.stop()
            self._engine_down(
                f"The engine speaks protocol version {event.version}; this window speaks"
                f" {p.PROTOCOL_VERSION}. They come from different Knoblab versions:"
                " reinstall Knoblab so both are the same."
            )
            return
        self.device.blockSignals(True)
        self.device.clear()
        self.device.addItems(event.devices)
        if self.config.train.device in event.devices:
            self.device.setCurrentText(self.config.train.device)
        self.device.blockSignals(False)
        self.client.send(p.SetSpeed(SPEEDS[self.speed.currentText()]))
        self.client.send(p.SetConfig(self.config.to_dict()))
        self.notice(
            f"engine ready: torch {event.torch_version}, devices {', '.join(event.devices)}"
        )

    def _built(self, event: p.Built) -> None:
        self.config = ExperimentConfig.from_dict(event.config)
        self.show_config(self.config)
        if not self.banner.sticky:
            self.banner.dismiss()  # a fresh experiment: old pauses and errors no longer apply
        self.model_panel.set_summary(event.summary_rows, event.n_params)
        self.data_panel.thumbnail.set_data(
            event.x_train, event.y_train, event.task, event.class_names
        )
        self.boundary_view.set_data(event.x_train, event.y_train, event.class_names)
        if "activation_view" in self.tabs.views:
            self.activation_view.clear()
        self._show_probe_settings(self.config)
        self.tabs.set_store(MetricStore())
        if event.reason not in ("start",):
            self.notice(event.reason)

    def _config_applied(self, event: p.ConfigApplied) -> None:
        if event.kind != ChangeKind.NONE:
            self.notice(event.message)
        applied = ExperimentConfig.from_dict(event.config)
        if applied.probes != self._probes_shown and event.kind != ChangeKind.REBUILD:
            # histograms binned the old way were dropped (MetricRows.dropped) before this
            self._show_probe_settings(applied)

    def _metric_rows(self, event: p.MetricRows) -> None:
        for prefix in event.dropped:  # as the engine did, before its newer rows
            self.store.drop(prefix)
        for name, (columns, steps, values) in event.series.items():
            self.store.extend(name, steps, values, columns)
        for view in self.tabs.store_views():
            view.rows_arrived(list(event.series))

    def _status(self, event: p.Status) -> None:
        self.engine_state = event.state
        running = event.state == RunState.RUNNING
        self.play_action.setText("Pause" if running else "Play")
        icon = (
            QStyle.StandardPixmap.SP_MediaPause if running else QStyle.StandardPixmap.SP_MediaPlay
        )
        self.play_action.setIcon(self.style().standardIcon(icon))
        labels = self.status_labels
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

    def _signal(self, event: p.SignalPropagation) -> None:
        self.signal_view.set_signal(
            event.layer_names, event.output_std, event.act_grad_norm, event.grad_norm
        )

    def _boundary(self, event: p.DecisionBoundary) -> None:
        self.boundary_view.set_boundary(
            event.xs, event.ys, event.values, event.confidence, event.step
        )

    def _job_progress(self, event: p.JobProgress) -> None:
        if event.kind == JobKind.LANDSCAPE:
            view = self.landscape_view
            view.job_bar.progress(event.job, event.fraction, event.message)
            if event.partial is not None:
                view.set_landscape(event.partial)
        elif event.kind == JobKind.EXPORT:
            self.export_bar.show()
            self.export_bar.progress(event.job, event.fraction, event.message)

    def _job_finished(self, event: p.JobFinished) -> None:
        if event.kind == JobKind.LANDSCAPE:
            view = self.landscape_view
            view.job_bar.finished(event.job, event.outcome, event.error)
            if event.result is not None:
                view.set_landscape(event.result, event.outcome)
        elif event.kind == JobKind.EXPORT:
            self.export_bar.finished(event.job, event.outcome, event.error)
            if event.outcome == JobOutcome.DONE:
                self.export_bar.hide()
                self.export_dialog = ExportReportDialog(event.result, self)
                self.export_dialog.show()  # not modal: training and the views go on
                self.notice(f"exported and verified: {event.result['path']}")
        if event.outcome == JobOutcome.FAILED:
            self.show_error(f"{event.kind}: {event.error}")

    def _stopped(self, event: p.Stopped) -> None:
        self.banner.show_message(f"Training paused: {event.reason}", "warning")

    def _error(self, event: p.Error) -> None:
        self.show_error(event.message, event.field)

    def on_engine_died(self, message: str) -> None:
        self._engine_down(f"{message} The window keeps your settings; restart the engine to go on.")

    def _engine_down(self, message: str) -> None:
        self.engine_state = None
        self.status_labels["state"].setText("engine stopped")
        self.banner.show_message(message, "error", ("Restart engine", self.restart_engine))
