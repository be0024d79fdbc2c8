"""The probes' one collector interface: what their hooks hand each tensor
to, what measures the parameters around the optimiser step, and how a
collection's figures come to the host. ``Probes`` (and anything else that
probes a model: a model from outside, a script being watched) speaks only
to a ``Collector``, made by ``collector_for``.

A collector keeps a table of several collections' figures (``Accumulator``s
with one row per collection, in the layout of ``probe_kernels``, and the
per-parameter norms); ``Probes`` turns the filled rows into metric rows in
one batch.

- ``Collector`` is torch's, the one every device uses (any dtype): the hooks
  keep references, the figures are summarised stacked on the device after
  the step, and come to the host in one transfer per collection (``Transfer``).
- ``CompiledCollector`` is a plug-in behind the same interface for a model
  on the CPU where ``probe_kernels`` built: each tensor is summarised on the
  spot while it is in cache, the parameters' norms and copy in one pass; it
  falls back on torch's way for what the kernels cannot read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from lab.core.config import ProbesConfig
from lab.native import probe_kernels

if TYPE_CHECKING:
    from lab.probes import Probes

SPREAD = 16  # sub-histograms per layer: neighbouring values count into different cells


@dataclass(frozen=True)
class ActSpec:
    """How one activation's outputs are summarised."""

    lo: float  # histogram range
    hi: float
    bounds: tuple[float, float] | None  # saturation (sigmoid, tanh)
    dead: bool  # ReLU family: count units with no positive output


