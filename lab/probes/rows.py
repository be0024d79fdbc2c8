"""Probe figures on their way to the metric store: a batch of collections as
rows (``Rows``), one series per measurement, and the last collection's
figures on the host (``ProbeSnapshot``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lab.core import wire
from lab.core.metrics import MetricStore

if TYPE_CHECKING:
    from lab.probes.probes import Probes


@dataclass
class ProbeSnapshot:
    """One collection, on the host. Per-layer arrays follow ``layer_names`` (all
    layers including head) or ``act_names`` (hidden layers with an activation)."""

    step: int
    layer_names: list[str]
    act_names: list[str]
    param_names: list[str]
    param_grad_norm: np.ndarray | None = None
    grad_norm: np.ndarray | None = None
    weight_norm: np.ndarray | None = None
    update_ratio: np.ndarray | None = None
    global_grad_norm: float = float("nan")  # before clipping
    global_grad_norm_clipped: float = float("nan")  # after clipping
    clipped: bool = False
    act_grad_norm: np.ndarray | None = None  # ||dL/dh|| per layer output
    output_std: np.ndarray | None = None  # std of each layer output h
    act_mean: np.ndarray | None = None
    act_std: np.ndarray | None = None
    saturation: np.ndarray | None = None  # NaN where not sigmoid/tanh
    hist: dict[str, np.ndarray] = field(default_factory=dict)
    hist_edges: dict[str, np.ndarray] = field(default_factory=dict)
    dead_fraction: np.ndarray | None = None  # over the window; NaN where not ReLU family
    dead_now: np.ndarray | None = None  # on this batch
    dead_map: dict[str, np.ndarray] = field(default_factory=dict)  # per unit, over the window
    head_names: list[str] = field(default_factory=list)  # attention heads: block1.h1, ...
    attn_entropy: np.ndarray | None = None
    attn_max: np.ndarray | None = None
    score_std: np.ndarray | None = None


@dataclass
class Rows:
    """Figures of consecutive collections, one row each, as the store keeps them."""

    steps: np.ndarray
    per_layer: dict[str, np.ndarray] = field(default_factory=dict)  # series: (rows, layers)
    per_act: dict[str, np.ndarray] = field(default_factory=dict)  # (rows, activations)
    param_grad_norm: np.ndarray | None = None  # (rows, parameters)
    global_norm: np.ndarray | None = None  # (rows, 3): wire.GLOBAL_NORM_COLUMNS
    # per activation: which rows saw it called, and their counts (seen rows, bins)
    hist: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    dead_map: dict[str, np.ndarray] = field(default_factory=dict)  # (rows, units)
    per_head: dict[str, np.ndarray] = field(default_factory=dict)  # (rows, attention heads)

    def record(self, store: MetricStore, probes: Probes) -> None:
        """Into the store, one series per measurement."""
        steps = self.steps
        for name, values in self.per_layer.items():
            store.extend(name, steps, values, probes.layer_names)
        for name, values in self.per_act.items():
            store.extend(name, steps, values, probes.act_names)
        for name, values in self.per_head.items():
            store.extend(name, steps, values, probes.heads.names)
        if self.param_grad_norm is not None and self.global_norm is not None:
            store.extend(
                wire.PROBE_PARAM_GRAD_NORM, steps, self.param_grad_norm, probes.param_names
            )
            store.extend(
                wire.PROBE_GLOBAL_GRAD_NORM, steps, self.global_norm, wire.GLOBAL_NORM_COLUMNS
            )
        for layer, (seen, counts) in self.hist.items():
            columns = column_names("bin", counts.shape[1])
            store.extend(wire.hist(layer), steps[seen], counts, columns)
        for layer, dead in self.dead_map.items():
            columns = column_names("unit", dead.shape[1])
            store.extend(wire.dead_map(layer), steps, dead, columns)

    def snapshot(self, probes: Probes) -> ProbeSnapshot:
        """The last collection's figures."""
        snap = ProbeSnapshot(
            int(self.steps[-1]), probes.layer_names, probes.act_names, probes.param_names
        )
        for name, values in (self.per_layer | self.per_act | self.per_head).items():
            setattr(snap, name.removeprefix(wire.PROBE), values[-1])  # the field of that name
        snap.head_names = probes.heads.names
        if self.param_grad_norm is not None and self.global_norm is not None:
            snap.param_grad_norm = self.param_grad_norm[-1]
            before, after, clipped = self.global_norm[-1]
            snap.global_grad_norm, snap.global_grad_norm_clipped = float(before), float(after)
            snap.clipped = bool(clipped)
        snap.hist = {name: counts[-1] for name, (seen, counts) in self.hist.items() if seen[-1]}
        if self.hist:
            snap.hist_edges = dict(probes.hist_edges)
        snap.dead_map = {name: dead[-1] for name, dead in self.dead_map.items()}
        return snap


def nan_array(*shape: int) -> np.ndarray:
    return np.full(shape, np.nan)


def where_seen(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``values`` where ``count`` > 0, NaN elsewhere."""
    return np.where(count > 0, values, np.nan)


def ratio(top: np.ndarray, bottom: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """top / bottom where bottom > 0 (and ``where``), NaN elsewhere."""
    keep = bottom > 0 if where is None else (bottom > 0) & where
    return np.divide(top, bottom, out=np.full(np.shape(top), np.nan), where=keep)


@functools.lru_cache(maxsize=64)
def edges(lo: float, hi: float, bins: int) -> np.ndarray:
    edges = np.linspace(lo, hi, bins + 1)
    edges.flags.writeable = False
    return edges


@functools.cache
def column_names(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(count))
