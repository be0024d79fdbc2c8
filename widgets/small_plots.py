"""Small previews: the dataset as a scatter, and the learning-rate schedule."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from widgets.base import PALETTE


class DataThumbnail(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setFixedHeight(160)
        self.hideAxis("bottom")
        self.hideAxis("left")
        self.setMouseEnabled(False, False)
        self.scatter = pg.ScatterPlotItem(size=3, pen=None)
        self.addItem(self.scatter)
        self.label = pg.TextItem("", color="k")
        self.addItem(self.label)

    def set_data(self, x: np.ndarray, y: np.ndarray, task: str) -> None:
        if x.size == 0:
            self.scatter.clear()
            self.label.setText("image data (16x16 shapes)")
            return
        self.label.setText("")
        if x.shape[1] == 1:
            self.scatter.setData(x[:, 0], y.reshape(-1), brush=pg.mkBrush(PALETTE[0]))
        else:
            brushes = [pg.mkBrush(PALETTE[int(c) % len(PALETTE)]) for c in y]
            self.scatter.setData(x[:, 0], x[:, 1], brush=brushes)
        self.autoRange()


class SchedulePreview(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setFixedHeight(110)
        self.setMouseEnabled(False, False)
        self.setLabel("bottom", "step")
        self.curve = self.plot(pen=pg.mkPen(PALETTE[2], width=2))

    def set_curve(self, steps: np.ndarray, lrs: np.ndarray) -> None:
        self.curve.setData(steps, lrs)
        top = float(lrs.max()) if len(lrs) else 1.0
        self.setXRange(0, max(float(steps[-1]) if len(steps) else 1.0, 1.0), padding=0.02)
        self.setYRange(0, 1.1 * top if top > 0 else 1.0, padding=0)
