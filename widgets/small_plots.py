"""Small previews: the dataset (a scatter, or example images), and the
learning-rate schedule."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from widgets.base import PALETTE


class DataThumbnail(pg.PlotWidget):
    """The training data at a glance: a scatter of 2-D points coloured by class
    (a table of more features: its first two; regression: the target against
    the first feature), or for images a few examples of each
    class, a row per class."""

    def __init__(self) -> None:
        super().__init__()
        self.setFixedHeight(160)
        self.hideAxis("bottom")
        self.hideAxis("left")
        self.setMouseEnabled(False, False)
        self.scatter = pg.ScatterPlotItem(size=3, pen=None)
        self.addItem(self.scatter)
        self.mosaic = pg.ImageItem()
        self.addItem(self.mosaic)
        self.row_labels: list[pg.TextItem] = []

    def set_data(
        self, x: np.ndarray, y: np.ndarray, task: str, class_names: tuple[str, ...] = ()
    ) -> None:
        for label in self.row_labels:
            self.removeItem(label)
        self.row_labels.clear()
        self.scatter.clear()
        self.mosaic.clear()
        images = x.ndim == 4
        self.getPlotItem().invertY(images)  # images read top-down
        # square pixels; for 2-D points one unit on x is one on y (round spirals)
        points = x.ndim == 2 and x.shape[1] == 2 and task != "regression"
        self.getViewBox().setAspectLocked(images or points)
        if images:
            self._set_images(x, y, class_names)
            return
        if x.size and (x.shape[1] == 1 or task == "regression"):  # the target against x₀
            self.scatter.setData(x[:, 0], y.reshape(-1), brush=pg.mkBrush(PALETTE[0]))
        elif x.size:
            brushes = [pg.mkBrush(PALETTE[int(c) % len(PALETTE)]) for c in y]
            self.scatter.setData(x[:, 0], x[:, 1], brush=brushes)
        self.autoRange()

    def _set_images(self, x: np.ndarray, y: np.ndarray, class_names: tuple[str, ...]) -> None:
        mosaic = image_mosaic(x, y)
        self.mosaic.setImage(mosaic.T, levels=(float(mosaic.min()), float(mosaic.max())))
        height = x.shape[2] + 1
        for row, c in enumerate(np.unique(y)):
            name = class_names[int(c)] if int(c) < len(class_names) else f"class {int(c)}"
            label = pg.TextItem(name, color=PALETTE[int(c) % len(PALETTE)], anchor=(1, 0.5))
            label.setPos(-1, row * height + x.shape[2] / 2)
            self.addItem(label)
            self.row_labels.append(label)
        rows, cols = mosaic.shape  # room on the left for the class names
        self.setRange(xRange=(-0.45 * cols, cols), yRange=(0, rows), padding=0.02)


def image_mosaic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Images (N, C, H, W) as one greyscale picture (channels averaged), a row
    per class in class order, one pixel of background between images."""
    images = x.mean(axis=1)
    classes = np.unique(y)
    per_row = max(int(np.sum(y == c)) for c in classes)
    h, w = images.shape[1:]
    out = np.full(((h + 1) * len(classes) - 1, (w + 1) * per_row - 1), float(images.min()))
    for row, c in enumerate(classes):
        for col, image in enumerate(images[y == c]):
            out[row * (h + 1) : row * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = image
    return out


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
