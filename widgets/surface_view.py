"""The loss landscape as a 3-D surface (OpenGL): the surface coloured by
loss, labelled axes with their values (α and β in units of the directions,
loss on the vertical), a colour scale beside it, the training path on the
surface and the current weights. Made only when first asked for: it needs an
OpenGL context, which the offscreen platform of the tests does not have."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont, QVector3D
from PySide6.QtWidgets import QHBoxLayout, QWidget

from widgets.base import PALETTE

HEIGHT = 2.0  # the loss axis spans 0..HEIGHT, the plane +-1: comparable extents
TICKS = 5
LABEL_POINTS = 8


def surface_at(
    alphas: np.ndarray, betas: np.ndarray, values: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """The grid's values at (a, b) ``points`` by bilinear interpolation between
    the four surrounding grid points (exact at grid points, NaN outside the
    grid): where the training path runs on the 3-D surface."""
    a, b = points[:, 0], points[:, 1]
    fa = np.interp(a, alphas, np.arange(len(alphas)), left=np.nan, right=np.nan)
    fb = np.interp(b, betas, np.arange(len(betas)), left=np.nan, right=np.nan)
    out = np.full(len(points), np.nan)
    inside = np.isfinite(fa) & np.isfinite(fb)
    fa, fb = fa[inside], fb[inside]
    i = np.minimum(fa.astype(int), len(alphas) - 2)
    j = np.minimum(fb.astype(int), len(betas) - 2)
    ta, tb = fa - i, fb - j
    out[inside] = (
        (1 - ta) * (1 - tb) * values[i, j]
        + ta * (1 - tb) * values[i + 1, j]
        + (1 - ta) * tb * values[i, j + 1]
        + ta * tb * values[i + 1, j + 1]
    )
    return out


class SurfaceView(QWidget):
    def __init__(self) -> None:
        import pyqtgraph.opengl as gl

        super().__init__()
        self.gl = gl.GLViewWidget()
        self.gl.setCameraPosition(pos=QVector3D(0, 0, 0.8), distance=4.6, elevation=28, azimuth=-60)
        self.gl.setBackgroundColor("w")
        floor = gl.GLGridItem(color=(0, 0, 0, 60))
        floor.setSize(2, 2)
        floor.setSpacing(0.25, 0.25)
        self.surface = gl.GLSurfacePlotItem(smooth=False, computeNormals=False)
        # lines blend "translucent": the default, additive, adds any colour up
        # to white on the white background (the path had never shown)
        self.path = gl.GLLinePlotItem(
            color=pg.mkColor(PALETTE[1]), width=3, antialias=True, glOptions="translucent"
        )
        self.current = gl.GLScatterPlotItem(color=(0.84, 0.15, 0.16, 1.0), size=12)
        axis_pen = (0.2, 0.2, 0.2, 1.0)
        self.axes = [  # α along x, β along y, loss up: from the floor's corner
            gl.GLLinePlotItem(
                pos=np.array(line, dtype=np.float32),
                color=axis_pen,
                width=2,
                glOptions="translucent",
            )
            for line in (
                [[-1, -1, 0], [1, -1, 0]],
                [[1, -1, 0], [1, 1, 0]],
                [[-1, -1, 0], [-1, -1, HEIGHT]],
            )
        ]
        self.labels: list[gl.GLTextItem] = []
        for item in (floor, self.surface, self.path, self.current, *self.axes):
            self.gl.addItem(item)
        # the colour scale: a 2-D bar beside the 3-D view
        self.scale_canvas = pg.GraphicsLayoutWidget()
        self.scale_canvas.setFixedWidth(90)
        self.scale = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), interactive=False)
        self.scale_canvas.addItem(self.scale)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.gl, 1)
        layout.addWidget(self.scale_canvas)

    def _text(self, position: tuple[float, float, float], text: str) -> None:
        import pyqtgraph.opengl as gl

        label = gl.GLTextItem(
            pos=np.array(position), text=text, color=(40, 40, 40, 255), font=QFont("", LABEL_POINTS)
        )
        self.gl.addItem(label)
        self.labels.append(label)

    def _label_axes(self, span: float, low: float, high: float, log: bool) -> None:
        """Values along each axis: α and β in units of the directions, the
        loss (or its log10) up the vertical."""
        for label in self.labels:
            self.gl.removeItem(label)
        self.labels = []
        # α along the front edge, β along the right one, the loss up the
        # back corner: each axis on its own edge, so no labels run together
        for share in np.linspace(-1, 1, TICKS):
            self._text((share, -1.15, 0), f"{share * span:.2g}")
            self._text((1.12, share, 0), f"{share * span:.2g}")
        for share in np.linspace(0, 1, TICKS)[1:]:
            self._text((-1.08, -1.08, share * HEIGHT), f"{low + share * (high - low):.3g}")
        self._text((-0.3, -1.45, 0), "α (direction 1)")
        self._text((1.3, -0.2, 0), "β (direction 2)")
        self._text((-1.08, -1.08, HEIGHT * 1.12), "log10 loss" if log else "loss")

    def set_surface(
        self,
        alphas: np.ndarray,
        betas: np.ndarray,
        z: np.ndarray,
        low: float,
        high: float,
        path: np.ndarray,
        log: bool,
    ) -> None:
        """The surface of ``z`` (clipped to low..high) over the grid, the path
        (grid coordinates) on it, and the current weights at the centre."""

        def height(values: np.ndarray) -> np.ndarray:
            return (values - low) / (high - low) * HEIGHT

        colours = pg.colormap.get("viridis").map((z - low) / (high - low), mode="float")
        span = max(abs(alphas[-1]), abs(betas[-1]))
        self.surface.setData(
            x=alphas / span, y=betas / span, z=height(z), colors=colours.reshape(-1, 4)
        )
        lift = 0.02  # a little above the surface, so the faces do not swallow the marks
        path_z = height(np.clip(surface_at(alphas, betas, z, path), low, high)) + lift
        on_grid = np.isfinite(path_z)
        self.path.setData(
            pos=np.column_stack([path[on_grid] / span, path_z[on_grid]]).astype(np.float32)
        )
        centre = height(np.clip(surface_at(alphas, betas, z, np.zeros((1, 2))), low, high))
        self.current.setData(pos=np.array([[0.0, 0.0, centre[0] + lift]], dtype=np.float32))
        self.scale.setLevels((low, high))
        self.scale.setLabel("left", "log10 loss" if log else "loss")
        self._label_axes(span, low, high, log)

    def clear(self) -> None:
        self.surface.setData(z=np.zeros((2, 2)))
        self.path.setData(pos=np.zeros((0, 3), dtype=np.float32))
        self.current.setData(pos=np.zeros((0, 3), dtype=np.float32))

    def grab_image(self):  # noqa: ANN201 - a QImage
        return self.gl.grabFramebuffer()
