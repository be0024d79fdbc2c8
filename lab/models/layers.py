"""Building blocks with one module per activation and per norm, so hooks can
report every layer on its own (a shared or functional activation cannot be hooked
per place)."""

from __future__ import annotations

import math

import torch
from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}
_NAMES = {cls: name for name, cls in _ACTIVATIONS.items()}


def make_activation(name: str) -> nn.Module:
    return _ACTIVATIONS[name]()


def activation_name(module: nn.Module) -> str:
    """The config name of an activation module ("" for any other module)."""
    return _NAMES.get(type(module), "")


class ChannelRMSNorm(nn.Module):
    """RMS norm of a conv feature map over (C, H, W), with a scale per channel."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rms = x.pow(2).mean(dim=(1, 2, 3), keepdim=True).add(self.eps).rsqrt()
        return x * rms * self.weight.view(1, -1, 1, 1)


def make_norm(name: str, width: int, *, spatial: bool) -> nn.Module:
    if name == "none":
        return nn.Identity()
    if name == "batch":
        return nn.BatchNorm2d(width) if spatial else nn.BatchNorm1d(width)
    if name == "layer":  # GroupNorm with one group is LayerNorm over (C, H, W)
        return nn.GroupNorm(1, width) if spatial else nn.LayerNorm(width)
    if name == "rms":
        return ChannelRMSNorm(width) if spatial else nn.RMSNorm(width)
    raise AssertionError(name)  # pragma: no cover - config validates names


def branch_scale(mode: str, n_residual: int) -> nn.Module | float:
    """How a residual branch is scaled: 1, 1/sqrt(2N), or a ReZero scalar at 0."""
    if mode == "rezero":
        return nn.Parameter(torch.zeros(()))
    if mode == "inv_sqrt_2n":
        return 1.0 / math.sqrt(2 * max(n_residual, 1))
    return 1.0


class Block(nn.Module):
    """``transform -> [norm ->] activation [-> dropout] [-> pool]``, with an
    optional residual connection around it (before the pool).

    ``transform`` is a Linear (MLP) or Conv2d (CNN). With ``pre_norm`` a
    residual block's branch is ``norm -> activation -> transform [-> dropout]``:
    the pre-activation order of He et al. (2016) and pre-LN Transformers, whose
    branch ends in a weight layer (zero mean) instead of a ReLU (positive mean),
    so the residual stream does not drift. A non-residual block with
    ``pre_norm`` normalises its input: ``norm -> transform -> activation``.
    """

    def __init__(
        self,
        transform: nn.Module,
        norm: nn.Module,
        activation: nn.Module,
        *,
        dropout: float,
        spatial: bool,
        pre_norm: bool,
        residual: bool,
        scale: nn.Module | float = 1.0,
        pool: bool = False,
    ) -> None:
        super().__init__()
        self.transform = transform
        self.norm = norm
        self.act = activation
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.pre_norm = pre_norm
        self.residual = residual
        if isinstance(scale, nn.Parameter):
            self.branch_scale = scale
        else:
            self.register_buffer("branch_scale", torch.tensor(float(scale)), persistent=False)
        self.spatial = spatial
        # The layout, public (probes, summaries and the landscape's batched
        # passes read it): ``branch`` is the modules forward() calls, in order,
        # as a plain tuple; unused parts (Identity norm, dropout, pool) stay
        # registered for names and summaries but are skipped, and a tuple
        # avoids nn.Module's attribute lookup. Both cost microseconds per call,
        # ~5% of a small MLP's step. The activation is always called, even as
        # Identity: probes hook it. ``pooling`` is the pool after the block, or None.
        has_norm = not isinstance(norm, nn.Identity)
        if pre_norm and residual:  # pre-activation residual branch
            branch = [norm, activation, transform] if has_norm else [activation, transform]
        elif pre_norm:  # normalise the block's input, then the usual order
            branch = [norm, transform, activation] if has_norm else [transform, activation]
        else:
            branch = [transform, norm, activation] if has_norm else [transform, activation]
        if dropout > 0:
            branch.append(self.drop)
        self.branch: tuple[nn.Module, ...] = tuple(branch)
        self.pooling: nn.Module | None = self.pool if pool else None

    @property
    def output_is_activation(self) -> bool:
        """Whether the block's output is its activation's output (no dropout,
        residual add or pool after it): one measurement serves both."""
        return self.branch[-1] is self.act and not self.residual and self.pooling is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for module in self.branch:
            h = module(h)
        if self.residual:
            h = x + self.branch_scale * h
        return h if self.pooling is None else self.pooling(h)
