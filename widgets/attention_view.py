"""Attention maps of a Transformer: one heat map per layer and head for one
input sequence (row i: how query token i spreads its attention over the
tokens up to it; every row sums to 1), and each head's attention entropy over
the run from the probes. A click on a map enlarges it with the tokens on its
axes; the weight under the cursor is read out below."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal

from lab.core import wire
from lab.core.induction import induction_scores, repeat_half
from widgets.base import PALETTE, StoreView, blank_plot, decimate, series_pen, set_title, show_image
from widgets.tokens import TokenInput, shown

MAX_TICKS = 40  # token labels on an enlarged map's axes; every k-th beyond
COLOURS = pg.colormap.get("viridis")


def token_ticks(tokens: Sequence[str]) -> list[list[tuple[float, str]]]:
    """Tick labels at the centres of the map's cells (every k-th when long)."""
    step = max(1, int(np.ceil(len(tokens) / MAX_TICKS)))
    return [[(i + 0.5, shown(tokens[i])) for i in range(0, len(tokens), step)]]


BLOCK_STYLES = [Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DashDotLine]


def head_colour(head: int, heads: int) -> pg.QtGui.QColor:
    return (
        pg.mkColor(PALETTE[head % len(PALETTE)])
        if heads <= len(PALETTE)
        else COLOURS.map(head / heads, mode="qcolor")
    )


def uniform_entropy(length: int) -> float:
    """The mean entropy of causal attention spread evenly: query i (1-based)
    over i keys has log i nats."""
    return float(np.mean(np.log(np.arange(1, length + 1)))) if length else float("nan")


