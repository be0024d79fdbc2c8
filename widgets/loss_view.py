"""Loss, accuracy and learning rate over steps: train (per batch and on the whole
train set) and test."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox

from lab.core import wire
from lab.core.metrics import Series
from widgets.base import (
    PALETTE,
    StoreView,
    decimate,
    log_axes,
    series_pen,
    set_title,
    show_plot,
)

AUTO_LOG_SPAN = 100.0  # loss max / min beyond which the axis goes logarithmic
FEW_POINTS = 30


class LossView(StoreView):
    def __init__(self) -> None:
        super().__init__("Loss and accuracy")
        self.loss_plot = self.canvas.addPlot(row=0, col=0, axisItems=log_axes())
        set_title(self.loss_plot, "loss")
        self.acc_plot = self.canvas.addPlot(row=1, col=0)
        set_title(self.acc_plot, "accuracy")
        self.lr_plot = self.canvas.addPlot(row=2, col=0)
        set_title(self.lr_plot, "learning rate")
        for plot in (self.acc_plot, self.lr_plot):
            plot.setXLink(self.loss_plot)
            # the steps' range is the loss plot's: a linked plot that autoranged
            # its own x handed it back and turned the loss plot's autorange off
            # (pyqtgraph's linkedViewChanged), freezing it at the first steps
            plot.enableAutoRange(x=False)
        for plot in (self.loss_plot, self.acc_plot):  # the steps are read off the bottom plot
            plot.getAxis("bottom").setStyle(showValues=False)
        self.loss_plot.addLegend(offset=(-10, 10))
        self.acc_plot.addLegend(offset=(-10, -10))
        self.acc_plot.setYRange(0, 1)
        self.lr_plot.setLabel("bottom", "step")
        self.canvas.ci.layout.setRowStretchFactor(0, 3)
        self.canvas.ci.layout.setRowStretchFactor(1, 2)
        self.curves = {
            "batch": self.loss_plot.plot(pen=pg.mkPen("#999999", width=1), name="batch loss"),
            # one-pixel pens: wider antialiased lines take Qt's slow path, ~2 ms a
            # curve a frame for a hundred evaluations
            "train_loss": self.loss_plot.plot(pen=series_pen(PALETTE[0]), name="train"),
            "test_loss": self.loss_plot.plot(pen=series_pen(PALETTE[1]), name="test"),
            "train_acc": self.acc_plot.plot(pen=series_pen(PALETTE[0]), name="train"),
            "test_acc": self.acc_plot.plot(pen=series_pen(PALETTE[1]), name="test"),
            "lr": self.lr_plot.plot(pen=series_pen(PALETTE[2])),
        }
        # the noisy per-batch curve, down to the screen's resolution with its
        # peaks kept: drawn whole it cost most of a frame's 13 ms
        for name in ("batch", "lr"):  # (the lr has a point per step too)
            self.curves[name].setDownsampling(auto=True, method="peak")
            self.curves[name].setClipToView(True)
        self.log_y = QCheckBox("log loss axis")
        self.log_y.setToolTip(
            "on by itself when the loss spans more than two decades (one divergence spike"
            " flattened the rest); a click here decides for good"
        )
        self.log_y.toggled.connect(self._set_log)
        self.log_y.clicked.connect(self._chosen_by_hand)
        self.layout().itemAt(0).layout().insertWidget(1, self.log_y)
        self.log_by_hand = False  # the person chose the axis: no more automatic switching
        # a pinned reference run, dashed: its test loss, test accuracy and lr
        dashed = [
            pg.mkPen(c, width=1, style=Qt.PenStyle.DashLine) for c in (PALETTE[1], PALETTE[2])
        ]
        self.reference_curves = {
            "test_loss": self.loss_plot.plot(pen=dashed[0]),
            "test_acc": self.acc_plot.plot(pen=dashed[0]),
            "lr": self.lr_plot.plot(pen=dashed[1]),
        }
        self.reference: tuple[str, Series | None, Series | None] | None = None

    def new_run(self) -> None:
        """A new run's axes fit the new run: the old ranges (or a zoom) go."""
        self.loss_plot.enableAutoRange()
        self.lr_plot.enableAutoRange(y=True)  # its steps follow the loss plot's

    def set_reference(
        self, name: str | None, step: Series | None, evaluation: Series | None
    ) -> None:
        """Overlay a pinned run (None: take it away)."""
        self.reference = None if name is None else (name, step, evaluation)
        for plot, key in ((self.loss_plot, "test_loss"), (self.acc_plot, "test_acc")):
            plot.legend.removeItem(self.reference_curves[key])
            if name is not None:
                plot.legend.addItem(self.reference_curves[key], f"reference: {name}")
        self.dirty = True

    def _draw_reference(self) -> None:
        _name, step, evaluation = self.reference or ("", None, None)
        for key in ("test_loss", "test_acc"):
            values = evaluation.column(key) if evaluation is not None else np.empty(0)
            keep = np.isfinite(values)
            steps = evaluation.steps[keep] if evaluation is not None else values
            self.reference_curves[key].setData(steps, values[keep])
        if step is not None:
            self.reference_curves["lr"].setData(*decimate(step.steps, step.column("lr")))
        else:
            self.reference_curves["lr"].setData([], [])

    def _set_log(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self.loss_plot.enableAutoRange()
        self.dirty = True

    def _chosen_by_hand(self) -> None:
        self.log_by_hand = True

    def _auto_log(self, loss: np.ndarray) -> None:
        """Switch the loss axis to log when the values span more than
        ``AUTO_LOG_SPAN`` (a spike would flatten everything else), unless
        the person chose the axis."""
        positive = loss[np.isfinite(loss) & (loss > 0)]
        if self.log_by_hand or positive.size < 2:
            return
        wide = bool(positive.max() / positive.min() > AUTO_LOG_SPAN)
        if wide != self.log_y.isChecked():
            self.log_y.setChecked(wide)

    def _markers(self, count: int) -> None:
        """Few points show as dots too: a single step drew no line at all.
        (Set only on a change: a style change redraws every item.)"""
        symbol = "o" if count < FEW_POINTS else None
        for name in ("batch", "lr"):
            if self.curves[name].opts["symbol"] != symbol:
                self.curves[name].setSymbol(symbol)
                self.curves[name].setSymbolSize(5)

    def draw(self) -> None:
        self._draw_reference()
        store = self.store
        if wire.STEP in store:
            steps, loss = decimate(store[wire.STEP].steps, store[wire.STEP].column("loss"))
            self._markers(len(steps))
            self._auto_log(loss)
            self.curves["batch"].setData(steps, loss)
            lr = store[wire.STEP].column("lr")
            self.curves["lr"].setData(*decimate(store[wire.STEP].steps, lr))
            top = float(np.nanmax(lr)) if np.isfinite(lr).any() else 0.0
            if top > 0:  # from zero: a constant rate autoranged around itself reads as 0
                self.lr_plot.setYRange(0, top * 1.1, padding=0)
        else:
            for name in ("batch", "lr"):
                self.curves[name].setData([], [])
        if wire.EVAL in store:
            series = store[wire.EVAL]
            for name in ("train_loss", "test_loss", "train_acc", "test_acc"):
                values = series.column(name)
                keep = np.isfinite(values)
                self.curves[name].setData(series.steps[keep], values[keep])
            self._show_accuracy(bool(np.isfinite(series.column("test_acc")).any()))
            last = (
                dict(zip(series.columns, series.latest, strict=True))
                if series.latest is not None
                else {}
            )
            text = f"step {series.latest_step}: test loss {last.get('test_loss', np.nan):.4f}"
            if np.isfinite(last.get("test_acc", np.nan)):
                text += f", test accuracy {100 * last['test_acc']:.1f}%"
            self.caption.setText(text)
        else:
            for name in ("train_loss", "test_loss", "train_acc", "test_acc"):
                self.curves[name].setData([], [])
            self.caption.setText("Press play: curves appear as the model trains.")

    def _show_accuracy(self, shown: bool) -> None:
        """Regression has no accuracy: no empty plot, and its room goes to the
        loss (a hidden plot also keeps its row's stretch: that goes too)."""
        show_plot(self.acc_plot, shown)
        self.canvas.ci.layout.setRowStretchFactor(1, 2 if shown else 0)

    def csv_table(self):
        """Every step row (batch loss, lr), with the evaluation columns on the
        steps that were evaluated (empty elsewhere)."""
        store = self.store
        evaluated: dict[int, list[float]] = {}
        eval_columns: tuple[str, ...] = ()
        if wire.EVAL in store:
            series = store[wire.EVAL]
            eval_columns = tuple(c for c in series.columns if c != "lr")
            picks = [series.columns.index(c) for c in eval_columns]
            evaluated = {
                int(s): [row[i] for i in picks]
                for s, row in zip(series.steps, series.values.tolist(), strict=True)
            }
        header = ["step", "batch_loss", "lr", *eval_columns]
        if wire.STEP not in store:
            return header, [
                [step, float("nan"), float("nan"), *row] for step, row in evaluated.items()
            ]
        steps = store[wire.STEP]
        blank = [float("nan")] * len(eval_columns)
        rows = [
            [int(step), loss, lr, *evaluated.get(int(step), blank)]
            for step, loss, lr in zip(
                steps.steps, steps.column("loss"), steps.column("lr"), strict=True
            )
        ]
        return header, rows
