"""KV-cache accounting, torch-free (the window computes it as a slider moves).

A decoder keeps, for every layer and every token so far, one key and one
value vector per key-value head:

    bytes per token = 2 (K and V) x layers x kv_heads x head_dim x bytes per value

and an int8 cache adds a scale per token, head and tensor (fp32 here). MHA
has kv_heads = heads, GQA a divisor, MQA one: the cache shrinks by
heads / kv_heads. The model's weights are counted from the same shape, so a
memory budget can be split between them; `MODEL_SHAPES` holds the shapes of
well-known open models (with where each shape comes from), so "how long a
context fits in 24 GB" needs no weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lab.core.errors import ConfigError
from lab.core.fields import knob, validate_section

if TYPE_CHECKING:  # the config derives its shape from here: no import at run time
    from lab.core.config import ExperimentConfig, TransformerConfig

LAYOUTS = ("static", "concat", "paged")  # the caches of lab.generate.caches
LAB_MODEL = "lab model"  # the run's own Transformer, in the KV view's model list

# bytes per stored value; int8 stores a scale per token, head and tensor besides
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1}
KV_DTYPES = tuple(DTYPE_BYTES)
INT8_SCALE_BYTES = 4  # one float32 scale per (token, kv head) for K and one for V
GIB = 2**30


def divisors(n: int) -> tuple[int, ...]:
    """What a count of ``n`` heads can be shared by: how many KV heads may serve them."""
    return tuple(d for d in range(1, n + 1) if n % d == 0)


@dataclass(frozen=True)
class ModelShape:
    """What the cache and the weights depend on: the one description of a
    decoder's shape, for the lab's Transformer (``of``, which its config
    uses for its own checks) and for well-known open models. ``ffn_hidden``:
    the feed-forward width (gated: SwiGLU's three matrices, else two);
    ``positions``: a learned position table's rows (0 for RoPE)."""

    name: str
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    vocab: int
    ffn_hidden: int
    context: int
    gated: bool = True
    tied: bool = False
    biases: bool = False  # GPT-2 style: biases on every linear layer
    positions: int = 0
    norm_params: int = 1  # per norm and channel: 1 for RMSNorm (a scale), 2 for LayerNorm
    final_norm: bool = True  # a norm before the head (pre-norm stacks)
    source: str = ""

    def __post_init__(self) -> None:
        for field in ("layers", "d_model", "heads", "kv_heads", "vocab", "ffn_hidden", "context"):
            if getattr(self, field) < 1:
                raise ConfigError(field, f"{getattr(self, field)}; allowed: at least 1")
        if self.d_model % self.heads:
            raise ConfigError(
                "heads",
                f"{self.heads} heads do not divide d_model {self.d_model}; each head needs"
                " d_model / heads dimensions",
            )
        if self.heads % self.kv_heads:
            raise ConfigError(
                "kv_heads", f"{self.kv_heads} key-value heads do not divide {self.heads} heads;"
                f" allowed: {', '.join(str(d) for d in self.kv_head_choices)}",
            )  # fmt: skip

    @classmethod
    def of(
        cls, t: TransformerConfig, vocab: int = 1, *, pre_norm: bool = True, name: str = "lab model"
    ) -> ModelShape:
        """The shape of the lab's Transformer for section ``t`` (``vocab``:
        its task's token count, which only the weights depend on)."""
        return cls(
            name,
            layers=t.layers,
            d_model=t.d_model,
            heads=t.heads,
            kv_heads=t.kv_heads,
            vocab=vocab,
            ffn_hidden=t.ffn_width,
            context=t.context,
            gated=t.ffn == "swiglu",
            tied=t.tie_embeddings,
            biases=True,
            positions=t.context if t.positional == "learned" else 0,
            norm_params=1 if t.norm == "rms" else 2,
            final_norm=pre_norm,
            source="this run's config",
        )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    @property
    def kv_head_choices(self) -> tuple[int, ...]:
        return divisors(self.heads)

    @property
    def attention_kind(self) -> str:
        if self.kv_heads == self.heads:
            return "MHA"
        return "MQA" if self.kv_heads == 1 else f"GQA, {self.heads // self.kv_heads} per group"

    def with_changes(self, **changes: int) -> ModelShape:
        return replace(self, **changes)

    def parameters(self) -> int:
        """Weights of a decoder with this shape: embeddings, per layer the
        attention projections (queries and output d x d, keys and values
        d x kv_heads*head_dim), the feed-forward, two norms; a final norm
        and the output head (unless tied)."""
        d, kv = self.d_model, self.kv_heads * self.head_dim
        bias = self.biases
        attention = d * d + 2 * d * kv + d * d + (d + 2 * kv + d if bias else 0)
        matrices = 3 if self.gated else 2
        ffn = matrices * d * self.ffn_hidden + ((matrices - 1) * self.ffn_hidden + d if bias else 0)
        norms = 2 * self.norm_params * d
        per_layer = attention + ffn + norms
        embed = self.vocab * d + self.positions * d
        head = 0 if self.tied else self.vocab * d
        final = self.norm_params * d if self.final_norm else 0
        return embed + self.layers * per_layer + final + head


def token_bytes(kv_heads: int, head_dim: int, dtype: str) -> int:
    """Cache bytes one token takes in one layer: K and V of every kv head
    (and for int8 their scales). The one formula the view, the caches and
    the memory check use."""
    scale = INT8_SCALE_BYTES if dtype == "int8" else 0
    return 2 * kv_heads * (head_dim * _dtype_bytes(dtype) + scale)


def bytes_per_token_per_layer(shape: ModelShape, dtype: str) -> int:
    """Cache bytes one token takes in one layer (K and V, every kv head)."""
    return token_bytes(shape.kv_heads, shape.head_dim, dtype)


def bytes_per_token(shape: ModelShape, dtype: str) -> int:
    return shape.layers * bytes_per_token_per_layer(shape, dtype)


def cache_bytes(shape: ModelShape, batch: int, tokens: int, dtype: str) -> int:
    """The whole cache for ``batch`` sequences of ``tokens`` tokens."""
    if batch < 1:
        raise ConfigError("batch", f"{batch}; allowed: at least 1")
    if tokens < 0:
        raise ConfigError("tokens", f"{tokens}; allowed: 0 or more")
    return batch * tokens * bytes_per_token(shape, dtype)


def weight_bytes(shape: ModelShape, dtype: str) -> int:
    return shape.parameters() * _dtype_bytes(dtype)


def max_tokens(shape: ModelShape, batch: int, dtype: str, budget: int, weights: str) -> int:
    """The longest context per sequence whose cache fits in ``budget`` bytes
    beside the weights (in ``weights`` precision); 0 when even the weights
    do not fit. Not capped at the model's own context: the caller says so."""
    left = budget - weight_bytes(shape, weights)
    return max(0, left // (batch * bytes_per_token(shape, dtype)))


def max_batch(shape: ModelShape, tokens: int, dtype: str, budget: int, weights: str) -> int:
    """The most sequences of ``tokens`` tokens whose caches fit beside the weights."""
    left = budget - weight_bytes(shape, weights)
    return max(0, left // max(1, tokens * bytes_per_token(shape, dtype)))


def _dtype_bytes(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise ConfigError("dtype", f"{dtype!r} is not one of {', '.join(KV_DTYPES)}")
    return DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class Breakdown:
    """The accounting of one request, as `knoblab kv` prints it."""

    shape: ModelShape
    batch: int
    tokens: int
    dtype: str
    weights_dtype: str
    per_token_per_layer: int
    per_token: int
    per_layer: int
    total: int
    weights: int
    mha_total: int  # the same shape with kv_heads = heads
    mqa_total: int  # ... with one kv head
    budget: int | None
    fits_tokens: int | None  # longest context per sequence within the budget
    fits_batch: int | None  # most sequences of ``tokens`` within the budget

    def to_dict(self) -> dict[str, object]:
        s = self.shape
        return {
            "model": s.name,
            "source": s.source,
            "layers": s.layers,
            "heads": s.heads,
            "kv_heads": s.kv_heads,
            "head_dim": s.head_dim,
            "attention": s.attention_kind,
            "parameters": s.parameters(),
            "batch": self.batch,
            "tokens": self.tokens,
            "dtype": self.dtype,
            "weights_dtype": self.weights_dtype,
            "bytes_per_token_per_layer": self.per_token_per_layer,
            "bytes_per_token": self.per_token,
            "bytes_per_layer": self.per_layer,
            "cache_bytes": self.total,
            "weight_bytes": self.weights,
            "mha_cache_bytes": self.mha_total,
            "mqa_cache_bytes": self.mqa_total,
            "budget_bytes": self.budget,
            "max_tokens_in_budget": self.fits_tokens,
            "max_batch_in_budget": self.fits_batch,
        }


def breakdown(
    shape: ModelShape,
    batch: int,
    tokens: int,
    dtype: str = "fp16",
    weights_dtype: str = "bf16",
    budget: int | None = None,
) -> Breakdown:
    total = cache_bytes(shape, batch, tokens, dtype)
    return Breakdown(
        shape,
        batch,
        tokens,
        dtype,
        weights_dtype,
        bytes_per_token_per_layer(shape, dtype),
        bytes_per_token(shape, dtype),
        batch * tokens * bytes_per_token_per_layer(shape, dtype),
        total,
        weight_bytes(shape, weights_dtype),
        cache_bytes(shape.with_changes(kv_heads=shape.heads), batch, tokens, dtype),
        cache_bytes(shape.with_changes(kv_heads=1), batch, tokens, dtype),
        budget,
        None if budget is None else max_tokens(shape, batch, dtype, budget, weights_dtype),
        None if budget is None else max_batch(shape, tokens, dtype, budget, weights_dtype),
    )


def lab_shape(config: ExperimentConfig, vocab: int) -> ModelShape:
    """The shape of the lab's Transformer in ``config``."""
    pre = config.model.norm_position == "pre"
    return ModelShape.of(config.model.transformer, vocab, pre_norm=pre, name=LAB_MODEL)


# Shapes of well-known open models, from each model's published config.json
# (field names as there: num_hidden_layers, hidden_size, num_attention_heads,
# num_key_value_heads, vocab_size, intermediate_size, max_position_embeddings).
MODEL_SHAPES: dict[str, ModelShape] = {
    "gpt2": ModelShape(
        "gpt2", layers=12, d_model=768, heads=12, kv_heads=12, vocab=50257, ffn_hidden=3072,
        context=1024, gated=False, tied=True, biases=True, positions=1024, norm_params=2,
        source="huggingface.co/openai-community/gpt2/blob/main/config.json"
        " (n_layer 12, n_embd 768, n_head 12, n_ctx 1024, vocab 50257; MLP 4x)",
    ),
    "llama-2-7b": ModelShape(
        "llama-2-7b", layers=32, d_model=4096, heads=32, kv_heads=32, vocab=32000,
        ffn_hidden=11008, context=4096,
        source="huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json",
    ),
    "llama-3-8b": ModelShape(
        "llama-3-8b", layers=32, d_model=4096, heads=32, kv_heads=8, vocab=128256,
        ffn_hidden=14336, context=8192,
        source="huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json",
    ),
    "llama-3-70b": ModelShape(
        "llama-3-70b", layers=80, d_model=8192, heads=64, kv_heads=8, vocab=128256,
        ffn_hidden=28672, context=8192,
        source="huggingface.co/meta-llama/Meta-Llama-3-70B/blob/main/config.json",
    ),
    "mistral-7b": ModelShape(
        "mistral-7b", layers=32, d_model=4096, heads=32, kv_heads=8, vocab=32000,
        ffn_hidden=14336, context=32768,
        source="huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json",
    ),
}  # fmt: skip

# Parameter counts the model cards publish, to check `ModelShape.parameters`
# against (tests/lab/core/test_kv.py).
PUBLISHED_PARAMETERS = {
    "gpt2": 124_439_808,  # transformers' GPT2LMHeadModel, tied head counted once
    "llama-2-7b": 6_738_415_616,
    "llama-3-8b": 8_030_261_248,
    "llama-3-70b": 70_553_706_496,
    "mistral-7b": 7_241_732_096,
}


@dataclass(frozen=True)
class KVSettings:
    """The KV view's what-if knobs (the accounting redraws as they move; they
    never change the run's model) and its measured decode's settings."""

    model: str = knob(
        LAB_MODEL, "model", "The shape to account for: this run's Transformer, or a"
        " well-known open model's (shapes from their published configs)",
        choices=(LAB_MODEL, *MODEL_SHAPES),
    )  # fmt: skip
    tokens: int = knob(
        4096, "tokens", "Tokens per sequence the cache holds (the context in use)",
        lo=1, hi=2**22, slider=(16, 2**18), log=True, unit="tokens",
    )  # fmt: skip
    batch: int = knob(
        1, "batch", "Sequences decoded together, each with its own cache",
        lo=1, hi=65536, slider=(1, 1024), log=True,
    )  # fmt: skip
    layers: int = knob(32, "layers", "Transformer blocks, each with its own cache", lo=1, hi=1024)
    dtype: str = knob(
        "fp16", "cache dtype", "How keys and values are stored (int8: a float32 scale per"
        " token and head besides)", choices=KV_DTYPES,
    )  # fmt: skip
    weights_dtype: str = knob(
        "bf16", "weights", "How the weights are stored, for the memory they take",
        choices=KV_DTYPES,
    )  # fmt: skip
    budget_gb: float = knob(
        24.0, "budget", "Memory for weights and cache (a GPU's, say); 0: no budget line",
        lo=0.0, hi=1e6, slider=(1.0, 1024.0), log=True, unit="GiB",
    )  # fmt: skip
    layout: str = knob(
        "static", "layout", "The measured decode's cache: preallocated to the context"
        " (static), grown by concatenation (concat), or blocks from a pool (paged)",
        choices=LAYOUTS,
    )  # fmt: skip
    decode_batch: int = knob(1, "decode batch", "Sequences in the measured decode", lo=1, hi=256)
    block_size: int = knob(
        16, "block", "Tokens per block of a paged cache", lo=1, hi=4096, unit="tokens"
    )

    def __post_init__(self) -> None:
        validate_section(self, "kv")
