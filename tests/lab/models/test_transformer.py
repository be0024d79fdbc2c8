"""The Transformer against independent computations: numpy attention, the
closed parameter count, the causal mask, score statistics at init."""

import itertools
import math

import numpy as np
import pytest
import torch

from lab.core.config import (
    POSITIONAL,
    ConfigError,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TransformerConfig,
)
from lab.models import build_model
from lab.models.attention import CausalSelfAttention
from lab.models.hooks import collecting, explicit_attention, hook_points
from lab.train.init import init_model


def transformer(**fields) -> torch.nn.Module:
    pre = fields.pop("pre_norm", True)
    config = ExperimentConfig(
        model=ModelConfig(
            kind="transformer",
            norm_position="pre" if pre else "post",
            transformer=TransformerConfig(**({"context": 16} | fields)),
        ),
        data=DataConfig(name="copy", seq_len=4, vocab=6, batch_size=8),
    )
    torch.manual_seed(0)
    model = build_model(config.model, (8,), 7)
    init_model(model, config)
    return model.eval()


def test_explicit_attention_equals_numpy_softmax_qk_v():
    torch.manual_seed(1)
    attention = CausalSelfAttention(8, heads=2, kv_heads=2, context=8)
    x = torch.randn(1, 5, 8)
    got = attention.explicit_attention(*attention.split(x))  # (1, heads, T, hd)
    q, k, v = (t.detach().numpy()[0] for t in attention.split(x))
    for head in range(2):
        scores = q[head] @ k[head].T / math.sqrt(4)
        scores[np.triu_indices(5, 1)] = -np.inf  # a token sees itself and what came before
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(got[0, head].detach().numpy(), weights @ v[head], atol=1e-6)


@pytest.mark.parametrize(("kv_heads", "positional"), list(itertools.product((4, 2, 1), POSITIONAL)))
def test_fused_and_explicit_attention_agree(kv_heads, positional):
    """MHA (4 kv heads), GQA (2) and MQA (1), with every positional encoding."""
    model = transformer(heads=4, kv_heads=kv_heads, positional=positional, d_model=32)
    tokens = torch.randint(0, 7, (3, 9))
    with torch.no_grad():
        fused = model(tokens)
        with explicit_attention(model):
            explicit = model(tokens)
    assert (fused - explicit).abs().max().item() < 1e-5


def closed_parameter_count(t: TransformerConfig, vocab: int, pre_norm: bool) -> int:
    d, f = t.d_model, t.ffn_width
    norm = 2 * d if t.norm == "layer" else d  # LayerNorm has a bias, RMSNorm not
    head_dim = t.shape().head_dim
    qkv = d * (t.heads + 2 * t.kv_heads) * head_dim + (t.heads + 2 * t.kv_heads) * head_dim
    proj = d * d + d
    ffn = (3 if t.ffn == "swiglu" else 2) * d * f + (2 if t.ffn == "swiglu" else 1) * f + d
    block = 2 * norm + qkv + proj + ffn
    embeddings = vocab * d + (t.context * d if t.positional == "learned" else 0)
    head = (norm if pre_norm else 0) + (0 if t.tie_embeddings else d * vocab)
    return embeddings + t.layers * block + head


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"ffn": "swiglu", "ffn_mult": 3.0},
        {"tie_embeddings": False, "norm": "rms", "kv_heads": 1},
        {"positional": "rope", "layers": 3, "pre_norm": False},
    ],
)
def test_parameter_count_equals_the_closed_formula(fields):
    pre_norm = fields.get("pre_norm", True)
    model = transformer(**fields)
    config = model.config
    assert sum(p.numel() for p in model.parameters()) == closed_parameter_count(config, 7, pre_norm)
    if config.ffn == "swiglu":  # 2/3 of 3 x 64, to a multiple of 8
        assert config.ffn_width == 128


def test_a_future_token_changes_no_earlier_logit():
    model = transformer(positional="rope")
    tokens = torch.randint(0, 7, (2, 8))
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 7
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert torch.equal(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5:], after[:, 5:])


