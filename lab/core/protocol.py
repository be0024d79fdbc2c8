"""Messages between the GUI and the engine process: plain dataclasses of
builtins, string enums and numpy arrays, pickled over a multiprocessing
connection. No torch here: the GUI speaks this protocol without loading it.

Commands go GUI -> engine; events go engine -> GUI. A knob turned travels
as the dotted paths it changed (``ChangeConfig``), a whole experiment as a
dict (``ExperimentConfig.to_dict()``, ``SetConfig``); both sides validate
with the same code, each once.
The engine announces ``PROTOCOL_VERSION`` in ``Ready``; the window refuses an
engine of another version. Long work runs as jobs (``lab.jobs``): a command
starts one under an id the window picks, ``CancelJob`` stops it, and every
job reports through ``JobProgress`` and one ``JobFinished``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from lab.core.datainfo import DataInfo
from lab.core.file_messages import (  # noqa: F401 - the protocol's too: p.DataProblem, ...
    DataProblem,
    FetchData,
    ModelCode,
    NeedsDownload,
)
from lab.core.job_messages import (  # noqa: F401 - the protocol's too: p.JobProgress, ...
    CancelJob,
    JobFinished,
    JobKind,
    JobOutcome,
    JobProgress,
)
from lab.core.recipes import RecipeInfo

PROTOCOL_VERSION = 5


class RunState(StrEnum):
    """What the engine's training is doing."""

    READY = "ready"  # built, never stepped
    RUNNING = "running"
    PAUSED = "paused"


class ChangeKind(StrEnum):
    """What applying a config change took."""

    NONE = "none"
    LIVE = "live"  # written into the running session; applies on the next step
    OPTIMIZER = "optimizer"  # a fresh optimiser, the weights kept
    REBUILD = "rebuild"  # the experiment started over


class DirectionKind(StrEnum):
    """The directions of a loss-landscape plane (see ``lab.landscape.directions``)."""

    FILTER = "filter"
    PCA = "pca"
    RANDOM = "random"
    LAYER = "layer"
    MODEL = "model"


# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class SetConfig:
    """Replace the experiment (a preset, an arm, a restored window's); live
    fields apply on the next step, structural ones rebuild and the engine
    says which."""

    config: dict[str, Any]


@dataclass(frozen=True)
class ChangeConfig:
    """Change fields of the experiment by dotted path (``{"optim.lr": 1e-4}``,
    with the fields coupled to them); what it takes is as for ``SetConfig``."""

    changes: dict[str, Any]


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
    autosave: bool = False  # the window's periodic copy: it does not become the run's folder


@dataclass(frozen=True)
class OpenRun:
    """Open a run folder. ``autosave``: the window's own copy of its last
    session, reopened: it does not become the run's folder. ``data_path``:
    the file to train on instead of the one the run recorded (which moved);
    ``accept_changed``: open it although its data file changed."""

    path: str
    autosave: bool = False
    data_path: str = ""
    accept_changed: bool = False
    run_code: bool = False  # the run's model is the person's Python file: run it (they said so)


@dataclass(frozen=True)
class WatchTokens:
    """The Attention or Samples view is on screen (a Transformer's): send
    their pictures now and, while training, a few times a second. Their
    input: ``text`` as typed (tokens by their names), or test example
    ``example`` when ``text`` is empty."""

    attention: bool = False
    samples: bool = False
    text: str = ""
    example: int = 0


@dataclass(frozen=True)
class Undo:
    """Go back one step (``lab.engine.history``): before a knob's change, or
    to the run a rebuild, reset, open or preset replaced (its config,
    weights, optimiser and metrics). ``Redo`` goes forward again."""


@dataclass(frozen=True)
class Redo:
    pass


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class Ping:
    """Are you there? The engine answers ``Pong`` between two chunks of work;
    the window sends one every few seconds and notices an engine that stops
    answering (frozen, or stuck in one long computation)."""

    number: int


@dataclass(frozen=True)
class ComputeLandscape:
    """Start job ``job``: a loss landscape around the current weights (it
    replaces one under way)."""

    job: int
    kind: DirectionKind = DirectionKind.FILTER
    resolution: int = 41
    span: float = 1.0
    n_points: int = 1024
    seed: int = 0


@dataclass(frozen=True)
class ExportOnnx:
    """Start job ``job``: export the weights of now to ONNX and verify them."""

    job: int
    path: str
    legacy: bool = False  # the TorchScript exporter instead of the current one


@dataclass(frozen=True)
class DecodeKV:
    """Start job ``job``: a measured decode with the current model (a copy
    of its weights of now): ``batch`` sequences from a ``prompt``-token
    prompt to ``tokens`` tokens (0: the context), with a ``layout`` cache of
    ``dtype`` values, timing each step with and without the cache; then
    each layout holding sequences of ``mixed`` lengths (empty: spread over
    the context)."""

    job: int
    layout: str = "static"
    dtype: str = "fp32"
    batch: int = 1
    prompt: int = 4
    tokens: int = 0
    mixed: tuple[int, ...] = ()
    block_size: int = 16


@dataclass(frozen=True)
class RunRecipe:
    """Start job ``job``: recipe ``name`` (``lab.recipes``), its arms one
    after another; each finished arm arrives as a partial ``RecipeResult``,
    the verdict with the last."""

    job: int
    name: str
    fast: bool = False


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
    recipes: tuple[RecipeInfo, ...] = ()  # the recipe catalog, for the gallery


@dataclass(frozen=True)
class Pong:
    number: int


