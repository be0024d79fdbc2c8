"""The loss of a model at many parameter points at once, on a fixed batch:
the compiled fused pass for plain MLPs, hand-batched torch passes for the
MLPs and CNNs of ``lab.models``, ``vmap`` of ``functional_call`` for anything
else. Always in eval mode (BatchNorm's running statistics, no dropout)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from lab.landscape.batched import batched_forward_for
from lab.landscape.directions import Params
from lab.models import Net
from lab.models.hooks import explicit_attention
from lab.native import fused_mlp

if TYPE_CHECKING:
    from lab.landscape.plane import Plane

FUSED_CHUNK_MACS = 2.5e8  # multiply-adds per thread in one fused call: ~5 ms here
FUSED_CHUNK_MAX = 512


class LossEvaluator:
    """Loss of ``model`` at many parameter points at once, on a fixed batch.

    Plain MLPs run in the compiled fused pass (``lab.native.fused_mlp``, faster
    than the torch pass below; ``fused=False`` turns it off). Models built by
    ``lab.models`` otherwise take a hand-batched forward pass: MLPs one ``bmm``
    per Linear for all points of a chunk, CNNs one grouped convolution per
    conv (both faster than vmap; bench/bench_landscape.py times all three).
    Other models go through ``functional_call`` under ``vmap``. All are
    checked against a one-point-at-a-time loop in the tests.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        fused: bool = True,
    ) -> None:
        self.model, self.loss_fn, self.x, self.y = model, loss_fn, x, y
        self.buffers = {name: b.detach() for name, b in model.named_buffers()}

        def one(params: Params) -> torch.Tensor:
            out = functional_call(self.model, (params, self.buffers), (self.x,))
            return self.loss_fn(out.float(), self.y)

        self._one = one
        self._batched = torch.vmap(one)
        self._forward = batched_forward_for(model)
        self._cache: dict = {}  # what a batched forward pass keeps between chunks
        self.fast = self._forward is not None and getattr(loss_fn, "reduction", None) == "mean"
        # MLPs the compiled fused pass can run (lab.native.fused_mlp), fp32 on the CPU
        self._plan = _fused_plan(model, x) if self.fast and fused else None
        self.fused = self._plan is not None
        if self.fast:  # the same loss per sample; the mean is taken per point
            self._per_sample = copy.copy(loss_fn)
            self._per_sample.reduction = "none"
        # Two-class cross-entropy depends on the logits only through their
        # difference: log(1 + exp(l_other - l_y)). The head then computes one
        # row (l1 - l0) instead of two, and the loss is one softplus.
        self._binary_sign = _binary_sign(model, loss_fn, y) if self.fast else None

    @contextlib.contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Eval mode (BatchNorm running stats, no dropout) for a whole surface;
        switching per chunk walks every module twice. Attention takes its
        explicit path meanwhile: vmap has no batching rule for the fused one
        on the CPU and would run it point by point."""
        was_training = self.model.training
        self.model.eval()
        try:
            with explicit_attention(self.model):
                yield
        finally:
            self.model.train(was_training)

    @torch.no_grad()
    def __call__(self, stacked: Params) -> torch.Tensor:
        """Losses for a stack of parameter points (leading axis = points)."""
        with contextlib.nullcontext() if not self.model.training else self.eval_mode():
            if not self.fast:
                return self._batched(stacked)
            stacked = self._head_difference(stacked)
            if self._plan is not None:
                with fused_mlp.torch_single_threaded() as threads:
                    layout, packed = fused_mlp.pack(self._plan, stacked, self.x.shape[1])
                    return self._losses(fused_mlp.run(layout, self.x, packed, threads=threads))
            assert self._forward is not None
            return self._losses(
                self._forward(self.model, stacked, self.buffers, self.x, self._cache)
            )

    @torch.no_grad()
    def on_plane(self, plane: Plane, coords: torch.Tensor) -> torch.Tensor:
        """Losses at the plane's points for ``coords`` (points x directions).
        The fused pass forms each point itself, from the plane packed once."""
        if self._plan is None:
            return self(plane.points(coords))
        cached = self._cache.get("plane")  # (plane, its layout, its packed rows)
        if cached is None or cached[0] is not plane:
            rows = self._head_difference(plane.rows())
            cached = self._cache["plane"] = (
                plane,
                *fused_mlp.pack(self._plan, rows, self.x.shape[1]),
            )
        _, layout, packed = cached
        with fused_mlp.torch_single_threaded() as threads:
            outputs = fused_mlp.run(layout, self.x, packed, coords=coords, threads=threads)
            return self._losses(outputs)

    def _head_difference(self, stacked: Params) -> Params:
        """For two-class cross-entropy, the head's two rows replaced by their
        difference (l1 - l0, one output); else ``stacked`` as it is."""
        if self._binary_sign is None:
            return stacked
        weight, bias = stacked["head.weight"], stacked.get("head.bias")
        stacked = dict(stacked, **{"head.weight": weight[:, 1:] - weight[:, :1]})
        if bias is not None:
            stacked["head.bias"] = bias[:, 1:] - bias[:, :1]
        return stacked

    def _losses(self, outputs: torch.Tensor) -> torch.Tensor:
        """Mean loss per point from the outputs (points x outputs x samples).
        Two-class cross-entropy from the logit difference d = l1 - l0: the
        loss of a sample is softplus(d) for class 0 and softplus(-d) for
        class 1 (log-sum-exp minus the true logit)."""
        logits = outputs.float()
        points = logits.shape[0]
        if self._binary_sign is not None:
            signed = logits.reshape(points, -1) * self._binary_sign
            return torch.nn.functional.softplus(signed).mean(dim=1)
        if isinstance(self.loss_fn, nn.CrossEntropyLoss) and self.y.dim() == 1:
            # (points, classes, samples) is cross-entropy's own layout: no copy
            per_sample = self._per_sample(logits, self.y.expand(points, -1))
        else:
            target = self.y.expand(points, *self.y.shape)
            per_sample = self._per_sample(logits.transpose(1, 2), target)
        return per_sample.reshape(points, -1).mean(dim=1)

    def chunk_size(self, params: Params) -> int:
        """Grid points per batched call. The fused pass keeps no activations
        for the whole chunk, so its chunks are bounded by work instead: a few
        milliseconds per thread (the engine computes a chunk between training
        chunks of 1/60 s); fewer, longer calls spread their overhead (Python,
        packing, waking threads) thinner."""
        if not self.fused:
            return chunk_size_for(params, self.x)
        macs = sum(p.numel() for p in params.values() if p.dim() > 1)  # per sample
        work = FUSED_CHUNK_MACS * torch.get_num_threads() / max(1, macs * self.x.shape[0])
        return int(max(1, min(FUSED_CHUNK_MAX, work)))

    @torch.no_grad()
    def single(self, params: Params) -> float:
        """The loss at one point, by the same pass as the grid's (so the centre
        reported equals the grid's centre to the last bit)."""
        if self.fast:
            return float(self({name: p.unsqueeze(0) for name, p in params.items()})[0])
        with self.eval_mode():
            return float(self._one(params))