class _Workspace:
    """Scratch tensors kept from one collection to the next. A fresh
    multi-megabyte tensor costs page faults every time on Linux (glibc hands
    freed memory back to the OS): stacking 20 activations took ~1 ms into a
    fresh tensor and ~0.1 ms into a reused one."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, torch.Tensor] = {}

    def get(
        self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        key = (name, shape, dtype, device)
        buffer = self._buffers.get(key)
        if buffer is None:
            if len(self._buffers) >= 32:  # shapes changed (batch size): start over
                self._buffers.clear()
            buffer = self._buffers[key] = torch.empty(shape, dtype=dtype, device=device)
        return buffer


class Transfer:
    """Tensors gathered on the device under keys; ``fetch`` moves them all to the
    host in one copy (one sync on a GPU) and hands back numpy arrays."""

    def __init__(self) -> None:
        self.keys: list[object] = []
        self.tensors: list[torch.Tensor] = []

    def add(self, key: object, tensor: torch.Tensor) -> None:
        self.keys.append(key)
        self.tensors.append(tensor.reshape(-1))

    def fetch(self) -> dict[object, np.ndarray]:
        if not self.tensors:
            return {}
        device = self.tensors[0].device
        if device.type == "cpu":  # no transfer to save: each tensor to numpy, no concatenation
            arrays = [t.numpy().astype(np.float64) for t in self.tensors]
            return dict(zip(self.keys, arrays, strict=True))
        # one transfer; float64 where the device has it (MPS has not: float32 there)
        wide = torch.float32 if device.type == "mps" else torch.float64
        flat = torch.cat(self.tensors, out=torch.empty(0, dtype=wide, device=device))
        host = flat.cpu().numpy().astype(np.float64, copy=False)
        ends = np.cumsum([t.numel() for t in self.tensors])
        return dict(zip(self.keys, np.split(host, ends[:-1]), strict=True))


class Collector:
    """Torch's collector: any device, any dtype. The hooks keep references to
    the outputs (autograd holds most of them anyway) and take each dL/dh norm
    as a device scalar; ``gather`` then summarises layers of equal shape
    together, stacked, a few dozen tensor ops whatever the depth, for one
    transfer to the host, and ``write`` puts what arrived into the
    collection's row of the tables.

    Around the optimiser step: ``before_step`` (gradient and weight norms,
    a copy of the weights), ``after_clip`` (the global norm after clipping),
    then ``gather`` and ``write`` also take the update norms. Per-parameter
    figures go to ``norms`` (rows, 3: grad, weight, update; parameters) and
    the norm after clipping to ``clipping[row, 1]``, tables ``Probes`` owns."""

    def __init__(self, probes: Probes, rows: int) -> None:
        self.config = cfg = probes.config
        self.specs = probes.act_specs
        self.n_layers = len(probes.layers)
        self.params = probes.params
        self.norms, self.clipping = probes.norm_table, probes.clipping_table
        self.work = _Workspace()
        self.acts = _table(len(self.specs), cfg, rows)
        self.outputs = _table(self.n_layers, cfg, rows)
        self.kept_acts: list[list[torch.Tensor]] = [[] for _ in self.specs]
        self.kept_outputs: list[list[torch.Tensor]] = [[] for _ in range(self.n_layers)]
        self.grad_norms: list[list[torch.Tensor]] = [[] for _ in range(self.n_layers)]
        self._act_groups: list[tuple[list[int], int]] = []
        self._out_groups: list[tuple[list[int], int]] = []
        self._layout: list[tuple[int, int]] = []
        self.row = 0
        self._before: list[torch.Tensor] = []  # the weights before the step (reused buffers)
        self._param_grads: torch.Tensor | None = None  # device tensors until gather
        self._param_weights: torch.Tensor | None = None
        self._clipped: torch.Tensor | None = None

    def activation(self, index: int, output: torch.Tensor) -> None:
        self.kept_acts[index].append(output.detach())

    def output(self, index: int, output: torch.Tensor) -> None:
        self.kept_outputs[index].append(output.detach())

    def grad(self, index: int, grad: torch.Tensor) -> None:
        self.grad_norms[index].append(torch.linalg.vector_norm(grad, dtype=torch.float32))

    # What a hook of layer ``index`` calls with its tensor (as the compiled collector's).

    def activation_sink(self, index: int) -> Callable[[torch.Tensor], None]:
        return functools.partial(self.activation, index)

    def output_sink(self, index: int) -> Callable[[torch.Tensor], None]:
        return functools.partial(self.output, index)

    def grad_sink(self, index: int) -> Callable[[torch.Tensor], None]:
        return functools.partial(self.grad, index)

    def select(self, row: int) -> None:
        """Start a collection into ``row``: per layer, one kept entry per
        forward call (several with gradient accumulation)."""
        self.row = row
        self._param_grads = self._param_weights = self._clipped = None
        self.select_layers(row)

    def select_layers(self, row: int) -> None:
        for kept in (*self.kept_acts, *self.kept_outputs, *self.grad_norms):
            kept.clear()
        self.acts.select(row)
        self.outputs.select(row)

    # ------------------------------------------------------------ parameters

    def before_step(self) -> torch.Tensor:
        """||grad|| of every parameter (the trainer derives the global norm
        from them), ||w||, and a copy of the weights for the update ratio."""
        before = self._before
        if len(before) != len(self.params) or before[0].device != self.params[0].device:
            self._before = before = [torch.empty_like(p) for p in self.params]
        self._param_grads = self._grad_norms_now()
        self._param_weights = torch.stack(torch._foreach_norm(self.params))
        torch._foreach_copy_(before, self.params)
        return self._param_grads

    def after_clip(self) -> None:
        """The gradients were clipped: their global norm now."""
        self._clipped = torch.linalg.vector_norm(self._grad_norms_now())

    def _grad_norms_now(self) -> torch.Tensor:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        return torch.stack(torch._foreach_norm(grads))

    def _gather_params(self, batch: Transfer) -> None:
        if self._param_grads is None or self._param_weights is None:
            return
        batch.add("param_grad_norm", self._param_grads)
        batch.add("param_weight_norm", self._param_weights)
        torch._foreach_sub_(self._before, self.params)  # before - after
        batch.add("param_update_norm", torch.stack(torch._foreach_norm(self._before)))
        if self._clipped is not None:
            batch.add("clipped_norm", self._clipped)

    def _write_params(self, arrays: dict[object, np.ndarray]) -> None:
        if "param_grad_norm" in arrays:
            row = self.row
            self.norms[row, 0] = arrays["param_grad_norm"]
            self.norms[row, 1] = arrays["param_weight_norm"]
            self.norms[row, 2] = arrays["param_update_norm"]
            if "clipped_norm" in arrays:
                self.clipping[row, 1] = arrays["clipped_norm"][0]

    # ------------------------------------------------------------ after the step

    def gather(self, batch: Transfer) -> None:
        """What this collection measured, onto ``batch`` (one transfer for all)."""
        self._gather_params(batch)
        self.gather_layers(batch)

    def write(self, arrays: dict[object, np.ndarray]) -> None:
        """What arrived on the host, into the collection's row."""
        self._write_params(arrays)
        self.write_layers(arrays)

    def gather_layers(self, batch: Transfer) -> None:
        cfg, work = self.config, self.work
        values, keyed = _by_shape(self.kept_acts, self.specs)
        self._act_groups, self._layout = [], []
        alive = []
        for number, ((spec, shape, _dtype), members) in enumerate(keyed.items()):
            stacked = _stack([values[i] for i in members], work)
            flat = stacked.view(len(members), -1)
            self._act_groups.append((members, flat.shape[1]))
            if cfg.activations:
                mean = flat.mean(dim=1)
                batch.add(("act_mean", number), mean)
                batch.add(("act_cnorm", number), _centred_norms(flat, mean, work))
                batch.add(
                    ("act_hist", number), _histograms(flat, cfg.hist_bins, spec.lo, spec.hi, work)
                )
                if spec.bounds is not None:
                    batch.add(("act_saturated", number), _saturated(flat, spec.bounds, work))
            if spec.dead:  # positive anywhere: over the batch, and positions of a map
                alive.append(stacked.amax(dim=(1, *range(3, stacked.dim()))) > 0)
                self._layout += [(i, shape[1]) for i in members]
        if alive:
            batch.add("alive_now", torch.cat([a.reshape(-1) for a in alive]))
        values, keyed = _by_shape(self.kept_outputs, [None] * self.n_layers)
        self._out_groups = []
        for number, members in enumerate(keyed.values()):
            flat = _stack([values[i] for i in members], work).view(len(members), -1)
            self._out_groups.append((members, flat.shape[1]))
            batch.add(("out_cnorm", number), _centred_norms(flat, flat.mean(dim=1), work))
        norms = [norm for calls in self.grad_norms for norm in calls]
        if norms:
            batch.add("out_grad_norms", torch.stack(norms))

    def write_layers(self, arrays: dict[object, np.ndarray]) -> None:
        acts, outputs, row = self.acts, self.outputs, self.acts.row
        if self.config.activations:
            for number, (members, numel) in enumerate(self._act_groups):
                acts.moments[row, members, 0] = numel
                acts.moments[row, members, 1] = arrays[("act_mean", number)]
                acts.moments[row, members, 2] = arrays[("act_cnorm", number)] ** 2
                acts.hist[row, members] = arrays[("act_hist", number)].reshape(len(members), -1)
                saturated = arrays.get(("act_saturated", number))
                if saturated is not None:
                    acts.saturated[row, members] = saturated
        for number, (members, numel) in enumerate(self._out_groups):
            outputs.moments[row, members, 0] = numel
            outputs.moments[row, members, 2] = arrays[("out_cnorm", number)] ** 2
        calls = [len(norms) for norms in self.grad_norms]
        if any(calls):  # one norm per call; calls add as squares
            layers = [i for i, count in enumerate(calls) if count]
            starts = np.cumsum([0, *[calls[i] for i in layers[:-1]]])
            outputs.squares[row, layers, 0] = np.add.reduceat(arrays["out_grad_norms"] ** 2, starts)
            outputs.squares[row, layers, 1] = [calls[i] for i in layers]
        if "alive_now" in arrays:
            alive_now = arrays["alive_now"] > 0
            if self._layout == acts.alive_layout:  # the table's order: one copy
                acts.alive[row] = alive_now
                return
            start = 0
            for index, units in self._layout:
                acts.units(index, units)[row] = alive_now[start : start + units]
                start += units


