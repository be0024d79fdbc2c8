"""Hand-batched forward passes of ``lab.models`` networks at many parameter
points at once (eval mode): an MLP as one batched matrix product per Linear
for all points, a CNN as one grouped convolution per conv, both faster than
``vmap`` of ``functional_call`` (bench/bench_landscape.py).

They read each block's public layout (``Block.branch``, ``Block.pooling``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from lab.landscape.directions import Params
from lab.models import Net
from lab.models.layers import ChannelRMSNorm

BatchedForward = Callable[[nn.Module, Params, Params, torch.Tensor, dict], torch.Tensor]


def batched_forward_for(model: nn.Module) -> BatchedForward | None:
    """The hand-batched forward pass for ``model``, or None (vmap then)."""
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
    W @ h^T: with 2 outputs that is faster than h @ W^T."""
    points = next(iter(stacked.values())).shape[0]
    h = x.unsqueeze(0).expand(points, -1, -1)

    def linear(prefix: str, h: torch.Tensor, relu: bool) -> torch.Tensor:
        # bmm, then the bias (and a following ReLU) in place in one pass:
        # baddbmm copies the bias into the output first and runs the GEMM
        # with beta = 1, slower for these 64-wide layers
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
        modules = block.branch
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
    channels, H, W), kept channels-last (faster convolutions and max-pooling
    than NCHW): each conv is one grouped convolution
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
        modules = block.branch
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
        if block.pooling is not None:
            h = block.pooling(h)
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
    raise TypeError(type(norm).__name__)  # pragma: no cover - batched_forward_for checks
