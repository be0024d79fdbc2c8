"""A pinned reference run: a copy of the curves of the experiment as it was
when pinned (finished or still running), overlaid as dashed lines on the
views where two runs compare — the Loss view (loss, accuracy, learning rate)
and the Signal view (std and ||dL/dh|| by depth at init). It stays pinned
through rebuilds, resets and opens until cleared."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.actions import action
from app.session import Session
from lab.core import wire
from lab.core.metrics import Series
from widgets.base import ViewPanel
from widgets.loss_view import LossView
from widgets.signal_view import SignalView


@dataclass(frozen=True)
class Reference:
    name: str
    step: Series | None  # per-step loss and learning rate
    evaluation: Series | None  # train/test loss and accuracy
    signal: tuple[list[str], np.ndarray, np.ndarray] | None  # names, output std, ||dL/dh||


class References(QObject):
    """``views``: the views built so far (the reference goes onto each)."""

    changed = Signal()  # pinned or cleared

    def __init__(self, session: Session, views: Callable[[], Iterable[ViewPanel]]) -> None:
        super().__init__()
        self.session = session
        self.views = views
        self.pinned: Reference | None = None
        self.pin_action = action(
            self, "Pin run as reference", self.pin, "Ctrl+P",
            "keep this run's curves and overlay them, dashed, on the runs that follow",
        )  # fmt: skip
        self.clear_action = action(self, "Clear reference", self.clear)
        self.clear_action.setEnabled(False)

    def pin(self) -> None:
        store, signal = self.session.store, self.session.signal
        step = store.get(wire.STEP)
        at = f"step {step.latest_step}" if step is not None and len(step) else "init"
        profile = None
        if signal is not None:
            profile = (
                list(signal.layer_names),
                np.array(signal.output_std, copy=True),
                np.array(signal.act_grad_norm, copy=True),
            )
        self.pinned = Reference(
            f"{self.session.config.name} @ {at}",
            copy.deepcopy(step),
            copy.deepcopy(store.get(wire.EVAL)),
            profile,
        )
        self._show()
        self.session.notice.emit(f"pinned {self.pinned.name} as the reference (dashed)")

    def clear(self) -> None:
        self.pinned = None
        self._show()

    def _show(self) -> None:
        self.clear_action.setEnabled(self.pinned is not None)
        for view in self.views():
            self.show_on(view)
        self.changed.emit()

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