class AttentionView(StoreView):
    inputChanged = Signal(str, int)  # noqa: N815 - typed text, test example

    def __init__(self) -> None:
        super().__init__("Attention")
        self.input = TokenInput()
        self.input.changed.connect(self.inputChanged)
        self.layout().insertWidget(1, self.input)
        self.maps: np.ndarray | None = None  # (layers, heads, T, T)
        self.tokens: tuple[str, ...] = ()
        self.step = 0
        self.focus: tuple[int, int] | None = None  # the enlarged map
        self.plots: dict[tuple[int, int], pg.PlotItem] = {}
        self.images: dict[tuple[int, int], pg.ImageItem] = {}
        self.entropy_plot: pg.PlotItem | None = None
        self._shape: tuple[int, int, tuple[int, int] | None] | None = None
        self._scored = False  # the titles show induction scores
        self.canvas.scene().sigMouseClicked.connect(self._clicked)
        self.canvas.scene().sigMouseMoved.connect(self._hover)
        self.caption.setText("Attention maps appear here for a Transformer on a token task.")

    # ------------------------------------------------------------ data

    def set_maps(self, step: int, tokens: tuple[str, ...], maps: np.ndarray) -> None:
        self.step, self.tokens, self.maps = step, tokens, maps
        if self.focus is not None and not (
            self.focus[0] < maps.shape[0] and self.focus[1] < maps.shape[1]
        ):
            self.focus = None
        self.dirty = True

    def clear(self) -> None:
        self.maps, self.tokens, self.focus = None, (), None
        self.dirty = True

    def rows_arrived(self, names: Sequence[str]) -> None:
        if wire.PROBE_ATTN_ENTROPY in names:
            self.dirty = True

    # ------------------------------------------------------------ drawing

    def _layout(self, layers: int, heads: int) -> None:
        """The grid of maps (or the one enlarged) and the entropy plot below."""
        shape = (layers, heads, self.focus)
        if shape == self._shape:
            return
        self._shape = shape
        self.canvas.clear()
        self.plots.clear()
        self.images.clear()
        shown_maps = (
            [self.focus] if self.focus else [(i, j) for i in range(layers) for j in range(heads)]
        )
        columns = 1 if self.focus else heads
        for index, (layer, head) in enumerate(shown_maps):
            plot = self.canvas.addPlot(row=index // columns, col=index % columns)
            plot.invertY(True)  # query 1 at the top, as a matrix reads
            plot.setAspectLocked(True)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            set_title(plot, self._title(layer, head, heads))
            if self.focus is None:
                plot.hideAxis("left")
                plot.hideAxis("bottom")
            else:
                plot.setLabel("left", "query (attends from)")
                plot.setLabel("bottom", "key (attends to)")
            image = pg.ImageItem()
            image.setColorMap(COLOURS)
            plot.addItem(image)
            self.plots[(layer, head)] = plot
            self.images[(layer, head)] = image
        rows = 1 if self.focus else layers
        self.entropy_plot = self.canvas.addPlot(row=rows, col=0, colspan=columns)
        set_title(
            self.entropy_plot,
            "attention entropy over the run (nats): colour = head, line style = block",
        )
        self.entropy_plot.setLabel("bottom", "step")
        self.canvas.ci.layout.setRowStretchFactor(rows, 1)
        for row in range(rows):
            self.canvas.ci.layout.setRowStretchFactor(row, 3 if self.focus is None else 4)

    def _title(self, layer: int, head: int, heads: int, score: float | None = None) -> str:
        colour = head_colour(head, heads).name()
        text = f'block {layer + 1} · <span style="color:{colour}">head {head + 1}</span>'
        if score is None:
            return text
        return text + (f" · <b>ind. {score:.2f}</b>" if score >= 0.5 else f" · ind. {score:.2f}")

    def induction(self) -> np.ndarray | None:
        """Each head's induction score (layers, heads) when the input repeats
        itself (the induction task's examples, or such typed text), else None."""
        half = repeat_half(self.tokens)
        if self.maps is None or half is None:
            return None
        return induction_scores(self.maps, half)

    def _induction_text(self, scores: np.ndarray) -> str:
        layer, head = np.unravel_index(int(np.argmax(scores)), scores.shape)
        best = float(scores[layer, head])
        rest = np.delete(scores.ravel(), int(np.argmax(scores)))
        others = f"; the other heads at most {rest.max():.2f}" if rest.size else ""
        verdict = (
            "an induction head" if best >= 0.5 else "no head does this strongly yet (below 0.5)"
        )
        return (
            f" Induction score (ind.): from each repeated token, the weight on the token that"
            f" followed its first occurrence. Highest: block {layer + 1} head {head + 1},"
            f" {best:.2f} — {verdict}{others}. Click it to see the diagonal stripe."
        )

    def draw(self) -> None:
        if self.maps is None:
            self._shape = None
            self.canvas.clear()
            self.entropy_plot = None
            return
        layers, heads, length, _ = self.maps.shape
        self._layout(layers, heads)
        for (layer, head), image in self.images.items():
            weights = np.where(
                np.tril(np.ones((length, length), bool)), self.maps[layer, head], np.nan
            )
            show_image(image, weights.T, levels=(0.0, 1.0))  # ImageItem is column-major: x first
            plot = self.plots[(layer, head)]
            if self.focus is not None:
                ticks = token_ticks(self.tokens)
                plot.getAxis("bottom").setTicks(ticks)
                plot.getAxis("left").setTicks(ticks)
            plot.setRange(xRange=(0, length), yRange=(0, length), padding=0.02)
        scores = self.induction()
        if scores is not None or self._scored:  # (titles without scores once they had some)
            for (layer, head), plot in self.plots.items():
                score = None if scores is None else float(scores[layer, head])
                set_title(plot, self._title(layer, head, heads, score))
        self._scored = scores is not None
        self._draw_entropy(heads, length)
        where = (
            "your input"
            if self.input.value()[0].strip()
            else f"test example {self.input.value()[1]}"
        )
        hint = "Click the map to see all heads." if self.focus else "Click a map to enlarge it."
        self.caption.setText(
            f"Step {self.step:,}, {where} ({length} tokens). Row i is where query token i"
            f" looks: its weights over the tokens up to it (each row sums to 1; dark 0,"
            f" yellow 1). {hint}" + ("" if scores is None else self._induction_text(scores))
        )

    def _draw_entropy(self, heads: int, length: int) -> None:
        """Each head's entropy over the run: its colour is the head's (as in a
        map's title order), its line style the block's; the dotted line is
        attention spread evenly over the tokens so far."""
        plot = self.entropy_plot
        assert plot is not None
        plot.clear()
        table = self.store.get(wire.PROBE_ATTN_ENTROPY)
        if table is None or not len(table):
            blank_plot(plot)
            return
        steps, values = table.steps, table.values
        for i, name in enumerate(table.columns):
            block, head = (int(part[1:]) - 1 for part in name.replace("block", "b").split("."))
            if self.focus is not None and (block, head) != self.focus:
                continue
            pen = series_pen(head_colour(head, heads))
            pen.setStyle(BLOCK_STYLES[block % len(BLOCK_STYLES)])
            x, y = decimate(steps, values[:, i])
            plot.plot(x, y, pen=pen)
        even = uniform_entropy(length)
        plot.addItem(
            pg.InfiniteLine(
                even,
                angle=0,
                pen=pg.mkPen("#888", style=Qt.PenStyle.DotLine),
                label=f"spread evenly {even:.2f}",
                labelOpts={"position": 0.8, "color": "#666", "anchors": [(0.5, 0), (0.5, 0)]},
            )
        )

    # ------------------------------------------------------------ mouse

    def _map_at(self, scene_pos: QPointF) -> tuple[tuple[int, int], QPointF] | None:
        for key, plot in self.plots.items():
            if plot.sceneBoundingRect().contains(scene_pos):
                return key, plot.vb.mapSceneToView(scene_pos)
        return None

    def _clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph's MouseClickEvent
        hit = self._map_at(event.scenePos())
        if hit is None or self.maps is None:
            return
        self.focus = None if self.focus else hit[0]
        self.dirty = True
        self.refresh()

    def _hover(self, scene_pos: QPointF) -> None:
        hit = self._map_at(scene_pos)
        if hit is None or self.maps is None:
            return
        (layer, head), point = hit
        query, key = int(np.floor(point.y())), int(np.floor(point.x()))
        length = self.maps.shape[-1]
        if not (0 <= key <= query < length):
            return
        weight = float(self.maps[layer, head, query, key])
        self.heading.setText(
            f"<b>Attention</b> — block {layer + 1} head {head + 1}: query {query + 1}"
            f" ‘{shown(self.tokens[query])}’ → key {key + 1} ‘{shown(self.tokens[key])}’:"
            f" {weight:.3f}"
        )

    # ------------------------------------------------------------ export

    def csv_table(self) -> tuple[Sequence[str], Sequence[Sequence[object]]]:
        header = ["step", "block", "head", "query", "query_token", "key", "key_token", "weight"]
        if self.maps is None:
            return header, []
        layers, heads, length, _ = self.maps.shape
        rows = [
            (self.step, layer + 1, head + 1, q + 1, self.tokens[q], k + 1, self.tokens[k],
             float(self.maps[layer, head, q, k]))
            for layer in range(layers)
            for head in range(heads)
            for q in range(length)
            for k in range(q + 1)
        ]  # fmt: skip
        return header, rows
