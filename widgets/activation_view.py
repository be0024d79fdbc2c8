"""Activations and dead units: per-layer histograms (a layer x bin heatmap of
the latest probed batch), std and saturation by layer, the fraction of dead
units per layer over time, and the per-unit dead map."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from lab.core import wire
from lab.core.metrics import MetricStore
from widgets.base import (
    PALETTE,
    StoreView,
    blank_plot,
    decimate,
    depth_colours,
    freest_height,
    layer_ticks,
    log_axes,
    place_legend,
    probe_csv,
    series_pen,
    set_title,
    show_image,
    show_plot,
)

DEAD_TITLE = "dead units per layer over time (share)"
MAP_TITLE = "dead unit map, latest window (yellow = dead)"
WAITING = "Activation probes appear on the first probed step."
CSV_SERIES = (
    wire.PROBE_ACT_MEAN,
    wire.PROBE_ACT_STD,
    wire.PROBE_SATURATION,
    wire.PROBE_DEAD_FRACTION,
    wire.PROBE_DEAD_NOW,
)
LEGEND_MOST = 8  # more layers than this: depth colours instead of a legend
LR_STRIP_HEIGHT = 90
STD_TITLE = "std by layer (saturation: sigmoid and tanh layers only)"
EXPLAIN_DEAD = 0.05  # a mean dead share from which the caption says why
LOG_STD_SPAN = 100.0  # std max / min (or max) beyond which the std axis goes logarithmic
EDGE_SHARE = 0.5  # a layer with this share in its two edge bins has left the range
WHY_DEAD = (
    "A dead unit outputs 0 for every sample, so no gradient reaches its weights. Some are"
    " normal for ReLU nets, most of all on few inputs: a unit whose weights point away from"
    " all the data never fires, from the start. A learning-rate spike kills more; leaky ReLU,"
    " a small positive init bias or BatchNorm before the ReLU keep more alive"
)


def share_ceiling(shares: np.ndarray) -> float:
    """The top of the histogram colour scale: the 90th percentile of the
    occupied bins, rounded up to 1, 2 or 5 x 10^k (the bar keeps still while
    training). ReLU's zeros fill one bin with half of every layer; scaled to
    that bin, the rest of each histogram was drawn near-black. Bins above the
    ceiling show at full colour."""
    occupied = shares[shares > 0]
    if occupied.size == 0:
        return 1.0
    top = float(np.percentile(occupied, 90))
    decade = 10.0 ** np.floor(np.log10(top))
    return min(1.0, next(m * decade for m in (1, 2, 5, 10) if m * decade >= top - 1e-12))


class ActivationView(StoreView):
    def __init__(self) -> None:
        super().__init__("Activations and dead units")
        # One column: the tab is narrow beside the docks, and each plot needs width.
        self.hist_plot = self.canvas.addPlot(row=0, col=0)
        set_title(self.hist_plot, "activation histograms (share per bin)")
        self.hist_plot.setLabel("left", "layer")
        self.hist_image = pg.ImageItem()
        self.hist_plot.addItem(self.hist_image)
        self.hist_bar = pg.ColorBarItem(
            colorMap=pg.colormap.get("magma"), values=(0, 0.2), label="share"
        )
        self.hist_bar.setImageItem(self.hist_image, insert_in=self.hist_plot)
        self.stats_plot = self.canvas.addPlot(row=1, col=0, axisItems=log_axes())
        set_title(self.stats_plot, STD_TITLE)
        self.stats_legend = self.stats_plot.addLegend(offset=(-10, 10))
        self.std_curve = self.stats_plot.plot(
            pen=pg.mkPen(PALETTE[0], width=2), symbol="o", symbolSize=5, name="std"
        )
        self.sat_curve = self.stats_plot.plot(
            pen=pg.mkPen(PALETTE[1], width=2), symbol="s", symbolSize=5, name="saturated share"
        )
        self.dead_plot = self.canvas.addPlot(row=2, col=0)
        set_title(self.dead_plot, DEAD_TITLE)
        self.dead_plot.setYRange(0, 1)
        self.dead_plot.setLabel("bottom", "step")
        self.dead_plot.addLegend(offset=(-10, 10), colCount=4)
        # the learning rate under the dead units, on the same steps: a spike in
        # one and deaths in the other are cause and effect
        self.lr_plot = self.canvas.addPlot(row=3, col=0)
        set_title(self.lr_plot, "learning rate")
        self.lr_plot.setMaximumHeight(LR_STRIP_HEIGHT)
        self.lr_plot.setXLink(self.dead_plot)
        self.lr_plot.enableAutoRange(x=False)  # the steps follow the dead plot's (see LossView)
        self.lr_curve = self.lr_plot.plot(pen=series_pen(PALETTE[2]))
        self.map_plot = self.canvas.addPlot(row=4, col=0)
        set_title(self.map_plot, MAP_TITLE)
        self.map_plot.setLabel("left", "layer")
        self.map_plot.setLabel("bottom", "unit")
        self.map_image = pg.ImageItem(levels=(0, 1))
        self.map_image.setColorMap(pg.colormap.get("viridis"))
        self.map_plot.addItem(self.map_image)
        self.ranges: dict[str, tuple[float, float]] = {}
        self.dead_curves: dict[str, pg.PlotDataItem] = {}
        self.dead_reason: str | None = None  # why no unit is watched, if none is

    def set_dead_watch(self, reason: str | None) -> None:
        """None when the model has units that can die and the probe counts them;
        else the reason there are no dead-unit figures: the two dead-unit plots
        are hidden and the caption gives the reason (the previous model's map
        stayed on screen)."""
        self.dead_reason = reason
        for plot in (self.dead_plot, self.lr_plot, self.map_plot):
            show_plot(plot, reason is None)
        if reason is not None:
            self._drop_dead_curves()
            self.map_image.clear()
        self.dirty = True

    def draw(self) -> None:
        store = self.store
        hist_names = sorted(
            (n for n in store.series if n.startswith(wire.PROBE_HIST)), key=_layer_order
        )
        if not hist_names:
            self.hist_image.clear()
            self.map_image.clear()
            self._drop_dead_curves()
            for curve in (self.std_curve, self.sat_curve, self.lr_curve):
                curve.setData([], [])
            for plot in (self.hist_plot, self.map_plot):
                blank_plot(plot)
            self.caption.setText(WAITING)
            return
        counts = np.stack([store[n].latest for n in hist_names])  # layer x bin
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        show_image(self.hist_image, shares.T, autoLevels=False)  # x = bin, y = layer
        self.hist_bar.setLevels((0.0, share_ceiling(shares)))
        self.hist_plot.getAxis("left").setTicks(layer_ticks(hist_names, most=6, offset=0.5))
        self.hist_plot.getAxis("bottom").setTicks([self._value_ticks(shares.shape[1])])
        if wire.PROBE_ACT_STD in store:
            x = np.arange(len(store[wire.PROBE_ACT_STD].columns))
            self.std_curve.setData(x, store[wire.PROBE_ACT_STD].latest)
            names = store[wire.PROBE_ACT_STD].columns
            self.stats_plot.getAxis("bottom").setTicks(layer_ticks(names))
            saturation = store[wire.PROBE_SATURATION].latest
            keep = np.isfinite(saturation)
            self.sat_curve.setData(x[keep], saturation[keep])
            self._fit_legend(store[wire.PROBE_ACT_STD].latest, saturation, bool(keep.any()))
            self._std_scale(store[wire.PROBE_ACT_STD].latest)
        note = self._range_note(shares, hist_names)
        if self.dead_reason is not None:
            self.caption.setText(self._saturation_text(store) + note)
        elif wire.PROBE_DEAD_FRACTION in store:
            dead = store[wire.PROBE_DEAD_FRACTION]
            watched = [
                (name, dead.values[:, index])
                for index, name in enumerate(dead.columns)
                if np.isfinite(dead.values[:, index]).any()
            ]
            if [name for name, _ in watched] != list(self.dead_curves):
                self._make_dead_curves([name for name, _ in watched])
            for name, values in watched:
                self.dead_curves[name].setData(dead.steps, values)
            if wire.STEP in store:
                steps = store[wire.STEP]
                self.lr_curve.setData(*decimate(steps.steps, steps.column("lr")))
            maps = sorted(
                (n for n in store.series if n.startswith(wire.PROBE_DEAD_MAP)), key=_layer_order
            )
            if maps:
                width = max(len(store[n].columns) for n in maps)
                grid = np.full((width, len(maps)), np.nan)
                for row, name in enumerate(maps):
                    latest = store[name].latest
                    grid[: len(latest), row] = latest
                # units a narrower layer lacks stay NaN: drawn transparent, not as alive
                show_image(self.map_image, grid, levels=(0, 1))
                self.map_plot.getAxis("left").setTicks(layer_ticks(maps, most=6, offset=0.5))
            latest = dead.latest
            finite = np.isfinite(latest)
            if finite.any():
                worst = int(np.nanargmax(np.where(finite, latest, -1)))
                text = (
                    f"step {dead.latest_step}: {100 * np.nanmean(latest):.1f}% of ReLU-family"
                    f" units dead over the window on average; most in {dead.columns[worst]}"
                    f" ({100 * latest[worst]:.0f}%)"
                    if latest[worst] > 0
                    else f"step {dead.latest_step}: no ReLU-family unit dead over the window"
                )
                if wire.PROBE_DEAD_NOW in store:  # silent on this batch alone: a looser test
                    now = store[wire.PROBE_DEAD_NOW].latest
                    if np.isfinite(now).any():
                        text += f"; silent on this batch: {100 * np.nanmean(now):.1f}%"
                if np.nanmean(latest) >= EXPLAIN_DEAD:
                    text += ". " + WHY_DEAD
                self.caption.setText(text + note)

    def _std_scale(self, std: np.ndarray) -> None:
        """A log axis for the std when it spans decades (a net that blew up
        has layers at 1e5 beside layers at 1: on a linear axis one line)."""
        finite = std[np.isfinite(std) & (std > 0)]
        wide = bool(finite.size) and bool(
            finite.max() > LOG_STD_SPAN or finite.max() / finite.min() > LOG_STD_SPAN
        )
        if wide != self.stats_plot.getAxis("left").logMode:
            self.stats_plot.setLogMode(y=wide)
            self.sat_curve.setVisible(not wide)  # a share of 0..1 has no room on that axis

    def _range_note(self, shares: np.ndarray, names: list[str]) -> str:
        """Where most values of a layer fall at or beyond the ends of the
        histogram's range (counted in the edge bins) and spread wider than
        the range itself, they left it (a saturated sigmoid's sit at its
        ends inside it): the picture is two bright columns. Say so, with the
        range and the knob that widens it."""
        edges = shares[:, 0] + shares[:, -1]
        std = self.store.series.get(wire.PROBE_ACT_STD)
        spread = {} if std is None else dict(zip(std.columns, std.latest, strict=True))
        outside = []
        for name, share in zip(names, edges, strict=True):
            layer = name.rsplit("/", 1)[-1]
            if layer not in self.ranges:
                continue  # a range not known: nothing to judge against
            lo, hi = self.ranges[layer]
            if share >= EDGE_SHARE and spread.get(layer, 0.0) > (hi - lo) / 2:
                outside.append(name)
        if not outside:
            return ""
        spans = {self.ranges.get(n.rsplit("/", 1)[-1]) for n in outside} - {None}
        span = ""
        if len(spans) == 1:
            lo, hi = spans.pop()
            span = f" [{lo:g}, {hi:g}]"
        largest = (
            f"; std up to {np.nanmax(std.latest):.3g}"
            if std is not None and np.isfinite(std.latest).any()
            else ""
        )
        return (
            f". Histograms clipped: in {len(outside)} of {len(names)} layers most values lie at"
            f" or beyond the ends of the histogram's range{span}, counted in its edge bins"
            f"{largest} (log axis above). Probes → histogram range widens it."
        )

    def _saturation_text(self, store: MetricStore) -> str:
        """The caption where no unit can die: the reason, and the layer that
        saturates most (sigmoid and tanh stall that way instead)."""
        series = store.series.get(wire.PROBE_ACT_STD)
        step = f"step {series.latest_step}: " if series is not None else ""
        text = f"{step}no dead-unit figures ({self.dead_reason})"
        if wire.PROBE_SATURATION in store:
            saturation = store[wire.PROBE_SATURATION]
            latest = saturation.latest
            if np.isfinite(latest).any():
                worst = int(np.nanargmax(latest))
                text += (
                    f"; most saturated: {saturation.columns[worst]}"
                    f" ({100 * latest[worst]:.1f}% of outputs)"
                    if latest[worst] > 0
                    else "; no output saturated"
                )
        return text

    def csv_table(self):
        return probe_csv(self.store, CSV_SERIES)

    def set_ranges(self, ranges: dict[str, tuple[float, float]]) -> None:
        """Histogram value range per layer, to label the bins."""
        self.ranges = ranges
        self.dirty = True

    def _fit_legend(self, std: np.ndarray, saturation: np.ndarray, saturating: bool) -> None:
        """List saturation only where a layer saturates (sigmoid, tanh), and put
        the legend where the right-hand edge has fewest points (the deep sigmoid
        net's std ran high on the right, saturation along the bottom: the
        middle is free)."""
        legend = self.stats_legend
        listed = any(sample.item is self.sat_curve for sample, _ in legend.items)
        if saturating and not listed:
            legend.addItem(self.sat_curve, "saturated share")
        elif listed and not saturating:
            legend.removeItem(self.sat_curve)
        curves = [std, saturation] if saturating else [std]
        place_legend(legend, freest_height(np.arange(len(std)), curves))
        # saturation is a sigmoid and tanh figure: the title names what is drawn
        set_title(self.stats_plot, "std and saturated share by layer" if saturating else STD_TITLE)

    def _value_ticks(self, bins: int) -> list[tuple[float, str]]:
        spans = set(self.ranges.values())
        if len(spans) != 1:  # layers differ (sigmoid 0..1, tanh -1..1) or unknown
            return [(0, "low"), (bins, "high")]
        lo, hi = spans.pop()
        return [(bins * f, f"{lo + f * (hi - lo):g}") for f in (0, 0.25, 0.5, 0.75, 1)]

    def _make_dead_curves(self, names: list[str]) -> None:
        """A named curve per ReLU-family layer in the palette, or past
        ``LEGEND_MOST`` layers (a legend of 20 names covered the plot) colours
        running dark (first layer) to light (last) with the key in the title."""
        self._drop_dead_curves()
        by_depth = len(names) > LEGEND_MOST
        colours = depth_colours(len(names)) if by_depth else PALETTE
        for index, name in enumerate(names):
            pen = series_pen(colours[index % len(colours)])
            curve = self.dead_plot.plot(pen=pen, name=None if by_depth else name)
            self.dead_curves[name] = curve
        set_title(self.dead_plot, DEAD_TITLE + (" (dark: first → light: last)" if by_depth else ""))

    def _drop_dead_curves(self) -> None:
        for curve in self.dead_curves.values():
            self.dead_plot.removeItem(curve)
            self.dead_plot.legend.removeItem(curve)
        self.dead_curves.clear()

    def clear(self) -> None:
        """Forget the previous run's pictures (a new model is built)."""
        self._drop_dead_curves()
        self.map_image.clear()
        self.hist_image.clear()
        for curve in (self.std_curve, self.sat_curve, self.lr_curve):
            curve.setData([], [])
        self.caption.setText(WAITING)
        self.dirty = True

    new_run = clear  # a new run's store: the last run's pictures go


def _layer_order(name: str) -> int:
    tail = name.rsplit("/", 1)[-1].removeprefix("layer").removeprefix("block")
    return int(tail) if tail.isdigit() else 10**6
