"""Per-layer instruments: what happens inside each layer while a network trains.

On a collection step (every ``probes.every`` steps) hooks attach before the
forward pass and come off after the optimiser step; other steps pay nothing.
The hooks hand each tensor to a collector. On the CPU (with a C compiler) the
compiled one summarises it on the spot with ``probe_kernels`` while it is in
cache and keeps only running figures; elsewhere (a GPU) torch's collector
keeps references, summarises on the device after the step and brings
everything to the host in one transfer per collection. Tests hold both to
the same independent figures.

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
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lab import probe_kernels
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


NEVER = np.iinfo(np.int64).min // 2  # "last alive" of a unit not yet seen alive
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
    host in one copy (one sync on a GPU) and hands back numpy arrays, with the
    arrays the compiled CPU path ``put`` there directly."""

    def __init__(self) -> None:
        self.keys: list[object] = []
        self.tensors: list[torch.Tensor] = []
        self.host: dict[object, np.ndarray] = {}

    def add(self, key: object, tensor: torch.Tensor) -> None:
        self.keys.append(key)
        self.tensors.append(tensor.reshape(-1))

    def put(self, key: object, array: np.ndarray) -> None:
        self.host[key] = array

    def fetch(self) -> dict[object, np.ndarray]:
        if not self.tensors:
            return self.host
        device = self.tensors[0].device
        if device.type == "cpu":  # no transfer to save: each tensor to numpy, no concatenation
            arrays = [t.numpy().astype(np.float64) for t in self.tensors]
            return dict(zip(self.keys, arrays, strict=True)) | self.host
        flat = torch.cat(self.tensors, out=torch.empty(0, dtype=torch.float64, device=device))
        host = flat.cpu().numpy()
        ends = np.cumsum([t.numel() for t in self.tensors])
        return dict(zip(self.keys, np.split(host, ends[:-1]), strict=True)) | self.host


@dataclass
class _Figures:
    """One collection's per-layer figures on the host, whichever collector
    took them; NaN where a layer was not seen."""

    act_mean: np.ndarray  # per activation
    act_std: np.ndarray
    saturation: np.ndarray  # NaN where not sigmoid/tanh
    hist: np.ndarray | None  # (activations, bins)
    output_std: np.ndarray  # per layer, outputs that are not an activation's
    act_grad_norm: np.ndarray  # per layer, ||dL/dh||
    alive_layout: list[tuple[int, int]]  # (activation, units) of ReLU-family layers
    alive_now: np.ndarray | None  # those units one after another: positive on this batch


def _nan(*shape: int) -> np.ndarray:
    return np.full(shape, np.nan)


class _TorchCollector:
    """Any device, any dtype. The hooks keep references to the outputs
    (autograd holds most of them anyway) and take each dL/dh norm as a device
    scalar; ``gather`` then summarises layers of equal shape together, stacked,
    a few dozen tensor ops whatever the depth, for one transfer to the host."""

    def __init__(self, probes: Probes) -> None:
        self.config = probes.config
        self.specs = probes.act_specs
        self.n_layers = len(probes.layers)
        self.work = _Workspace()
        self.acts: list[list[torch.Tensor]] = [[] for _ in self.specs]
        self.outputs: list[list[torch.Tensor]] = [[] for _ in range(self.n_layers)]
        self.grad_norms: list[list[torch.Tensor]] = [[] for _ in range(self.n_layers)]
        self._act_groups: list[tuple[list[int], int]] = []
        self._out_groups: list[tuple[list[int], int]] = []
        self._layout: list[tuple[int, int]] = []

    def activation(self, index: int, output: torch.Tensor) -> None:
        self.acts[index].append(output.detach())

    def output(self, index: int, output: torch.Tensor) -> None:
        self.outputs[index].append(output.detach())

    def grad(self, index: int, grad: torch.Tensor) -> None:
        self.grad_norms[index].append(torch.linalg.vector_norm(grad, dtype=torch.float32))

    def reset(self) -> None:
        """Forget one collection: per layer, one entry per forward call
        (several with gradient accumulation)."""
        for kept in (*self.acts, *self.outputs, *self.grad_norms):
            kept.clear()

    def gather(self, batch: _Transfer) -> None:
        cfg, work = self.config, self.work
        values, keyed = _by_shape(self.acts, self.specs)
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
        values, keyed = _by_shape(self.outputs, [None] * self.n_layers)
        self._out_groups = []
        for number, members in enumerate(keyed.values()):
            flat = _stack([values[i] for i in members], work).view(len(members), -1)
            self._out_groups.append((members, flat.shape[1]))
            batch.add(("out_cnorm", number), _centred_norms(flat, flat.mean(dim=1), work))
        norms = [norm for calls in self.grad_norms for norm in calls]
        if norms:
            batch.add("out_grad_norms", torch.stack(norms))

    def figures(self, arrays: dict[object, np.ndarray]) -> _Figures:
        n_acts, bins = len(self.specs), self.config.hist_bins
        fig = _Figures(
            _nan(n_acts), _nan(n_acts), _nan(n_acts), None, _nan(self.n_layers),
            _nan(self.n_layers), self._layout, None,
        )  # fmt: skip
        if self.config.activations and self._act_groups:
            fig.hist = _nan(n_acts, bins)
            for number, (members, numel) in enumerate(self._act_groups):
                fig.act_mean[members] = arrays[("act_mean", number)]
                fig.act_std[members] = arrays[("act_cnorm", number)] / np.sqrt(numel)
                fig.hist[members] = arrays[("act_hist", number)].reshape(len(members), bins)
                saturated = arrays.get(("act_saturated", number))
                if saturated is not None:
                    fig.saturation[members] = saturated / numel
        for number, (members, numel) in enumerate(self._out_groups):
            fig.output_std[members] = arrays[("out_cnorm", number)] / np.sqrt(numel)
        calls = [len(norms) for norms in self.grad_norms]
        if any(calls):  # one norm per call; calls combine as a root sum of squares
            layers = [i for i, count in enumerate(calls) if count]
            starts = np.cumsum([0, *[calls[i] for i in layers[:-1]]])
            fig.act_grad_norm[layers] = np.sqrt(
                np.add.reduceat(arrays["out_grad_norms"] ** 2, starts)
            )
        if "alive_now" in arrays:
            fig.alive_now = arrays["alive_now"] > 0
        return fig


