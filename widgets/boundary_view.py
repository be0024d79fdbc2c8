"""The decision boundary of a 2-D classifier (class colours, paler where the
model is unsure) with the training points on top; for 1-D regression, the fitted
curve over the data; for image classifiers, which have no input plane to draw,
the test set's confusion matrix from the latest evaluation."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

from lab.core.wire import CONFUSION
from widgets.base import PALETTE, StoreView


def class_colours(n: int) -> np.ndarray:
    return np.array(
        [QColor(PALETTE[i % len(PALETTE)]).getRgb()[:3] for i in range(n)], dtype=np.float64
    )


class BoundaryView(StoreView):
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
        self.class_names: list[str] = []
        self.cell_texts: list[pg.TextItem] = []
        self._points_shown = False
        self.mode = "plane"  # "plane" (a boundary or a curve), "confusion" or "truth"
        self.r2 = float("nan")  # the truth plot's, as the engine computed it

    def set_data(
        self, x: np.ndarray, y: np.ndarray, class_names: list[str] | tuple[str, ...] = ()
    ) -> None:
        self.x, self.y, self.boundary = x, y, None
        self.class_names = list(class_names)
        self._points_shown = False  # the training points are drawn once per data set
        self.dirty = True

    def rows_arrived(self, names: list[str]) -> None:
        """Only the confusion matrix comes from the store: other rows (every
        tick while training) left the tab redrawing 1600 points at 30 Hz."""
        if CONFUSION in names:
            self.dirty = True

    def set_boundary(
        self,
        xs: np.ndarray,
        ys: np.ndarray | None,
        values: np.ndarray,
        confidence: np.ndarray | None,
        step: int,
        r2: float = float("nan"),
    ) -> None:
        self.boundary = (xs, ys, values, confidence, step)
        self.r2 = r2
        self.dirty = True

    def draw(self) -> None:
        x, y = self.x, self.y
        values = y is not None and y.dtype.kind == "f"  # regression targets
        # no input plane to draw a boundary in: images, or a table of many features
        confusion = x is not None and (x.ndim != 2 or (not values and x.shape[1] != 2))
        truth = x is not None and not confusion and values and x.shape[1] != 1
        self.mode = "confusion" if confusion else "truth" if truth else "plane"
        self._set_confusion_axes(confusion)
        regression = values and x is not None and x.ndim == 2
        heading = "Confusion matrix" if confusion else "Prediction" if regression else self.title
        self.heading.setText(f"<b>{heading}</b>")
        if confusion:
            self._draw_confusion()
            return
        if truth:
            self._draw_truth()
            return
        if x is None or x.size == 0:
            self.image.clear()
            self.points.clear()
            self.fit.setData([], [])
            return
        if x.shape[1] == 1:  # regression: points and the fitted curve
            self.image.clear()
            if not self._points_shown:
                self.points.setData(x[:, 0], y.reshape(-1), brush=pg.mkBrush(PALETTE[0]))
                self._points_shown = True
            if self.boundary is not None:
                xs, _, values, _, step = self.boundary
                self.fit.setData(xs, values)
                self.caption.setText(
                    f"model prediction at step {step} (orange) over the training data"
                )
            return
        self.fit.setData([], [])
        colours = class_colours(int(y.max()) + 1 if y.size else 1)
        if not self._points_shown:  # one brush per class, not per point
            palette = [pg.mkBrush(*c) for c in colours]
            self.points.setData(x[:, 0], x[:, 1], brush=[palette[int(c)] for c in y])
            self._points_shown = True
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

    def _draw_truth(self) -> None:
        """Regression on many features: each test example's prediction against
        its target, on the diagonal where the model is right."""
        self.image.clear()
        self.plot.setLabel("bottom", "target")
        self.plot.setLabel("left", "prediction")
        if self.boundary is None:
            self.points.clear()
            self.fit.setData([], [])
            self.caption.setText("The test set's predictions appear once the model is built.")
            return
        truth, _, predicted, _, step = self.boundary
        self.points.setData(truth, predicted, brush=pg.mkBrush(PALETTE[0]))
        low, high = float(np.nanmin(truth)), float(np.nanmax(truth))
        self.fit.setData([low, high], [low, high])  # where prediction equals target
        self.plot.enableAutoRange()  # the last view's range (a matrix's) does not fit
        self.caption.setText(
            f"test set at step {step}: prediction against target (the line: exact);"
            f" R² {self.r2:.3f}"
        )

    def _set_confusion_axes(self, confusion: bool) -> None:
        """Class-name axes and a locked aspect for the matrix; plain ones else."""
        if not confusion:
            self._clear_cell_texts()
        plot = self.plot
        plot.setAspectLocked(confusion)
        for side, label in (("bottom", "predicted class"), ("left", "true class")):
            plot.setLabel(side, label if confusion else None)
            if not confusion:
                plot.getAxis(side).setTicks(None)

    def _clear_cell_texts(self) -> None:
        for item in self.cell_texts:
            self.plot.removeItem(item)
        self.cell_texts.clear()

    def _draw_confusion(self) -> None:
        """Rows are true classes (the first at the top), columns predictions;
        each cell shows its count, shaded by its share of the row."""
        self.points.clear()
        self._points_shown = False
        self.fit.setData([], [])
        self._clear_cell_texts()
        latest = self._latest_confusion()
        if latest is None:
            self.image.clear()
            self.caption.setText(
                "No plane of inputs to draw a boundary in (images, or more than two features):"
                " the test set's confusion matrix appears at the first evaluation."
            )
            return
        counts, names, step = latest
        classes = len(names)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        colour = np.array(QColor(PALETTE[0]).getRgb()[:3], dtype=np.float64)
        rgb = 255 * (1 - shares[..., None]) + colour * shares[..., None]
        # image axis 0 is x (prediction), axis 1 is y; true class t sits at y = k-1-t
        self.image.setImage(np.transpose(rgb[::-1], (1, 0, 2)).astype(np.uint8), levels=(0, 255))
        self.image.setRect(0, 0, classes, classes)
        self.plot.getAxis("bottom").setTicks([[(j + 0.5, n) for j, n in enumerate(names)]])
        self.plot.getAxis("left").setTicks(
            [[(classes - 1 - t + 0.5, n) for t, n in enumerate(names)]]
        )
        for t in range(classes):
            for j in range(classes):
                text = pg.TextItem(
                    f"{int(counts[t, j])}",
                    color="w" if shares[t, j] > 0.5 else "k",
                    anchor=(0.5, 0.5),
                )
                text.setPos(j + 0.5, classes - 1 - t + 0.5)
                self.plot.addItem(text)
                self.cell_texts.append(text)
        self.plot.setRange(xRange=(0, classes), yRange=(0, classes), padding=0.02)
        self.caption.setText(self._confusion_text(counts, names, step))

    def _latest_confusion(self) -> tuple[np.ndarray, list[str], int] | None:
        """The latest counts (true x predicted), the class names and the step."""
        if CONFUSION not in self.store:
            return None
        series = self.store[CONFUSION]
        classes = int(round(np.sqrt(series.latest.size)))
        names = self.class_names[:classes]
        names += [f"class {c}" for c in range(len(names), classes)]
        return series.latest.reshape(classes, classes), names, series.latest_step

    @staticmethod
    def _confusion_text(counts: np.ndarray, names: list[str], step: int) -> str:
        total = counts.sum()
        text = f"test set at step {step}: {100 * np.trace(counts) / max(total, 1):.1f}% correct"
        wrong = counts - np.diag(np.diag(counts))
        if wrong.any():
            t, j = np.unravel_index(int(np.argmax(wrong)), wrong.shape)
            text += (
                f"; most confused: {names[t]} taken for {names[j]}"
                f" ({int(wrong[t, j])} of {int(counts[t].sum())})"
            )
        return text

    def csv_table(self):
        if self.mode == "truth":
            if self.boundary is None:
                return ["target", "prediction"], []
            truth, _, predicted, _, _ = self.boundary
            return ["target", "prediction"], [
                [float(a), float(b)] for a, b in zip(truth, predicted, strict=True)
            ]
        if self.mode == "confusion":
            latest = self._latest_confusion()
            if latest is None:
                return ["true", "predicted", "count"], []
            counts, names, _ = latest
            return ["true", "predicted", "count"], [
                [true, guess, int(counts[t, j])]
                for t, true in enumerate(names)
                for j, guess in enumerate(names)
            ]
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
