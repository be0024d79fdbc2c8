"""Messages between the GUI and the engine process: plain dataclasses of
builtins and numpy arrays, pickled over a multiprocessing connection. No torch
here: the GUI speaks this protocol without loading it.

Commands go GUI -> engine; events go engine -> GUI. Configs travel as dicts
(``ExperimentConfig.to_dict()``) so both sides validate with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

PROTOCOL_VERSION = 1


# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class SetConfig:
    """Replace the experiment (validated on both sides); live fields apply on
    the next step, structural ones rebuild and the engine says which."""

    config: dict[str, Any]


@dataclass(frozen=True)
class Play:
    pass


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Step:
    count: int = 1


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class SetSpeed:
    """Steps per second while playing; 0 = as fast as possible."""

    steps_per_second: float


@dataclass(frozen=True)
class SaveRun:
    path: str


@dataclass(frozen=True)
class OpenRun:
    path: str


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class ComputeLandscape:
    """Start a loss landscape around the current weights (replaces one running)."""

    kind: str = "filter"  # random, filter, layer, model, pca
    resolution: int = 41
    span: float = 1.0
    n_points: int = 1024
    seed: int = 0


@dataclass(frozen=True)
class ExportOnnx:
    """Export the current model to ONNX and verify it (in the background)."""

    path: str
    legacy: bool = False  # the TorchScript exporter instead of the current one


@dataclass(frozen=True)
class CancelLandscape:
    pass


@dataclass(frozen=True)
class SetLandscapeAuto:
    """Recompute the landscape every ``every_steps`` steps while training (0 = off),
    with the settings of the last ComputeLandscape."""

    every_steps: int


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Ready:
    version: int
    devices: list[str]
    torch_version: str


@dataclass(frozen=True)
class Built:
    """A (re)built experiment: its config, model summary and data to draw."""

    config: dict[str, Any]
    summary_rows: list[tuple[str, str, tuple[int, ...], int]]  # name, what, shape, params
    n_params: int
    task: str
    x_train: np.ndarray  # for the data thumbnail: points (2-D toys, 1-D regression),
    y_train: np.ndarray  # or a few images of each class (N, C, H, W)
    reason: str  # why it was built ("start", "rebuilt: model.layers[0].width", ...)
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConfigApplied:
    kind: str  # "live", "optimizer", "rebuild", "none"
    message: str
    config: dict[str, Any]


@dataclass(frozen=True)
class MetricRows:
    """New rows of metric series since the last batch: name -> (columns, steps, values)."""

    series: dict[str, tuple[tuple[str, ...], np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Status:
    state: str  # "ready", "running", "paused", "stopped"
    step: int
    steps_per_second: float
    device: str
    memory_bytes: int | None  # CUDA allocator figure; None on the CPU
    lr: float = float("nan")  # what the optimiser's first param group holds now
    rss_bytes: int | None = None  # the engine process's resident memory


@dataclass(frozen=True)
class SignalPropagation:
    """Activation std and gradient norm by depth at initialisation."""

    layer_names: list[str]
    act_names: list[str]
    act_std: np.ndarray
    output_std: np.ndarray
    act_grad_norm: np.ndarray
    grad_norm: np.ndarray


@dataclass(frozen=True)
class DecisionBoundary:
    """Model output on a grid over the data (2-D) or a line (1-D regression)."""

    xs: np.ndarray
    ys: np.ndarray | None
    values: np.ndarray  # class index grid (2-D) or predictions (1-D)
    confidence: np.ndarray | None  # max class probability per grid cell
    step: int


@dataclass(frozen=True)
class LandscapeUpdate:
    """A landscape as it fills in: NaN where not computed yet."""

    step: int  # the weights it is centred on
    kind: str
    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray  # [i, j] at (alphas[i], betas[j])
    fraction: float
    complete: bool
    cancelled: bool
    center_loss: float
    trajectory: np.ndarray  # (snapshots, 2) in the plane's coordinates
    trajectory_steps: np.ndarray
    explained: np.ndarray | None  # PCA only: variance share of the two directions
    n_points: int
    line_t: np.ndarray  # the straight line from the initial (t=0) to the current (t=1) weights
    line_losses: np.ndarray  # NaN = not yet computed
    direction_norms: tuple[float, float] = (float("nan"), float("nan"))  # one unit per axis


@dataclass(frozen=True)
class ExportProgress:
    path: str
    stage: str  # exporting, checking, comparing with onnxruntime, timing


@dataclass(frozen=True)
class ExportDone:
    """The export report (lab.export.ExportReport as a dict)."""

    report: dict[str, Any]


@dataclass(frozen=True)
class Stopped:
    """Training stopped by itself (divergence, or the step budget reached)."""

    reason: str


@dataclass(frozen=True)
class Saved:
    path: str


@dataclass(frozen=True)
class Opened:
    path: str


@dataclass(frozen=True)
class Error:
    """Anything that went wrong in the engine; ``field`` names a config field."""

    message: str
    field: str | None = None
    details: str = ""


@dataclass
class Outbox:
    """Rows appended since the last flush, by series."""

    rows: dict[str, tuple[tuple[str, ...], list[int], list[np.ndarray]]] = field(
        default_factory=dict
    )

    def add(self, name: str, columns: tuple[str, ...], step: int, values: np.ndarray) -> None:
        entry = self.rows.get(name)
        if entry is None:
            entry = self.rows[name] = (columns, [], [])
        entry[1].append(step)
        entry[2].append(values)

    def add_rows(
        self, name: str, columns: tuple[str, ...], steps: np.ndarray, rows: np.ndarray
    ) -> None:
        entry = self.rows.get(name)
        if entry is None:
            entry = self.rows[name] = (columns, [], [])
        entry[1].extend(steps.tolist())
        entry[2].append(rows)

    def flush(self) -> MetricRows | None:
        if not self.rows:
            return None
        series = {
            name: (columns, np.asarray(steps, dtype=np.int64), np.vstack(values))
            for name, (columns, steps, values) in self.rows.items()
        }
        self.rows = {}
        return MetricRows(series)
