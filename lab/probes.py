"""Per-layer instruments: what happens inside each layer while a network trains.

On a collection step (every ``probes.every`` steps) hooks attach before the
forward pass and come off after the optimiser step; other steps pay nothing.
Statistics accumulate as tensors on the model's device and reach the host in
one transfer per collection.

Measured per named layer (``layer1``..``layerN`` and ``head``):

- gradient L2 norm per parameter tensor and per layer, the global norm before
  and after clipping, weight norms, and the update-to-weight ratio
  ||w_after - w_before|| / ||w_before|| of the step;
- ||dL/dh|| of each layer's output h (a tensor hook in backward), and the std
  of h: the honest view of vanishing and exploding signals;
- after each activation module: mean, std, a fixed-bin histogram (values
  beyond the range land in the edge bins), and for sigmoid/tanh the fraction
  of saturated outputs;
- dead units (ReLU family: relu, leaky_relu, gelu, silu): a unit is dead on a
  batch when it gives no positive output for any sample (any position, for
  conv channels); dead over the window when that held on each of the last
  ``dead_window`` probed batches. Units that die and units that revive both show.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lab.config import DEAD_UNIT_ACTIVATIONS, ProbesConfig, histogram_span
from lab.metrics import MetricStore
from lab.models.layers import activation_name

HIST_CAPACITY = 512  # rows kept of each histogram / unit-map series
MAP_CAPACITY = 256


def histogram_range(activation: nn.Module, config: ProbesConfig) -> tuple[float, float]:
    return histogram_span(activation_name(activation), config)


def saturation_bounds(activation: nn.Module, level: float) -> tuple[float, float] | None:
    """Outputs below the first or above the second bound count as saturated."""
    if isinstance(activation, nn.Sigmoid):
        return 1.0 - level, level
    if isinstance(activation, nn.Tanh):
        return -level, level
    return None


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


SPREAD = 16  # sub-histograms per layer: neighbouring values count into different cells


@dataclass(frozen=True)
class _ActSpec:
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


class _Transfer:
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
        flat = torch.cat(self.tensors, out=torch.empty(0, dtype=torch.float64, device=device))
        host = flat.cpu().numpy()
        ends = np.cumsum([t.numel() for t in self.tensors])
        return dict(zip(self.keys, np.split(host, ends[:-1]), strict=True))


@dataclass
class _Group:
    """Layers of one shape (and one summary spec) summarised together: one op
    per statistic for the group instead of one per layer."""

    members: list[int]
    numel: int  # values per layer


class Probes:
    """Instruments for one model. ``begin()`` before the forward pass of a
    collection step, ``after_backward()`` before clipping, ``after_clip()``,
    then ``finish()`` after the optimiser step.

    Forward hooks only keep references to the outputs (autograd holds most of
    them anyway) and backward hooks only take each gradient's norm; ``finish`` then
    summarises layers of equal shape together, stacked, so a collection costs a
    few dozen tensor ops whatever the depth."""

    def __init__(self, model: nn.Module, config: ProbesConfig) -> None:
        self.model = model
        self.config = config
        self.layers: list[tuple[str, nn.Module]] = model.named_layers()  # type: ignore[operator]
        self.layer_names = [name for name, _ in self.layers]
        self.acts = [(name, block.act) for name, block in self.layers if hasattr(block, "act")]
        self.act_names = [name for name, _ in self.acts]
        self._act_layer = [self.layer_names.index(name) for name in self.act_names]
        self._act_specs = [
            _ActSpec(
                *histogram_range(act, config),
                saturation_bounds(act, config.saturation),
                config.dead_units and activation_name(act) in DEAD_UNIT_ACTIVATIONS,
            )
            for _, act in self.acts
        ]
        # Where a block's output is its activation's output (no residual, dropout
        # or pool after it), the activation statistics serve for the output too.
        self._out_is_act = [
            hasattr(m, "act") and m._branch[-1] is m.act and not m.residual and m._pool is None
            for _, m in self.layers
        ]
        self.params: list[nn.Parameter] = []
        self.param_names: list[str] = []
        param_layer = []
        for index, (name, module) in enumerate(self.layers):
            for pname, param in module.named_parameters():
                if param.requires_grad:
                    self.params.append(param)
                    self.param_names.append(f"{name}.{pname}")
                    param_layer.append(index)
        self._param_layer = np.asarray(param_layer, dtype=np.intp)
        # Alive masks of the last ``dead_window`` probed batches, every ReLU-family
        # layer's units in one vector laid out as ``_alive_layout`` (act, units).
        self._alive_ring: deque[torch.Tensor] = deque(maxlen=config.dead_window)
        self._alive_layout: list[tuple[int, int]] = []
        self._weights_before: list[torch.Tensor] = []  # reused buffers
        self._work = _Workspace()
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._collecting = False  # hooks record only between begin() and finish()
        self._act_outputs: list[list[torch.Tensor]] = [[] for _ in self.acts]
        self._layer_outputs: list[list[torch.Tensor]] = [[] for _ in self.layers]
        self._output_grad_norms: list[list[torch.Tensor]] = [[] for _ in self.layers]
        self._reset()
        self.latest: ProbeSnapshot | None = None

    def wants(self, step_number: int) -> bool:
        """Whether the step that will become ``step_number`` (1-based) is probed."""
        return self.config.enabled and step_number % self.config.every == 0

    def _reset(self) -> None:
        """Forget what one collection kept: per layer, one entry per forward call
        (several with gradient accumulation). The lists are the hooks' own."""
        for kept in (*self._act_outputs, *self._layer_outputs, *self._output_grad_norms):
            kept.clear()
        self._grad_norms: torch.Tensor | None = None
        self._weight_norms: torch.Tensor | None = None
        self._clipped_norm: torch.Tensor | None = None
        self._clipped = False

    # ------------------------------------------------------------ hooks

    def begin(self) -> None:
        """Start a collection: attach the hooks (forward and backward) unless
        the previous collection left them on for this one."""
        self._reset()
        self._collecting = True
        if self._handles:
            return
        cfg = self.config
        watch_acts = cfg.activations or cfg.dead_units
        act_of_layer = dict(zip(self._act_layer, range(len(self.acts)), strict=True))
        for index, (_name, module) in enumerate(self.layers):
            act_index = act_of_layer.get(index) if watch_acts else None
            # Where the block's output is its activation's output, one hook serves both.
            shared = act_index is not None and self._out_is_act[index]
            if act_index is not None and not shared:
                act = self.acts[act_index][1]
                self._handles.append(
                    act.register_forward_hook(self._activation_hook(act_index, act))
                )
            if cfg.activation_grads or shared:
                hook = self._layer_hook(index, module, act_index if shared else None)
                self._handles.append(module.register_forward_hook(hook))

    def detach(self) -> None:
        """Take the hooks off (and end any collection under way)."""
        self._collecting = False
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # Hooks keep references only: the statistics are taken in finish(), for all
    # layers at once. They ignore calls outside a collection (evaluation between
    # probed steps) and calls on copies of the module (deepcopy copies hooks).

    def _activation_hook(self, index: int, act: nn.Module):  # noqa: ANN202
        outputs = self._act_outputs[index]

        def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if self._collecting and module is act:
                outputs.append(output.detach())

        return hook

    def _layer_hook(self, index: int, layer: nn.Module, act_index: int | None):  # noqa: ANN202
        """Keeps the layer's output (as its activation's output when it is one,
        or for its std) and, in backward, the norm of dL/d(output)."""
        acts = self._act_outputs[act_index] if act_index is not None else None
        grads_wanted = self.config.activation_grads
        outputs = (
            self._layer_outputs[index] if grads_wanted and not self._out_is_act[index] else None
        )
        norms = self._output_grad_norms[index]

        def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if not self._collecting or module is not layer:
                return
            if acts is not None:
                acts.append(output.detach())
            if outputs is not None:
                outputs.append(output.detach())
            node = output.grad_fn
            if grads_wanted and node is not None:
                slot = output.output_nr

                def on_grad(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
                    # The norm now, while dL/dh is in cache; holding the gradient
                    # would keep it alive through the rest of backward.
                    if grad_outputs[slot] is not None:
                        norms.append(
                            torch.linalg.vector_norm(grad_outputs[slot], dtype=torch.float32)
                        )

                node.register_prehook(on_grad)  # a tensor hook, without its Python wrapper

        return hook

    # ------------------------------------------------------------ step phases

    def _grads(self) -> list[torch.Tensor]:
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def after_backward(self) -> torch.Tensor | None:
        """Gradient and weight norms before clipping (the gradient norms are
        returned: the trainer derives the global norm from them); a copy of the
        weights for the update ratio."""
        if not self.config.gradients:
            return None
        self._grad_norms = torch.stack(torch._foreach_norm(self._grads()))
        self._weight_norms = torch.stack(torch._foreach_norm(self.params))
        before = self._weights_before
        if len(before) != len(self.params) or before[0].device != self.params[0].device:
            self._weights_before = before = [torch.empty_like(p) for p in self.params]
        torch._foreach_copy_(before, self.params)
        return self._grad_norms

    @torch.no_grad()
    def after_clip(self, clipped: bool) -> None:
        self._clipped = clipped
        if self.config.gradients and clipped:
            norms = torch.stack(torch._foreach_norm(self._grads()))
            self._clipped_norm = torch.linalg.vector_norm(norms)

    @torch.no_grad()
    def finish(self, step: int, store: MetricStore | None = None) -> ProbeSnapshot:
        """Summarise this collection and bring it to the host in one transfer.
        The hooks stay on when the next step is probed too."""
        self._collecting = False
        if not self.wants(step + 1):
            self.detach()
        batch = _Transfer()
        if self._grad_norms is not None and self._weight_norms is not None:
            torch._foreach_sub_(self._weights_before, self.params)  # before - after
            batch.add("param_grad_norm", self._grad_norms)
            batch.add("param_weight_norm", self._weight_norms)
            batch.add("param_update_norm", torch.stack(torch._foreach_norm(self._weights_before)))
            if self._clipped_norm is not None:
                batch.add("clipped_norm", self._clipped_norm)
        grad_layers = [i for i, grads in enumerate(self._output_grad_norms) if grads]
        if grad_layers:
            norms = [g for i in grad_layers for g in self._output_grad_norms[i]]
            batch.add("out_grad_norms", torch.stack(norms))
        act_groups = self._summarise_activations(batch)
        out_groups = self._summarise_outputs(batch)
        arrays = batch.fetch()
        snap = self._snapshot(step, arrays, grad_layers, act_groups, out_groups)
        self.latest = snap
        if store is not None:
            record(store, snap)
        self._reset()
        return snap

    # ------------------------------------------------------------ summaries

    def _summarise_activations(self, batch: _Transfer) -> list[_Group]:
        """Moments, histograms, saturation counts and alive masks of the kept
        activation outputs, stacked by shape and spec."""
        cfg = self.config
        values, keyed = _by_shape(self._act_outputs, self._act_specs)
        groups, alive, layout = [], [], []
        for number, ((spec, shape, _dtype), members) in enumerate(keyed.items()):
            stacked = _stack([values[i] for i in members], self._work)
            flat = stacked.view(len(members), -1)
            groups.append(_Group(members, flat.shape[1]))
            if cfg.activations:
                mean = flat.mean(dim=1)
                batch.add(("act_mean", number), mean)
                batch.add(("act_cnorm", number), _centred_norms(flat, mean, self._work))
                hist = _histograms(flat, cfg.hist_bins, spec.lo, spec.hi, self._work)
                batch.add(("act_hist", number), hist)
                if spec.bounds is not None:
                    saturated = _saturated(flat, spec.bounds, self._work)
                    batch.add(("act_saturated", number), saturated)
            if spec.dead:  # positive anywhere: over the batch, and positions of a map
                alive.append(stacked.amax(dim=(1, *range(3, stacked.dim()))) > 0)
                layout += [(i, shape[1]) for i in members]
        if alive:
            alive_now = torch.cat([a.reshape(-1) for a in alive])
            if layout != self._alive_layout:  # first collection (or new shapes)
                self._alive_ring.clear()
                self._alive_layout = layout
            ring = self._alive_ring
            ring.append(alive_now)
            window = alive_now if len(ring) == 1 else torch.stack(list(ring)).any(dim=0)
            batch.add("dead_now", ~alive_now)
            batch.add("dead_window", ~window)
        return groups

    def _summarise_outputs(self, batch: _Transfer) -> list[_Group]:
        """Moments of layer outputs that are not an activation's output (heads,
        residual sums, pooled maps)."""
        values, keyed = _by_shape(self._layer_outputs, [None] * len(self._layer_outputs))
        groups = []
        for number, members in enumerate(keyed.values()):
            flat = _stack([values[i] for i in members], self._work).view(len(members), -1)
            groups.append(_Group(members, flat.shape[1]))
            batch.add(("out_cnorm", number), _centred_norms(flat, flat.mean(dim=1), self._work))
        return groups

    # ------------------------------------------------------------ host side

    def _per_layer(self, per_param: np.ndarray) -> np.ndarray:
        """Per-layer L2 norms from per-parameter ones."""
        # bincount, not a matrix product: numpy's BLAS took ~70 us for this
        # 21 x 42 product (thread start-up), bincount ~2 us
        squares = np.bincount(self._param_layer, per_param**2, minlength=len(self.layers))
        return np.sqrt(squares)

    def _snapshot(
        self,
        step: int,
        arrays: dict[object, np.ndarray],
        grad_layers: list[int],
        act_groups: list[_Group],
        out_groups: list[_Group],
    ) -> ProbeSnapshot:
        snap = ProbeSnapshot(step, self.layer_names, self.act_names, self.param_names)
        n_layers, n_acts = len(self.layers), len(self.acts)
        if "param_grad_norm" in arrays:
            grads = arrays["param_grad_norm"]
            snap.param_grad_norm = grads
            snap.grad_norm = self._per_layer(grads)
            snap.weight_norm = self._per_layer(arrays["param_weight_norm"])
            with np.errstate(divide="ignore", invalid="ignore"):
                snap.update_ratio = self._per_layer(arrays["param_update_norm"]) / snap.weight_norm
            snap.global_grad_norm = float(np.sqrt(np.sum(grads**2)))
            snap.clipped = self._clipped
            clipped = arrays.get("clipped_norm")
            snap.global_grad_norm_clipped = (
                float(clipped[0]) if clipped is not None else snap.global_grad_norm
            )
        if grad_layers:  # one norm per call; calls combine as a root sum of squares
            snap.act_grad_norm = np.full(n_layers, np.nan)
            calls = [len(self._output_grad_norms[i]) for i in grad_layers]
            squares = np.add.reduceat(arrays["out_grad_norms"] ** 2, np.cumsum([0, *calls[:-1]]))
            snap.act_grad_norm[grad_layers] = np.sqrt(squares)
        if self.config.activations and act_groups:
            snap.act_mean, snap.act_std = np.full(n_acts, np.nan), np.full(n_acts, np.nan)
            snap.saturation = np.full(n_acts, np.nan)
            bins = self.config.hist_bins
            for number, group in enumerate(act_groups):
                members = group.members
                snap.act_mean[members] = arrays[("act_mean", number)]
                snap.act_std[members] = arrays[("act_cnorm", number)] / np.sqrt(group.numel)
                saturated = arrays.get(("act_saturated", number))
                if saturated is not None:
                    snap.saturation[members] = saturated / group.numel
                hist = arrays[("act_hist", number)].reshape(len(members), bins)
                for row, index in enumerate(members):
                    snap.hist[self.act_names[index]] = hist[row]
            for index, spec in enumerate(self._act_specs):
                snap.hist_edges[self.act_names[index]] = _edges(spec.lo, spec.hi, bins)
        if out_groups or snap.act_std is not None:
            snap.output_std = np.full(n_layers, np.nan)
            for number, group in enumerate(out_groups):
                cnorm = arrays[("out_cnorm", number)]
                snap.output_std[group.members] = cnorm / np.sqrt(group.numel)
            if snap.act_std is not None:
                for act_index, layer_index in enumerate(self._act_layer):
                    if self._out_is_act[layer_index]:
                        snap.output_std[layer_index] = snap.act_std[act_index]
        if "dead_now" in arrays:
            snap.dead_fraction, snap.dead_now = np.full(n_acts, np.nan), np.full(n_acts, np.nan)
            layers = [index for index, _ in self._alive_layout]
            units = np.array([count for _, count in self._alive_layout])
            starts = np.cumsum(units) - units
            window = arrays["dead_window"]
            snap.dead_now[layers] = np.add.reduceat(arrays["dead_now"], starts) / units
            snap.dead_fraction[layers] = np.add.reduceat(window, starts) / units
            for index, start, count in zip(layers, starts, units, strict=True):
                snap.dead_map[self.act_names[index]] = window[start : start + count]
        return snap


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
    dwarfs the spread (sigmoid outputs near 0.5); var_mean was 10x slower."""
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
    (2x faster on the CPU)."""
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
    """Each value's first cell, full size: a same-shape add is 5x faster than
    broadcasting a (rows, 1, spread) one over small integers."""
    first = torch.arange(rows * spread, dtype=dtype, device=device) * bins
    return first.view(rows, 1, spread).expand(rows, numel // spread, spread).reshape(rows, numel)


def _saturated(flat: torch.Tensor, bounds: tuple[float, float], work: _Workspace) -> torch.Tensor:
    """Per row, the count of values below ``bounds[0]`` or above ``bounds[1]``."""
    below = torch.lt(flat, bounds[0], out=work.get("below", flat.shape, torch.bool, flat.device))
    above = torch.gt(flat, bounds[1], out=work.get("above", flat.shape, torch.bool, flat.device))
    return torch.count_nonzero(below.logical_or_(above), dim=1)


@functools.lru_cache(maxsize=64)
def _edges(lo: float, hi: float, bins: int) -> np.ndarray:
    edges = np.linspace(lo, hi, bins + 1)
    edges.flags.writeable = False
    return edges


def record(store: MetricStore, snap: ProbeSnapshot) -> None:
    """Append a snapshot to the metric store, one series per measurement."""
    step = snap.step
    per_layer = {
        "probe/grad_norm": snap.grad_norm,
        "probe/weight_norm": snap.weight_norm,
        "probe/update_ratio": snap.update_ratio,
        "probe/act_grad_norm": snap.act_grad_norm,
        "probe/output_std": snap.output_std,
    }
    for name, values in per_layer.items():
        if values is not None:
            store.append(name, step, values, snap.layer_names)
    per_act = {
        "probe/act_mean": snap.act_mean,
        "probe/act_std": snap.act_std,
        "probe/saturation": snap.saturation,
        "probe/dead_fraction": snap.dead_fraction,
        "probe/dead_now": snap.dead_now,
    }
    for name, values in per_act.items():
        if values is not None:
            store.append(name, step, values, snap.act_names)
    if snap.param_grad_norm is not None:
        store.append("probe/param_grad_norm", step, snap.param_grad_norm, snap.param_names)
        store.append(
            "probe/global_grad_norm",
            step,
            (snap.global_grad_norm, snap.global_grad_norm_clipped, float(snap.clipped)),
            ("before_clip", "after_clip", "clipped"),
        )
    for layer, counts in snap.hist.items():
        columns = _names("bin", len(counts))
        store.append(f"probe/hist/{layer}", step, counts, columns, capacity=HIST_CAPACITY)
    for layer, dead in snap.dead_map.items():
        columns = _names("unit", len(dead))
        store.append(f"probe/dead_map/{layer}", step, dead, columns, capacity=MAP_CAPACITY)


@functools.cache
def _names(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(count))
