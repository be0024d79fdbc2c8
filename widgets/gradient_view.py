"""Gradients per layer: the latest weight-gradient and activation-gradient norms
side by side (log10 bars), and a layer x step heatmap of log10 ||dL/dh||."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from lab.metrics import MetricStore
from widgets.base import PALETTE, ViewPanel


def log10_safe(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(values)
    out[~np.isfinite(out)] = np.nan
    return out


class GradientView(ViewPanel):
    def __init__(self) -> None:
        super().__init__("Gradients")
        self.store = MetricStore()
        self.bars_plot = self.canvas.addPlot(
            row=0, col=0, title="latest gradient norms, log10: ‖∇W‖ blue, ‖dL/dh‖ orange"
        )
        self.weight_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=PALETTE[0])
        self.act_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=PALETTE[1])
        self.bars_plot.addItem(self.weight_bars)
        self.bars_plot.addItem(self.act_bars)
        self.heat_plot = self.canvas.addPlot(row=1, col=0, title="log10 ‖dL/dh‖: layer × step")
        self.heat_plot.setLabel("bottom", "step")
        self.heat_plot.setLabel("left", "layer")
        self.image = pg.ImageItem()
        self.heat_plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), label="log10")
        self.colorbar.setImageItem(self.image, insert_in=self.heat_plot)
        self.layer_names: list[str] = []

    def set_store(self, store: MetricStore) -> None:
        self.store = store
        self.dirty = True

    def _axis(self, plot: pg.PlotItem, axis: str, names: list[str]) -> None:
        step = max(1, len(names) // 12)
        plot.getAxis(axis).setTicks(
            [[(i, n.replace("layer", "")) for i, n in enumerate(names)][::step]]
        )

    def draw(self) -> None:
        store = self.store
        if "probe/grad_norm" not in store or len(store["probe/grad_norm"]) == 0:
            self.weight_bars.setOpts(x=[], height=[])
            self.act_bars.setOpts(x=[], height=[])
            self.image.clear()
            self.caption.setText("Gradient probes appear on the first probed step.")
            return
        grads = store["probe/grad_norm"]
        names = list(grads.columns)
        x = np.arange(len(names))
        self.weight_bars.setOpts(x=x - 0.2, height=np.nan_to_num(log10_safe(grads.latest), nan=0.0))
        self._axis(self.bars_plot, "bottom", names)
        if "probe/act_grad_norm" in store and len(store["probe/act_grad_norm"]):
            act = store["probe/act_grad_norm"]
            latest = act.latest
            self.act_bars.setOpts(x=x + 0.2, height=np.nan_to_num(log10_safe(latest), nan=0.0))
            history = log10_safe(act.values)  # step x layer
            finite = history[np.isfinite(history)]
            if finite.size:
                steps = act.steps
                self.image.setImage(np.nan_to_num(history, nan=finite.min()), autoLevels=False)
                low, high = float(finite.min()), float(finite.max())
                self.colorbar.setLevels((low, high if high > low else low + 1))
                span = max(float(steps[-1] - steps[0]), 1.0)
                self.image.setRect(float(steps[0]), -0.5, span, len(names))
            self._axis(self.heat_plot, "left", names)
            hidden = [i for i, n in enumerate(names) if n != "head"]
            if len(hidden) >= 2 and np.isfinite(latest[hidden]).all() and latest[hidden[-1]] > 0:
                ratio = latest[hidden[0]] / latest[hidden[-1]]
                self.caption.setText(
                    f"step {act.latest_step}: ‖dL/dh‖ first/last hidden layer = {ratio:.3g} "
                    "(≈1 healthy; ≪1 vanishing; ≫1 exploding)"
                )

    def csv_table(self):
        if "probe/grad_norm" not in self.store:
            return ["step"], []
        header, rows = ["step", "probe", *self.store["probe/grad_norm"].columns], []
        for name in ("probe/grad_norm", "probe/act_grad_norm"):
            if name in self.store:
                series = self.store[name]
                rows += [
                    [int(s), name.removeprefix("probe/"), *v]
                    for s, v in zip(series.steps, series.values.tolist(), strict=True)
                ]
        return header, rows