def _table(layers: int, config: ProbesConfig, rows: int) -> probe_kernels.Accumulator:
    """The figures' table without kernels (torch's collector fills it)."""
    return probe_kernels.Accumulator(
        None, [0] * layers, [(0.0,) * 4] * layers, config.hist_bins, rows
    )


class CompiledCollector(Collector):
    """The plug-in for a model on the CPU where probe_stats.c built. Each hook
    hands its tensor to the kernel at once, while it is in cache, and only
    running per-layer figures stay: nothing is kept (summarising the kept
    outputs after backward finds them out of cache). The parameters' norms
    and copy take one pass; where the kernels cannot read the parameters
    (another dtype), torch's way serves for them."""

    def __init__(self, probes: Probes, kernels: probe_kernels.ProbeKernels, rows: int) -> None:
        super().__init__(probes, rows)
        cfg = self.config
        self.param_kernels = probe_kernels.ParamNorms(kernels, self.params, self.norms)
        self._params_compiled = False  # this step's parameter norms came from the kernels
        stats = probe_kernels.HIST if cfg.activations else 0
        flags = [
            stats
            | (probe_kernels.SATURATION if spec.bounds and cfg.activations else 0)
            | (probe_kernels.ALIVE if spec.dead else 0)
            for spec in self.specs
        ]
        ranges = [(s.lo, s.hi, *(s.bounds or (0.0, 0.0))) for s in self.specs]
        self.acts = probe_kernels.Accumulator(kernels, flags, ranges, cfg.hist_bins, rows)
        plain = [0] * len(probes.layers)  # outputs and gradients: moments and squares only
        self.outputs = probe_kernels.Accumulator(kernels, plain, [(0.0,) * 4] * len(plain), 1, rows)
        # what the hooks call (as torch's collector's), straight to the accumulators
        self.activation_sink = self.acts.adder  # type: ignore[method-assign]
        self.output_sink = self.outputs.adder  # type: ignore[method-assign]
        self.grad_sink = self.outputs.squares_adder  # type: ignore[method-assign]

    def select(self, row: int) -> None:
        super().select(row)
        self._params_compiled = False

    def select_layers(self, row: int) -> None:
        self.acts.select(row)
        self.outputs.select(row)

    def before_step(self) -> torch.Tensor:
        kernels = self.param_kernels
        self._params_compiled = kernels.check()
        if not self._params_compiled:
            return super().before_step()
        kernels.before_step(self.row)  # both norms and the copy in one pass, into the row
        return torch.from_numpy(self.norms[self.row, 0])

    def after_clip(self) -> None:
        if not self._params_compiled:
            super().after_clip()
            return
        norms = self.param_kernels.grad_norms()
        self.clipping[self.row, 1] = np.sqrt(np.sum(norms**2))

    def gather(self, batch: Transfer) -> None:
        if self._params_compiled:
            self.param_kernels.after_step(self.row)
        else:
            self._gather_params(batch)
        # the layers' figures are on the host already, in the row

    def write(self, arrays: dict[object, np.ndarray]) -> None:
        self._write_params(arrays)