class _CompiledCollector:
    """The CPU with a C compiler. Each hook hands its tensor to probe_stats.c
    at once, while it is in cache, and only running per-layer figures stay:
    nothing is kept. Summarising a 20x128 MLP's activations this way costs
    ~0.4 ms a step; from the kept outputs after backward, which had left the
    L2 cache by then, it cost ~0.6 ms, and torch's ops ~1.6 ms."""

    def __init__(self, probes: Probes, kernels: probe_kernels.ProbeKernels) -> None:
        self.config = cfg = probes.config
        self.specs = probes.act_specs
        self.n_layers = len(probes.layers)
        stats = probe_kernels.HIST if cfg.activations else 0
        flags = [
            stats
            | (probe_kernels.SATURATION if spec.bounds and cfg.activations else 0)
            | (probe_kernels.ALIVE if spec.dead else 0)
            for spec in self.specs
        ]
        ranges = [(s.lo, s.hi, *(s.bounds or (0.0, 0.0))) for s in self.specs]
        self._bounded = np.array([spec.bounds is not None for spec in self.specs], dtype=bool)
        self.acts = probe_kernels.Accumulator(kernels, flags, ranges, cfg.hist_bins)
        plain = [0] * self.n_layers  # outputs and gradients: moments and squares only
        self.outputs = probe_kernels.Accumulator(kernels, plain, [(0.0,) * 4] * len(plain), 1)
        # what the hooks call (as _TorchCollector's methods), bound straight to the accumulators
        self.activation = self.acts.add
        self.output = self.outputs.add
        self.grad = self.outputs.add_squares

    def reset(self) -> None:
        self.acts.reset()
        self.outputs.reset()

    def gather(self, batch: _Transfer) -> None:
        pass  # the figures are on the host already

    def figures(self, arrays: dict[object, np.ndarray]) -> _Figures:
        acts, outputs = self.acts, self.outputs
        count, squares = acts.moments[:, 0], outputs.squares
        every = bool(count.all())  # the usual case: every layer seen, no masking
        fig = _Figures(
            act_mean=acts.moments[:, 1].copy() if every else _seen(acts.moments[:, 1], count),
            act_std=np.sqrt(
                acts.moments[:, 2] / count if every else _ratio(acts.moments[:, 2], count)
            ),
            saturation=_ratio(acts.saturated, count, self._bounded)
            if self._bounded.any()
            else _nan(len(count)),
            hist=None,
            output_std=np.sqrt(_ratio(outputs.moments[:, 2], outputs.moments[:, 0])),
            act_grad_norm=np.sqrt(_seen(squares[:, 0], squares[:, 1])),
            alive_layout=[],
            alive_now=None,
        )
        if self.config.activations and (every or count.any()):
            fig.hist = acts.hist.astype(np.float64) if every else _seen(acts.hist, count[:, None])
        alive = [(i, units) for i, units in enumerate(acts.alive) if units is not None]
        if alive:
            fig.alive_layout = [(i, len(units)) for i, units in alive]
            fig.alive_now = np.concatenate([units for _, units in alive]).view(bool)
        return fig


