"""A recipe's Compare view: its arms overlaid (curves over steps or lengths,
profiles over depth, bars for single figures), what to look for, and the
verdict with its numbers. It draws a ``RecipeResult`` as it fills in, arm by
arm; every number it shows is one the verdict reads."""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lab.core.protocol import JobFinished, JobOutcome
from lab.core.recipes import ArmResult, Plot, PlotKind, RecipeInfo, RecipeResult
from widgets.base import PALETTE, freest_height, log_axes, place_legend, set_title
from widgets.job_bar import JobBar, JobView

COLUMNS = 2  # plots per row
ARM_STYLES = [Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine]


def arm_pen(index: int) -> pg.QtGui.QPen:
    """Arm ``index``'s colour, and a line style too (colour alone fails some readers)."""
    style = ARM_STYLES[(index // len(PALETTE)) % len(ARM_STYLES)]
    return pg.mkPen(PALETTE[index % len(PALETTE)], width=2, style=style)


def figure_text(value: float) -> str:
    """A figure as a bar's label: short, and honest about infinity and NaN."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never" if value > 0 else "-inf"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


class CompareView(JobView, QWidget):
    openArm = Signal(dict)  # noqa: N815 - an arm's config, to load into the lab

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info: RecipeInfo | None = None
        self.result: RecipeResult | None = None
        self.title = QLabel("Choose a recipe and press Run.")
        self.title.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.claim = QLabel("")
        self.claim.setWordWrap(True)
        self.look_for = QLabel("")
        self.look_for.setWordWrap(True)
        self.look_for.setStyleSheet("color: #333;")
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.job_bar = JobBar("")
        self.job_bar.hide()  # until a recipe runs
        self.canvas = pg.GraphicsLayoutWidget()
        self.arm_box = QComboBox()
        self.arm_box.setToolTip("an arm of this recipe, to open in the lab as the experiment")
        self.open_button = QPushButton("Open arm in the lab")
        self.open_button.setToolTip(
            "load this arm's config into the main window (the current run stays one Undo away)"
        )
        self.open_button.clicked.connect(self._open_arm)
        arms_row = QHBoxLayout()
        arms_row.addWidget(self.arm_box, 1)
        arms_row.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.claim)
        layout.addWidget(self.job_bar)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.look_for)
        layout.addWidget(self.verdict)
        layout.addLayout(arms_row)
        self.plots: dict[int, pg.PlotItem] = {}
        self._set_arms([])

    # ------------------------------------------------------------ input

    def preview(self, info: RecipeInfo) -> None:
        """What ``info`` will show, before it runs: its texts, its arms and
        empty plots with their titles."""
        self.info, self.result = info, None
        self.title.setText(info.title)
        self.claim.setText(info.claim)
        self.look_for.setText(f"<b>What to look for.</b> {html.escape(info.look_for)}")
        arms = ", ".join(f"{i + 1}. {html.escape(a)}" for i, a in enumerate(info.arms))
        self.verdict.setText(
            f"<i>Press Run to measure {len(info.arms)} arms ({arms}); the verdict comes when"
            " every arm has run.</i>"
        )
        self._build_plots(info.plots)
        self._set_arms([])

    def start(self, info: RecipeInfo, job: int, fast: bool) -> None:
        """A run of ``info`` began as job ``job``: empty plots, its texts."""
        self.preview(info)
        if fast:
            self.title.setText(f"{info.title} (quick variant)")
        self.job_bar.started(job, "starting the first arm…")
        self.job_bar.show()

    def set_result(self, result: RecipeResult) -> None:
        """Draw ``result`` (partial: the arms so far; done: with the verdict)."""
        if self.info is None or result.info.name != self.info.name:
            self.preview(result.info)
        self.result = result
        for index, plot in enumerate(result.info.plots):
            self._draw(self.plots[index], plot, result.arms)
        self._set_arms(result.arms)
        if result.done:
            self.verdict.setText(verdict_html(result))

    show_partial = set_result  # the arms measured so far (JobView)

    def job_finished(self, event: JobFinished) -> None:
        super().job_finished(event)
        outcome = event.outcome
        if outcome != JobOutcome.DONE and (self.result is None or not self.result.done):
            reason = "cancelled" if outcome == JobOutcome.CANCELLED else f"failed: {event.error}"
            self.verdict.setText(f"<i>No verdict: the run was {reason}.</i>")

    def show_result(self, result: RecipeResult, _outcome: JobOutcome) -> None:
        self.set_result(result)

    # ------------------------------------------------------------ drawing

    def _build_plots(self, plots: tuple[Plot, ...]) -> None:
        self.canvas.clear()
        self.plots = {}
        for index, plot in enumerate(plots):
            item = self.canvas.addPlot(
                row=index // COLUMNS, col=index % COLUMNS, axisItems=log_axes()
            )
            set_title(item, plot.title)
            item.showGrid(x=True, y=True, alpha=0.2)
            for side in ("left", "bottom"):  # no numbers on a frame without data
                item.getAxis(side).setStyle(showValues=False)
            if plot.kind != PlotKind.BARS:
                item.setLabel("bottom", plot.x_label)
                item.addLegend(offset=(-5, 5), labelTextSize="8pt")
            self.plots[index] = item

    def _draw(self, item: pg.PlotItem, plot: Plot, arms: list[ArmResult]) -> None:
        for side in ("left", "bottom"):
            item.getAxis(side).setStyle(showValues=True)
        legend = item.legend
        item.clear()
        if legend is not None:
            legend.clear()
        if plot.kind == PlotKind.BARS:
            self._draw_bars(item, plot, arms)
            return
        log_x = plot.kind == PlotKind.CURVE and _spans_decades(arms, plot.key)
        item.setLogMode(x=log_x, y=plot.log_y)
        drawn: list[tuple[np.ndarray, np.ndarray]] = []
        for index, arm in enumerate(arms):
            if plot.key not in arm.series:
                continue
            x, y = (np.asarray(v, dtype=float) for v in arm.series[plot.key])
            keep = np.isfinite(y) & ((y > 0) if plot.log_y else True)
            drawn.append((x[keep], np.log10(y[keep]) if plot.log_y else y[keep]))
            symbol = "o" if plot.kind == PlotKind.PROFILE or len(x) < 30 else None
            item.plot(
                x[keep], y[keep], pen=arm_pen(index), symbol=symbol, symbolSize=5,
                symbolBrush=PALETTE[index % len(PALETTE)], name=arm.label,
            )  # fmt: skip
        if plot.kind == PlotKind.PROFILE and drawn:
            depth = int(max((x.max() for x, _ in drawn if len(x)), default=1))
            step = max(1, int(np.ceil(depth / 10)))
            item.getAxis("bottom").setTicks([[(i, str(i)) for i in range(1, depth + 1, step)]])
        if legend is not None and drawn:
            place_legend(legend, _freest(drawn))

    def _draw_bars(self, item: pg.PlotItem, plot: Plot, arms: list[ArmResult]) -> None:
        """One bar per arm, its colour the arm's, its figure written above it;
        a log axis where the figures span decades."""
        values = [arm.scalars.get(plot.key, math.nan) for arm in arms]
        finite = [v for v in values if math.isfinite(v)]
        log = plot.log_y and bool(finite) and min(finite) > 0
        item.setLogMode(x=False, y=log)
        heights = [(math.log10(v) if log else v) if math.isfinite(v) else 0.0 for v in values]
        floor = min(heights, default=0.0) - 1 if log else 0.0
        for index, (value, height) in enumerate(zip(values, heights, strict=True)):
            colour = PALETTE[index % len(PALETTE)]
            bar = pg.BarGraphItem(
                x=[index], height=[height - floor], y0=[floor], width=0.6, brush=colour
            )
            item.addItem(bar)
            text = pg.TextItem(figure_text(value), color="k", anchor=(0.5, 1.0))
            text.setPos(index, max(height, floor))
            item.addItem(text)
        item.getAxis("bottom").setTicks([[(i, str(i + 1)) for i in range(len(arms))]])
        item.setLabel("bottom", "arm (numbered under the verdict)")
        if heights:
            top = max(heights)
            item.setYRange(floor, top + 0.15 * (top - floor or 1.0), padding=0)
            item.setXRange(-0.6, len(arms) - 0.4, padding=0)

    # ------------------------------------------------------------ arms

    def _set_arms(self, arms: list[ArmResult]) -> None:
        current = self.arm_box.currentIndex()
        self.arm_box.clear()
        for index, arm in enumerate(arms):
            self.arm_box.addItem(f"{index + 1}. {arm.label}")
        if 0 <= current < len(arms):
            self.arm_box.setCurrentIndex(current)
        self.open_button.setEnabled(bool(arms))

    def _open_arm(self) -> None:
        index = self.arm_box.currentIndex()
        if self.result is not None and 0 <= index < len(self.result.arms):
            self.openArm.emit(self.result.arms[index].config)


def _freest(drawn: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Where a legend in the top or bottom right corner covers the fewest points."""
    xs = np.concatenate([x for x, _ in drawn])
    ys = np.concatenate([y for _, y in drawn])
    if xs.size == 0:
        return 1.0
    order = np.argsort(xs)
    return freest_height(xs[order], [ys[order]])


def _spans_decades(arms: list[ArmResult], key: str) -> bool:
    """A curve's x values cover two decades or more (head widths, thresholds)."""
    xs = [v for arm in arms if key in arm.series for v in arm.series[key][0] if v > 0]
    return bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 100 and len(xs) < 200


def verdict_html(result: RecipeResult) -> str:
    """The verdict as rich text: pass or fail, then each claim with its numbers."""
    colour = "#1a7f37" if result.passed else "#b42318"
    word = "PASS" if result.passed else "FAIL"
    lines = [f"<b style='color:{colour}'>Verdict: {word}</b>"]
    for check in result.checks:
        mark = "✔" if check.passed else "✘"
        tint = "#1a7f37" if check.passed else "#b42318"
        claim, detail = html.escape(check.claim), html.escape(check.detail)
        lines.append(f"<span style='color:{tint}'>{mark}</span> {claim}: <i>{detail}</i>")
    arms = ", ".join(
        f"{i + 1}. {html.escape(a.label)} ({a.seconds:.1f} s)" for i, a in enumerate(result.arms)
    )
    lines.append(f"<span style='color:#555'>Arms: {arms}</span>")
    return "<br>".join(lines)