@pytest.mark.parametrize(("scale", "expected"), [(True, 1.0), (False, math.sqrt(32))])
def test_score_std_at_init_is_about_one_with_scaling_and_sqrt_dk_without(scale, expected):
    """Unit-variance inputs and weights of variance 1/d: scores have
    variance d_k before the 1/sqrt(d_k)."""
    torch.manual_seed(0)
    attention = CausalSelfAttention(64, heads=2, kv_heads=2, context=64, scale=scale)
    torch.nn.init.normal_(attention.qkv.weight, 0.0, 1 / math.sqrt(64))
    torch.nn.init.zeros_(attention.qkv.bias)
    seen = []
    read = {"hook_scores": lambda s: seen.append(s[torch.isfinite(s)].std().item())}
    with collecting(attention, read):
        attention(torch.randn(16, 64, 64))
    assert seen[0] == pytest.approx(expected, rel=0.15)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"heads": 4, "kv_heads": 3}, "model.transformer.kv_heads"),
        ({"d_model": 30, "heads": 4}, "model.transformer.heads"),
        ({"d_model": 36, "heads": 4, "positional": "rope"}, "model.transformer.positional"),
    ],
)
def test_invalid_shapes_name_the_field(fields, field):
    with pytest.raises(ConfigError) as excinfo:
        TransformerConfig(**fields)
    assert excinfo.value.field == field


def test_a_context_shorter_than_the_task_is_refused():
    with pytest.raises(ConfigError, match="shorter than the task") as excinfo:
        ExperimentConfig(
            model=ModelConfig(kind="transformer", transformer=TransformerConfig(context=12)),
            data=DataConfig(name="copy", seq_len=8, batch_size=16),  # reads 16 tokens
        )
    assert excinfo.value.field == "model.transformer.context"


def test_residual_projections_start_scaled_by_one_over_sqrt_2n():
    scaled, plain = transformer(layers=4), transformer(layers=4, scale_residual_init=False)
    for a, b in zip(scaled.residual_projections(), plain.residual_projections(), strict=True):
        torch.testing.assert_close(a.weight, b.weight / math.sqrt(8))


def test_the_induction_preset_grows_an_induction_head():
    """Measured: after training, some head puts most of its weight on the
    token after the previous occurrence of the current token."""
    from lab.core.presets import PRESETS
    from lab.probes.attention_maps import attention_maps, induction_scores
    from lab.train.trainer import Trainer

    config = PRESETS["induction-transformer"].with_changes({"train.steps": 300})
    trainer = Trainer(config)
    before = induction_scores(attention_maps(trainer.model, trainer.x_test[:64]), 16)
    trainer.run(300)
    after = induction_scores(attention_maps(trainer.model, trainer.x_test[:64]), 16)
    assert after.max() > 0.5 and before.max() < 0.2  # at init: about 1/20 of the keys
    assert trainer.evaluate()["test_acc"] > 0.99


def test_hook_points_name_every_block_and_read_what_passes():
    """q, k, v, scores, pattern and the residual stream, by block; the
    pattern read at its point equals softmax(QK^T / sqrt(d)) by hand, and the
    residual stream after a block is the next block's input."""
    model = transformer(layers=2, heads=2, kv_heads=1, d_model=16)
    names = hook_points(model)
    for block in ("block1", "block2"):
        for point in ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_scores",
                      "attn.hook_pattern", "hook_resid_pre", "hook_resid_mid",
                      "hook_resid_post"):  # fmt: skip
            assert f"{block}.{point}" in names
    seen: dict[str, torch.Tensor] = {}
    readers = {name: (lambda t, name=name: seen.setdefault(name, t)) for name in names}
    tokens = torch.randint(0, 7, (2, 6))
    with torch.no_grad(), collecting(model, readers):
        model(tokens)
    assert torch.equal(seen["block1.hook_resid_post"], seen["block2.hook_resid_pre"])
    q, k = seen["block2.attn.hook_q"], seen["block2.attn.hook_k"]
    assert q.shape == (2, 2, 6, 8) and k.shape == (2, 1, 6, 8)  # MQA: one key head
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(8)
    scores = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    assert torch.allclose(seen["block2.attn.hook_pattern"], scores.softmax(-1), atol=1e-6)


def test_collecting_takes_its_hooks_off_even_when_the_forward_pass_fails():
    model = transformer()
    points = hook_points(model)
    with pytest.raises(RuntimeError), collecting(model, dict.fromkeys(points, lambda t: None)):
        model(torch.zeros(1, 40, dtype=torch.int64))  # longer than the context
    assert not any(point.read for point in points.values())
    with pytest.raises(KeyError, match="no hook point"), collecting(model, {"block9.x": print}):
        pass
