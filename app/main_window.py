"""The Knoblab window: panels on the left and right, live views in the centre,
the engine in its own process. The GUI thread only draws, on a ~30 Hz timer;
what it does with each engine event is in ``engine_events``."""

from __future__ import annotations

import itertools
import time
from traceback import format_exc
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from app.autosave import Autosave
from app.engine_client import EngineClient
from app.engine_events import EngineEvents
from app.files import RunFiles
from app.panels import DataPanel, KnobsPanel, ModelPanel, show_preset
from app.recipes_window import RecipesWindow
from app.reference import References
from app.tabs import TOKEN_VIEWS, ViewTabs
from app.toolbar import SPEEDS, InvalidFieldsBar, RunToolbar, action
from lab.core import protocol as p
from lab.core.config import ConfigError, ExperimentConfig, field_label, flatten
from lab.core.coupling import coupled_changes
from lab.core.metrics import MetricStore
from lab.core.presets import DEFAULT_PRESET, PRESETS
from lab.core.protocol import RunState
from lab.core.schedule import lr_curve
from widgets.attention_view import AttentionView
from widgets.banner import Banner, show_details
from widgets.base import ViewPanel
from widgets.job_bar import JobBar
from widgets.kv_view import KVView
from widgets.landscape_view import LandscapeView
from widgets.samples_view import SamplesView

