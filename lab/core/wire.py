"""The wire contract between the engine and the window: the name of every
metric series and how many rows of it a store keeps. Both sides make their
stores from this, so the window holds exactly what the engine holds.

A name is a plain string (it travels in ``MetricRows``); per-layer tables of
one measure share a prefix and end in the layer's name.
"""

from __future__ import annotations

IGNORED_TARGET = -100  # a token target the loss leaves out (torch's ignore_index): the prompt

DEFAULT_CAPACITY = 4096  # rows of a series unless it is listed below

STEP = "step"  # every optimiser step: loss, lr, clipped
STEP_COLUMNS = ("loss", "lr", "clipped")
GRAD_NORM = "grad_norm"  # the global gradient norm, on the steps it is measured
EVAL = "eval"  # each evaluation on the whole train and test sets (a row of metrics.csv)
EVAL_COLUMNS = ("train_loss", "test_loss", "train_acc", "test_acc", "lr", "batch_loss", "grad_norm")
CONFUSION = "confusion"  # the test set's counts, true class x predicted, row-major

PROBE = "probe/"  # every probe series; per layer (columns: layers) unless listed below
PROBE_GRAD_NORM = "probe/grad_norm"
PROBE_WEIGHT_NORM = "probe/weight_norm"
PROBE_UPDATE_RATIO = "probe/update_ratio"
PROBE_ACT_GRAD_NORM = "probe/act_grad_norm"  # ||dL/dh|| of each layer's output
PROBE_OUTPUT_STD = "probe/output_std"
PROBE_ACT_MEAN = "probe/act_mean"  # columns: layers with an activation
PROBE_ACT_STD = "probe/act_std"
PROBE_SATURATION = "probe/saturation"
PROBE_DEAD_FRACTION = "probe/dead_fraction"  # over the dead window
PROBE_DEAD_NOW = "probe/dead_now"  # on the probed batch
PROBE_PARAM_GRAD_NORM = "probe/param_grad_norm"  # columns: parameter tensors
PROBE_GLOBAL_GRAD_NORM = "probe/global_grad_norm"
GLOBAL_NORM_COLUMNS = ("before_clip", "after_clip", "clipped")
PROBE_ATTN_ENTROPY = "probe/attn_entropy"  # columns: heads (block1.h1, ...)
PROBE_ATTN_MAX = "probe/attn_max"
PROBE_SCORE_STD = "probe/score_std"
PROBE_HIST = "probe/hist/"  # + layer: histogram counts (columns: bins)
PROBE_DEAD_MAP = "probe/dead_map/"  # + layer: 1 where a unit is dead (columns: units)

# Wide tables (a column per bin or unit) keep fewer rows.
CAPACITIES = {PROBE_HIST: 512, PROBE_DEAD_MAP: 256}


def capacity(name: str) -> int:
    """Rows a store keeps of series ``name`` (an even number)."""
    for prefix, rows in CAPACITIES.items():
        if name.startswith(prefix):
            return rows
    return DEFAULT_CAPACITY


def hist(layer: str) -> str:
    return PROBE_HIST + layer


def dead_map(layer: str) -> str:
    return PROBE_DEAD_MAP + layer


def layer_of(name: str) -> str:
    """The layer a per-layer table belongs to (``probe/hist/layer3`` -> ``layer3``)."""
    return name.rsplit("/", 1)[-1]
