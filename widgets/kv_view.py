"""KV-cache memory: the formula for any shape, redrawn as the knobs move (no
engine round trip), beside what a measured decode of the run's Transformer
really holds.

- top left: cache bytes against tokens for the chosen shape, the same with
  MHA and with MQA, the weights, and the memory budget: where the cache
  meets the budget is the longest context that fits;
- top right: a batch of sequences of mixed lengths in each layout: what it
  holds against what the tokens need;
- bottom left: the measured decode, bytes held per layer stacked (from the
  cache tensors' storages) with the formula on top; on CUDA the allocator's
  figures, labelled;
- bottom right: tokens/s with and without the cache at each length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton

from lab.core import protocol as p
from lab.core.config import ExperimentConfig
from lab.core.fields import ConfigError, Knob, knobs_of
from lab.core.kv import (
    GIB,
    LAB_MODEL,
    MODEL_SHAPES,
    KVSettings,
    ModelShape,
    breakdown,
    cache_bytes,
    lab_shape,
)
from widgets.base import PALETTE, ViewPanel, blank_plot, depth_colours, series_pen, set_title
from widgets.inputs import ChoiceBox, editor_for
from widgets.job_bar import JobBar, JobView

CURVE_POINTS = 200
UNITS = (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10), ("bytes", 1))


def unit_for(largest: float) -> tuple[str, int]:
    """The unit a plot of values up to ``largest`` bytes reads best in."""
    return next((name, size) for name, size in UNITS if largest >= size or size == 1)


def readable(n: float) -> str:
    name, size = unit_for(n)
    return f"{n / size:,.2f} {name}" if size > 1 else f"{int(n):,} bytes"


class KVView(JobView, ViewPanel):
    decodeRequested = Signal(str, str, int, int)  # noqa: N815 - layout, dtype, batch, block

    def __init__(self) -> None:
        super().__init__("KV cache")
        knobs = knobs_of(KVSettings)
        defaults = KVSettings()
        self.editors = {
            name: editor_for(f"kv.{name}", knob, slider=name in ("tokens", "batch", "budget_gb"))
            for name, knob in knobs.items()
        }
        for name, editor in self.editors.items():
            editor.setValue(getattr(defaults, name))
            editor.edited.connect(lambda _value, name=name: self._edited(name))
        heads = Knob("kv heads", "Key-value heads: heads is MHA, a divisor GQA, 1 MQA", "choice",
                     choices=("1",))  # fmt: skip
        self.kv_heads = ChoiceBox("kv.kv_heads", heads)
        self.kv_heads.edited.connect(lambda _value: self._edited("kv_heads"))
        self.decode = QPushButton("Decode now")
        self.decode.setToolTip("Decode with a copy of the run's model, measuring every step")
        self.decode.clicked.connect(self._ask_decode)
        self.job_bar = JobBar()
        # the knobs in a grid of two label-editor pairs a row: a tab's minimum
        # width is its widest row, and one row of them squeezed the docks to 200
        # pixels at 1280x800; a column beside the plots left them no room
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        pairs = [
            ("model", "tokens"),
            ("batch", "budget_gb"),
            ("layers", "kv_heads"),
            ("dtype", "weights_dtype"),
            ("layout", "decode_batch"),
            ("block_size", None),  # then Decode now and its progress, across the row
        ]
        for row, names in enumerate(pairs):
            for column, name in enumerate(names):
                if name is None:
                    grid.addWidget(self.decode, row, 2 * column, 1, 2)
                    continue
                editor = self.kv_heads if name == "kv_heads" else self.editors[name]
                knob = heads if name == "kv_heads" else knobs[name]
                label = QLabel(knob.caption)
                label.setToolTip(knob.tooltip)
                grid.addWidget(label, row, 2 * column)
                grid.addWidget(editor, row, 2 * column + 1)
        grid.addWidget(self.job_bar, len(pairs), 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.layout().insertLayout(1, grid)
        self.memory_plot = self.canvas.addPlot(row=0, col=0)
        self.layouts_plot = self.canvas.addPlot(row=0, col=1)
        self.measured_plot = self.canvas.addPlot(row=1, col=0)
        self.speed_plot = self.canvas.addPlot(row=1, col=1)
        self.canvas.ci.layout.setColumnStretchFactor(0, 3)
        self.canvas.ci.layout.setColumnStretchFactor(1, 2)
        for plot in (self.memory_plot, self.measured_plot, self.speed_plot):
            plot.setLabel("bottom", "tokens per sequence")
            plot.showGrid(y=True, alpha=0.3)
        for plot in (self.memory_plot, self.measured_plot, self.speed_plot, self.layouts_plot):
            # room for "10,000" from the start: pyqtgraph widens an axis for its
            # labels only on a later paint, and hides the ones that do not fit till then
            plot.getAxis("left").setWidth(58)
        legend = {"brush": pg.mkBrush(255, 255, 255, 200), "labelTextSize": "8pt"}
        self.measured_legend = self.measured_plot.addLegend(offset=(10, 5), **legend)
        self.speed_legend = self.speed_plot.addLegend(offset=(-10, 5), **legend)
        self.lab: ModelShape | None = None  # the run's Transformer, if it is one
        self.base: ModelShape = MODEL_SHAPES["llama-3-8b"]  # the shape chosen, before what-ifs
        self.decoded: p.KVDecode | None = None
        self.follow_lab = True  # show the run's model until a person picks another
        self._choose_model(LAB_MODEL)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        """No wider than it must be: the knobs' preferred widths (about 900
        pixels) made the window take room from the docks beside the views."""
        return self.minimumSizeHint()

    # ------------------------------------------------------------ inputs

    def set_lab_model(self, config: ExperimentConfig, vocab: int) -> None:
        """The run's model (a Transformer, or none to account for)."""
        transformer = config.model.kind == "transformer"
        self.lab = lab_shape(config, vocab) if transformer else None
        self.decode.setEnabled(transformer)
        self.decode.setToolTip(
            "Decode with a copy of the run's model, measuring every step"
            if transformer
            else "The run's model is no Transformer: nothing to decode"
        )
        self.decoded = None
        if self.follow_lab or self.editors["model"].value() == LAB_MODEL:
            self.editors["model"].setValue(LAB_MODEL)
            self._choose_model(LAB_MODEL)
        self.dirty = True

    def _choose_model(self, name: str) -> None:
        """A model picked: its own layers, kv heads and context fill the knobs."""
        if name == LAB_MODEL and self.lab is None:
            name = "llama-3-8b"  # no Transformer in the run: a real model's shape
            self.editors["model"].setValue(name)
        self.base = self.lab if name == LAB_MODEL and self.lab else MODEL_SHAPES[name]
        self.editors["layers"].setValue(self.base.layers)
        self.editors["tokens"].setValue(self.base.context)
        self.kv_heads.blockSignals(True)
        self.kv_heads.clear()
        self.kv_heads.addItems([str(d) for d in self.base.kv_head_choices])
        self.kv_heads.setCurrentText(str(self.base.kv_heads))
        self.kv_heads.blockSignals(False)
        self.dirty = True

    def _edited(self, name: str) -> None:
        if name == "model":
            self.follow_lab = self.editors["model"].value() == LAB_MODEL
            self._choose_model(self.editors["model"].value())
        self.dirty = True
        self.refresh()  # at once: the accounting needs no engine

    def settings(self) -> KVSettings | None:
        """The knobs' values, or None while one holds an invalid value."""
        if any(editor.invalid for editor in self.editors.values()):
            return None
        values = {name: editor.value() for name, editor in self.editors.items()}
        try:
            return KVSettings(**values)
        except ConfigError:
            return None

    def shape(self) -> ModelShape:
        """The chosen shape with the what-if layers and kv heads."""
        settings = self.settings()
        layers = settings.layers if settings else self.base.layers
        heads = int(self.kv_heads.currentText() or self.base.kv_heads)
        return self.base.with_changes(layers=layers, kv_heads=heads)

    def _ask_decode(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        self.decodeRequested.emit(
            settings.layout, settings.dtype, settings.decode_batch, settings.block_size
        )

    def set_decode(self, decoded: p.KVDecode, _outcome: object = None) -> None:
        self.decoded = decoded
        self.dirty = True

    show_partial = set_decode  # the measured decode so far (JobView)
    show_result = set_decode

    def clear(self) -> None:
        self.decoded = None
        self.dirty = True

    # ------------------------------------------------------------ drawing

    def draw(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        shape = self.shape()
        budget = int(settings.budget_gb * GIB) if settings.budget_gb > 0 else None
        report = breakdown(
            shape, settings.batch, settings.tokens, settings.dtype, settings.weights_dtype, budget
        )
        self._draw_memory(shape, settings, report.weights, budget)
        self._draw_decode()
        fits = ""
        if budget is not None:
            room = report.fits_tokens or 0
            beyond = f" (the model reads {shape.context:,})" if room > shape.context else ""
            fits = (
                f" Within {settings.budget_gb:g} GiB beside the weights: {room:,} tokens per"
                f" sequence{beyond}, or {report.fits_batch:,} sequences of {settings.tokens:,}."
                if room
                else f" The weights alone exceed {settings.budget_gb:g} GiB."
            )
        self.caption.setText(
            f"{shape.name}, {shape.attention_kind}: {report.per_token_per_layer:,} bytes a token"
            f" per layer, {readable(report.per_token)} a token; {settings.batch} x"
            f" {settings.tokens:,} tokens hold {readable(report.total)} (MHA"
            f" {readable(report.mha_total)}, MQA {readable(report.mqa_total)}); weights"
            f" {readable(report.weights)}.{fits} These knobs never change the run's model."
        )

    def _draw_memory(
        self, shape: ModelShape, settings: KVSettings, weights: int, budget: int | None
    ) -> None:
        plot = self.memory_plot
        plot.clear()
        top = max(settings.tokens * 2, shape.context)
        tokens = np.linspace(0, top, CURVE_POINTS)
        per_token = settings.batch * cache_bytes(shape, 1, 1, settings.dtype)
        mha = settings.batch * cache_bytes(
            shape.with_changes(kv_heads=shape.heads), 1, 1, settings.dtype
        )
        mqa = settings.batch * cache_bytes(shape.with_changes(kv_heads=1), 1, 1, settings.dtype)
        largest = max(mha * top, weights)
        # a budget far above the cache and weights would flatten them: drawn when near
        budget_drawn = budget is not None and budget - weights <= 3 * largest
        if budget_drawn:
            largest = max(largest, budget or 0)
        unit, size = unit_for(largest)
        plot.setLabel("left", f"memory ({unit})")
        set_title(plot, f"{shape.name}: {settings.batch} sequence(s), {settings.dtype}")
        dash, dot = Qt.PenStyle.DashLine, Qt.PenStyle.DotLine
        solid = Qt.PenStyle.SolidLine
        curves = [(f"cache ({shape.kv_heads} kv)", per_token, PALETTE[0], solid)]
        if shape.kv_heads != shape.heads:
            curves.append((f"as MHA ({shape.heads} kv)", mha, PALETTE[1], dash))
        if shape.kv_heads != 1:
            curves.append(("as MQA (1 kv)", mqa, PALETTE[2], dot))
        # each line named at its end, not in a legend (one covered half the plot)
        for name, slope, colour, style in curves:
            pen = pg.mkPen(colour, width=2 if style == solid else 1, style=style)
            plot.plot(tokens, tokens * slope / size, pen=pen)
            self._name_line(plot, name, colour, top, top * slope / size, anchor=(1, 1))
        plot.plot(tokens, np.full_like(tokens, weights / size), pen=pg.mkPen("#555", width=1))
        self._name_line(plot, "weights", "#555", 0, weights / size, anchor=(0, 1))
        if budget is not None and budget_drawn:
            plot.plot(tokens, np.full_like(tokens, (budget - weights) / size),
                      pen=pg.mkPen("#b00020", width=1, style=dash))  # fmt: skip
            self._name_line(plot, "budget − weights", "#b00020", 0, (budget - weights) / size,
                            anchor=(0, 0))  # fmt: skip
        plot.addItem(
            pg.InfiniteLine(settings.tokens, pen=pg.mkPen("#888", style=dot),
                            label=f"{settings.tokens:,}", labelOpts={"position": 0.95})
        )  # fmt: skip
        if shape.context < top and shape.context != settings.tokens:
            plot.addItem(
                pg.InfiniteLine(shape.context, pen=pg.mkPen("#bbb"), label="context",
                                labelOpts={"position": 0.85, "color": "#888"})
            )  # fmt: skip
        plot.setXRange(0, top, padding=0.02)
        plot.setYRange(0, largest / size * 1.05, padding=0)

    @staticmethod
    def _name_line(
        plot: pg.PlotItem, name: str, colour: str, x: float, y: float, anchor: tuple[int, int]
    ) -> None:
        label = pg.TextItem(name, color=colour, anchor=anchor)
        label.setPos(x, y)
        plot.addItem(label)

    def _draw_decode(self) -> None:
        decoded = self.decoded
        self.measured_legend.clear()
        self.speed_legend.clear()
        for plot in (self.measured_plot, self.speed_plot, self.layouts_plot):
            plot.clear()
        set_title(self.measured_plot, "measured (the run's model): held per layer")
        set_title(self.speed_plot, "tokens/s, with and without the cache")
        set_title(self.layouts_plot, "mixed lengths: held (blue), needed (green)")
        if decoded is None or not len(decoded.lengths):
            for plot in (self.measured_plot, self.speed_plot, self.layouts_plot):
                blank_plot(plot)
            return
        x = decoded.lengths.astype(float)
        held = decoded.held.astype(float)
        largest = max(held.sum(axis=1).max(), decoded.formula.max())
        cuda = decoded.reserved is not None
        if cuda:
            largest = max(largest, float(decoded.reserved.max()))
        unit, size = unit_for(largest)
        self.measured_plot.setLabel("left", f"{unit}")
        layers = held.shape[1]
        colours = depth_colours(layers)
        stacked = np.cumsum(held, axis=1) / size
        for layer in reversed(range(layers)):  # the tallest first, each lower one over it
            fill = pg.QtGui.QColor(colours[layer])
            fill.setAlpha(90)
            brush = pg.mkBrush(fill)
            self.measured_plot.plot(
                x, stacked[:, layer], pen=series_pen(colours[layer]), fillLevel=0, brush=brush
            )
        sample = pg.PlotDataItem(pen=series_pen(colours[-1]), fillLevel=0, brush=brush)
        self.measured_legend.addItem(
            sample, f"held, {decoded.layout} {decoded.dtype} ({layers} layers)"
        )
        self.measured_plot.plot(x, decoded.formula / size, name="formula (the tokens)",
                                pen=pg.mkPen("k", width=2, style=Qt.PenStyle.DashLine))  # fmt: skip
        if cuda:
            for name, values, colour in (
                ("CUDA allocator: allocated", decoded.allocated, PALETTE[4]),
                ("CUDA allocator: reserved", decoded.reserved, PALETTE[3]),
                ("CUDA allocator: peak", decoded.peak, PALETTE[6]),
            ):
                self.measured_plot.plot(x, values / size, pen=series_pen(colour), name=name)
        unused = int(held[-1].sum() - decoded.formula[-1])
        set_title(self.measured_plot, f"measured (the run's model): {readable(unused)} unused")
        cached = decoded.batch / decoded.seconds_cached
        full = decoded.batch / decoded.seconds_full
        self.speed_plot.setLabel("left", "tokens/s")
        prefill = f"prefill {1e3 * decoded.prefill_seconds:.1f} ms"
        set_title(self.speed_plot, f"tokens/s with and without the cache; {prefill}")
        self.speed_plot.plot(x, cached, pen=series_pen(PALETTE[0]), name="with the cache")
        if np.isfinite(full).any():
            self.speed_plot.plot(x, full, pen=series_pen(PALETTE[1]), name="recomputing")
        self._draw_layouts(decoded)

    def _draw_layouts(self, decoded: p.KVDecode) -> None:
        plot = self.layouts_plot
        if not decoded.layouts:
            blank_plot(plot)
            return
        held = np.array([h.held_bytes for h in decoded.layouts], dtype=float)
        needed = np.array([h.needed_bytes for h in decoded.layouts], dtype=float)
        unit, size = unit_for(max(held.max(), needed.max()))
        where = np.arange(len(held))
        plot.addItem(pg.BarGraphItem(x=where - 0.18, height=held / size, width=0.34,
                                     brush=PALETTE[0], name="held"))  # fmt: skip
        plot.addItem(pg.BarGraphItem(x=where + 0.18, height=needed / size, width=0.34,
                                     brush=PALETTE[2], name="needed"))  # fmt: skip
        names = [h.layout for h in decoded.layouts]
        blocks = next((h.blocks for h in decoded.layouts if h.blocks is not None), None)
        plot.getAxis("bottom").setTicks([list(zip(where.tolist(), names, strict=True))])
        plot.setLabel("left", unit)
        # an axis label's width is its plot's minimum width: short
        paged = f"; {blocks} blocks" if blocks is not None else ""
        plot.setLabel("bottom", "tokens " + ", ".join(map(str, decoded.mixed)) + paged)

    # ------------------------------------------------------------ export

    def csv_table(self) -> tuple[Sequence[str], Sequence[Sequence[object]]]:
        decoded = self.decoded
        if decoded is not None and len(decoded.lengths):
            layers = decoded.held.shape[1]
            header = ["tokens", *(f"held_block{i + 1}" for i in range(layers)), "formula_bytes",
                      "seconds_cached", "seconds_recompute"]  # fmt: skip
            rows = [
                (int(n), *map(int, decoded.held[i]), int(decoded.formula[i]),
                 float(decoded.seconds_cached[i]), float(decoded.seconds_full[i]))
                for i, n in enumerate(decoded.lengths)
            ]  # fmt: skip
            return header, rows
        settings = self.settings() or KVSettings()
        shape = self.shape()
        header = ["tokens", "cache_bytes", "mha_cache_bytes", "mqa_cache_bytes"]
        shapes = (shape, shape.with_changes(kv_heads=shape.heads), shape.with_changes(kv_heads=1))
        rows = [
            (n, *(cache_bytes(s, settings.batch, n, settings.dtype) for s in shapes))
            for n in np.unique(np.linspace(1, settings.tokens, 64).astype(int)).tolist()
        ]
        return header, rows
