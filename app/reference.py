"""A pinned reference run: a copy of the curves of the experiment as it was
when pinned (finished or still running), overlaid as dashed lines on the
views where two runs compare — the Loss view (loss, accuracy, learning rate)
and the Signal view (std and ||dL/dh|| by depth at init). It stays pinned
through rebuilds, resets and opens until cleared."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from app.toolbar import action
from lab.core import wire
from lab.core.metrics import Series
from widgets.base import ViewPanel
from widgets.loss_view import LossView
from widgets.signal_view import SignalView

if TYPE_CHECKING:
    from app.main_window import MainWindow


@dataclass(frozen=True)
class Reference:
    name: str
    step: Series | None  # per-step loss and learning rate
    evaluation: Series | None  # train/test loss and accuracy
    signal: tuple[list[str], np.ndarray, np.ndarray] | None  # names, output std, ||dL/dh||


class References:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.pinned: Reference | None = None
        self.pin_action = action(
            window, "Pin run as reference", self.pin, "Ctrl+P",
            "keep this run's curves and overlay them, dashed, on the runs that follow",
        )  # fmt: skip
        self.clear_action = action(window, "Clear reference", self.clear)
        self.clear_action.setEnabled(False)

    def pin(self) -> None:
        w = self.window
        store = w.store
        step = store.get(wire.STEP)
        at = f"step {step.latest_step}" if step is not None and len(step) else "init"
        signal = w.tabs.views.get("signal_view")
        profile = None
        if isinstance(signal, SignalView) and signal.data is not None:
            data = signal.data
            profile = (list(signal.names), data["output_std"].copy(), data["act_grad_norm"].copy())
        self.pinned = Reference(
            f"{w.config.name} @ {at}",
            copy.deepcopy(step),
            copy.deepcopy(store.get(wire.EVAL)),
            profile,
        )
        self.clear_action.setEnabled(True)
        for view in w.tabs.views.values():
            self.show_on(view)
        w.notice(f"pinned {self.pinned.name} as the reference (dashed)")

    def clear(self) -> None:
        self.pinned = None
        self.clear_action.setEnabled(False)
        for view in self.window.tabs.views.values():
            self.show_on(view)

    def show_on(self, view: ViewPanel) -> None:
        """Overlay the reference on ``view`` (nothing if the view has no use for it)."""
        ref = self.pinned
        if isinstance(view, LossView):
            view.set_reference(
                None if ref is None else ref.name, ref and ref.step, ref and ref.evaluation
            )
        elif isinstance(view, SignalView):
            view.set_reference(
                None if ref is None or ref.signal is None else (ref.name, *ref.signal)
            )