def _seen(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``values`` where ``count`` > 0, NaN elsewhere."""
    return np.where(count > 0, values, np.nan)


def _ratio(top: np.ndarray, bottom: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """top / bottom where bottom > 0 (and ``where``), NaN elsewhere."""
    keep = bottom > 0 if where is None else (bottom > 0) & where
    return np.divide(top, bottom, out=np.full(len(top), np.nan), where=keep)


class Probes:
    """Instruments for one model. ``begin()`` before the forward pass of a
    collection step, ``after_backward()`` before clipping, ``after_clip()``,
    then ``finish()`` after the optimiser step.

    Forward hooks hand each layer's output to a collector, backward hooks
    each dL/dh; on the CPU the compiled collector summarises them on the spot,
    elsewhere torch's collector keeps them for ``finish``."""

    def __init__(self, model: nn.Module, config: ProbesConfig) -> None:
        self.model = model
        self.config = config
        self.layers: list[tuple[str, nn.Module]] = model.named_layers()  # type: ignore[operator]
        self.layer_names = [name for name, _ in self.layers]
        self.acts = [(name, block.act) for name, block in self.layers if hasattr(block, "act")]
        self.act_names = [name for name, _ in self.acts]
        self._act_layer = [self.layer_names.index(name) for name in self.act_names]
        self.act_specs = [
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
        # layers whose output is their activation's: its std serves for both
        shared = [(a, i) for a, i in enumerate(self._act_layer) if self._out_is_act[i]]
        self._shared_acts = [a for a, _ in shared]
        self._shared_layers = [i for _, i in shared]
        self._hist_edges = {
            name: _edges(spec.lo, spec.hi, config.hist_bins)
            for name, spec in zip(self.act_names, self.act_specs, strict=True)
        }
        self._param_sizes = np.array([p.numel() for p in self.params], dtype=np.int64)
        self._params_compiled = False  # this step's parameter norms came from the kernels
        self._param_ptrs = probe_kernels.PointerCache()
        self._before_ptrs = probe_kernels.PointerCache()
        # Every ReLU-family layer's units in one vector laid out as ``_alive_layout``
        # (act, units); per unit the number of the last probed batch it was alive
        # on, of the ``_batches`` probed so far: dead over the window when that is
        # ``dead_window`` batches ago or more (or never), whatever the window's length.
        self._alive_layout: list[tuple[int, int]] = []
        self._last_alive = np.empty(0, dtype=np.int64)
        self._batches = 0
        self._dead_layers: list[int] = []  # the layout's layers, unit counts, offsets
        self._dead_units = self._dead_starts = np.empty(0, dtype=np.int64)
        self._dead_slices: list[tuple[str, slice]] = []  # each layer's part of the units
        # The compiled CPU path (probe_kernels), and the collectors made so far.
        self._kernels = probe_kernels.library()
        self._collectors: dict[str, _TorchCollector | _CompiledCollector] = {}
        self._collector: _TorchCollector | _CompiledCollector = self._collector_for("torch")
        self._weights_before: list[torch.Tensor] = []  # reused buffers
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._collecting = False  # hooks record only between begin() and finish()
        self._reset()
        self.latest: ProbeSnapshot | None = None

    def wants(self, step_number: int) -> bool:
        """Whether the step that will become ``step_number`` (1-based) is probed."""
        return self.config.enabled and step_number % self.config.every == 0

    def _collector_for(self, kind: str) -> _TorchCollector | _CompiledCollector:
        collector = self._collectors.get(kind)
        if collector is None:
            collector = self._collectors[kind] = (
                _CompiledCollector(self, self._kernels)  # type: ignore[arg-type]
                if kind == "compiled"
                else _TorchCollector(self)
            )
        return collector

    def _reset(self) -> None:
        """Forget what one collection gathered."""
        self._collector.reset()
        # per parameter: tensors on torch's path, host arrays from the kernels
        self._grad_norms: torch.Tensor | np.ndarray | None = None
        self._weight_norms: torch.Tensor | np.ndarray | None = None
        self._clipped_norm: torch.Tensor | np.ndarray | None = None
        self._clipped = False

    # ------------------------------------------------------------ hooks

    def begin(self) -> None:
        """Start a collection: choose the collector (compiled for a model on
        the CPU where the kernels built), attach the hooks (forward and
        backward) unless the previous collection left them on for this one."""
        on_cpu = not self.params or self.params[0].is_cpu
        kind = "compiled" if self._kernels is not None and on_cpu else "torch"
        self._collector = self._collector_for(kind)
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

    # Hooks ignore calls outside a collection (evaluation between probed steps)
    # and calls on copies of the module (deepcopy copies hooks).

    def _activation_hook(self, index: int, act: nn.Module):  # noqa: ANN202
        def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if self._collecting and module is act:
                self._collector.activation(index, output)

        return hook

    def _layer_hook(self, index: int, layer: nn.Module, act_index: int | None):  # noqa: ANN202
        """Hands over the layer's output (as its activation's output when it is
        one, or for its std) and, in backward, dL/d(output)."""
        grads_wanted = self.config.activation_grads
        own_output = grads_wanted and not self._out_is_act[index]

        def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if not self._collecting or module is not layer:
                return
            collector = self._collector
            if act_index is not None:
                collector.activation(act_index, output)
            if own_output:
                collector.output(index, output)
            node = output.grad_fn
            if grads_wanted and node is not None:
                slot = output.output_nr

                def on_grad(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
                    # Taken now, while dL/dh is in cache; holding the gradient
                    # would keep it alive through the rest of backward.
                    if grad_outputs[slot] is not None:
                        collector.grad(index, grad_outputs[slot])

                node.register_prehook(on_grad)  # a tensor hook, without its Python wrapper

        return hook

    # ------------------------------------------------------------ step phases

    def _compiled_params(self, grads: list[torch.Tensor | None]) -> bool:
        """Whether the kernels can read the parameters and ``grads`` as they are."""
        return self._kernels is not None and probe_kernels.usable([*self.params, *grads])

    @torch.no_grad()
    def after_backward(self) -> torch.Tensor | None:
        """Gradient and weight norms before clipping (the gradient norms are
        returned: the trainer derives the global norm from them); a copy of the
        weights for the update ratio."""
        if not self.config.gradients:
            return None
        before = self._weights_before
        if len(before) != len(self.params) or before[0].device != self.params[0].device:
            self._weights_before = before = [torch.empty_like(p) for p in self.params]
        grads = [p.grad for p in self.params]
        self._params_compiled = self._compiled_params(grads)
        if self._params_compiled:  # both norms and the copy in one pass
            self._grad_norms, self._weight_norms = self._kernels.param_norms(  # type: ignore[union-attr]
                grads, self._param_ptrs(self.params), self._before_ptrs(before), self._param_sizes
            )
            return torch.from_numpy(self._grad_norms)
        self._grad_norms = self._torch_grad_norms()
        self._weight_norms = torch.stack(torch._foreach_norm(self.params))
        torch._foreach_copy_(before, self.params)
        return self._grad_norms

    @torch.no_grad()
    def after_clip(self, clipped: bool) -> None:
        self._clipped = clipped
        if not (self.config.gradients and clipped):
            return
        if self._params_compiled:
            grads = [p.grad for p in self.params]
            norms = self._kernels.norms(grads, sizes=self._param_sizes)  # type: ignore[union-attr]
            self._clipped_norm = np.array([np.sqrt(np.sum(norms**2))])
        else:
            self._clipped_norm = torch.linalg.vector_norm(self._torch_grad_norms())

    def _torch_grad_norms(self) -> torch.Tensor:
        """||grad|| of every parameter by torch's ops (0 without a gradient)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        return torch.stack(torch._foreach_norm(grads))

    @torch.no_grad()
    def finish(self, step: int, store: MetricStore | None = None) -> ProbeSnapshot:
        """Summarise this collection and bring it to the host in one transfer.
        The hooks stay on when the next step is probed too."""
        self._collecting = False
        if not self.wants(step + 1):
            self.detach()
        batch = _Transfer()
        if self._grad_norms is not None and self._weight_norms is not None:
            before = self._weights_before
            if self._params_compiled:
                batch.put("param_grad_norm", self._grad_norms)  # type: ignore[arg-type]
                batch.put("param_weight_norm", self._weight_norms)  # type: ignore[arg-type]
                updates = self._kernels.norms(  # type: ignore[union-attr]
                    self._before_ptrs(before), self._param_ptrs(self.params), self._param_sizes
                )
                batch.put("param_update_norm", updates)
            else:
                batch.add("param_grad_norm", self._grad_norms)  # type: ignore[arg-type]
                batch.add("param_weight_norm", self._weight_norms)  # type: ignore[arg-type]
                torch._foreach_sub_(before, self.params)  # before - after
                batch.add("param_update_norm", torch.stack(torch._foreach_norm(before)))
            if isinstance(self._clipped_norm, np.ndarray):
                batch.put("clipped_norm", self._clipped_norm)
            elif self._clipped_norm is not None:
                batch.add("clipped_norm", self._clipped_norm)
        self._collector.gather(batch)
        arrays = batch.fetch()
        snap = self._snapshot(step, arrays, self._collector.figures(arrays))
        self.latest = snap
        if store is not None:
            record(store, snap)
        self._reset()
        return snap

    # ------------------------------------------------------------ host side

    def _per_layer(self, per_param: np.ndarray) -> np.ndarray:
        """Per-layer L2 norms from per-parameter ones."""
        # bincount, not a matrix product: numpy's BLAS took ~70 us for this
        # 21 x 42 product (thread start-up), bincount ~2 us
        squares = np.bincount(self._param_layer, per_param**2, minlength=len(self.layers))
        return np.sqrt(squares)

    def _snapshot(
        self, step: int, arrays: dict[object, np.ndarray], fig: _Figures
    ) -> ProbeSnapshot:
        snap = ProbeSnapshot(step, self.layer_names, self.act_names, self.param_names)
        if "param_grad_norm" in arrays:
            grads = arrays["param_grad_norm"]
            snap.param_grad_norm = grads
            snap.grad_norm = self._per_layer(grads)
            snap.weight_norm = self._per_layer(arrays["param_weight_norm"])
            updates = self._per_layer(arrays["param_update_norm"])
            snap.update_ratio = _ratio(updates, snap.weight_norm)
            snap.global_grad_norm = float(np.sqrt(np.dot(grads, grads)))
            snap.clipped = self._clipped
            clipped = arrays.get("clipped_norm")
            snap.global_grad_norm_clipped = (
                float(clipped[0]) if clipped is not None else snap.global_grad_norm
            )
        if self.config.activation_grads and not np.isnan(fig.act_grad_norm).all():
            snap.act_grad_norm = fig.act_grad_norm
        if fig.hist is not None:
            snap.act_mean, snap.act_std, snap.saturation = fig.act_mean, fig.act_std, fig.saturation
            seen = ~np.isnan(fig.hist[:, 0])  # layers not called this step have no histogram
            rows = zip(self.act_names, fig.hist, seen, strict=True)
            snap.hist = {name: hist for name, hist, called in rows if called}
            snap.hist_edges = dict(self._hist_edges)
            fig.output_std[self._shared_layers] = fig.act_std[self._shared_acts]
        if not np.isnan(fig.output_std).all():
            snap.output_std = fig.output_std
        if fig.alive_now is not None:
            self._add_dead_units(snap, fig.alive_layout, fig.alive_now)
        return snap

    def _add_dead_units(
        self, snap: ProbeSnapshot, layout: list[tuple[int, int]], alive_now: np.ndarray
    ) -> None:
        """Dead on this batch, and over the window: no positive output on any of
        the last ``dead_window`` probed batches, this one included."""
        if layout != self._alive_layout:  # first collection (or new shapes): count afresh
            self._alive_layout = layout
            self._last_alive = np.full(alive_now.shape, NEVER, dtype=np.int64)
            units = [count for _, count in layout]
            self._dead_layers = [index for index, _ in layout]
            self._dead_units = np.array(units)
            self._dead_starts = np.cumsum(units) - self._dead_units
            ends = np.cumsum(units).tolist()  # plain ints: slicing with them is quick
            self._dead_slices = [
                (self.act_names[index], slice(end - count, end))
                for (index, count), end in zip(layout, ends, strict=True)
            ]
        self._batches += 1
        self._last_alive[alive_now] = self._batches
        # dead over the window: last alive before its first batch (or never)
        window = (self._last_alive <= self._batches - self.config.dead_window).astype(np.float64)
        layers, units, starts = self._dead_layers, self._dead_units, self._dead_starts
        snap.dead_fraction, snap.dead_now = _nan(len(self.acts)), _nan(len(self.acts))
        snap.dead_now[layers] = 1.0 - np.add.reduceat(alive_now, starts) / units
        snap.dead_fraction[layers] = np.add.reduceat(window, starts) / units
        # np.split took 26 us for 20 layers, these slices ~3 us
        snap.dead_map = {name: window[part] for name, part in self._dead_slices}


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
