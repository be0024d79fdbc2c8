"""The Knoblab window: panels on the left and right, live views in the
centre, the engine in its own process. It builds the parts and wires them:
each part takes the ``Session`` (``app.session``), never the window, and
what the engine says arrives as the session's signals. The GUI thread only
draws, on a ~30 Hz timer."""

from __future__ import annotations

import time
from traceback import format_exc
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from app.autosave import Autosave
from app.data_files import DataFiles
from app.data_panel import DataPanel
from app.engine_client import EngineClient
from app.engine_events import EngineEvents
from app.export_dialog import ExportJobs
from app.files import RunFiles
from app.menus import build_menus, build_toolbar
from app.panels import KnobsPanel, ModelPanel
from app.recipes_window import RecipesWindow
from app.reference import References
from app.session import Client, Session
from app.status import StatusLabels
from app.tabs import ViewTabs
from app.token_watch import TokenWatch
from app.toolbar import SPEEDS
from lab.core import protocol as p
from lab.core.config import ConfigError, ExperimentConfig, field_label, flatten
from lab.core.presets import DEFAULT_PRESET, PRESETS
from lab.core.protocol import JobKind, RunState
from lab.core.schedule import lr_curve
from widgets.banner import Banner, show_details
from widgets.base import ViewPanel
from widgets.kv_view import KVView
from widgets.landscape_view import LandscapeView

TICK_MS = 33  # ~30 Hz
DEFAULT_SIZE = (1500, 900)
DOCK_WIDTHS = (355, 340)  # Model and Data on the left, Knobs on the right


def scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    return area


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, client: Client | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("Knoblab", "Knoblab")
        self.session = s = Session(client or EngineClient(self), self._last_config())
        self.events = EngineEvents(s)
        self.files = RunFiles(self, self.settings)
        self.first_paint_at: float | None = None
        self.invalid_fields: dict[str, str] = {}  # fields holding a value they do not take
        self.recipes: RecipesWindow | None = None  # made on first use
        self.views_after_build: tuple[str, ...] = ()  # an opened arm's views, by tab title

        # centre: live views, and a message strip below them
        self.tabs = ViewTabs(s)
        self.tabs.viewCreated.connect(self._wire_view)
        self.tokens = TokenWatch(s, self.tabs)
        self.references = References(s, lambda: list(self.tabs.views.values()))
        self.tabs.view("loss_view")
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
        build_toolbar(self)
        self.data_files = DataFiles(s, self.data_panel, self.settings, self, self.on_field_changed)
        self.model_panel.openModel.connect(self.data_files.ask_model)
        self.setAcceptDrops(True)  # a data file dropped onto the window
        build_menus(self)
        self.exports = ExportJobs(s, self.statusBar(), self)
        self.status = StatusLabels(s, self.statusBar())
        self.autosave = Autosave(s, self.settings, self)
        self.autosave.offered.connect(self._offer_restore)
        self._connect_session()
        self.show_config(s.config)
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

    # the session's state, read where the window is at hand (tests, scripts)
    config = property(lambda self: self.session.config)
    client = property(lambda self: self.session.client)
    store = property(lambda self: self.session.store)
    engine_state = property(lambda self: self.session.engine_state)
    run_path = property(lambda self: self.session.run_path)

    def on_event(self, event: Any) -> None:
        """An engine event, as if it came from the engine."""
        self.events.handle(event)

    # ------------------------------------------------------------ building

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(scrolled(widget))
        self.addDockWidget(area, dock)
        return dock

    def _connect_session(self) -> None:
        s = self.session
        s.ready.connect(self.on_ready)
        s.built.connect(self.on_built)
        s.configChanged.connect(self.on_config_changed)
        s.configKept.connect(self.show_config)
        s.statusChanged.connect(lambda event: self.toolbar.show_state(event.state))
        s.stopped.connect(
            lambda why: self.banner.show_message(f"Training paused: {why}", "warning")
        )
        s.error.connect(self.show_error)
        s.notice.connect(self.notice)
        s.runFolder.connect(lambda _path: self.update_title())
        s.undoChanged.connect(self.show_undo)
        s.engineDown.connect(self.engine_down)
        s.client.unresponsive.connect(self.on_unresponsive)

    def _wire_view(self, view: ViewPanel) -> None:
        """A view just built: the reference on it, its jobs and requests wired."""
        s = self.session
        self.references.show_on(view)
        if isinstance(view, LandscapeView):
            s.show_jobs(JobKind.LANDSCAPE, view)
            view.computeRequested.connect(
                lambda kind, grid, span, points: s.start_job(
                    lambda job: p.ComputeLandscape(job, kind, grid, span, points)
                )
            )
            view.job_bar.cancelRequested.connect(s.cancel_job)
            view.autoChanged.connect(lambda steps: s.send(p.SetLandscapeAuto(steps)))
        if isinstance(view, KVView):
            s.show_jobs(JobKind.DECODE, view)
            view.decodeRequested.connect(
                lambda layout, dtype, batch, block: view.job_bar.started(
                    s.start_job(lambda job: p.DecodeKV(job, layout, dtype, batch, block_size=block))
                )
            )
            view.job_bar.cancelRequested.connect(s.cancel_job)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.autosave.start()
        self.session.client.start()
        self.timer.start()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt naming)
        if self.first_paint_at is None:
            self.first_paint_at = time.perf_counter()
        super().paintEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt naming)
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if self.data_files.dropped(paths):
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("last_config", self.session.config.to_json())
        self.settings.sync()
        self.timer.stop()
        # the last autosave is written by the engine before it shuts down
        self.autosave.close(stop_engine=lambda: self.session.client.stop(timeout=10.0))
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
        self.session.client.poll()
        view = self.tabs.currentWidget()
        if view is not None and getattr(view, "dirty", False):
            try:
                view.refresh()
            except Exception as exc:  # a view that cannot draw says so; the rest goes on
                self.show_error(f"the view could not draw: {exc!r}", details=format_exc())
            self.redraws += 1

    def update_title(self) -> None:
        path = self.session.run_path
        where = f" ({path})" if path else ""
        self.setWindowTitle(f"Knoblab — {self.session.config.name}{where}")

    def reset_layout(self) -> None:
        self.restoreState(self.default_state)
        for dock in self.findChildren(QDockWidget):
            dock.show()
            dock.setFloating(False)

    # ------------------------------------------------------------ engine

    def on_ready(self, event: p.Ready) -> None:
        self.toolbar.show_devices(event.devices, self.session.config.train.device)
        self.send_speed()
        self.session.send(p.SetConfig(self.session.config.to_dict()))

    def on_built(self, event: p.Built) -> None:
        if not self.banner.sticky:
            self.banner.dismiss()  # a fresh experiment: old pauses and errors no longer apply
        self.model_panel.set_summary(event.summary_rows, event.n_params)
        self.model_panel.set_notes(event.model_notes)
        self.data_panel.set_data(
            event.x_train, event.y_train, event.task, event.class_names, event.data
        )
        if event.undo and event.reason != "start" and not event.reason.startswith("opened your"):
            reason = "Started over" if event.reason == "reset" else event.reason
            self.banner.show_message(
                f"{reason[:1].upper()}{reason[1:]}. Undo brings back the run it replaced:"
                f" {event.undo}.",
                "warning",
                ("Undo", lambda: self.session.send(p.Undo())),
            )
        elif event.reason != "start":
            self.notice(event.reason)
        views, self.views_after_build = self.views_after_build, ()
        next((title for title in views if self.tabs.show_view(title)), None)
        self.update_title()

    def on_unresponsive(self, seconds: float) -> None:
        """The engine stopped answering (or, ``seconds`` 0, answers again)."""
        if seconds:
            self.banner.show_message(
                f"The engine has not answered for {seconds:.0f} s: it is stuck in one long"
                " computation, or frozen. Wait, or restart it (what was not saved is lost).",
                "error",
                ("Restart engine", self.restart_engine),
            )
        elif self.banner.sticky and "not answered" in self.banner.text():
            self.banner.dismiss()

    def restart_engine(self) -> None:
        self.session.client.stop(timeout=1.0)  # one that froze is killed
        self.banner.dismiss()
        self.session.engineStarting.emit()
        self.session.client.start()

    def engine_down(self, message: str) -> None:
        self.banner.show_message(message, "error", ("Restart engine", self.restart_engine))

    def _offer_restore(self, message: str, folder: str) -> None:
        self.banner.show_message(message, "warning", ("Restore", lambda: self.open_run(folder)))

    # ------------------------------------------------------------ config

    def show_config(self, config: ExperimentConfig) -> None:
        """Every panel shows ``config`` (the engine's, or a whole new one)."""
        self.model_panel.set_config(config)
        self.data_panel.set_config(config)
        self.knobs_panel.set_config(config)
        self.on_config_changed(config)

    def on_config_changed(self, config: ExperimentConfig) -> None:
        """What follows any change: the schedule's curve, knobs the choices
        leave unused, the preset boxes, the title, Back to the preset."""
        self.knobs_panel.schedule.set_curve(*lr_curve(config.optim, config.train.steps))
        self.knobs_panel.show_used(config)
        self.preset_box.show_config(config)
        self.model_panel.preset.show_config(config)
        preset = PRESETS.get(config.name)
        self.back_to_preset.setEnabled(preset is not None and preset != config)
        self.back_to_preset.setText(
            f"Back to the preset {config.name}" if preset is not None else "Back to the preset"
        )
        self.back_to_preset.setToolTip(
            "every knob as the preset has it, with fresh weights (Undo brings this run back)"
        )
        self.update_title()

    def on_field_changed(self, path: str, value: Any) -> None:
        try:
            changes = self.session.change(path, value)
        except ConfigError as exc:
            self.show_error(str(exc), exc.field)
            return
        self.clear_error()
        if len(changes) > 1:  # coupled fields changed too: the panels show them
            self.show_config(self.session.config)

    def apply_config(self, config: ExperimentConfig) -> None:
        """Make ``config`` the experiment (a preset, an arm, a restored one)."""
        self.clear_error()
        self.session.replace(config)
        self.show_config(config)

    def load_preset(self, name: str) -> None:
        if name in PRESETS:
            self.apply_config(PRESETS[name])

    def restore_preset(self) -> None:
        """Back to the preset this experiment started from: its knobs, fresh weights."""
        self.load_preset(self.session.config.name)

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

    def show_undo(self, undo: str, redo: str) -> None:
        """Edit says what Undo and Redo would do."""
        for made, verb, words in (
            (self.undo_action, "Undo", undo),
            (self.redo_action, "Redo", redo),
        ):
            made.setEnabled(bool(words))
            made.setText(f"{verb} {words}" if words else f"Nothing to {verb.lower()}")
            made.setToolTip(f"{verb.lower()}: {words}" if words else "")

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
                flat = flat or flatten(self.session.config.to_dict())
                panel.form.set_values({refused: flat[refused]})
        if not self.banner.sticky:
            self.banner.dismiss()

    def notice(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    # ------------------------------------------------------------ toolbar

    def toggle_play(self) -> None:
        running = self.session.engine_state == RunState.RUNNING
        self.session.send(p.Pause() if running else p.Play())

    def step_once(self) -> None:
        self.session.send(p.Step(1))

    def send_speed(self) -> None:
        self.session.send(p.SetSpeed(SPEEDS[self.speed.currentText()]))

    def save_run(self, path: str | None = None) -> None:
        path = path or self.files.ask_save_folder(self.session.config.name)
        if path:
            self.session.send(p.SaveRun(path))

    def open_run(self, path: str | None = None) -> None:
        path = path or self.files.ask_open_folder()
        if path:
            self.session.send(p.OpenRun(path))

    def export_onnx(self, path: str | None = None, legacy: bool = False) -> None:
        path = path or self.files.ask_export_file(self.session.config.name)
        if path:
            self.exports.export(path, legacy)

    def show_recipes(self) -> RecipesWindow:
        """The Recipes window, made on first use, shown and raised."""
        if self.recipes is None:
            self.recipes = RecipesWindow(self.session, self)
            self.recipes.armOpened.connect(self.open_arm)
        self.recipes.show()
        self.recipes.raise_()
        return self.recipes

    def open_arm(self, config: ExperimentConfig, views: tuple[str, ...]) -> None:
        """An arm of a recipe becomes the experiment, shown on its recipe's
        views (once it is built: its task decides which views it has)."""
        self.views_after_build = views
        self.apply_config(config)
        self.raise_()
        self.activateWindow()
