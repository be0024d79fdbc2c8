"""The status bar's right-hand side: the engine's state, the step, steps per
second, the device and memory, as the engine reports them."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QStatusBar

from app.session import Session
from lab.core import protocol as p
from lab.core.protocol import RunState

MIB = 2**20


class StatusLabels(QObject):
    def __init__(self, session: Session, bar: QStatusBar) -> None:
        super().__init__(bar)
        self.labels = {name: QLabel("") for name in ("state", "step", "rate", "device", "memory")}
        for label in self.labels.values():
            bar.addPermanentWidget(label)
        self.labels["state"].setText("engine starting…")
        session.statusChanged.connect(self.show)
        session.engineStarting.connect(lambda: self.labels["state"].setText("engine starting…"))
        session.engineDown.connect(lambda _why: self.labels["state"].setText("engine stopped"))

    def show(self, event: p.Status) -> None:
        running = event.state == RunState.RUNNING
        labels = self.labels
        labels["state"].setText(event.state)
        labels["step"].setText(f"step {event.step:,}")
        labels["rate"].setText(f"{event.steps_per_second:,.0f} steps/s" if running else "")
        labels["device"].setText(event.device)
        memory = []
        if event.memory_bytes is not None:
            memory.append(f"CUDA allocated {event.memory_bytes / MIB:,.1f} MiB")
        if event.rss_bytes is not None:
            memory.append(f"engine RSS {event.rss_bytes / MIB:,.0f} MiB")
        labels["memory"].setText(" · ".join(memory))
