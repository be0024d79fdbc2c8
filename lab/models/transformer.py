"""A decoder-only Transformer, in the shape of GPT-2 and its descendants.

Tokens become vectors (``embed``), positions are added (learned or
sinusoidal) or rotated into each head (RoPE), and the sum — the *residual
stream* — flows through N blocks. Each block reads the stream twice and adds
what it computes back into it:

    pre-norm:  x = x + attn(norm1(x));  x = x + mlp(norm2(x))     (GPT-2, Llama)
    post-norm: x = norm1(x + attn(x));  x = norm2(x + mlp(x))     (the 2017 original)

``attn`` is causal self-attention (``lab.models.attention``): a token sees
itself and the tokens before it. ``mlp`` widens each token's vector, applies
a nonlinearity (GELU, ReLU, or SwiGLU's gated SiLU) and narrows it again.
A pre-norm stack ends with a final norm; the head maps the stream to one
logit per vocabulary token, with the embedding matrix itself when tied.

Every sub-layer has a name (``block3.attn``, ``block3.mlp``) and each
activation is its own module, so the probes report per block. Named hook
points (``lab.models.hooks``) let anyone read the residual stream before,
between and after a block's sub-layers (``block3.hook_resid_pre``,
``hook_resid_mid``, ``hook_resid_post``) and attention's queries, keys,
values, scores and pattern (``block3.attn.hook_pattern``). At init, each
residual output projection (``attn.proj``, ``mlp.down``) can be scaled by
1/sqrt(2N), GPT-2's practice, so the stream's variance does not grow with
depth.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lab.core.config import TransformerConfig
from lab.models.attention import CausalSelfAttention, KVCache
from lab.models.hooks import HookPoint
from lab.models.layers import make_activation


def make_norm(kind: str, width: int) -> nn.Module:
    return nn.RMSNorm(width) if kind == "rms" else nn.LayerNorm(width)


class FeedForward(nn.Module):
    """d -> hidden -> d. SwiGLU: down(silu(gate(x)) * up(x)), two input matrices."""

    def __init__(self, d_model: int, hidden: int, kind: str) -> None:
        super().__init__()
        self.gated = kind == "swiglu"
        self.up = nn.Linear(d_model, hidden)
        self.gate = nn.Linear(d_model, hidden) if self.gated else None
        self.act = make_activation("silu" if self.gated else kind)
        self.down = nn.Linear(hidden, d_model)  # the residual output projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is not None:
            return self.down(self.act(self.gate(x)) * self.up(x))
        return self.down(self.act(self.up(x)))


class TransformerBlock(nn.Module):
    def __init__(self, config: TransformerConfig, *, pre_norm: bool) -> None:
        super().__init__()
        self.pre_norm = pre_norm
        self.norm1 = make_norm(config.norm, config.d_model)
        self.attn = CausalSelfAttention(
            config.d_model,
            config.heads,
            config.kv_heads,
            context=config.context,
            rope=config.positional == "rope",
            scale=config.scale_attention,
            dropout=config.dropout,
        )
        self.norm2 = make_norm(config.norm, config.d_model)
        self.mlp = FeedForward(config.d_model, config.ffn_width, config.ffn)
        self.drop = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        # the residual stream as the block reads it, after attention, as it leaves
        self.hook_resid_pre, self.hook_resid_mid = HookPoint(), HookPoint()
        self.hook_resid_post = HookPoint()

    @property
    def act(self) -> nn.Module:
        """The feed-forward activation: what the activation probes watch."""
        return self.mlp.act

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0, start: int = 0
    ) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        if self.pre_norm:
            x = self.hook_resid_mid(x + self.drop(self.attn(self.norm1(x), cache, layer, start)))
            return self.hook_resid_post(x + self.drop(self.mlp(self.norm2(x))))
        x = self.hook_resid_mid(self.norm1(x + self.drop(self.attn(x, cache, layer, start))))
        return self.hook_resid_post(self.norm2(x + self.drop(self.mlp(x))))


def sinusoids(context: int, width: int) -> torch.Tensor:
    """The fixed positional table of Vaswani et al.: sin and cos at geometric wavelengths."""
    position = torch.arange(context, dtype=torch.float32)[:, None]
    rate = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float32) / width)
    table = torch.zeros(context, width)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : width // 2]
    return table


class Embeddings(nn.Module):
    """Token vectors plus positions: learned, or a fixed sinusoid table, or
    none here (RoPE turns queries and keys inside attention; "none" leaves
    order to the causal mask alone)."""

    def __init__(self, config: TransformerConfig, vocab: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, config.d_model)
        learned = config.positional == "learned"
        self.positions = nn.Embedding(config.context, config.d_model) if learned else None
        table = sinusoids(config.context, config.d_model)
        self.register_buffer("table", table if config.positional == "sinusoidal" else None, False)

    def forward(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = self.tokens(tokens)
        length = tokens.shape[1]
        if self.positions is not None:
            x = x + self.positions.weight[start : start + length]
        elif self.table is not None:
            x = x + self.table[start : start + length]
        return x


class LMHead(nn.Module):
    """The final norm (pre-norm stacks) and the map to one logit per token;
    tied, it multiplies by the token embedding matrix, which it does not own
    (the probes and the optimiser see that matrix once, as the embedding's)."""

    def __init__(
        self, config: TransformerConfig, vocab: int, embedding: nn.Embedding, *, pre_norm: bool
    ) -> None:
        super().__init__()
        self.norm = make_norm(config.norm, config.d_model) if pre_norm else nn.Identity()
        self.proj = None if config.tie_embeddings else nn.Linear(config.d_model, vocab, bias=False)
        object.__setattr__(self, "tied", embedding)  # a reference, not a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return x @ self.tied.weight.t() if self.proj is None else self.proj(x)


class TransformerLM(nn.Module):
    input_dtype = torch.int64  # token ids
    units_last = True  # activations are (batch, tokens, units): the units are the last axis

    def __init__(self, config: TransformerConfig, vocab: int, *, pre_norm: bool) -> None:
        super().__init__()
        self.config, self.vocab, self.pre_norm = config, vocab, pre_norm
        self.embed = Embeddings(config, vocab)
        self.drop = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(
            TransformerBlock(config, pre_norm=pre_norm) for _ in range(config.layers)
        )
        self.head = LMHead(config, vocab, self.embed.tokens, pre_norm=pre_norm)

    @property
    def layer_names(self) -> list[str]:
        return ["embed", *(f"block{i + 1}" for i in range(len(self.blocks))), "head"]

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        """The units the probes report on: the embedding, each block, the head."""
        return list(zip(self.layer_names, [self.embed, *self.blocks, self.head], strict=True))

    def residual_projections(self) -> list[nn.Linear]:
        """The layers whose output is added to the residual stream."""
        return [m for block in self.blocks for m in (block.attn.proj, block.mlp.down)]

    def attention_layers(self) -> list[CausalSelfAttention]:
        return [block.attn for block in self.blocks]

    def forward(
        self, tokens: torch.Tensor, cache: KVCache | None = None, start: int = 0
    ) -> torch.Tensor:
        """Logits (batch, T, vocab) for ``tokens`` (batch, T) at positions
        start.. (with a ``cache`` holding the keys and values before them)."""
        x = self.drop(self.embed(tokens, start))
        for index, block in enumerate(self.blocks):
            x = block(x, cache, index, start)
        return self.head(x)