@dataclass(frozen=True)
class Built:
    """A (re)built experiment: its config, model summary and data to draw."""

    config: dict[str, Any]
    summary_rows: list[tuple[str, str, tuple[int, ...], int]]  # name, what, shape, params
    n_params: int
    task: str
    x_train: np.ndarray  # for the data thumbnail: points (2-D toys, 1-D regression),
    y_train: np.ndarray  # or a few images of each class (N, C, H, W)
    reason: str  # why it was built ("start", "width of layer 1 → 32: rebuilt from scratch", ...)
    class_names: tuple[str, ...] = ()
    undo: str = ""  # what Undo would bring back ("" when nothing was replaced)
    data: DataInfo | None = None  # where the data came from, its columns, classes, sample
    model_notes: tuple[str, ...] = ()  # a model of one's own: what the probes cannot see in it


@dataclass(frozen=True)
class ConfigApplied:
    """A change was applied: what it took, in words, and the new values of
    the fields it changed (a rebuild's whole config follows in ``Built``);
    the window keeps them where it holds others (an Undo's)."""

    kind: ChangeKind
    message: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UndoState:
    """What Undo and Redo would do now, in words ("" where nothing)."""

    undo: str
    redo: str


@dataclass(frozen=True)
class MetricRows:
    """New rows of metric series since the last batch: name -> (columns,
    steps, values). ``dropped``: prefixes of series the engine removed before
    these rows (histograms binned another way): the window removes them too."""

    series: dict[str, tuple[tuple[str, ...], np.ndarray, np.ndarray]]
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    state: RunState
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
    """Model output on a grid over the data (2-D), along a line (1-D
    regression), or, for regression on more features (``truth``), the test
    set's predictions (``values``) against its targets (``xs``) and R²."""

    xs: np.ndarray
    ys: np.ndarray | None
    values: np.ndarray  # class index grid (2-D) or predictions (1-D)
    confidence: np.ndarray | None  # max class probability per grid cell
    step: int
    truth: bool = False
    r2: float = float("nan")


@dataclass(frozen=True)
class LandscapeUpdate:
    """A landscape as it fills in: NaN where not computed yet."""

    step: int  # the weights it is centred on
    kind: DirectionKind
    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray  # [i, j] at (alphas[i], betas[j])
    fraction: float
    complete: bool
    center_loss: float
    trajectory: np.ndarray  # (snapshots, 2) in the plane's coordinates
    trajectory_steps: np.ndarray
    explained: np.ndarray | None  # PCA only: variance share of the two directions
    n_points: int
    line_t: np.ndarray  # the straight line from the initial (t=0) to the current (t=1) weights
    line_losses: np.ndarray  # NaN = not yet computed
    direction_norms: tuple[float, float] = (float("nan"), float("nan"))  # one unit per axis


@dataclass(frozen=True)
class LayoutHolding:
    """What one cache layout holds for a batch of sequences of mixed lengths."""

    layout: str
    held_bytes: int  # the storages the cache tensors own
    needed_bytes: int  # what the tokens need (the formula)
    blocks: int | None = None  # paged: blocks in use


@dataclass(frozen=True)
class KVDecode:
    """A measured decode so far: a row per decoded step (the sequence's
    length after it). Bytes are the cache's own storages per layer beside the
    formula for the tokens held; on CUDA the allocator's figures too."""

    layout: str
    dtype: str
    batch: int
    device: str
    context: int
    lengths: np.ndarray  # (n,) tokens per sequence after each step
    held: np.ndarray  # (n, layers) bytes held per layer
    formula: np.ndarray  # (n,) bytes the tokens need, all layers
    blocks: np.ndarray | None  # paged: blocks in use (all layers)
    seconds_cached: np.ndarray  # (n,) one decode step with the cache
    seconds_full: np.ndarray  # (n,) the same token by recomputing the prefix (nan: not timed)
    prefill_seconds: float
    allocated: np.ndarray | None = None  # CUDA: torch.cuda.memory_allocated after each step
    reserved: np.ndarray | None = None  # ... memory_reserved
    peak: np.ndarray | None = None  # ... max_memory_allocated
    logit_error: float = float("nan")  # max |logits| difference to an fp32 recompute
    layouts: tuple[LayoutHolding, ...] = ()  # the mixed-length batch, per layout
    mixed: tuple[int, ...] = ()


@dataclass(frozen=True)
class AttentionMaps:
    """Attention weights of every layer and head for one input sequence."""

    step: int
    tokens: tuple[str, ...]  # the input's tokens, by name
    maps: np.ndarray  # (layers, heads, T, T): row i is where query i looks


@dataclass(frozen=True)
class SampleRow:
    prompt: tuple[str, ...]
    expected: tuple[str, ...]  # the right answer (empty where there is none: typed text)
    got: tuple[str, ...]  # the model's greedy continuation


@dataclass(frozen=True)
class Samples:
    """The model's greedy answers to test examples (or its continuation of
    typed text), beside the right answers."""

    step: int
    rows: tuple[SampleRow, ...]
    answer_length: int = 0  # a symbol task's answer, in tokens: a typed prompt's ends there


@dataclass(frozen=True)
class Stopped:
    """Training stopped by itself (divergence, or the step budget reached)."""

    reason: str


@dataclass(frozen=True)
class Saved:
    path: str
    autosave: bool = False


@dataclass(frozen=True)
class Opened:
    path: str
    autosave: bool = False


@dataclass(frozen=True)
class Error:
    """Anything that went wrong in the engine; ``field`` names a config field."""

    message: str
    field: str | None = None
    details: str = ""
