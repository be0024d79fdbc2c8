"""Gradients per layer: the latest weight-gradient norm, activation-gradient
norm ||dL/dh|| and output std side by side (log10 bars), a layer x step heatmap
of log10 ||dL/dh||, the update-to-weight ratio ||dw|| / ||w|| of each layer over
time, and the global gradient norm before and after clipping."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from lab.core import wire
from widgets.base import (
    PALETTE,
    StoreView,
    blank_plot,
    decimate,
    depth_colours,
    layer_ticks,
    log_axes,
    probe_csv,
    series_pen,
    set_title,
    show_image,
)

# A common rule of thumb (Karpathy, CS231n): updates near 1e-3 of the weights
# per step; far below, learning crawls; far above, it is unstable.
TYPICAL_UPDATE_RATIO = 1e-3
BAR_WIDTH = 0.27
BARS = (wire.PROBE_GRAD_NORM, wire.PROBE_ACT_GRAD_NORM, wire.PROBE_OUTPUT_STD)
CSV_SERIES = (*BARS, wire.PROBE_WEIGHT_NORM, wire.PROBE_UPDATE_RATIO)


def log10_safe(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(values)
    out[~np.isfinite(out)] = np.nan
    return out


NORM_TITLE_CLIPPED = (
    f"global gradient norm <span style='color:{PALETTE[0]}'>before</span> and"
    f" <span style='color:{PALETTE[1]}'>after clipping (▼ fired)</span>"
)
NORM_TITLE_UNCLIPPED = "global gradient norm (clipping never fired)"


class GradientView(StoreView):
    def __init__(self) -> None:
        super().__init__("Gradients")
        kinds = (
            (wire.PROBE_GRAD_NORM, "‖∇W‖", PALETTE[0]),
            (wire.PROBE_ACT_GRAD_NORM, "‖dL/dh‖", PALETTE[1]),
            (wire.PROBE_OUTPUT_STD, "std(h)", PALETTE[2]),
        )
        # the key in the title's colours: a legend box covers bars of some layer
        legend = ", ".join(
            f"<span style='color:{colour}'>{label}</span>" for _, label, colour in kinds
        )
        self.bars_plot = self.canvas.addPlot(row=0, col=0)
        set_title(self.bars_plot, f"latest per layer, log10: {legend}")
        self.bars: dict[str, pg.BarGraphItem] = {}
        self._bar_offsets: dict[str, float] = {}
        for offset, (key, label, colour) in zip((-BAR_WIDTH, 0.0, BAR_WIDTH), kinds, strict=True):
            bars = pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH, brush=colour, name=label)
            self.bars_plot.addItem(bars)
            self.bars[key], self._bar_offsets[key] = bars, offset
        self.weight_bars = self.bars[wire.PROBE_GRAD_NORM]
        self.act_bars = self.bars[wire.PROBE_ACT_GRAD_NORM]
        self.std_bars = self.bars[wire.PROBE_OUTPUT_STD]
        self.heat_plot = self.canvas.addPlot(row=1, col=0)
        set_title(self.heat_plot, "log10 ‖dL/dh‖: layer × step")
        self.heat_plot.setLabel("left", "layer")
        self.image = pg.ImageItem()
        self.heat_plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), label="log10")
        self.colorbar.setImageItem(self.image, insert_in=self.heat_plot)
        self.ratio_plot = self.canvas.addPlot(
            row=2,
            col=0,
            axisItems=log_axes(),
        )
        set_title(self.ratio_plot, "update / weight ‖Δw‖/‖w‖ per step (dark: first layer)")
        self.ratio_plot.setLogMode(y=True)
        self.ratio_plot.showGrid(y=True, alpha=0.3)
        self.ratio_plot.addItem(
            pg.InfiniteLine(
                np.log10(TYPICAL_UPDATE_RATIO),  # log mode: the item lives in log10 space
                angle=0,
                pen=pg.mkPen("#888", style=pg.QtCore.Qt.PenStyle.DashLine),
                label="1e-3",
                labelOpts={"position": 0.03, "color": "#666"},
            )
        )
        self.ratio_curves: list[pg.PlotDataItem] = []
        self.norm_plot = self.canvas.addPlot(
            row=3,
            col=0,
            axisItems=log_axes(),
        )
        set_title(self.norm_plot, NORM_TITLE_UNCLIPPED)
        self.norm_plot.setLogMode(y=True)
        self.norm_plot.showGrid(y=True, alpha=0.3)
        self.norm_plot.setLabel("bottom", "step")
        self.norm_curves = {
            "before_clip": self.norm_plot.plot(pen=series_pen(PALETTE[0])),
            "after_clip": self.norm_plot.plot(pen=series_pen(PALETTE[1])),
            "clipped": self.norm_plot.plot(
                pen=None, symbol="t", symbolSize=7, symbolBrush=PALETTE[1], symbolPen=None
            ),
        }

    def _axis(self, plot: pg.PlotItem, axis: str, names: list[str], most: int = 12) -> None:
        plot.getAxis(axis).setTicks(layer_ticks(names, most))

    def draw(self) -> None:
        store = self.store
        # any of the per-layer series names the layers: ||dL/dh|| and std(h)
        # come without the weight-gradient probes too
        shown = next((n for n in BARS if n in store and len(store[n])), None)
        if shown is None:
            for bars in self.bars.values():
                bars.setOpts(x=[], height=[])
            self.image.clear()
            blank_plot(self.heat_plot)
            for curve in (*self.ratio_curves, *self.norm_curves.values()):
                curve.setData([], [])
            self.caption.setText("Gradient probes appear on the first probed step.")
            return
        names = list(store[shown].columns)
        x = np.arange(len(names))
        for key, bars in self.bars.items():
            if key in store and len(store[key]) and len(store[key].latest) == len(names):
                heights = np.nan_to_num(log10_safe(store[key].latest), nan=0.0)
                bars.setOpts(x=x + self._bar_offsets[key], height=heights)
            else:
                bars.setOpts(x=[], height=[])
        self._axis(self.bars_plot, "bottom", names)
        self._draw_heatmap(names)
        self._draw_ratios()
        self._draw_global_norm()
        self.caption.setText(self._summary(names))

    def _draw_heatmap(self, names: list[str]) -> None:
        if wire.PROBE_ACT_GRAD_NORM not in self.store or not len(
            self.store[wire.PROBE_ACT_GRAD_NORM]
        ):
            self.image.clear()
            return
        act = self.store[wire.PROBE_ACT_GRAD_NORM]
        history = log10_safe(act.values)  # step x layer
        finite = history[np.isfinite(history)]
        if finite.size:
            steps = act.steps
            show_image(self.image, np.nan_to_num(history, nan=finite.min()), autoLevels=False)
            low, high = float(finite.min()), float(finite.max())
            self.colorbar.setLevels((low, high if high > low else low + 1))
            span = max(float(steps[-1] - steps[0]), 1.0)
            self.image.setRect(float(steps[0]), -0.5, span, len(names))
        self._axis(self.heat_plot, "left", names, most=6)  # a short axis

    def _draw_ratios(self) -> None:
        if wire.PROBE_UPDATE_RATIO not in self.store:
            return
        series = self.store[wire.PROBE_UPDATE_RATIO]
        values, steps = series.values, series.steps
        if len(self.ratio_curves) != values.shape[1]:
            for curve in self.ratio_curves:
                self.ratio_plot.removeItem(curve)
            self.ratio_curves = [
                self.ratio_plot.plot(pen=series_pen(colour))
                for colour in depth_colours(values.shape[1])
            ]
        for curve, column in zip(self.ratio_curves, values.T, strict=True):
            keep = np.isfinite(column) & (column > 0)  # log axis: a zero update has no place
            curve.setData(*decimate(steps[keep], column[keep]))

    def _draw_global_norm(self) -> None:
        if wire.PROBE_GLOBAL_GRAD_NORM not in self.store:
            return
        series = self.store[wire.PROBE_GLOBAL_GRAD_NORM]
        steps = series.steps
        before, after = series.column("before_clip"), series.column("after_clip")
        clipped = series.column("clipped") > 0
        self.norm_curves["before_clip"].setData(*decimate(steps, before))
        title = NORM_TITLE_CLIPPED if clipped.any() else NORM_TITLE_UNCLIPPED
        if title != self.norm_plot.titleLabel.text:  # the key names only curves that are drawn
            set_title(self.norm_plot, title)
        if clipped.any():
            self.norm_curves["after_clip"].setData(*decimate(steps, after))
            self.norm_curves["clipped"].setData(steps[clipped], before[clipped])
        else:  # after == before: one curve says it
            self.norm_curves["after_clip"].setData([], [])
            self.norm_curves["clipped"].setData([], [])

    def _summary(self, names: list[str]) -> str:
        parts = []
        store = self.store
        if wire.PROBE_ACT_GRAD_NORM in store and len(store[wire.PROBE_ACT_GRAD_NORM]):
            act = store[wire.PROBE_ACT_GRAD_NORM]
            latest = act.latest
            hidden = [i for i, n in enumerate(names) if n != "head"]
            if len(hidden) >= 2 and np.isfinite(latest[hidden]).all() and latest[hidden[-1]] > 0:
                ratio = latest[hidden[0]] / latest[hidden[-1]]
                parts.append(
                    f"step {act.latest_step}: ‖dL/dh‖ first/last hidden layer = {ratio:.3g} "
                    "(≈1 healthy; ≪1 vanishing; ≫1 exploding)"
                )
        if wire.PROBE_UPDATE_RATIO in store:
            ratios = store[wire.PROBE_UPDATE_RATIO].latest
            finite = ratios[np.isfinite(ratios) & (ratios > 0)]
            if finite.size:
                parts.append(f"update/weight {finite.min():.2g}–{finite.max():.2g} (≈1e-3 typical)")
        if wire.PROBE_GLOBAL_GRAD_NORM in store:
            clipped = store[wire.PROBE_GLOBAL_GRAD_NORM].column("clipped")
            if clipped.any():
                share = float(np.mean(clipped > 0))
                parts.append(f"clipping fired on {100 * share:.0f}% of probed steps")
        return "; ".join(parts)

    def csv_table(self):
        return probe_csv(self.store, CSV_SERIES)
