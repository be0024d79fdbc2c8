"""Signal propagation at initialisation: activation std and gradient norms by
depth from one forward/backward pass, before any step (log scale)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from widgets.base import PALETTE, ViewPanel, layer_ticks, log_axes, place_legend, set_title


class SignalView(ViewPanel):
    def __init__(self) -> None:
        super().__init__("Signal propagation at init")
        self.std_plot = self.canvas.addPlot(axisItems=log_axes(), row=0, col=0)
        set_title(self.std_plot, "forward: std of each layer's output h")
        self.grad_plot = self.canvas.addPlot(axisItems=log_axes(), row=1, col=0)
        set_title(self.grad_plot, "backward: gradient norms by layer")
        for plot in (self.std_plot, self.grad_plot):
            plot.setLogMode(y=True)
            plot.showGrid(y=True, alpha=0.3)
        self.legend = self.grad_plot.addLegend(offset=(-10, 10))
        self.std_curve = self.std_plot.plot(
            pen=pg.mkPen(PALETTE[0], width=2), symbol="o", symbolSize=6
        )
        self.act_grad_curve = self.grad_plot.plot(
            pen=pg.mkPen(PALETTE[1], width=2), symbol="o", symbolSize=6, name="‖dL/dh‖"
        )
        self.weight_grad_curve = self.grad_plot.plot(
            pen=pg.mkPen(PALETTE[2], width=2), symbol="s", symbolSize=6, name="‖∇W‖"
        )
        self.data: dict[str, np.ndarray] | None = None
        self.names: list[str] = []
        # a pinned reference run's profile, dashed in the same colours
        self.reference_curves = [
            plot.plot(pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
            for plot, colour in ((self.std_plot, PALETTE[0]), (self.grad_plot, PALETTE[1]))
        ]
        self.reference: tuple[str, list[str], np.ndarray, np.ndarray] | None = None

    def set_reference(
        self, reference: tuple[str, list[str], np.ndarray, np.ndarray] | None
    ) -> None:
        """Overlay a pinned run's profile: (name, layer names, output std,
        ||dL/dh||), or None to take it away. Layers are matched by position."""
        self.reference = reference
        self.legend.removeItem(self.reference_curves[1])
        if reference is not None:
            self.legend.addItem(self.reference_curves[1], f"reference: {reference[0]}")
        self.dirty = True

    def _draw_reference(self) -> None:
        values = (np.empty(0), np.empty(0)) if self.reference is None else self.reference[2:]
        for curve, ys in zip(self.reference_curves, values, strict=True):
            x = np.arange(len(ys))
            keep = np.isfinite(ys) & (ys > 0)
            curve.setData(x[keep], ys[keep])

    def set_signal(
        self,
        layer_names: list[str],
        output_std: np.ndarray,
        act_grad_norm: np.ndarray,
        grad_norm: np.ndarray,
    ) -> None:
        self.names = list(layer_names)
        self.data = {
            "output_std": output_std,
            "act_grad_norm": act_grad_norm,
            "grad_norm": grad_norm,
        }
        self.dirty = True

    def draw(self) -> None:
        self._draw_reference()
        if self.data is None:
            return
        x = np.arange(len(self.names))
        ticks = layer_ticks(self.names)
        for plot in (self.std_plot, self.grad_plot):
            plot.getAxis("bottom").setTicks(ticks)
        for curve, key in (
            (self.std_curve, "output_std"),
            (self.act_grad_curve, "act_grad_norm"),
            (self.weight_grad_curve, "grad_norm"),
        ):
            values = self.data[key]
            keep = np.isfinite(values) & (values > 0)
            curve.setData(x[keep], values[keep])
        grads = self.data["act_grad_norm"]
        hidden = [
            i
            for i, n in enumerate(self.names)
            if n != "head" and np.isfinite(grads[i]) and grads[i] > 0
        ]
        if len(hidden) >= 2:
            ratio = grads[hidden[0]] / grads[hidden[-1]]
            # gradients growing towards the head (vanishing) leave the bottom free
            place_legend(self.legend, 1.0 if ratio < 1 else 0.0)
            verdict = "vanishing" if ratio < 0.1 else "exploding" if ratio > 10 else "healthy"
            self.caption.setText(
                f"‖dL/dh‖ first/last hidden layer at init: {ratio:.3g} ({verdict})"
            )

    def csv_table(self):
        if self.data is None:
            return ["layer"], []
        keys = list(self.data)
        return ["layer", *keys], [
            [n, *(float(self.data[k][i]) for k in keys)] for i, n in enumerate(self.names)
        ]
