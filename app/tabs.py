"""The live views in the centre of the window, as tabs. Views are built on
first use (the visible one at once): the window paints sooner, and each view
costs tens of milliseconds to construct. A view made later gets the store and
the probe settings the others already have."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from lab.core.config import ExperimentConfig, dead_units_absent, histogram_span
from lab.core.metrics import MetricStore
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
TOKEN_VIEWS = ("attention_view", "samples_view")  # a Transformer's only
POINT_VIEWS = ("boundary_view",)  # 2-D points and 1-D regression only


class ViewTabs(QTabWidget):
    viewCreated = Signal(object)  # noqa: N815 - a ViewPanel, to wire its own requests

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.views: dict[str, ViewPanel] = {}
        self.store = MetricStore()
        self.spans: dict[str, tuple[float, float]] = {}
        self.dead_reason: str | None = None  # why the run has no dead-unit figures
        self.tokens = False  # a Transformer on a token task: its views, not the boundary
        # nine tabs fit a small laptop's centre column with a little less padding
        self.setStyleSheet("QTabBar::tab { padding: 4px 5px; }")
        for _name, title, _cls in VIEW_TABS:
            self.addTab(QWidget(), title)
        self.currentChanged.connect(lambda index: self.view(NAMES[index]))
        self.show_task(False)

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
        if isinstance(view, StoreView):
            view.set_store(self.store)
        if isinstance(view, ActivationView):
            view.set_ranges(self.spans)
            view.set_dead_watch(self.dead_reason)
        self.viewCreated.emit(view)
        return view

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

    def current_name(self) -> str:
        return NAMES[self.currentIndex()]

    def all(self) -> list[ViewPanel]:
        return [self.view(name) for name in NAMES]

    def store_views(self) -> list[StoreView]:
        """Built views that draw from the metric store."""
        return [v for v in self.views.values() if isinstance(v, StoreView)]

    def set_store(self, store: MetricStore) -> None:
        self.store = store
        for view in self.store_views():
            view.set_store(store)

    def show_probe_settings(self, config: ExperimentConfig) -> None:
        """Histogram ranges and the dead-unit verdict follow the probe settings
        (and the layers), also when a probe knob changes without a rebuild."""
        self.spans = {
            name: histogram_span(activation, config.probes)
            for name, activation in config.model.activations().items()
        }
        self.dead_reason = dead_units_absent(config.model, config.probes)
        view = self.views.get("activation_view")
        if isinstance(view, ActivationView):
            view.set_ranges(self.spans)
            view.set_dead_watch(self.dead_reason)