def collector_for(probes: Probes, rows: int) -> Collector:
    """The collector for the model as it is now: the compiled plug-in on the
    CPU where the kernels built, torch's everywhere else."""
    on_cpu = not probes.params or probes.params[0].is_cpu
    kernels = probe_kernels.library() if on_cpu else None
    if kernels is not None:
        return CompiledCollector(probes, kernels, rows)
    return Collector(probes, rows)


def _by_shape(
    kept: list[list[torch.Tensor]], specs: list[object]
) -> tuple[dict[int, torch.Tensor], dict[tuple, list[int]]]:
    """Each layer's kept outputs as one tensor (the forward calls of one step
    concatenated), and the layers grouped by (spec, shape, dtype) for stacking."""
    values: dict[int, torch.Tensor] = {}
    keyed: dict[tuple, list[int]] = {}
    for index, calls in enumerate(kept):
        if calls:
            value = values[index] = calls[0] if len(calls) == 1 else torch.cat(calls)
            keyed.setdefault((specs[index], value.shape, value.dtype), []).append(index)
    return values, keyed


def _stack(tensors: list[torch.Tensor], work: _Workspace) -> torch.Tensor:
    """(layers, ...) in float32: a view for a single layer, else one copy."""
    first = tensors[0]
    if len(tensors) == 1 or first.dtype != torch.float32:
        return (first.unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)).float()
    out = work.get("stack", (len(tensors), *first.shape), torch.float32, first.device)
    return torch.stack(tensors, out=out)


