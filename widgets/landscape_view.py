"""The loss landscape around the current weights: a heatmap with contours, the
training path and the current point; a 3-D surface where OpenGL is available.
Controls ask for a computation (direction kind, grid, span, evaluation points),
cancel it, or recompute every N steps while training."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
)

from lab.core.config import LandscapeSettings
from lab.core.fields import knobs_of
from lab.core.protocol import JobOutcome
from widgets.base import PALETTE, ViewPanel, log_axes, set_title
from widgets.inputs import ChoiceBox, NumberBox
from widgets.job_bar import JobBar, JobView

CONTOURS = 10


def fill_from_coarser(values: np.ndarray) -> np.ndarray:
    """A partial grid drawn the way it was computed (every 4th point, then every
    2nd, then the rest): a cell not computed yet shows the computed cell at the
    corner of its 2x2, else its 4x4, else 8x8 block, so the coarse picture
    appears as blocks that refine in place. Cells with nothing computed near
    stay NaN (drawn transparent)."""
    shown = values.copy()
    for stride in (2, 4, 8):
        missing = np.nonzero(~np.isfinite(shown))
        if missing[0].size == 0:
            break
        corner = shown[(missing[0] // stride) * stride, (missing[1] // stride) * stride]
        shown[missing] = corner
    return shown


def opengl_available() -> bool:
    """Whether a GL context can be made here (not on the offscreen platform)."""
    try:
        import OpenGL  # noqa: F401
        from PySide6.QtGui import QOpenGLContext
    except ImportError:
        return False
    context = QOpenGLContext()
    return bool(context.create())


class LandscapeView(JobView, ViewPanel):
    computeRequested = Signal(str, int, float, int)  # noqa: N815 - kind, grid, span, points
    autoChanged = Signal(int)  # noqa: N815 - every N steps, 0 = off

    def __init__(self) -> None:
        super().__init__("Loss landscape")
        # the request's fields, made from LandscapeSettings' knobs (typed
        # values kept as typed, bounds and tooltips from the config)
        knobs = knobs_of(LandscapeSettings)
        defaults = LandscapeSettings()
        self.settings: dict[str, ChoiceBox | NumberBox] = {}
        for name, knob in knobs.items():
            path = f"landscape.{name}"
            editor = ChoiceBox(path, knob) if knob.kind == "choice" else NumberBox(path, knob)
            editor.setValue(getattr(defaults, name))
            self.settings[name] = editor
        self.kind, self.grid = self.settings["kind"], self.settings["resolution"]
        self.span, self.points = self.settings["span"], self.settings["n_points"]
        self.auto_steps = self.settings["auto_every"]
        self.compute = QPushButton("Compute")
        self.compute.setToolTip("compute a landscape around the current weights; training goes on")
        self.job_bar = JobBar()
        self.auto = QCheckBox("auto every")
        self.auto.setToolTip(knobs["auto_every"].tooltip)
        # on by default: a surface's losses often span decades (a valley at 0.01,
        # walls at 1e4), and a linear scale paints the whole valley one colour
        self.log_colour = QCheckBox("log colour")
        self.log_colour.setChecked(True)
        self.three_d = QCheckBox("3-D")
        self.gl_ok = opengl_available()
        self.three_d.setEnabled(self.gl_ok)
        self.three_d.setToolTip(
            "3-D surface" if self.gl_ok else "OpenGL is not available here: 2-D only"
        )
        # Short rows: a tab's minimum width is its widest row, and the widest
        # tab's squeezes the docks beside the views when it is first shown.
        rows = [QHBoxLayout() for _ in range(3)]
        for line, names in zip(
            rows, (("kind", "resolution", "span"), ("n_points", "seed")), strict=False
        ):
            for name in names:
                label = QLabel(knobs[name].label)
                label.setToolTip(knobs[name].tooltip)
                line.addWidget(label)
                line.addWidget(self.settings[name])
        rows[1].addWidget(self.compute)
        for widget in (self.auto, self.auto_steps, QLabel("steps"), self.log_colour, self.three_d):
            rows[2].addWidget(widget)
        layout = self.layout()
        for index, line in enumerate(rows):
            line.addStretch(1)
            layout.insertLayout(1 + index, line)
        layout.insertWidget(4, self.job_bar)
        # 2-D: heatmap, contours, path; 3-D on a stacked page made when first asked for
        self.stack = QStackedWidget()
        layout.replaceWidget(self.canvas, self.stack)
        self.stack.addWidget(self.canvas)
        self.plot = self.canvas.addPlot()
        self.plot.setLabel("bottom", "α (direction 1)")
        self.plot.setLabel("left", "β (direction 2)")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), label="loss")
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.contours: list[pg.IsocurveItem] = []
        self.path = self.plot.plot(
            pen=pg.mkPen(PALETTE[1], width=2),
            symbol="o",
            symbolSize=4,
            symbolBrush=PALETTE[1],
            symbolPen=None,
        )
        self.current = pg.ScatterPlotItem(
            size=14, symbol="star", brush=pg.mkBrush("#ffffff"), pen=pg.mkPen("k")
        )
        self.plot.addItem(self.current)
        # below: the straight line from the initial to the current weights
        self.canvas.nextRow()
        self.line_plot = self.canvas.addPlot(axisItems=log_axes())
        self.line_plot.setMaximumHeight(190)
        set_title(self.line_plot, "loss from the initial (t = 0) to the current weights (t = 1)")
        self.line_plot.setLabel("bottom", "t")
        self.line_plot.setLabel("left", "loss")
        self.line_plot.showGrid(x=True, y=True, alpha=0.2)
        self.line_curve = self.line_plot.plot(pen=pg.mkPen(PALETTE[0], width=2), connect="finite")
        # the initial and the current weights: a data item (not a scatter item),
        # so the log mode that moves the curve moves the markers too
        self.line_ends = self.line_plot.plot(
            pen=None, symbol="o", symbolSize=10, symbolBrush=PALETTE[1], symbolPen="k"
        )
        self.surface_view = None  # the 3-D page, made when first asked for
        self.update_event = None
        self.outcome: JobOutcome | None = None
        self.compute.clicked.connect(self._ask)
        self.auto.toggled.connect(self._auto)
        self.auto_steps.edited.connect(lambda _v: self._auto(self.auto.isChecked()))
        self.log_colour.toggled.connect(self._mark)
        self.three_d.toggled.connect(self._three_d)
        self.caption.setText("Compute a landscape around the current weights (training can go on).")

    # ------------------------------------------------------------ requests

    def _ask(self) -> None:
        invalid = [e.objectName() for e in self.settings.values() if e.invalid]
        if invalid:
            self.caption.setText(f"Correct the marked field first ({', '.join(invalid)}).")
            return
        self._clear_contours()  # they belong to the landscape this one replaces
        self.computeRequested.emit(
            self.kind.value(), self.grid.value(), self.span.value(), self.points.value()
        )

    def _auto(self, on: bool) -> None:
        self.autoChanged.emit(self.auto_steps.value() if on else 0)
        if on:
            self._ask()

    def _mark(self, *_args: object) -> None:
        self.dirty = True

    def _three_d(self, on: bool) -> None:
        if on and self.surface_view is None:
            from widgets.surface_view import SurfaceView

            self.surface_view = SurfaceView()
            self.stack.addWidget(self.surface_view)
        self.stack.setCurrentWidget(self.surface_view if on else self.canvas)
        self.dirty = True

    # ------------------------------------------------------------ data

    def set_landscape(self, update, outcome: JobOutcome | None = None) -> None:  # noqa: ANN001
        """A ``LandscapeUpdate`` to draw; ``outcome`` once its job ended."""
        self.update_event = update
        self.outcome = outcome
        self.dirty = True

    show_partial = set_landscape  # what its job made so far, and how it ended (JobView)
    show_result = set_landscape

    def _values(self) -> np.ndarray:
        losses = self.update_event.losses
        if self.log_colour.isChecked():
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log10(np.where(losses > 0, losses, np.nan))
        return losses

    def draw(self) -> None:
        event = self.update_event
        if event is None:
            return
        values = self._values()
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return
        low, high = float(finite.min()), float(np.percentile(finite, 99))
        high = high if high > low else low + 1e-12
        shown = fill_from_coarser(values) if not event.complete else values
        alphas, betas = event.alphas, event.betas
        step_a = (alphas[-1] - alphas[0]) / max(len(alphas) - 1, 1)
        step_b = (betas[-1] - betas[0]) / max(len(betas) - 1, 1)
        self.image.setImage(np.clip(shown, low, high), autoLevels=False)  # NaN: transparent
        solid = np.clip(np.where(np.isfinite(shown), shown, high), low, high)  # contours, mesh
        self.image.setRect(
            alphas[0] - step_a / 2, betas[0] - step_b / 2, step_a * len(alphas), step_b * len(betas)
        )
        self.colorbar.setLevels((low, high))
        self.colorbar.setLabel("left", "log10 loss" if self.log_colour.isChecked() else "loss")
        self._clear_contours()
        if event.complete:
            for level in np.linspace(low, high, CONTOURS + 2)[1:-1]:
                curve = pg.IsocurveItem(data=solid, level=level, pen=pg.mkPen((255, 255, 255, 120)))
                curve.setParentItem(self.image)  # image pixel coordinates -> plot coordinates
                self.contours.append(curve)
        inside = (np.abs(event.trajectory) <= max(abs(alphas[-1]), abs(betas[-1])) * 1.5).all(
            axis=1
        )
        self.path.setData(event.trajectory[inside, 0], event.trajectory[inside, 1])
        self.current.setData([0.0], [0.0])
        self._draw_line(event)
        if self.surface_view is not None and self.stack.currentWidget() is self.surface_view:
            self.surface_view.set_surface(
                alphas,
                betas,
                solid,
                low,
                high,
                event.trajectory[inside],
                self.log_colour.isChecked(),
            )
        text = (
            f"{event.kind} directions around the weights of step {event.step}; "
            f"{len(alphas)}x{len(betas)} grid, {event.n_points} points;"
            f" centre loss {event.center_loss:.4g}"
        )
        norm_a, norm_b = event.direction_norms
        if event.explained is not None:
            first, second = 100 * event.explained[0], 100 * event.explained[1]
            text += f"; PCA explains {first:.0f}% + {second:.0f}% of the path"
            text += f"; axes fit the path: 1 = {norm_a:.3g} in weight space"
        elif np.isfinite(norm_a):
            # norm bars and no-break spaces: Qt wrapped after '|', splitting "|d1|"
            text += f"; ‖d1‖\u00a0=\u00a0{norm_a:.3g}, ‖d2‖\u00a0=\u00a0{norm_b:.3g}"
        if self.outcome == JobOutcome.CANCELLED:
            text += " (cancelled: partial)"
        elif not event.complete:
            text += f" — computing {100 * event.fraction:.0f}%"
        self.caption.setText(text)

    def _clear_contours(self) -> None:
        """Contours are children of the image (they take its pixel
        coordinates): they leave with their parent, not through the plot."""
        for item in self.contours:
            item.setParentItem(None)
            if item.scene() is not None:
                item.scene().removeItem(item)
        self.contours = []

    def clear(self) -> None:
        """Forget the landscape shown (the weights it was around are gone)."""
        self.update_event, self.outcome = None, None
        self._clear_contours()
        self.image.clear()
        self.path.setData([], [])
        self.current.setData([], [])
        self.line_curve.setData([], [])
        self.line_ends.setData([], [])
        if self.surface_view is not None:
            self.surface_view.clear()
        self.caption.setText("Compute a landscape around the current weights (training can go on).")
        self.dirty = True

    def _draw_line(self, event) -> None:  # noqa: ANN001 - a LandscapeUpdate
        t, losses = event.line_t, event.line_losses
        log = self.log_colour.isChecked()
        self.line_plot.setLogMode(y=log)
        self.line_plot.setLabel("left", "loss (log)" if log else "loss")
        if log:  # pyqtgraph takes log10 itself; keep what it cannot take out
            losses = np.where(losses > 0, losses, np.nan)
        self.line_curve.setData(t, losses)
        # the y range fits the segment from the initial to the current weights
        # with room above: the extensions can rise by orders of magnitude
        finite = np.isfinite(losses)
        inner = finite & (t >= -1e-9) & (t <= 1 + 1e-9)
        if inner.any():
            values = np.log10(losses) if log else losses
            low, high = float(values[finite].min()), float(values[inner].max())
            pad = (high - low) or abs(high) * 0.1 or 1.0
            self.line_plot.setYRange(low - 0.05 * pad, high + 0.6 * pad, padding=0)
        nearest = [int(np.argmin(np.abs(t - end))) for end in (0.0, 1.0)]
        ends = [i for i in nearest if abs(t[i] - round(t[i])) < 1e-9 and np.isfinite(losses[i])]
        self.line_ends.setData(t[ends], losses[ends])

    def export_png(self, path: str) -> None:
        if self.surface_view is not None and self.stack.currentWidget() is self.surface_view:
            self.draw()
            self.surface_view.grab_image().save(path)
            self.exported.emit(path)
        else:
            super().export_png(path)

    def csv_table(self):
        event = self.update_event
        if event is None:
            return ["alpha", "beta", "loss"], []
        rows = [
            [float(a), float(b), float(event.losses[i, j])]
            for i, a in enumerate(event.alphas)
            for j, b in enumerate(event.betas)
        ]
        return ["alpha", "beta", "loss"], rows
