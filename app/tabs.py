"""The live views in the centre of the window, as tabs. Views are built on
first use (the visible one at once): the window paints sooner, and each view
costs tens of milliseconds to construct. What the engine sent for a view not
built yet waits in the session (the signal at init, the decision boundary,
the data), and a view made later is given it then, with the store and the
probe settings the others have."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from app.session import Session
from lab.core import protocol as p
from lab.core.config import ExperimentConfig, dead_units_absent, histogram_span
from widgets.activation_view import ActivationView
from widgets.attention_view import AttentionView
from widgets.base import StoreView, ViewPanel
from widgets.boundary_view import BoundaryView
from widgets.gradient_view import GradientView
from widgets.kv_view import KVView
from widgets.landscape_view import LandscapeView
from widgets.loss_view import LossView
from widgets.samples_view import SamplesView
from widgets.signal_view import SignalView

VIEW_TABS = [
    ("loss_view", "Loss", LossView),
    ("gradient_view", "Gradients", GradientView),
    ("activation_view", "Activations", ActivationView),
    ("boundary_view", "Boundary", BoundaryView),
    ("signal_view", "Signal", SignalView),
    ("landscape_view", "Landscape", LandscapeView),
    ("attention_view", "Attention", AttentionView),
    ("samples_view", "Samples", SamplesView),
    ("kv_view", "KV cache", KVView),
]
NAMES = [name for name, _, _ in VIEW_TABS]
TITLES = {title: name for name, title, _ in VIEW_TABS}
TOKEN_VIEWS = ("attention_view", "samples_view")  # a Transformer's only
POINT_VIEWS = ("boundary_view",)  # 2-D points and 1-D regression only
CLEARED_ON_BUILD = ("activation_view", "landscape_view", "attention_view", "samples_view")


class ViewTabs(QTabWidget):
    viewCreated = Signal(object)  # noqa: N815 - a ViewPanel, to wire its own requests

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.views: dict[str, ViewPanel] = {}
        self.spans: dict[str, tuple[float, float]] = {}
        self.dead_reason: str | None = None  # why the run has no dead-unit figures
        self.probes_shown = session.config.probes  # the probe settings the views label
        self.tokens = False  # a Transformer on a token task: its views, not the boundary
        self.data: p.Built | None = None  # the experiment's data, for the boundary view
        # nine tabs fit a small laptop's centre column with a little less padding
        self.setStyleSheet("QTabBar::tab { padding: 4px 5px; }")
        for _name, title, _cls in VIEW_TABS:
            self.addTab(QWidget(), title)
        self.currentChanged.connect(lambda index: self.view(NAMES[index]))
        self.show_task(False)
        session.built.connect(self._built)
        session.applied.connect(self._applied)
        session.rowsArrived.connect(self._rows)
        session.signalChanged.connect(lambda _e: self._feed_built("signal_view"))
        session.boundaryChanged.connect(lambda _e: self._feed_built("boundary_view"))
        session.attentionArrived.connect(
            lambda e: self._built_view(
                "attention_view", lambda v: v.set_maps(e.step, e.tokens, e.maps)
            )
        )
        session.samplesArrived.connect(
            lambda e: self._built_view(
                "samples_view", lambda v: v.set_samples(e, session.config.data.text)
            )
        )

    # ------------------------------------------------------------ views

    def view(self, name: str) -> ViewPanel:
        view = self.views.get(name)
        if view is not None:
            return view
        index = NAMES.index(name)
        _, title, cls = VIEW_TABS[index]
        view = self.views[name] = cls()
        current = self.currentIndex()
        self.blockSignals(True)
        placeholder = self.widget(index)
        self.removeTab(index)
        placeholder.deleteLater()
        self.insertTab(index, view, title)
        self.setCurrentIndex(current)
        self.show_task(self.tokens, switch=False)  # a new tab is enabled
        self.blockSignals(False)
        self._feed(name, view)
        self.viewCreated.emit(view)
        return view

    def _built_view(self, name: str, give: object) -> None:
        """``give(view)`` if the view is built (a view made later asks for itself)."""
        view = self.views.get(name)
        if view is not None:
            give(view)  # type: ignore[operator]

    def _feed_built(self, name: str) -> None:
        view = self.views.get(name)
        if view is not None:
            self._feed(name, view)

    def _feed(self, name: str, view: ViewPanel) -> None:
        """What the session holds for this view, now."""
        s = self.session
        if isinstance(view, StoreView):
            view.set_store(s.store)
        if isinstance(view, ActivationView):
            view.set_ranges(self.spans)
            view.set_dead_watch(self.dead_reason)
        elif isinstance(view, SignalView) and s.signal is not None:
            e = s.signal
            view.set_signal(e.layer_names, e.output_std, e.act_grad_norm, e.grad_norm)
        elif isinstance(view, BoundaryView):
            if self.data is not None and self.data.task != "next_token":
                view.set_data(self.data.x_train, self.data.y_train, self.data.class_names)
            if s.boundary is not None:
                b = s.boundary
                view.set_boundary(b.xs, b.ys, b.values, b.confidence, b.step, b.r2)
        elif isinstance(view, KVView):
            view.set_lab_model(s.config, s.vocab)

    def all(self) -> list[ViewPanel]:
        return [self.view(name) for name in NAMES]

    def current_name(self) -> str:
        return NAMES[self.currentIndex()]

    def show_view(self, title_or_name: str) -> bool:
        """Bring a view to the front by its tab title or name, if it is enabled."""
        name = TITLES.get(title_or_name, title_or_name)
        if name not in NAMES or not self.isTabEnabled(NAMES.index(name)):
            return False
        self.view(name)
        self.setCurrentIndex(NAMES.index(name))
        return True

    # ------------------------------------------------------------ engine events

    def _built(self, event: p.Built) -> None:
        """A fresh experiment: the old one's pictures go, the views that
        exist get its store and data."""
        self.data = event
        for name in CLEARED_ON_BUILD:
            if name in self.views:
                self.views[name].clear()  # type: ignore[attr-defined]
        self.show_task(event.task == "next_token")
        self.show_probe_settings(self.session.config)
        for name, view in self.views.items():
            self._feed(name, view)

    def _applied(self, _event: p.ConfigApplied) -> None:
        config = self.session.config
        if config.probes != self.probes_shown:  # binned the old way: dropped before this
            self.show_probe_settings(config)

    def _rows(self, names: list[str]) -> None:
        for view in self.views.values():
            if isinstance(view, StoreView):
                view.rows_arrived(names)

    def show_task(self, tokens: bool, switch: bool = True) -> None:
        """Views that have nothing to show for this model and data are
        greyed out, saying why; the current one, if among them, gives way to
        the Loss view."""
        self.tokens = tokens
        for name in (*TOKEN_VIEWS, *POINT_VIEWS):
            index = NAMES.index(name)
            on = tokens == (name in TOKEN_VIEWS)
            self.setTabEnabled(index, on)
            why = (
                "a Transformer on a token task only"
                if name in TOKEN_VIEWS
                else "points and curves only (not token sequences)"
            )
            self.setTabToolTip(index, "" if on else f"{self.tabText(index)}: {why}")
        if switch and not self.isTabEnabled(self.currentIndex()):
            self.setCurrentIndex(NAMES.index("loss_view"))

    def show_probe_settings(self, config: ExperimentConfig) -> None:
        """Histogram ranges and the dead-unit verdict follow the probe settings
        (and the layers), also when a probe knob changes without a rebuild."""
        self.probes_shown = config.probes
        self.spans = {
            name: histogram_span(activation, config.probes)
            for name, activation in config.model.activations().items()
        }
        self.dead_reason = dead_units_absent(config.model, config.probes)
        view = self.views.get("activation_view")
        if isinstance(view, ActivationView):
            view.set_ranges(self.spans)
            view.set_dead_watch(self.dead_reason)
