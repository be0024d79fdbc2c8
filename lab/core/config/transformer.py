"""The decoder-only Transformer's section of the model: its shape (layers,
width, heads, key-value heads), positions, norm, feed-forward block, and the
small choices that decide whether it trains (attention scaling, the scale of
the residual projections at init)."""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.config.choices import FFN_KINDS, MAX_CONTEXT, POSITIONAL, TRANSFORMER_NORMS
from lab.core.errors import ConfigError
from lab.core.fields import knob, validate_section
from lab.core.kv import ModelShape


@dataclass(frozen=True)
class TransformerConfig:
    layers: int = knob(2, "blocks", "Transformer blocks (attention, then feed-forward)", lo=1,
                       hi=48, rebuild=True)  # fmt: skip
    d_model: int = knob(
        64, "width", "Width of the residual stream (d_model)", lo=8, hi=4096, rebuild=True
    )
    heads: int = knob(
        4, "heads", "Attention heads; each looks at d_model / heads dimensions", lo=1, hi=64,
        rebuild=True,
    )  # fmt: skip
    kv_heads: int = knob(
        4,
        "key-value heads",
        "Heads of keys and values: as many as heads is multi-head attention (MHA), a divisor"
        " of heads is grouped-query (GQA), 1 is multi-query (MQA); fewer means a smaller KV"
        " cache",
        lo=1,
        hi=64,
        rebuild=True,
    )
    positional: str = knob(
        "learned",
        "positions",
        "How the model knows where a token is: learned embeddings, fixed sinusoids, rotary"
        " (RoPE) in each head, or nothing (only the causal mask tells)",
        choices=POSITIONAL,
        rebuild=True,
    )
    norm: str = knob(
        "layer",
        "norm",
        "LayerNorm, or RMSNorm (no centring, no bias)",
        choices=TRANSFORMER_NORMS,
        rebuild=True,
    )
    ffn: str = knob(
        "gelu",
        "feed-forward",
        "The block's MLP: GELU or ReLU, or SwiGLU (a gated SiLU at 2/3 of the width)",
        choices=FFN_KINDS,
        rebuild=True,
    )
    ffn_mult: float = knob(
        4.0,
        "feed-forward width",
        "Hidden width of the feed-forward block, as a multiple of d_model",
        lo=0.25,
        hi=16.0,
        slider=(0.5, 8.0),
        step=0.5,
        rebuild=True,
    )
    dropout: float = knob(
        0.0,
        "dropout",
        "Dropout on attention and feed-forward outputs while training",
        lo=0.0,
        hi=1.0,
        hi_open=True,
        slider=(0.0, 0.5),
        step=0.05,
        rebuild=True,
    )
    tie_embeddings: bool = knob(
        True, "tied embeddings", "The output layer reuses the token embedding matrix",
        rebuild=True,
    )  # fmt: skip
    scale_attention: bool = knob(
        True,
        "scale by 1/√d_k",
        "Divide attention scores by the square root of the head dimension; without it their"
        " spread grows as √d_k and the softmax saturates",
        rebuild=True,
    )
    scale_residual_init: bool = knob(
        True,
        "1/√(2N) projections",
        "GPT-2's init: each residual output projection starts scaled by 1/sqrt(2N) for N"
        " blocks, so the residual stream does not grow with depth",
        rebuild=True,
    )
    context: int = knob(
        64, "context", "The longest sequence the model reads (and the KV cache holds)", lo=2,
        hi=MAX_CONTEXT, unit="tokens", rebuild=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate_section(self, "model.transformer")
        head_dim = self.shape().head_dim  # the shape checks the heads against the width
        if self.positional == "rope" and head_dim % 2:
            raise ConfigError(
                "model.transformer.positional",
                f"RoPE rotates pairs of dimensions; the head dimension {head_dim} is odd",
            )

    def shape(self, vocab: int = 1, *, pre_norm: bool = True) -> ModelShape:
        """This Transformer's shape (``lab.core.kv``): head dimension, the key-value
        head counts it allows, its cache and weights; an invalid one raises
        ``ConfigError`` naming this section's field."""
        try:
            return ModelShape.of(self, vocab, pre_norm=pre_norm)
        except ConfigError as exc:
            raise ConfigError(f"model.transformer.{exc.field}", exc.message) from None

    @property
    def ffn_width(self) -> int:
        """The feed-forward hidden width; SwiGLU's two input matrices keep the
        parameter count of a plain MLP at 2/3 of the width (rounded to 8)."""
        width = self.ffn_mult * self.d_model
        if self.ffn == "swiglu":
            width = 2 * width / 3
        return max(8, int(round(width / 8)) * 8)
