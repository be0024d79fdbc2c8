"""Causal self-attention, computed two ways: torch's fused
``scaled_dot_product_attention`` for speed, and the explicit
softmax(QK^T / sqrt(d_k)) V whenever someone reads the scores or the pattern
at their hook points (``lab.models.hooks``: the attention view, probe
steps): tests hold the two equal. Queries, keys and values pass hook points
of their own (after RoPE).

Keys and values may have fewer heads than queries: ``kv_heads == heads`` is
multi-head attention, a divisor grouped-query (GQA), 1 multi-query (MQA);
each key-value head serves ``heads / kv_heads`` query heads.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from lab.models.hooks import HookPoint


class KVCache(Protocol):
    """What attention needs of a key-value cache (``lab.generate`` has them)."""

    def update(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys and values (batch, kv_heads, new, head_dim)
        for ``layer``; return all of them so far."""
        ...


class Rotary(nn.Module):
    """Rotary position embeddings (Su et al., RoFormer): each pair of a head's
    dimensions turned by an angle that grows with the position, so q·k
    depends on how far apart two tokens are."""

    def __init__(self, head_dim: int, context: int, base: float = 10000.0) -> None:
        super().__init__()
        freqs = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(context, dtype=torch.float32), freqs)  # (T, hd/2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``x`` (batch, heads, T, head_dim) at positions start .. start+T-1."""
        length = x.shape[-2]
        cos = self.cos[start : start + length].to(x.dtype)
        sin = self.sin[start : start + length].to(x.dtype)
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(
        self,
        d_model: int,
        heads: int,
        kv_heads: int,
        *,
        context: int,
        rope: bool = False,
        scale: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.heads, self.kv_heads = heads, kv_heads
        self.head_dim = d_model // heads
        self.scale = 1.0 / math.sqrt(self.head_dim) if scale else 1.0
        # one projection for queries, keys and values; keys and values have kv_heads
        self.qkv = nn.Linear(d_model, (heads + 2 * kv_heads) * self.head_dim)
        self.proj = nn.Linear(d_model, d_model)  # the residual output projection
        self.rotary = Rotary(self.head_dim, context) if rope else None
        self.dropout = dropout
        # (batch, heads or kv_heads, T, head_dim); the scores QK^T * scale (-inf
        # where masked) and the pattern (the softmax), (batch, heads, queries, keys)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_scores, self.hook_pattern = HookPoint(), HookPoint()

    def split(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, ...]:
        """Queries (B, heads, T, hd), keys and values (B, kv_heads, T, hd),
        rotated for positions start.. when the positions are rotary."""
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).split(
            [
                self.heads * self.head_dim,
                self.kv_heads * self.head_dim,
                self.kv_heads * self.head_dim,
            ],
            dim=-1,
        )
        q = q.view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.rotary is not None:
            q, k = self.rotary(q, start), self.rotary(k, start)
        return self.hook_q(q), self.hook_k(k), self.hook_v(v)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0, start: int = 0
    ) -> torch.Tensor:
        """``x`` (batch, T, d_model) at positions start.. ; with a ``cache``,
        keys and values of earlier positions come from it (decoding)."""
        batch, length, width = x.shape
        q, k, v = self.split(x, start)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        dropout = self.dropout if self.training else 0.0
        if not (self.hook_pattern.read or self.hook_scores.read):
            queries, keys = q.shape[-2], k.shape[-2]
            causal = queries == keys and queries > 1  # the whole sequence at once
            mask = None if causal or queries == 1 else _mask(q, k)  # a chunk after a cache
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=causal, dropout_p=dropout, scale=self.scale,
                enable_gqa=self.kv_heads != self.heads,
            )  # fmt: skip
        else:
            y = self.explicit_attention(q, k, v, dropout)
        return self.proj(y.transpose(1, 2).reshape(batch, length, width))

    def explicit_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0
    ) -> torch.Tensor:
        """softmax(QK^T * scale + causal mask) V, the scores and the pattern
        through their hook points."""
        group = self.heads // self.kv_heads
        if group > 1:  # each key-value head serves `group` query heads
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-2, -1)) * self.scale
        scores = self.hook_scores(scores.masked_fill(~_mask(q, k), float("-inf")))
        weights = self.hook_pattern(torch.softmax(scores, dim=-1))
        if dropout:
            weights = F.dropout(weights, dropout)
        return weights @ v


def _mask(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """True where a query may attend: keys at its own position or before.
    Queries are the last ``q``-length positions of the ``k``-length sequence."""
    queries, keys = q.shape[-2], k.shape[-2]
    rows = torch.arange(keys - queries, keys, device=q.device)[:, None]
    return torch.arange(keys, device=q.device)[None, :] <= rows
