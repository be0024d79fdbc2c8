"""The decision boundary of a 2-D classifier (class colours, paler where the
model is unsure) with the training points on top; for 1-D regression, the fitted
curve over the data."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

from widgets.base import PALETTE, ViewPanel


def class_colours(n: int) -> np.ndarray:
    return np.array(
        [QColor(PALETTE[i % len(PALETTE)]).getRgb()[:3] for i in range(n)], dtype=np.float64
    )


class BoundaryView(ViewPanel):
    def __init__(self) -> None:
        super().__init__("Decision boundary")
        self.plot = self.canvas.addPlot()
        self.plot.setAspectLocked(False)
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.points = pg.ScatterPlotItem(size=5, pen=pg.mkPen("w", width=0.5))
        self.plot.addItem(self.points)
        self.fit = self.plot.plot(pen=pg.mkPen(PALETTE[1], width=3))
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None
        self.boundary: tuple | None = None

    def set_data(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y, self.boundary = x, y, None
        self.dirty = True

    def set_boundary(
        self,
        xs: np.ndarray,
        ys: np.ndarray | None,
        values: np.ndarray,
        confidence: np.ndarray | None,
        step: int,
    ) -> None:
        self.boundary = (xs, ys, values, confidence, step)
        self.dirty = True

    def draw(self) -> None:
        x, y = self.x, self.y
        if x is None or x.size == 0 or x.ndim != 2:  # images have no boundary to draw
            self.image.clear()
            self.points.clear()
            self.fit.setData([], [])
            self.caption.setText("No 2-D or 1-D data to draw (image data has no boundary view).")
            return
        if x.shape[1] == 1:  # regression: points and the fitted curve
            self.image.clear()
            self.points.setData(x[:, 0], y.reshape(-1), brush=pg.mkBrush(PALETTE[0]))
            if self.boundary is not None:
                xs, _, values, _, step = self.boundary
                self.fit.setData(xs, values)
                self.caption.setText(
                    f"model prediction at step {step} (orange) over the training data"
                )
            return
        self.fit.setData([], [])
        colours = class_colours(int(y.max()) + 1 if y.size else 1)
        brushes = [pg.mkBrush(*colours[int(c)]) for c in y]
        self.points.setData(x[:, 0], x[:, 1], brush=brushes)
        if self.boundary is None:
            return
        xs, ys, classes, confidence, step = self.boundary
        colours = class_colours(max(int(classes.max()) + 1, len(colours)))
        # Blend each cell's class colour towards white where the model is unsure:
        # confidence 1/k (chance) is white, 1 is the full colour.
        k = max(len(np.unique(y)), 2)
        strength = np.clip((confidence - 1 / k) / (1 - 1 / k), 0, 1)[..., None] * 0.6
        rgb = 255 * (1 - strength) + colours[classes] * strength
        self.image.setImage(np.transpose(rgb, (1, 0, 2)).astype(np.uint8), levels=(0, 255))
        self.image.setRect(float(xs[0]), float(ys[0]), float(xs[-1] - xs[0]), float(ys[-1] - ys[0]))
        self.caption.setText(f"predicted class at step {step}; paler where the model is unsure")

    def csv_table(self):
        if self.boundary is None:
            return ["x", "y", "value"], []
        xs, ys, values, confidence, _ = self.boundary
        if ys is None:
            return ["x", "prediction"], [
                [float(a), float(b)] for a, b in zip(xs, values, strict=True)
            ]
        rows = [
            [float(xs[j]), float(ys[i]), int(values[i, j]), float(confidence[i, j])]
            for i in range(len(ys))
            for j in range(len(xs))
        ]
        return ["x", "y", "class", "confidence"], rows