def _centred_norms(flat: torch.Tensor, mean: torch.Tensor, work: _Workspace) -> torch.Tensor:
    """||row - mean|| of each row: two passes, so no cancellation when the mean
    dwarfs the spread (sigmoid outputs near 0.5); var_mean timed far slower."""
    scratch = work.get("scratch", flat.shape, torch.float32, flat.device)
    return torch.linalg.vector_norm(torch.sub(flat, mean[:, None], out=scratch), dim=1)


def _histograms(
    flat: torch.Tensor, bins: int, lo: float, hi: float, work: _Workspace
) -> torch.Tensor:
    """Counts of each row of ``flat`` in ``bins`` equal bins over [lo, hi];
    values beyond land in the edge bins (numpy.histogram of the clipped values).

    One ``bincount`` for all rows: row r's cell b is r * bins + b. Neighbouring
    values go to ``SPREAD`` separate sub-histograms that are summed afterwards,
    so runs of equal values (a ReLU's zeros) don't serialise on one counter
    (bench/bench_probes.py times it)."""
    rows, numel = flat.shape
    spread = SPREAD if numel % SPREAD == 0 else 1
    cells = rows * spread * bins
    dtype = torch.int16 if cells <= torch.iinfo(torch.int16).max else torch.int32
    scaled = work.get("scratch", flat.shape, torch.float32, flat.device)
    scale = bins / (hi - lo)
    shift = torch.tensor(-lo * scale, device=flat.device)
    torch.add(shift, flat, alpha=scale, out=scaled).clamp_(0, bins - 1)  # (x - lo) * scale
    index = work.get("index", flat.shape, dtype, flat.device)
    index.copy_(scaled)  # truncates, as numpy's bin index does; hi lands in the last bin
    index.add_(_cell_offsets(rows, numel, spread, bins, dtype, flat.device))
    counts = torch.bincount(index.view(-1), minlength=cells)
    return counts.view(rows, spread, bins).sum(dim=1)


@functools.lru_cache(maxsize=4)
def _cell_offsets(
    rows: int, numel: int, spread: int, bins: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Each value's first cell, full size: a same-shape add is faster than
    broadcasting a (rows, 1, spread) one over small integers."""
    first = torch.arange(rows * spread, dtype=dtype, device=device) * bins
    return first.view(rows, 1, spread).expand(rows, numel // spread, spread).reshape(rows, numel)


def _saturated(flat: torch.Tensor, bounds: tuple[float, float], work: _Workspace) -> torch.Tensor:
    """Per row, the count of values below ``bounds[0]`` or above ``bounds[1]``."""
    below = torch.lt(flat, bounds[0], out=work.get("below", flat.shape, torch.bool, flat.device))
    above = torch.gt(flat, bounds[1], out=work.get("above", flat.shape, torch.bool, flat.device))
    return torch.count_nonzero(below.logical_or_(above), dim=1)