def _binary_sign(model: nn.Module, loss_fn: Callable, y: torch.Tensor) -> torch.Tensor | None:
    """+1 for class 0 and -1 for class 1, where the loss is plain two-class
    cross-entropy on an MLP's two logits (no class weights, no label
    smoothing, every label 0 or 1); else None."""
    if not (
        isinstance(model, Net) and not model.spatial and isinstance(loss_fn, nn.CrossEntropyLoss)
    ):
        return None
    head = model.head
    plain = loss_fn.weight is None and loss_fn.label_smoothing == 0.0
    if not (plain and isinstance(head, nn.Linear) and head.out_features == 2 and y.dim() == 1):
        return None
    if y.dtype.is_floating_point or not bool(((y == 0) | (y == 1)).all()):
        return None
    return 1.0 - 2.0 * y.float()


def _fused_plan(model: nn.Module, x: torch.Tensor) -> fused_mlp.Plan | None:
    """The fused pass's description of ``model``, where it can run it: an MLP
    of Linear layers and ReLU-family activations, fp32 on the CPU, on a
    machine where the kernel could be built."""
    tensors = [x, *model.parameters()]
    if not all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors):
        return None
    plan = fused_plan_for(model)
    return plan if plan is not None and fused_mlp.library() is not None else None


# (model, stacked parameters, buffers, inputs, a cache kept per evaluator) -> logits


def chunk_size_for(
    params: Params,
    x: torch.Tensor,
    budget_bytes: int = 64 * 2**20,
    activation_bytes: int = 3 * 2**20,
) -> int:
    """Grid points per batched call: bounded by a memory budget for the stacked
    parameters and activations, and for flat inputs by one layer's activations
    for the whole chunk (~3 MB, so they stay in cache between layers): 12-16
    points for 1024 samples, ~100 for 128, where per-call overhead dominates.
    Image inputs: as many points as keep one feature map of the chunk
    (counted at full resolution and the widest layer's channels) within the
    budget, 16 at most: 1 point for 1024 16x16 images, 7 for 256."""
    n_params = sum(p.numel() for p in params.values())
    widest = max(p.shape[0] for p in params.values())
    if x.dim() > 2:
        feature_map = 4 * x.shape[0] * widest * int(np.prod(x.shape[2:]))
        return int(max(1, min(16, budget_bytes // (feature_map + 4 * n_params))))
    per_point = 4 * (n_params + x.shape[0] * widest * 4)
    cap = max(1, activation_bytes // (4 * x.shape[0] * widest))
    return int(max(1, min(cap, budget_bytes // max(per_point, 1))))


def matmul_flops(model: nn.Module, n_points: int) -> float:
    """Multiply-add FLOPs of one forward pass of an MLP over ``n_points``."""
    flops = 0.0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            flops += 2.0 * module.in_features * module.out_features * n_points
    return flops


def fused_plan_for(model: nn.Module) -> fused_mlp.Plan | None:
    """The fused kernel's description of a plain ``lab.models`` MLP (Linear
    layers with ReLU, leaky ReLU or no activation, no norm, no residual), or None."""
    if not isinstance(model, Net) or model.spatial or not isinstance(model.head, nn.Linear):
        return None
    weights, biases, acts = [], [], []
    for index, block in enumerate(model.blocks):
        modules = [m for m in block.branch if m is not block.drop]
        act = _activation(block.act)
        plain = modules == [block.transform, block.act] and isinstance(block.transform, nn.Linear)
        if not plain or block.residual or act is None:
            return None
        weights.append(f"blocks.{index}.transform.weight")
        biases.append(
            f"blocks.{index}.transform.bias" if block.transform.bias is not None else None
        )
        acts.append(act)
    weights.append("head.weight")
    biases.append("head.bias" if model.head.bias is not None else None)
    acts.append((fused_mlp.NONE, 0.0))
    return fused_mlp.Plan(tuple(weights), tuple(biases), tuple(acts))


def _activation(module: nn.Module) -> tuple[int, float] | None:
    """The kernel's (kind, slope) of an activation module, or None."""
    if isinstance(module, nn.LeakyReLU):
        return (fused_mlp.LEAKY, float(module.negative_slope))
    if isinstance(module, nn.ReLU):
        return (fused_mlp.RELU, 0.0)
    return (fused_mlp.NONE, 0.0) if isinstance(module, nn.Identity) else None
