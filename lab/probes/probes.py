"""Per-layer instruments: what happens inside each layer while a network trains.

On a collection step (every ``probes.every`` steps) hooks attach before the
forward pass and come off after the optimiser step; other steps pay nothing.
The hooks hand each tensor to the collector (``collectors``, one interface):
torch's keeps references and summarises on the device after the step, with
one transfer to the host per collection, on every device; on the CPU, where
the kernels built, the compiled plug-in behind the same interface
summarises each tensor on the spot. Tests hold both to the same independent
figures.

Each collection's figures stay as a row of raw per-layer tables (counts,
sums, histograms, units seen alive, per-parameter norms); up to
``PENDING_ROWS`` rows become metric-store rows together, in one batch of
array operations (``rows``), when the table fills or anyone reads the
store (or ``latest``). Done one collection at a time, that host-side bookkeeping
(a hundred small numpy operations and fifty series appends) cost more than
all the kernels together: a probed step's caches are cold for Python.

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
  ``dead_window`` probed batches (``dead_units``). Units that die and units
  that revive both show.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from lab.core import wire
from lab.core.config import DEAD_UNIT_ACTIVATIONS, ProbesConfig, histogram_span
from lab.core.metrics import MetricStore
from lab.models.layers import Block, activation_name
from lab.probes.collectors import ActSpec, Collector, Transfer, collector_for
from lab.probes.dead_units import DeadUnits
from lab.probes.heads import HeadProbes
from lab.probes.rows import ProbeSnapshot, Rows, edges, ratio, where_seen

PENDING_ROWS = 32  # collections held before they become metric rows in one batch


def histogram_range(activation: nn.Module, config: ProbesConfig) -> tuple[float, float]:
    return histogram_span(activation_name(activation), config)


def layer_activation(layer: nn.Module) -> nn.Module | None:
    """The activation module a layer reports: a block's own, or the layer
    itself where it is one (a leaf of a model of the person's own)."""
    if hasattr(layer, "act"):
        return layer.act
    name = activation_name(layer)
    return layer if name and name != "identity" else None


def saturation_bounds(activation: nn.Module, level: float) -> tuple[float, float] | None:
    """Outputs below the first or above the second bound count as saturated."""
    if isinstance(activation, nn.Sigmoid):
        return 1.0 - level, level
    if isinstance(activation, nn.Tanh):
        return -level, level
    return None


class Probes:
    """Instruments for one model. ``begin()`` before the forward pass of a
    collection step, ``after_backward()`` before clipping, ``after_clip()``,
    then ``finish()`` after the optimiser step; ``latest`` is the last
    collection's snapshot.

    Forward hooks hand each layer's output to a collector, backward hooks
    each dL/dh; on the CPU the compiled collector summarises them on the spot,
    elsewhere torch's collector keeps them for ``finish``."""

    def __init__(
        self, model: nn.Module, config: ProbesConfig, store: MetricStore | None = None
    ) -> None:
        self.model = model
        self.config = config
        self.store = store  # where the figures go (only ``latest`` without one)
        self.layers: list[tuple[str, nn.Module]] = model.named_layers()  # type: ignore[operator]
        self.layer_names = [name for name, _ in self.layers]
        self.acts = [(name, act) for name, block in self.layers if (act := layer_activation(block))]
        self.act_names = [name for name, _ in self.acts]
        self._act_layer = [self.layer_names.index(name) for name in self.act_names]
        self.act_specs = [
            ActSpec(
                *histogram_range(act, config),
                saturation_bounds(act, config.saturation),
                config.dead_units and activation_name(act) in DEAD_UNIT_ACTIVATIONS,
            )
            for _, act in self.acts
        ]
        self._bounded = np.array([spec.bounds is not None for spec in self.act_specs], dtype=bool)
        # Where a block's output is its activation's output (no residual, dropout
        # or pool after it), the activation statistics serve for the output too.
        self._out_is_act = [isinstance(m, Block) and m.output_is_activation for _, m in self.layers]
        self.params: list[nn.Parameter] = []
        self.param_names: list[str] = []
        param_layer = []
        for index, (name, module) in enumerate(self.layers):
            for pname, param in module.named_parameters():
                if param.requires_grad:
                    self.params.append(param)
                    self.param_names.append(f"{name}.{pname}")
                    param_layer.append(index)
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        if {id(p) for p in self.params} != trainable or len(self.params) != len(trainable):
            # the global gradient norm is taken from these: every parameter, once
            raise ValueError("the model's named layers must hold each trainable parameter once")
        # per-layer sums of per-parameter squares: the layers with parameters, and
        # where each one's parameters start (they come layer by layer)
        self._param_layers = sorted(set(param_layer))
        self._param_starts = [param_layer.index(layer) for layer in self._param_layers]
        # layers whose output is their activation's: its std serves for both
        shared = [(a, i) for a, i in enumerate(self._act_layer) if self._out_is_act[i]]
        self._shared_acts = [a for a, _ in shared]
        self._shared_layers = [i for _, i in shared]
        self.hist_edges = {
            name: edges(spec.lo, spec.hi, config.hist_bins)
            for name, spec in zip(self.act_names, self.act_specs, strict=True)
        }
        # Collections gathered and not yet in the store: their steps, and per
        # parameter ||grad||, ||w|| and ||w_before - w_after|| (the per-layer
        # figures are in the collector's tables, the same rows).
        self._pending = 0
        self._steps = np.zeros(PENDING_ROWS, dtype=np.int64)
        self.norm_table = np.zeros((PENDING_ROWS, 3, len(self.params)))
        self.clipping_table = np.zeros((PENDING_ROWS, 2))  # clipped (1/0), norm after (or NaN)
        self._latest: ProbeSnapshot | None = None
        self.dead_units = DeadUnits(self.act_names, config.dead_window)
        self.heads = HeadProbes(model, PENDING_ROWS)  # attention heads (a Transformer's)
        # The collector for where the model is (made on the first collection, and
        # again if the model moves), and its hooks.
        self._collector: Collector | None = None
        self._collector_device: object = None
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._hooks: list[tuple[nn.Module, Callable]] | None = None  # the collector's
        self._collecting = False  # hooks record only between begin() and finish()

    def wants(self, step_number: int) -> bool:
        """Whether the step that will become ``step_number`` (1-based) is probed."""
        return self.config.enabled and step_number % self.config.every == 0

    @property
    def latest(self) -> ProbeSnapshot | None:
        """The last finished collection's figures."""
        self.flush()
        return self._latest

    @property
    def collector(self) -> Collector:
        """The collector for where the model is now (one per device)."""
        device = self.params[0].device if self.params else None
        if self._collector is None or device != self._collector_device:
            if self._collector is not None:
                self.flush()  # the pending rows are in the old collector's tables
                self.detach()  # the hooks hand their tensors to the old collector
            self._collector = collector_for(self, PENDING_ROWS)
            self._collector_device, self._hooks = device, None
        return self._collector

    # ------------------------------------------------------------ hooks

    def begin(self) -> None:
        """Start a collection: attach the hooks (forward and backward) unless
        the previous collection left them on for this one."""
        collector = self.collector
        row = self._pending
        collector.select(row)
        self.norm_table[row] = np.nan  # until measured
        self.clipping_table[row] = (0.0, np.nan)
        self._collecting = True
        self.heads.attach()
        if self._handles:
            return
        if self._hooks is None:  # made once per collector: attaching is then only registering
            self._hooks = self._make_hooks(collector)
        self._handles = [module.register_forward_hook(hook) for module, hook in self._hooks]

    def _make_hooks(self, collector: Collector) -> list[tuple[nn.Module, Callable]]:
        """The forward hooks of a collection, handing tensors to ``collector``."""
        cfg = self.config
        watch_acts = cfg.activations or cfg.dead_units
        act_of_layer = dict(zip(self._act_layer, range(len(self.acts)), strict=True))
        hooks: list[tuple[nn.Module, Callable]] = []
        for index, (_name, module) in enumerate(self.layers):
            act_index = act_of_layer.get(index) if watch_acts else None
            # Where the block's output is its activation's output, one hook serves both.
            shared = act_index is not None and self._out_is_act[index]
            if act_index is not None and not shared:
                act = self.acts[act_index][1]
                hooks.append((act, self._activation_hook(collector, act_index, act)))
            if cfg.activation_grads or shared:
                hook = self._layer_hook(collector, index, module, act_index if shared else None)
                hooks.append((module, hook))
        return hooks

    def detach(self) -> None:
        """Take the hooks off (and end any collection under way)."""
        self._collecting = False
        self.heads.detach()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # Hooks ignore calls outside a collection (evaluation between probed steps)
    # and calls on copies of the module (deepcopy copies hooks). Each hands its
    # tensor to the collector's sink for its layer, taken when it is attached.

    def _activation_hook(self, collector: Collector, index: int, act: nn.Module):  # noqa: ANN202
        add = collector.activation_sink(index)
        if getattr(self.model, "units_last", False):  # (batch, tokens, units): one row a token
            sink = add

            def add(output: torch.Tensor) -> None:
                sink(output.reshape(-1, output.shape[-1]))

        def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if self._collecting and module is act:
                add(output)

        return hook

    def _layer_hook(  # noqa: ANN202
        self, collector: Collector, index: int, layer: nn.Module, act_index: int | None
    ):
        """Hands over the layer's output (as its activation's output when it is
        one, or for its std) and, in backward, dL/d(output)."""
        add_act = None if act_index is None else collector.activation_sink(act_index)
        wants_grads = self.config.activation_grads
        add_output = (
            collector.output_sink(index) if wants_grads and not self._out_is_act[index] else None
        )
        add_grad = collector.grad_sink(index)
        taps: dict[int, Callable] = {}  # per output slot, the backward hook (one for every call)

        def tap(slot: int) -> Callable:
            def on_grad(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
                # Taken now, while dL/dh is in cache; holding the gradient
                # would keep it alive through the rest of backward.
                grad = grad_outputs[slot]
                if grad is not None:
                    add_grad(grad)

            return taps.setdefault(slot, on_grad)

        def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if not self._collecting or module is not layer:
                return
            if add_act is not None:
                add_act(output)
            if add_output is not None:
                add_output(output)
            if wants_grads and (node := output.grad_fn) is not None:
                slot = output.output_nr
                # a tensor hook, without its Python wrapper
                node.register_prehook(taps.get(slot) or tap(slot))

        return hook

    # ------------------------------------------------------------ step phases

    @torch.no_grad()
    def after_backward(self) -> torch.Tensor | None:
        """Gradient and weight norms before clipping (the gradient norms are
        returned: the trainer derives the global norm from them); a copy of the
        weights for the update ratio."""
        if not self.config.gradients:
            return None
        assert self._collector is not None  # (begin() chose it)
        return self._collector.before_step()

    @torch.no_grad()
    def after_clip(self, clipped: bool) -> None:
        self.clipping_table[self._pending, 0] = clipped
        if self.config.gradients and clipped:
            self._collector.after_clip()  # type: ignore[union-attr]

    @torch.no_grad()
    def finish(self, step: int) -> None:
        """End this collection: its figures become a row of the tables, which
        go to the store (and ``latest``) when they fill or the store is read.
        The hooks stay on when the next step is probed too."""
        self._collecting = False
        self.heads.detach()  # unprobed steps take the fused attention path
        if not self.wants(step + 1):
            self.detach()
        row = self._pending
        collector, batch = self._collector, Transfer()
        assert collector is not None
        collector.gather(batch)
        self.heads.gather(batch)
        arrays = batch.fetch()  # one transfer to the host for everything measured
        collector.write(arrays)
        self.heads.write(arrays, row)
        self._steps[row] = step
        self._pending += 1
        if self._pending == PENDING_ROWS:
            self.flush()
        elif self.store is not None:
            self.store.defer(self.flush)

    # ------------------------------------------------------------ host side

    def flush(self) -> None:
        """Turn the pending collections into store rows (and ``latest``)."""
        count, self._pending = self._pending, 0
        if not count:
            return
        rows = self._rows(count)
        if self.store is not None:
            rows.record(self.store, self)
        self._latest = rows.snapshot(self)

    def _per_layer(self, per_param: np.ndarray) -> np.ndarray:
        """Per-layer L2 norms (rows, layers) from per-parameter ones (rows, params)."""
        squares = np.zeros((len(per_param), len(self.layers)))
        if self._param_layers:  # sums over each layer's run of parameters
            squares[:, self._param_layers] = np.add.reduceat(
                per_param**2, self._param_starts, axis=1
            )
        return np.sqrt(squares)

    def _rows(self, n: int) -> Rows:
        """The first ``n`` rows of the tables as figures, all rows at once."""
        cfg = self.config
        collector = self._collector  # the one whose tables hold the rows
        assert collector is not None
        acts, outputs = collector.acts, collector.outputs
        rows = Rows(self._steps[:n].copy())
        if cfg.gradients:
            grads, weights, updates = self.norm_table[:n].transpose(1, 0, 2)
            rows.per_layer[wire.PROBE_GRAD_NORM] = self._per_layer(grads)
            weight_norm = rows.per_layer[wire.PROBE_WEIGHT_NORM] = self._per_layer(weights)
            rows.per_layer[wire.PROBE_UPDATE_RATIO] = ratio(self._per_layer(updates), weight_norm)
            rows.param_grad_norm = grads.copy()
            before = np.sqrt(np.sum(grads**2, axis=1))
            clipped, after = self.clipping_table[:n].T
            after = np.where(np.isnan(after), before, after)  # not clipped: unchanged
            rows.global_norm = np.column_stack([before, after, clipped])
        if cfg.activation_grads:
            squares = outputs.squares[:n]
            act_grad_norm = np.sqrt(where_seen(squares[..., 0], squares[..., 1]))
            if not np.isnan(act_grad_norm).all():
                rows.per_layer[wire.PROBE_ACT_GRAD_NORM] = act_grad_norm
        output_std = np.sqrt(ratio(outputs.moments[:n, :, 2], outputs.moments[:n, :, 0]))
        count = acts.moments[:n, :, 0]
        if cfg.activations and count.any():
            act_std = np.sqrt(ratio(acts.moments[:n, :, 2], count))
            rows.per_act[wire.PROBE_ACT_MEAN] = where_seen(acts.moments[:n, :, 1], count)
            rows.per_act[wire.PROBE_ACT_STD] = act_std
            rows.per_act[wire.PROBE_SATURATION] = ratio(acts.saturated[:n], count, self._bounded)
            output_std[:, self._shared_layers] = act_std[:, self._shared_acts]
            hist = acts.hist[:n].astype(np.float64)
            for index, name in enumerate(self.act_names):
                seen = count[:, index] > 0  # layers not called in a step have no histogram
                if seen.any():
                    rows.hist[name] = (seen, hist[seen, index])
        if not np.isnan(output_std).all():
            rows.per_layer[wire.PROBE_OUTPUT_STD] = output_std
        self.dead_units.add(rows, acts, n)
        self.heads.rows(rows, n)
        return rows
