"""Loss landscapes around the current weights (Li et al., 2018, "Visualizing the
Loss Landscape of Neural Nets").

A 2-D landscape is L(theta + a*d1 + b*d2) on a regular grid of (a, b) in
[-span, span]^2; its centre (a = b = 0) is exactly the current weights.
Directions are dicts of tensors shaped like the parameters:

- ``random``: Gaussian;
- ``filter``: Gaussian, then each filter (a conv output channel, a Linear
  unit's incoming weights) rescaled to the norm of the same filter of the
  weights; 1-D parameters (biases, norm scales) zeroed, as Li et al. do;
- ``layer`` / ``model``: rescaled per parameter tensor / as a whole;
- ``pca``: the first two principal components of the recorded training
  trajectory (snapshots minus the current weights), orthogonal and of equal
  length, scaled so the path's farthest point lies at 1 / PCA_MARGIN on the
  axes: a span of 1 shows the whole path (unit directions put it ~15 units
  out, and a span-1 grid showed a sliver of it).

Evaluation is batched: many grid points per forward pass, in chunks that bound
the memory, on a fixed evaluation batch, with the model in eval mode (BatchNorm
uses the running statistics of the moment the landscape was asked for, dropout
is off). Plain MLPs (Linear layers with ReLU-family activations) go through a
compiled fused pass (``lab.fused_mlp``) that forms each grid point itself;
other MLPs and CNNs built by ``lab.models`` take hand-batched torch passes (one
batched matrix product, or one grouped convolution, per layer for all points),
as do plain MLPs where no C compiler is at hand; any other model goes through
``torch.func.functional_call`` under ``torch.vmap``.
The grid fills in progressively — every 4th point first, then every 2nd, then
the rest — with a progress callback that can cancel between chunks; what was
computed stays usable.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from lab import fused_mlp

Params = dict[str, torch.Tensor]
DIRECTION_KINDS = ("random", "filter", "layer", "model", "pca")


# ---------------------------------------------------------------- directions


def parameters_of(model: nn.Module) -> Params:
    return {name: p.detach() for name, p in model.named_parameters()}


def random_direction(params: Params, generator: torch.Generator) -> Params:
    return {
        name: torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        for name, p in params.items()
    }


def normalize_direction(direction: Params, params: Params, kind: str) -> Params:
    """Rescale ``direction`` to the scale of ``params`` (see the module doc)."""
    if kind == "random":
        return direction
    if kind == "model":
        d_norm = torch.sqrt(sum((d**2).sum() for d in direction.values()))
        w_norm = torch.sqrt(sum((w**2).sum() for w in params.values()))
        return {name: d * (w_norm / d_norm) for name, d in direction.items()}
    out = {}
    for name, d in direction.items():
        w = params[name]
        if kind == "layer":
            out[name] = d * (w.norm() / d.norm().clamp_min(1e-12))
        elif d.dim() <= 1:  # filter: biases and norm scales get no direction
            out[name] = torch.zeros_like(d)
        else:
            dims = tuple(range(1, d.dim()))
            w_norms = torch.linalg.vector_norm(w, dim=dims, keepdim=True)
            d_norms = torch.linalg.vector_norm(d, dim=dims, keepdim=True).clamp_min(1e-12)
            out[name] = d * (w_norms / d_norms)
    return out


def make_directions(params: Params, kind: str, seed: int) -> tuple[Params, Params]:
    """Two directions of ``kind`` (not ``pca``), reproducible from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    first = normalize_direction(random_direction(params, generator), params, kind)
    second = normalize_direction(random_direction(params, generator), params, kind)
    return first, second


