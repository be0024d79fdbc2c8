"""The common frame of every view: a pyqtgraph canvas with PNG and CSV export.

Views take numpy arrays (never torch), keep the latest data, and draw only in
``refresh()``, which the window calls on its ~30 Hz timer when the view is
visible and its data changed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lab.core.metrics import MetricStore

pg.setConfigOptions(antialias=True, background="w", foreground="k")

# Colour-blind-safe palette (Okabe-Ito) for classes and series.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


UNBOUNDED = 16777215  # Qt's QWIDGETSIZE_MAX


def series_pen(colour: object) -> pg.QtGui.QPen:
    """The pen of a curve with a point per step or per probe: one pixel wide.
    Qt paints an antialiased line wider than one pixel through a slow path:
    300 noisy points took 2-17 ms a curve at width 1.2-2 and 0.2 ms at width
    1, and the Gradients tab of a 20-layer net took 50 ms a frame."""
    return pg.mkPen(colour, width=1)


def show_plot(plot: pg.PlotItem, shown: bool) -> None:
    """Show or hide a plot of a layout; hidden, it gives up its room (a hidden
    item keeps its minimum height in a QGraphicsGridLayout otherwise). Its
    legend goes with it: a visible legend anchored in a hidden plot follows
    geometry changes of a view box Qt has already let go ("Internal C++
    object (ViewBox) already deleted")."""
    plot.setVisible(shown)
    if plot.legend is not None:
        plot.legend.setVisible(shown)
    plot.setMaximumHeight(UNBOUNDED if shown else 0)


def blank_plot(plot: pg.PlotItem) -> None:
    """A plot waiting for its first data: a plain 0..1 frame. An empty image
    item counts as a zero-size box at the origin in autoranging, which gave
    +-0.0005 ("layer (x0.001)", -400..400): its images are hidden (hidden
    items are left out of the range) until ``show_image`` fills one."""
    for item in plot.items:
        if isinstance(item, pg.ImageItem):
            item.hide()
    plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    plot.enableAutoRange()  # setRange turned it off; the first data must still fit


TITLE_SIZE = "10pt"


def set_title(plot: pg.PlotItem, text: str) -> None:
    """A plot's title, small, and never wider than the room it gets:
    pyqtgraph makes a title's text width the plot's minimum width, so one long
    title widened the view and squeezed the panels beside it."""
    label = plot.titleLabel
    if not getattr(label, "narrow", False):
        # LabelItem sets its minimum to the text's width again on every resize
        # (updateMin, from resizeEvent): undone each time, not once
        widen = label.updateMin

        def keep_narrow() -> None:
            widen()
            label.setMinimumWidth(0)

        label.updateMin = keep_narrow
        label.narrow = True
    plot.setTitle(text, size=TITLE_SIZE)


def show_image(item: pg.ImageItem, image: np.ndarray, **options: object) -> None:
    """``item.setImage`` for an image a blank plot may have hidden."""
    item.setImage(image, **options)
    item.show()


def decimate(x: np.ndarray, y: np.ndarray, points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` samples, evenly strided (the store already bounds memory)."""
    if len(x) <= points:
        return x, y
    stride = int(np.ceil(len(x) / points))
    return x[::stride], y[::stride]


def depth_colours(count: int) -> list[pg.QtGui.QColor]:
    """One colour per layer, dark (first) to light (head): depth reads as a
    gradient where a legend of 20 names would not fit."""
    cmap = pg.colormap.get("viridis")
    return [cmap.map(0.85 * i / max(count - 1, 1), mode="qcolor") for i in range(count)]


def layer_ticks(
    names: Sequence[str], most: int = 12, offset: float = 0.0
) -> list[list[tuple[float, str]]]:
    """Tick labels for a layer axis ("layer7" -> "7", "head" stays): every k-th
    layer when there are more than ``most``, and always the last (the head),
    without the label just before it that it would run into ("20head")."""
    count = len(names)
    step = max(1, int(np.ceil(count / most)))
    keep = list(range(0, count, step))
    if count and keep[-1] != count - 1:
        if step > 1 and count - 1 - keep[-1] <= step // 2:
            keep.pop()  # too close to the head's label
        keep.append(count - 1)
    return [[(i + offset, short_layer_name(names[i])) for i in keep]]


def short_layer_name(name: str) -> str:
    """A layer's axis label: a series' layer part, "layer7" as "7"
    ("probe/hist/block2" -> "block2", "head" stays)."""
    return name.rsplit("/", 1)[-1].rsplit("layer", 1)[-1]


PROBE_CSV_HEADER = ("step", "probe", "layer", "value")


def probe_csv(store: MetricStore, names: Sequence[str]) -> tuple[list[str], list[list[object]]]:
    """Per-layer probe series in long form, one row per step, probe and layer
    (as ``probes.csv`` in a run folder): the one layout of every probe view's
    CSV, whatever the series it draws."""
    rows: list[list[object]] = []
    for name in names:
        series = store.series.get(name)
        if series is None:
            continue
        probe = name.removeprefix("probe/")
        for step, values in zip(series.steps, series.values.tolist(), strict=True):
            rows += [
                [int(step), probe, layer, v]
                for layer, v in zip(series.columns, values, strict=True)
            ]
    return list(PROBE_CSV_HEADER), rows


class LogAxis(pg.AxisItem):
    """An axis whose log mode labels decades only, and 2x and 5x within a
    decade when fewer than three decade marks are in view: pyqtgraph's own labels every
    minor tick there, and the labels run into each other. Where not even three
    of those are in view (stds of 0.7 to 1.6 showed a lone "1"), evenly
    spaced round values are labelled instead."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: ANN001, ANN201, N802, N803
        lo, hi = int(np.floor(minVal)), int(np.ceil(maxVal))
        decades = [float(d) for d in range(lo, hi + 1) if minVal <= d <= maxVal]
        stride = max(1, int(np.ceil(len(decades) * 30 / max(size, 1))))  # ~30 px a label
        levels = [(float(stride), decades[::stride])]
        if len(decades) < 3:
            steps = [d + np.log10(m) for d in range(lo - 1, hi + 1) for m in (1, 2, 5)]
            steps = [v for v in steps if minVal <= v <= maxVal and v not in decades]
            if len(decades) + len(steps) < 3:
                steps = [
                    v
                    for v in _round_steps(10.0**minVal, 10.0**maxVal)
                    if not np.isclose(decades, v).any()
                ]
            levels.append((None, steps))
        return levels

    def logTickStrings(self, values, scale, spacing):  # noqa: ANN001, ANN201, N802
        """Up to three significant digits ("1.4", not pyqtgraph's "1"); powers of
        ten written out small and large numbers as pyqtgraph does."""
        plain = [f"{10.0**v * scale:.3g}" for v in values]
        return [
            text if "e" not in text else super(LogAxis, self).logTickStrings([v], scale, spacing)[0]
            for v, text in zip(values, plain, strict=True)
        ]


def _round_steps(low: float, high: float) -> list[float]:
    """log10 of the multiples of the largest 1, 2 or 5 x 10^k step that puts at
    least three of them in [low, high] (low > 0)."""
    third = (high - low) / 3
    if not third > 0:
        return []
    decade = 10.0 ** np.floor(np.log10(third))
    step = max(m * decade for m in (1, 2, 5) if m * decade <= third * (1 + 1e-9))
    first = np.ceil(low / step - 1e-9)
    values = (first + np.arange(int((high - low) / step) + 2)) * step
    return [float(np.log10(v)) for v in values if low * (1 - 1e-12) <= v <= high * (1 + 1e-12)]


def place_legend(legend: pg.LegendItem, height: float) -> None:
    """Put ``legend`` at the right-hand edge of its plot, ``height`` down it
    (0 top, 0.5 middle, 1 bottom)."""
    offset = 10 if height == 0 else -10 if height == 1 else 0
    legend.anchor((1, height), (1, height), offset=(-10, offset))


def freest_height(x: np.ndarray, ys: Sequence[np.ndarray]) -> float:
    """Where on the right-hand edge of a plot of these curves (over x, on a
    linear axis) a legend covers the fewest points: 0 top, 0.5 middle, 1
    bottom. Counts the points in the right 40% of x in each third of the
    curves' range; ties go to the top."""
    values = np.concatenate([np.asarray(y, dtype=float) for y in ys])
    xs = np.concatenate([np.asarray(x, dtype=float)] * len(ys))
    keep = np.isfinite(values) & np.isfinite(xs)
    values, xs = values[keep], xs[keep]
    if values.size == 0 or xs.max() == xs.min():
        return 0.0
    right = values[xs >= xs.min() + 0.6 * (xs.max() - xs.min())]
    low, span = values.min(), max(values.max() - values.min(), 1e-300)
    third = np.clip(((right - low) / span * 3).astype(int), 0, 2)  # 0 bottom .. 2 top
    counts = [int((third == band).sum()) for band in (2, 1, 0)]  # top, middle, bottom
    return (0.0, 0.5, 1.0)[int(np.argmin(counts))]


def log_axes() -> dict[str, pg.AxisItem]:
    """``axisItems`` for a plot whose y axis may go logarithmic."""
    return {"left": LogAxis("left")}


class ViewPanel(QWidget):
    """Title, export buttons and a canvas; subclasses fill ``self.canvas``."""

    exported = Signal(str)  # path written

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.dirty = True
        self.canvas = pg.GraphicsLayoutWidget()
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        png, csv_button = QPushButton("PNG…"), QPushButton("CSV…")
        png.setToolTip("Save this view as a PNG image")
        csv_button.setToolTip("Save the data behind this view as CSV")
        png.clicked.connect(self._ask_png)
        csv_button.clicked.connect(self._ask_csv)
        header = QHBoxLayout()
        self.heading = QLabel(f"<b>{title}</b>")
        header.addWidget(self.heading)
        header.addStretch(1)
        header.addWidget(png)
        header.addWidget(csv_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.caption)

    # ------------------------------------------------------------ drawing

    def rows_arrived(self, names: Sequence[str]) -> None:
        """New metric-store rows under these series: redraw on the next tick."""
        self.dirty = True

    def refresh(self) -> None:
        if self.dirty:
            self.dirty = False
            self.draw()

    def draw(self) -> None:  # pragma: no cover - every view overrides it
        raise NotImplementedError

    # ------------------------------------------------------------ export

    def csv_table(self) -> tuple[Sequence[str], Sequence[Sequence[object]]]:
        """Header and rows of the data shown; every view overrides it."""
        raise NotImplementedError  # pragma: no cover

    def export_png(self, path: str) -> None:
        self.draw()
        ImageExporter(self.canvas.scene()).export(path)
        self.exported.emit(path)

    def export_csv(self, path: str) -> None:
        header, rows = self.csv_table()
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if isinstance(v, float) and np.isnan(v) else v for v in row])
        self.exported.emit(path)

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, f"Save {self.title}", f"{self.title}.png", "PNG (*.png)"
        )
        if path:
            self.export_png(path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, f"Save {self.title}", f"{self.title}.csv", "CSV (*.csv)"
        )
        if path:
            self.export_csv(path)


class StoreView(ViewPanel):
    """A view that draws from the metric store the window keeps."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.store = MetricStore()

    def set_store(self, store: MetricStore) -> None:
        """The store of a run (a new run's when it replaces the one before)."""
        if store is not self.store:
            self.new_run()
        self.store = store
        self.dirty = True

    def new_run(self) -> None:
        """Another run's store arrives: nothing of the last one may stay on
        screen (its curves, a range it was zoomed to)."""