TICK_MS = 33  # ~30 Hz
DEFAULT_SIZE = (1500, 900)
DOCK_WIDTHS = (355, 340)  # Model and Data on the left, Knobs on the right


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
        self.settings = settings or QSettings("Knoblab", "Knoblab")
        self.config = self._last_config()
        self.run_path: str | None = None  # the folder the run was saved to or opened from
        self.engine_state: RunState | None = None  # None until the engine reports
        self.first_paint_at: float | None = None
        self.invalid_fields: dict[str, str] = {}  # fields holding a value they do not take
        self.files = RunFiles(self, self.settings)
        self.client = client or EngineClient(self)
        self.events = EngineEvents(self)
        self.client.event.connect(self.on_event)
        self.client.died.connect(self.on_engine_died)
        self.client.unresponsive.connect(self.events.unresponsive)
        self._job_ids = itertools.count(1)
        self.recipes: RecipesWindow | None = None  # made on first use (recipes_window)
        self.recipe_catalog: tuple = ()  # what the engine announced
        self.reference = References(self)
        self.autosave = Autosave(self)

        # centre: live views, and a message strip below them
        self.tabs = ViewTabs()
        self.tabs.viewCreated.connect(self._wire_view)
        self.tabs.view("loss_view")
        self.tabs.currentChanged.connect(lambda _: self.send_watch())
        self.token_input = ("", 0)  # the Attention and Samples views' input: text, example
        self.watch_sent: p.WatchTokens | None = None
        self.vocab = 0  # the built model's token count (a Transformer's), for the KV view
        self.probes_shown = self.config.probes  # the probe settings the views label
        self.banner = Banner()
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.tabs, 1)
        centre_layout.addWidget(self.banner)
        self.setCentralWidget(centre)

        # sides: panels, docked; a dock dropped on another must not vanish into tabs
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)
        self.model_panel, self.data_panel, self.knobs_panel = (
            ModelPanel(),
            DataPanel(),
            KnobsPanel(),
        )
        for panel in (self.model_panel, self.data_panel, self.knobs_panel):
            panel.changed.connect(self.on_field_changed)
            panel.form.validityChanged.connect(self.on_validity)
        self.model_panel.layers.validityChanged.connect(self.on_validity)
        self.model_panel.presetChosen.connect(self.load_preset)
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        docks = [
            self._dock("Model", self.model_panel, left),
            self._dock("Data", self.data_panel, left),
            self._dock("Knobs", self.knobs_panel, right),
        ]
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        self.show_config(self.config)
        self.resize(*DEFAULT_SIZE)
        # the views get most of the width; the panels what their editors need
        self.resizeDocks([docks[0], docks[2]], list(DOCK_WIDTHS), Qt.Orientation.Horizontal)
        self.default_state: QByteArray = self.saveState()  # what Reset layout goes back to
        self.restoreGeometry(self.settings.value("geometry", b""))
        self.restoreState(self.settings.value("window_state", b""))
        self.invalid_bar.setVisible(False)  # nothing is invalid yet, whatever was saved
        self.update_title()

        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.redraws = 0
        self.ticks = 0  # timer ticks run: how often the window could redraw

    # ------------------------------------------------------------ views

    def _wire_view(self, view: ViewPanel) -> None:
        self.reference.show_on(view)
        if isinstance(view, LandscapeView):
            view.computeRequested.connect(
                lambda kind, grid, span, points: self.client.send(
                    p.ComputeLandscape(next(self._job_ids), kind, grid, span, points)
                )
            )
            view.job_bar.cancelRequested.connect(self.cancel_job)
            view.autoChanged.connect(lambda steps: self.client.send(p.SetLandscapeAuto(steps)))
        if isinstance(view, KVView):
            view.set_lab_model(self.config, self.vocab)
            view.decodeRequested.connect(self.decode_kv)
            view.job_bar.cancelRequested.connect(self.cancel_job)
        if isinstance(view, AttentionView | SamplesView):
            view.input.set_input(*self.token_input)
            view.inputChanged.connect(self.on_token_input)

    def decode_kv(self, layout: str, dtype: str, batch: int, block: int) -> None:
        """A measured decode of a copy of the run's model, as a job."""
        job = self.next_job()
        self.tabs.view("kv_view").job_bar.started(job)
        self.client.send(p.DecodeKV(job, layout, dtype, batch, block_size=block))

    def on_token_input(self, text: str, example: int) -> None:
        """The Attention and Samples views share one input sequence."""
        self.token_input = (text, example)
        for name in TOKEN_VIEWS:
            view = self.tabs.views.get(name)
            if isinstance(view, AttentionView | SamplesView):
                view.input.set_input(text, example)
        self.send_watch(force=True)

    def send_watch(self, force: bool = False) -> None:
        """Tell the engine which token views are on screen (it computes their
        pictures only for those)."""
        tokens = self.config.model.kind == "transformer"
        current = self.tabs.current_name()
        text, example = self.token_input
        watch = p.WatchTokens(
            attention=tokens and current == "attention_view",
            samples=tokens and current == "samples_view",
            text=text,
            example=example,
        )
        if force or watch != self.watch_sent:
            self.watch_sent = watch
            self.client.send(watch)

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

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(scrolled(widget))
        self.addDockWidget(area, dock)
        return dock

    def _build_toolbar(self) -> None:
        bar = self.toolbar = RunToolbar(self)
        self.addToolBar(bar)
        self.play_action, self.step_action = bar.play_action, bar.step_action
        self.reset_action, self.export_action = bar.reset_action, bar.export_action
        self.speed, self.device, self.preset_box = bar.speed, bar.device, bar.preset_box
        self.addToolBarBreak()
        self.invalid_bar = InvalidFieldsBar(self)
        self.addToolBar(self.invalid_bar)
        self.invalid_label = self.invalid_bar.label
        self.speed.currentTextChanged.connect(lambda _text: self.send_speed())
        self.device.currentTextChanged.connect(
            lambda name: self.on_field_changed("train.device", name)
        )
        self.preset_box.activated.connect(
            lambda index: self.load_preset(self.preset_box.itemData(index) or "")
        )

    def _build_menus(self) -> None:
        bar = self.menuBar()
        files = bar.addMenu("&File")
        for made in (self.toolbar.save_action, self.toolbar.open_action, self.export_action):
            files.addAction(made)
        files.addSeparator()
        files.addAction(action(self, "Quit", self.close, "Ctrl+Q"))
        edit = bar.addMenu("&Edit")
        self.undo_action = action(
            self,
            "Undo rebuild",
            self.undo,
            "Ctrl+Z",
            "bring back the run the last rebuild replaced",
        )
        self.undo_action.setEnabled(False)
        edit.addAction(self.undo_action)
        view = bar.addMenu("&View")
        view.addAction(self.reference.pin_action)
        view.addAction(self.reference.clear_action)
        view.addSeparator()
        view.addAction(
            action(
                self, "Reset layout", self.reset_layout, tip="put the panels back where they were"
            )
        )

        bar.addMenu("&Recipes").addAction(self.toolbar.recipes_action)

    def next_job(self) -> int:
        return next(self._job_ids)

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
        self.autosave.start()

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
        self.autosave.close()  # the engine saves before it shuts down
        self.client.stop(timeout=10.0)
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
        self.ticks += 1
        self.client.poll()
        view = self.tabs.currentWidget()
        if view is not None and view.dirty:
            try:
                view.refresh()
            except Exception as exc:  # a view that cannot draw says so; the rest goes on
                self.show_error(f"the view could not draw: {exc!r}", details=format_exc())
            self.redraws += 1

    def on_event(self, event: Any) -> None:
        self.events.handle(event)

    def update_title(self) -> None:
        where = f" ({self.run_path})" if self.run_path else ""
        self.setWindowTitle(f"Knoblab — {self.config.name}{where}")

    def reset_layout(self) -> None:
        self.restoreState(self.default_state)
        for dock in self.findChildren(QDockWidget):
            dock.show()
            dock.setFloating(False)

    # ------------------------------------------------------------ config

    def show_config(self, config: ExperimentConfig) -> None:
        self.model_panel.set_config(config)
        self.data_panel.set_config(config)
        self.knobs_panel.set_config(config)
        show_preset(self.preset_box, config)

    def on_field_changed(self, path: str, value: Any) -> None:
        changes = coupled_changes(self.config, path, value)
        try:
            new = self.config.with_changes(changes)
        except ConfigError as exc:
            self.show_error(str(exc), exc.field)
            return
        self.clear_error()
        self.apply_config(new, refresh_panels=len(changes) > 1)  # coupled fields changed too

    def on_validity(self, path: str, message: str) -> None:
        """A field became invalid (or valid again): say so where Play is."""
        if message:
            self.invalid_fields[path] = message
        else:
            self.invalid_fields.pop(path, None)
        if not self.invalid_fields:
            self.invalid_bar.setVisible(False)
            return
        names = [field_label(path) for path in self.invalid_fields]
        first = next(iter(self.invalid_fields.values()))
        what = f"{names[0]}: {first}" if len(names) == 1 else f"{', '.join(names)} are not valid"
        self.invalid_label.setText(f" ⚠ {what}. Training uses the last valid values. ")
        self.invalid_bar.setVisible(True)

    def show_probe_settings(self, config: ExperimentConfig) -> None:
        self.probes_shown = config.probes
        self.tabs.show_probe_settings(config)

    def apply_config(self, config: ExperimentConfig, refresh_panels: bool = True) -> None:
        self.config = config
        if refresh_panels:
            self.show_config(config)
        else:
            self.knobs_panel.schedule.set_curve(*lr_curve(config.optim, config.train.steps))
            self.knobs_panel.show_used(config)  # an optimiser, schedule or clip change
            show_preset(self.preset_box, config)
            show_preset(self.model_panel.preset, config)
        self.update_title()
        self.client.send(p.SetConfig(config.to_dict()))

    def load_preset(self, name: str) -> None:
        if name in PRESETS:
            self.clear_error()
            self.run_path = None
            self.apply_config(PRESETS[name])

    # ------------------------------------------------------------ messages

    def show_error(self, message: str, field: str | None = None, details: str = "") -> None:
        """``details``: a traceback, one click away (Details…)."""
        for panel in (self.model_panel, self.data_panel, self.knobs_panel):
            owned = field is not None and field in panel.form.editors
            panel.form.show_error(field if owned else None, message if owned else "")
        if not self.banner.sticky:
            more = ("Details…", lambda: show_details(self, message, details)) if details else None
            self.banner.show_message(f"⚠ {message}", "error", more)

    def clear_error(self) -> None:
        flat = None
        for panel in (self.model_panel, self.data_panel, self.knobs_panel):
            refused = panel.form.show_error(None, "")
            if refused is not None:  # it shows the refused value: show what is used
                flat = flat or flatten(self.config.to_dict())
                panel.form.set_values({refused: flat[refused]})
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
        self.client.send(p.Reset())  # undoable: the engine keeps the run it replaces

    def undo(self) -> None:
        self.client.send(p.Undo())

    def send_speed(self) -> None:
        self.client.send(p.SetSpeed(SPEEDS[self.speed.currentText()]))

    def save_run(self, path: str | None = None) -> None:
        path = path or self.files.ask_save_folder(self.config.name)
        if path:
            self.client.send(p.SaveRun(path))

    def open_run(self, path: str | None = None) -> None:
        path = path or self.files.ask_open_folder()
        if path:
            self.client.send(p.OpenRun(path))

    def export_onnx(self, path: str | None = None, legacy: bool = False) -> None:
        path = path or self.files.ask_export_file(self.config.name)
        if path:
            job = next(self._job_ids)
            self.client.send(p.ExportOnnx(job, path, legacy))
            self.export_bar.started(job, f"exporting to {path}…")
            self.export_bar.show()

    def cancel_job(self, job: int) -> None:
        self.client.send(p.CancelJob(job))

    def restart_engine(self) -> None:
        self.client.stop(timeout=1.0)  # one that froze is killed
        self.banner.dismiss()
        self.status_labels["state"].setText("engine starting…")
        self.client.start()

    def on_engine_died(self, message: str) -> None:
        self.engine_down(f"{message} The window keeps your settings; restart the engine to go on.")

    def engine_down(self, message: str) -> None:
        self.engine_state = None
        self.status_labels["state"].setText("engine stopped")
        self.banner.show_message(message, "error", ("Restart engine", self.restart_engine))