def flatten(params: Params) -> torch.Tensor:
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten(vector: torch.Tensor, like: Params) -> Params:
    out, offset = {}, 0
    for name, p in like.items():
        out[name] = vector[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    return out


def pca_directions(snapshots: torch.Tensor, params: Params) -> tuple[Params, Params, np.ndarray]:
    """The plane of the first two principal components of the trajectory.

    ``snapshots`` is (steps, n_params), flattened like ``flatten(params)``;
    the trajectory is centred on the current weights, as Li et al. do. Returns
    two orthonormal directions and the share of variance each explains.
    """
    centred = (snapshots - flatten(params).to(snapshots)).double()
    _, singular, vt = torch.linalg.svd(centred, full_matrices=False)
    explained = (singular**2 / (singular**2).sum()).cpu().numpy()
    first = vt[0].to(snapshots.dtype)
    second = vt[1].to(snapshots.dtype) if vt.shape[0] > 1 else torch.zeros_like(first)
    return unflatten(first, params), unflatten(second, params), explained[:2]


PCA_MARGIN = 1.25  # PCA axes: the path reaches 0.8, so a span of 1 leaves room around it


def fit_to_path(d1: Params, d2: Params, path: np.ndarray) -> tuple[Params, Params, np.ndarray]:
    """Orthonormal directions lengthened alike (the picture keeps its
    proportions) so that the path's (a, b) coordinates, ``path`` in units of
    the given directions, reach at most 1 / PCA_MARGIN. Returns the
    directions and the path in the new units."""
    reach = float(np.abs(path).max()) if path.size else 0.0
    scale = PCA_MARGIN * reach if reach > 0 else 1.0
    return (
        {n: d * scale for n, d in d1.items()},
        {n: d * scale for n, d in d2.items()},
        path / scale,
    )


def direction_norm(direction: Params) -> float:
    """The length of a direction in weight space: one unit on its axis."""
    return float(torch.linalg.vector_norm(flatten(direction).double()))


def project(snapshots: torch.Tensor, params: Params, d1: Params, d2: Params) -> np.ndarray:
    """(a, b) coordinates of trajectory snapshots in the plane (least squares,
    exact when the directions are orthonormal or the point lies in the plane)."""
    basis = torch.stack([flatten(d1), flatten(d2)], dim=1).double()  # n x 2
    offsets = (snapshots - flatten(params).to(snapshots)).double()  # steps x n
    solution = torch.linalg.lstsq(basis, offsets.T).solution  # 2 x steps
    return solution.T.cpu().numpy()


# ---------------------------------------------------------------- evaluation


FUSED_CHUNK_MACS = 2.5e8  # multiply-adds per thread in one fused call: ~5 ms here
FUSED_CHUNK_MAX = 512


class LossEvaluator:
    """Loss of ``model`` at many parameter points at once, on a fixed batch.

    Plain MLPs run in the compiled fused pass (``lab.fused_mlp``; 1.5x faster
    than the torch pass below, ``fused=False`` turns it off). Models built by
    ``lab.models`` otherwise take a hand-batched forward pass: MLPs one ``bmm``
    per Linear for all points of a chunk (2.5-3x faster than vmap on this
    CPU), CNNs one grouped convolution per conv (2.5-3x faster than vmap at
    its best chunk size). Other models go through ``functional_call`` under
    ``vmap``. All are checked against a one-point-at-a-time loop in the tests.
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
        self._forward = _batched_forward_for(model)
        self._cache: dict = {}  # what a batched forward pass keeps between chunks
        self.fast = self._forward is not None and getattr(loss_fn, "reduction", None) == "mean"
        # MLPs the compiled fused pass can run (lab.fused_mlp), fp32 on the CPU
        self._plan = _fused_plan(model, x) if self.fast and fused else None
        self.fused = self._plan is not None
        if self.fast:  # the same loss per sample; the mean is taken per point
            self._per_sample = copy.copy(loss_fn)
            self._per_sample.reduction = "none"
        # Two-class cross-entropy depends on the logits only through their
        # difference: log(1 + exp(l_other - l_y)). The head then computes one
        # row (l1 - l0) instead of two, and the loss is one softplus: ~0.1 ms
        # of the ~2.3 ms a chunk of 12 points takes on this CPU.
        self._binary_sign = _binary_sign(model, loss_fn, y) if self.fast else None

    @contextlib.contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Eval mode (BatchNorm running stats, no dropout) for a whole surface;
        switching per chunk walks every module twice."""
        was_training = self.model.training
        self.model.eval()
        try:
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
        for the whole chunk, so its chunks are bounded by work instead: ~5 ms
        per thread on this CPU (the engine computes a chunk between training
        chunks of 1/60 s); fewer, longer calls spread their overhead (Python,
        packing, waking threads) thinner: 12 points per call took 13% longer
        than 48."""
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
    from lab.models import Net

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
    plan = fused_mlp.plan_for(model)
    return plan if plan is not None and fused_mlp.library() is not None else None


# (model, stacked parameters, buffers, inputs, a cache kept per evaluator) -> logits
BatchedForward = Callable[[nn.Module, Params, Params, torch.Tensor, dict], torch.Tensor]


def _batched_forward_for(model: nn.Module) -> BatchedForward | None:
    """The hand-batched forward pass for ``model``, or None (vmap then)."""
    from lab.models import Net
    from lab.models.layers import ChannelRMSNorm

    if not isinstance(model, Net):
        return None
    if not model.spatial:
        return _batched_mlp_forward
    for block in model.blocks:
        conv, norm = block.transform, block.norm
        plain_conv = isinstance(conv, nn.Conv2d) and conv.groups == 1
        if not plain_conv or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            return None
        if isinstance(norm, nn.BatchNorm2d) and norm.running_mean is None:
            return None  # eval mode would use the batch's statistics
        if not isinstance(norm, nn.Identity | nn.BatchNorm2d | nn.GroupNorm | ChannelRMSNorm):
            return None
        if isinstance(norm, nn.GroupNorm) and norm.num_groups != 1:
            return None
    return _batched_cnn_forward


def _batched_norm(
    norm: nn.Module, prefix: str, stacked: Params, buffers: Params, h: torch.Tensor
) -> torch.Tensor:
    """A norm layer (eval mode) whose affine parameters differ per point;
    running statistics from ``buffers`` (the evaluator's snapshot)."""
    import torch.nn.functional as F  # noqa: N812

    width = h.shape[-1]
    weight = stacked.get(prefix + "weight")
    bias = stacked.get(prefix + "bias")
    if isinstance(norm, nn.LayerNorm):
        h = F.layer_norm(h, (width,), eps=norm.eps)
    elif isinstance(norm, nn.RMSNorm):
        h = F.rms_norm(h, (width,), eps=norm.eps)
    elif isinstance(norm, nn.BatchNorm1d):
        mean, var = buffers[prefix + "running_mean"], buffers[prefix + "running_var"]
        h = (h - mean) / torch.sqrt(var + norm.eps)
    else:  # pragma: no cover - lab.models builds only these for MLPs
        raise TypeError(type(norm).__name__)
    if weight is not None:
        h = h * weight.unsqueeze(1)
    if bias is not None:
        h = h + bias.unsqueeze(1)
    return h


_FUSED_ADD_RELU = getattr(torch.ops.aten, "_add_relu_", None)  # looked up once, not per layer


def _add_relu_(out: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """relu(out + bias), in place, in one pass where torch has the fused op."""
    if _FUSED_ADD_RELU is not None:
        return _FUSED_ADD_RELU(out, bias)
    return out.add_(bias).relu_()


def _batched_mlp_forward(
    model: nn.Module, stacked: Params, buffers: Params, x: torch.Tensor, _cache: dict
) -> torch.Tensor:
    """``model`` (a ``lab.models.Net`` MLP, eval mode) at every point of the
    stack: (points, outputs, samples). The head is computed transposed,
    W @ h^T: with 2 outputs that is 2.5x faster than h @ W^T on this CPU."""
    points = next(iter(stacked.values())).shape[0]
    h = x.unsqueeze(0).expand(points, -1, -1)

    def linear(prefix: str, h: torch.Tensor, relu: bool) -> torch.Tensor:
        # bmm, then the bias (and a following ReLU) in place in one pass:
        # baddbmm copies the bias into the output first and runs the GEMM
        # with beta = 1, 10-25% slower for these 64-wide layers on this CPU
        weight, bias = stacked[prefix + "weight"].transpose(1, 2), stacked.get(prefix + "bias")
        if bias is not None and h.stride(0) == 0:
            # the inputs, shared by all points: a GEMM this narrow (2 inputs on
            # the toy sets) is all writing, and a bias copied in first costs less
            # than a second pass (~15% of the layer)
            out = torch.baddbmm(bias.unsqueeze(1), h, weight)
            return out.relu_() if relu else out
        out = torch.bmm(h, weight)
        if bias is None:
            return out.relu_() if relu else out
        return _add_relu_(out, bias.unsqueeze(1)) if relu else out.add_(bias.unsqueeze(1))

    for index, block in enumerate(model.blocks):
        prefix = f"blocks.{index}."
        branch = h
        modules = block._branch
        fused = False  # the activation was applied with the transform
        for position, module in enumerate(modules):
            if fused:
                fused = False
            elif module is block.transform:
                following = modules[position + 1] if position + 1 < len(modules) else None
                fused = type(following) is nn.ReLU
                branch = linear(prefix + "transform.", branch, relu=fused)
            elif module is block.norm:
                branch = _batched_norm(module, prefix + "norm.", stacked, buffers, branch)
            elif module is block.drop:
                continue  # eval mode: dropout is off
            else:
                branch = module(branch)  # activations are elementwise
        if block.residual:
            scale = stacked.get(prefix + "branch_scale")  # ReZero: a parameter per point
            scale = block.branch_scale if scale is None else scale.view(-1, 1, 1)
            branch = h + scale * branch
        h = branch
    weight, bias = stacked["head.weight"], stacked.get("head.bias")
    h = h.transpose(1, 2)
    return torch.bmm(weight, h) if bias is None else torch.baddbmm(bias.unsqueeze(2), weight, h)


def _batched_cnn_forward(
    model: nn.Module, stacked: Params, buffers: Params, x: torch.Tensor, cache: dict
) -> torch.Tensor:
    """``model`` (a ``lab.models.Net`` CNN, eval mode) at every point of the
    stack: (points, outputs, samples).

    The points' feature maps sit side by side as channels, (samples, points x
    channels, H, W), kept channels-last (1.6x faster convolutions and 5x faster
    max-pooling than NCHW on this CPU): each conv is one grouped convolution
    (groups = points) and pooling, activations and norms run on all points at
    once. A conv on the shared input is one matrix product of the input's
    patches (unfolded once per evaluation batch, kept in ``cache``) with every
    point's filters, which gives channels-last output directly. A BatchNorm
    right after a conv is folded into its filters."""
    points = next(iter(stacked.values())).shape[0]
    samples = x.shape[0]

    def per_point(h: torch.Tensor, shared: bool) -> torch.Tensor:
        # (samples, points x C, H, W); the shared input repeated for every point
        if not shared:
            return h
        return h.repeat(1, points, 1, 1).contiguous(memory_format=torch.channels_last)

    h, shared = x, True  # shared: one map for all points (the input)
    for index, block in enumerate(model.blocks):
        prefix = f"blocks.{index}."
        branch, branch_shared, fresh = h, shared, False  # fresh: ours to change in place
        modules = block._branch
        folded = False  # the norm went into the conv's filters
        for position, module in enumerate(modules):
            if folded:
                folded = False
            elif module is block.transform:
                weight = stacked[prefix + "transform.weight"]  # P x out x in x k x k
                bias = stacked.get(prefix + "transform.bias")
                following = modules[position + 1] if position + 1 < len(modules) else None
                folded = following is block.norm and isinstance(following, nn.BatchNorm2d)
                if folded:
                    weight, bias = _fold_batchnorm(
                        following, prefix + "norm.", stacked, buffers, weight, bias
                    )
                branch = _conv(module, branch, weight, bias, branch_shared, cache)
                branch_shared, fresh = False, True
            elif module is block.norm:
                branch = _batched_norm2d(
                    module, prefix + "norm.", stacked, buffers, per_point(branch, branch_shared)
                )
                branch_shared, fresh = False, True
            elif module is block.drop:
                continue  # eval mode: dropout is off
            elif fresh and type(module) is nn.ReLU:
                branch = branch.relu_()
            else:
                branch, fresh = module(branch), True  # activations are elementwise
        if block.residual:
            scale = stacked.get(prefix + "branch_scale")  # ReZero: a parameter per point
            scale = block.branch_scale if scale is None else scale.view(1, -1, 1, 1, 1)
            five = (samples, points, -1, *branch.shape[2:])
            branch = per_point(branch, branch_shared).view(five)
            base = h.unsqueeze(1) if shared else h.view(five)
            branch = (base + scale * branch).flatten(1, 2)
            branch_shared = False
        h, shared = branch, branch_shared
        if block._pool is not None:
            h = block._pool(h)
    h = per_point(h, shared).mean(dim=(2, 3))  # global average pool: samples x (P x C)
    h = h.view(samples, points, -1).permute(1, 2, 0)  # P x C x samples, a view
    weight, bias = stacked["head.weight"], stacked.get("head.bias")
    return torch.bmm(weight, h) if bias is None else torch.baddbmm(bias.unsqueeze(2), weight, h)


PATCHES_MAX_BYTES = 64 * 2**20  # unfolded input kept for a conv on the shared input


def _conv(
    conv: nn.Conv2d,
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    shared: bool,
    cache: dict,
) -> torch.Tensor:
    """Every point's filters (P x out x in x k x k) applied to ``h``: the shared
    input (all points see the same map) or (samples, P x in, H, W)."""
    import torch.nn.functional as F  # noqa: N812

    points, out_channels = weight.shape[:2]
    flat_weight = weight.reshape(points * out_channels, *weight.shape[2:])
    flat_bias = None if bias is None else bias.reshape(-1)
    if shared:
        patches = _patches(conv, h, cache)
        if patches is not None:
            cols, (samples, height, width) = patches
            rows = flat_weight.reshape(points * out_channels, -1).t()
            out = torch.mm(cols, rows) if flat_bias is None else torch.addmm(flat_bias, cols, rows)
            return out.view(samples, height, width, -1).permute(0, 3, 1, 2)  # channels-last
    out = F.conv2d(
        h,
        flat_weight,
        flat_bias,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=1 if shared else points,
    )
    return out.contiguous(memory_format=torch.channels_last)  # a no-op but on the input


def _patches(
    conv: nn.Conv2d, x: torch.Tensor, cache: dict
) -> tuple[torch.Tensor, tuple[int, int, int]] | None:
    """The input's k x k patches as rows (samples x H_out x W_out, in x k x k),
    unfolded once per evaluation batch; None where they would take too much memory."""
    import torch.nn.functional as F  # noqa: N812

    key = ("patches", id(conv), x.data_ptr(), tuple(x.shape))
    if key not in cache:
        samples, channels = x.shape[:2]
        kh, kw = conv.kernel_size
        out_h, out_w = (  # Conv2d's output size, one spatial axis at a time
            (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
            for size, pad, dilation, kernel, stride in zip(
                x.shape[2:], conv.padding, conv.dilation, conv.kernel_size, conv.stride, strict=True
            )
        )
        if 4 * samples * out_h * out_w * channels * kh * kw > PATCHES_MAX_BYTES:
            cache[key] = None
        else:
            cols = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)
            cols = cols.transpose(1, 2).reshape(samples * out_h * out_w, -1).contiguous()
            cache[key] = (cols, (samples, out_h, out_w))
    return cache[key]


def _fold_batchnorm(
    norm: nn.BatchNorm2d,
    prefix: str,
    stacked: Params,
    buffers: Params,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Filters and bias of conv-then-BatchNorm (eval mode) as one conv, per point:
    w * g / sqrt(var + eps) and (b - mean) * g / sqrt(var + eps) + beta."""
    gamma, beta = stacked.get(prefix + "weight"), stacked.get(prefix + "bias")
    mean, var = buffers[prefix + "running_mean"], buffers[prefix + "running_var"]
    scale = torch.rsqrt(var + norm.eps).expand(weight.shape[0], -1)  # P x out
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale if bias is None else (bias - mean) * scale
    if beta is not None:
        shift = shift + beta
    return weight * scale[:, :, None, None, None], shift


def _batched_norm2d(
    norm: nn.Module, prefix: str, stacked: Params, buffers: Params, h: torch.Tensor
) -> torch.Tensor:
    """A CNN norm layer (eval mode) on (samples, points x C, H, W), its affine
    parameters per point: BatchNorm with the running statistics repeated for
    every point, LayerNorm (GroupNorm with one group) as a GroupNorm with one
    group per point, RMS norm over each point's (C, H, W)."""
    import torch.nn.functional as F  # noqa: N812

    from lab.models.layers import ChannelRMSNorm

    points = next(iter(stacked.values())).shape[0]
    weight = stacked.get(prefix + "weight")
    bias = stacked.get(prefix + "bias")
    flat_weight = None if weight is None else weight.reshape(-1)
    flat_bias = None if bias is None else bias.reshape(-1)
    if isinstance(norm, nn.BatchNorm2d):
        mean = buffers[prefix + "running_mean"].repeat(points)
        var = buffers[prefix + "running_var"].repeat(points)
        return F.batch_norm(h, mean, var, flat_weight, flat_bias, False, 0.0, norm.eps)
    if isinstance(norm, nn.GroupNorm):
        return F.group_norm(h, points, flat_weight, flat_bias, norm.eps)
    if isinstance(norm, ChannelRMSNorm):  # splitting the channel axis is a view in any layout
        grouped = h.view(h.shape[0], points, -1, *h.shape[2:])
        rms = grouped.pow(2).mean(dim=(2, 3, 4), keepdim=True).add(norm.eps).rsqrt()
        return (grouped * rms).flatten(1, 2) * flat_weight.view(1, -1, 1, 1)
    raise TypeError(type(norm).__name__)  # pragma: no cover - _batched_forward_for checks


def chunk_size_for(
    params: Params,
    x: torch.Tensor,
    budget_bytes: int = 64 * 2**20,
    activation_bytes: int = 3 * 2**20,
) -> int:
    """Grid points per batched call: bounded by a memory budget for the stacked
    parameters and activations, and for flat inputs by one layer's activations
    for the whole chunk (~3 MB, so they stay in cache between layers): 12-16
    points for 1024 samples, ~100 for 128, where per-call overhead dominates
    and 16 points per call were 25% slower. Image inputs: as many points as
    keep one feature map of the chunk (counted at full resolution and the
    widest layer's channels) within the budget, 16 at most: 1 point for 1024
    16x16 images, 7 for 256, where 1-8 per call timed alike and 16 was 1.5x
    slower."""
    n_params = sum(p.numel() for p in params.values())
    widest = max(p.shape[0] for p in params.values())
    if x.dim() > 2:
        feature_map = 4 * x.shape[0] * widest * int(np.prod(x.shape[2:]))
        return int(max(1, min(16, budget_bytes // (feature_map + 4 * n_params))))
    per_point = 4 * (n_params + x.shape[0] * widest * 4)
    cap = max(1, activation_bytes // (4 * x.shape[0] * widest))
    return int(max(1, min(cap, budget_bytes // max(per_point, 1))))


def refinement_order(resolution: int) -> list[np.ndarray]:
    """Grid indices in passes: every 4th point (a coarse picture), then every
    2nd, then the rest; each index appears exactly once."""
    done = np.zeros((resolution, resolution), dtype=bool)
    passes = []
    for stride in (4, 2, 1):
        mask = np.zeros_like(done)
        mask[::stride, ::stride] = True
        mask[resolution // 2 :: stride, resolution // 2 :: stride] = (
            True  # always include the centre
        )
        mask[::stride, resolution // 2 :: stride] = True
        mask[resolution // 2 :: stride, ::stride] = True
        new = mask & ~done
        done |= new
        passes.append(np.argwhere(new))
    return passes


class Plane:
    """Points params + a*d1 + b*d2 for many (a, b) at once (or params + t*d
    along a line, with one direction): one small matmul over the flattened
    weights instead of three ops per parameter tensor."""

    def __init__(self, params: Params, *directions: Params) -> None:
        self.origin = flatten(params)
        # each direction flattened in the parameters' order, whatever its own
        self.basis = torch.stack([flatten({n: d[n] for n in params}) for d in directions])
        self._shapes = [(name, p.shape) for name, p in params.items()]
        self._sizes = [p.numel() for p in params.values()]

    def rows(self) -> Params:
        """The origin, then each direction, stacked like points."""
        return self._views(torch.cat([self.origin.unsqueeze(0), self.basis]))

    def points(self, ab: torch.Tensor) -> Params:
        """The points at coordinates ``ab`` (points x directions)."""
        return self._views(torch.addmm(self.origin.unsqueeze(0), ab, self.basis))

    def _views(self, flat: torch.Tensor) -> Params:
        """Each parameter's view of flat rows (rows x n)."""
        pieces = flat.split(self._sizes, dim=1)  # one call for all the views
        return {
            name: piece.view(-1, *shape)
            for (name, shape), piece in zip(self._shapes, pieces, strict=True)
        }


@dataclass
class Surface:
    alphas: np.ndarray  # resolution
    betas: np.ndarray  # resolution
    losses: np.ndarray  # resolution x resolution, [i, j] at (alphas[i], betas[j]); NaN = not yet
    complete: bool


ProgressCallback = Callable[[float, Surface], bool]  # returns False to cancel


def _losses_by_block(
    evaluator: LossEvaluator, plane: Plane, blocks: Iterator[np.ndarray], mode_per_chunk: bool
) -> Iterator[np.ndarray]:
    """The losses at each block of plane coordinates (points x directions), a
    batched call per block, in eval mode throughout or (``mode_per_chunk``)
    only while a block computes, so training can go on in between."""
    device = plane.origin.device
    whole = contextlib.nullcontext() if mode_per_chunk else evaluator.eval_mode()
    with whole:
        for block in blocks:
            coords = torch.as_tensor(block, dtype=torch.float32, device=device)
            with evaluator.eval_mode() if mode_per_chunk else contextlib.nullcontext():
                yield evaluator.on_plane(plane, coords).cpu().numpy()


def iter_surface(
    evaluator: LossEvaluator,
    params: Params,
    d1: Params,
    d2: Params,
    *,
    resolution: int = 41,
    span: float = 1.0,
    chunk: int | None = None,
    mode_per_chunk: bool = False,
) -> Iterator[tuple[float, Surface]]:
    """Fill a surface chunk by chunk, yielding (fraction done, partial surface)
    after each; the engine advances it between training steps
    (``mode_per_chunk``: eval mode only while a chunk computes)."""
    coords = np.linspace(-span, span, resolution)
    surface = Surface(
        coords, coords.copy(), np.full((resolution, resolution), np.nan), complete=False
    )
    chunk = chunk or evaluator.chunk_size(params)
    blocks = [  # grid indices, chunk by chunk, each refinement pass on its own
        indices[start : start + chunk]
        for indices in refinement_order(resolution)
        for start in range(0, len(indices), chunk)
    ]
    losses = _losses_by_block(
        evaluator, Plane(params, d1, d2), (coords[b] for b in blocks), mode_per_chunk
    )
    total, done = resolution * resolution, 0
    for block, values in zip(blocks, losses, strict=True):
        surface.losses[block[:, 0], block[:, 1]] = values
        done += len(block)
        surface.complete = done == total
        yield done / total, surface


def surface_2d(
    evaluator: LossEvaluator,
    params: Params,
    d1: Params,
    d2: Params,
    *,
    resolution: int = 41,
    span: float = 1.0,
    chunk: int | None = None,
    progress: ProgressCallback | None = None,
) -> Surface:
    """L(params + a*d1 + b*d2) on a ``resolution`` x ``resolution`` grid over
    [-span, span]^2, filled progressively. ``progress(fraction, partial)`` is
    called after every chunk; returning False stops the computation (the
    partial surface is returned with ``complete=False``)."""
    surface = None
    for fraction, surface in iter_surface(
        evaluator, params, d1, d2, resolution=resolution, span=span, chunk=chunk
    ):
        if progress is not None and progress(fraction, surface) is False:
            break
    assert surface is not None
    return surface


def iter_line(
    evaluator: LossEvaluator,
    start: Params,
    direction: Params,
    coords: np.ndarray,
    *,
    chunk: int | None = None,
    mode_per_chunk: bool = False,
) -> Iterator[tuple[float, np.ndarray]]:
    """L(start + t*direction) for each t in ``coords``, chunk by chunk, yielding
    (fraction done, the values so far; NaN = not yet) after each chunk."""
    chunk = chunk or evaluator.chunk_size(start)
    starts = range(0, len(coords), chunk)
    losses = _losses_by_block(
        evaluator,
        Plane(start, direction),
        (coords[i : i + chunk, None] for i in starts),
        mode_per_chunk,
    )
    values = np.full(len(coords), np.nan)
    for i, block in zip(starts, losses, strict=True):
        values[i : i + chunk] = block
        yield min(i + chunk, len(coords)) / len(coords), values


def line_1d(
    evaluator: LossEvaluator,
    start: Params,
    direction: Params,
    coords: np.ndarray,
    chunk: int | None = None,
) -> np.ndarray:
    """L(start + t*direction) for each t in ``coords`` (batched)."""
    *_, (_, values) = iter_line(evaluator, start, direction, coords, chunk=chunk)  # the last
    return values


LINE_POINTS, LINE_EXTEND = 41, 0.5  # t = -0.5 .. 1.5 in steps of 0.05: 0 and 1 are samples


def interpolation(
    evaluator: LossEvaluator,
    initial: Params,
    final: Params,
    points: int = LINE_POINTS,
    extend: float = LINE_EXTEND,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss on the straight line from the initial (t=0) to the current (t=1)
    weights, extended by ``extend`` on both sides (Goodfellow et al., 2015)."""
    coords, direction = straight_line(initial, final, points, extend)
    return coords, line_1d(evaluator, initial, direction, coords)


def straight_line(
    initial: Params, final: Params, points: int = LINE_POINTS, extend: float = LINE_EXTEND
) -> tuple[np.ndarray, Params]:
    """The line's coordinates t, -extend .. 1 + extend, and its direction
    final - initial (t = 0 is ``initial``, t = 1 ``final``)."""
    coords = np.linspace(-extend, 1 + extend, points)
    return coords, {name: final[name] - initial[name] for name in final}


def matmul_flops(model: nn.Module, n_points: int) -> float:
    """Multiply-add FLOPs of one forward pass of an MLP over ``n_points``."""
    flops = 0.0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            flops += 2.0 * module.in_features * module.out_features * n_points
    return flops


# ---------------------------------------------------------------- trainer level


@dataclass
class Landscape:
    surface: Surface
    kind: str
    seed: int
    center_loss: float  # the model's loss at the current weights, same batch
    trajectory: np.ndarray  # (snapshots, 2): the training path in the plane
    trajectory_steps: np.ndarray
    explained: np.ndarray | None  # PCA: variance share of the two components
    n_points: int
    line_t: np.ndarray  # the straight line from the initial (t=0) to the current (t=1) weights
    line_losses: np.ndarray  # NaN = not yet computed
    direction_norms: tuple[float, float]  # |d1|, |d2| in weight space: one unit on each axis


def evaluation_batch(trainer, n_points: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """The first ``n_points`` training samples: fixed, so pictures compare."""
    return trainer.x_train[:n_points], trainer.y_train[:n_points]


class LandscapeJob:
    """A landscape around the weights at the moment it was asked for, computed
    a chunk at a time (``advance()``), so training can go on in between: the
    grid (coarse first), then the straight line from the initial weights."""

    def __init__(
        self,
        trainer,  # noqa: ANN001
        *,
        kind: str = "filter",
        resolution: int = 41,
        span: float = 1.0,
        n_points: int = 1024,
        seed: int = 0,
        mode_per_chunk: bool = True,
    ) -> None:
        if kind not in DIRECTION_KINDS:
            raise ValueError(f"direction kind {kind!r} is not one of {', '.join(DIRECTION_KINDS)}")
        self.step = trainer.step_count
        params = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        x, y = evaluation_batch(trainer, n_points)
        evaluator = LossEvaluator(trainer.model, trainer.loss_fn, x, y)
        evaluator.buffers = {n: b.detach().clone() for n, b in trainer.model.named_buffers()}
        snapshots = torch.stack(trainer.trajectory).to(next(iter(params.values())).device)
        explained = None
        if kind == "pca":
            if snapshots.shape[0] < 3:
                raise ValueError(
                    "PCA directions need a training path: train a few dozen steps first"
                )
            d1, d2, explained = pca_directions(snapshots, params)
            d1, d2, path = fit_to_path(d1, d2, project(snapshots, params, d1, d2))
        else:
            d1, d2 = make_directions(params, kind, seed)
            path = project(snapshots, params, d1, d2)
        with evaluator.eval_mode():
            center = evaluator.single(params)
        initial = {n: trainer.initial_params[n].to(p.device) for n, p in params.items()}
        line_t, line_direction = straight_line(initial, params)
        self.result = Landscape(
            surface=Surface(
                np.linspace(-span, span, resolution),
                np.linspace(-span, span, resolution),
                np.full((resolution, resolution), np.nan),
                complete=False,
            ),
            kind=kind,
            seed=seed,
            center_loss=center,
            trajectory=path,
            trajectory_steps=np.asarray(trainer.trajectory_steps),
            explained=explained,
            n_points=int(x.shape[0]),
            line_t=line_t,
            line_losses=np.full(len(line_t), np.nan),
            direction_norms=(direction_norm(d1), direction_norm(d2)),
        )
        self.fraction = 0.0
        self.complete = False  # the grid and the line
        grid = iter_surface(
            evaluator,
            params,
            d1,
            d2,
            resolution=resolution,
            span=span,
            mode_per_chunk=mode_per_chunk,
        )
        line = iter_line(evaluator, initial, line_direction, line_t, mode_per_chunk=mode_per_chunk)
        self._chunks = self._steps(grid, line, resolution * resolution, len(line_t))

    def _steps(
        self,
        grid: Iterator[tuple[float, Surface]],
        line: Iterator[tuple[float, np.ndarray]],
        grid_points: int,
        line_points: int,
    ) -> Iterator[None]:
        total = grid_points + line_points
        for fraction, surface in grid:
            self.result.surface = surface
            self.fraction = fraction * grid_points / total
            yield
        for fraction, values in line:
            self.result.line_losses = values
            self.fraction = (grid_points + fraction * line_points) / total
            self.complete = fraction >= 1.0
            yield

    def advance(self) -> bool:
        """Compute one chunk; False when the grid and the line are complete."""
        try:
            next(self._chunks)
        except StopIteration:
            return False
        if self.complete:
            self.close()
        return not self.complete

    def close(self) -> None:
        """Stop here: the chunk generators leave eval mode now, not when the
        garbage collector gets to them (they and the job refer to each other)."""
        self._chunks.close()

    def run(self, progress: ProgressCallback | None = None) -> Landscape:
        try:
            while self.advance():
                if progress is not None and progress(self.fraction, self.result.surface) is False:
                    break
        finally:
            self.close()
        if progress is not None and self.complete:
            progress(1.0, self.result.surface)
        return self.result


def landscape_for(trainer, **options) -> Landscape:  # noqa: ANN001, ANN003
    """Compute a whole landscape now (options as ``LandscapeJob``)."""
    progress = options.pop("progress", None)
    return LandscapeJob(trainer, mode_per_chunk=False, **options).run(progress)
