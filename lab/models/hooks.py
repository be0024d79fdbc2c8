"""Named hook points: places in a model's forward pass where a tensor can be
read by name (TransformerLens's idea). A ``HookPoint`` is an identity module,
so a forward hook on it sees the tensor that passes; the lab's Transformer
has them for each block's queries, keys and values, its attention scores and
pattern, and its residual stream before, between and after the sub-layers
(``block2.attn.hook_pattern``, ``block2.hook_resid_post``).

``collecting(model, {name: read})`` attaches readers for the length of a
``with`` block and always takes them off, whatever happens inside. Attention
computes its pattern explicitly only while someone reads it (or its scores);
otherwise it takes torch's fused kernel, which never forms the pattern.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn

Reader = Callable[[torch.Tensor], None]


class HookPoint(nn.Module):
    """An identity in the forward pass, named by where it sits in the model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def read(self) -> bool:
        """Whether anyone reads this point now (a hook is attached)."""
        return bool(self._forward_hooks)


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """Every hook point of ``model`` by name: below the lab's own layer names
    where the model has them (``block2.attn.hook_pattern``, as the probes
    name the block), else ``named_modules``' names."""
    named_layers = getattr(model, "named_layers", None)
    roots = named_layers() if named_layers is not None else [("", model)]
    points = {}
    for root, module in roots:
        for name, m in module.named_modules():
            if isinstance(m, HookPoint):
                points[".".join(part for part in (root, name) if part)] = m
    return points


@contextlib.contextmanager
def collecting(model: nn.Module, readers: Mapping[str, Reader]) -> Iterator[None]:
    """Call ``readers[name](tensor)`` each time the forward pass goes through
    hook point ``name``, inside the block; the hooks come off on the way out
    (also on an error). An unknown name is a ``KeyError`` listing the points."""
    points = hook_points(model)
    unknown = sorted(set(readers) - set(points))
    if unknown:
        raise KeyError(f"no hook point {unknown[0]!r}; the model has: {', '.join(points)}")
    handles = []
    try:
        for name, read in readers.items():
            handles.append(points[name].register_forward_hook(_hook(read)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _hook(read: Reader) -> Callable:
    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        read(output)

    return hook


def pattern_points(model: nn.Module) -> list[str]:
    """The names of the attention-pattern points, block by block."""
    return [name for name in hook_points(model) if name.endswith("hook_pattern")]


def explicit_attention(model: nn.Module) -> contextlib.AbstractContextManager[None]:
    """Attention computed as softmax(QK^T / sqrt(d)) V, reading nothing: for
    transforms that cannot go through torch's fused kernel (``vmap`` has no
    batching rule for it on the CPU; an exporter traces one kernel for every
    sequence length)."""
    return collecting(model, dict.fromkeys(pattern_points(model), _ignore))


def _ignore(_tensor: torch.Tensor) -> None:
    pass
