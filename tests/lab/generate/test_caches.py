"""Caches against recomputation and against their formulas: the same logits
and tokens as decoding without a cache, for every attention kind, positional
encoding and layout; bytes held equal to the formula at every step."""

import itertools

import numpy as np
import pytest
import torch

from lab.core import protocol as p
from lab.core.config import POSITIONAL, ConfigError
from lab.core.kv import ModelShape, bytes_per_token_per_layer, cache_bytes
from lab.generate.caches import LAYOUTS, CacheSpec, check_dtype, make_cache, quantize
from lab.generate.decode import Sampling, choose, generate
from lab.generate.measure import decode_steps, layout_holdings
from tests.lab.models.test_transformer import transformer

KV_HEADS = {"MHA": 4, "GQA": 2, "MQA": 1}


def spec_for(model, batch=2, dtype="fp32", block=4) -> CacheSpec:
    t = model.config
    head_dim = t.d_model // t.heads
    return CacheSpec(t.layers, batch, t.kv_heads, head_dim, t.context, dtype, "cpu", block)


def run(steps_generator):
    try:
        while True:
            next(steps_generator)
    except StopIteration as stop:
        return stop.value


@pytest.mark.parametrize(
    ("kind", "positional", "layout"),
    list(itertools.product(KV_HEADS, POSITIONAL, LAYOUTS)),
)
def test_cached_decoding_gives_the_logits_and_tokens_of_recomputation(kind, positional, layout):
    model = transformer(d_model=32, heads=4, kv_heads=KV_HEADS[kind], positional=positional)
    torch.manual_seed(1)
    prompt = torch.randint(0, 7, (2, 5))
    cache = make_cache(layout, spec_for(model))
    with torch.no_grad():
        logits = [model(prompt, cache, 0)[:, -1]]
        tokens = prompt
        for _ in range(8):
            token = logits[-1].argmax(dim=-1, keepdim=True)
            tokens = torch.cat([tokens, token], dim=1)
            logits.append(model(token, cache, tokens.shape[1] - 1)[:, -1])
        full = model(tokens)[:, prompt.shape[1] - 1 :]
    cached = torch.stack(logits, dim=1)
    assert (cached - full).abs().max() < 1e-5
    fresh = make_cache(layout, spec_for(model))
    assert torch.equal(generate(model, prompt, 8, cache=fresh), generate(model, prompt, 8))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["fp32", "bf16", "int8"])
def test_bytes_held_equal_the_formula_at_every_step(layout, dtype):
    model = transformer(d_model=32, heads=4, kv_heads=2, context=24)
    t = model.config
    shape = ModelShape("t", t.layers, t.d_model, t.heads, t.kv_heads, 7, t.ffn_width, t.context)
    request = p.DecodeKV(1, layout=layout, dtype=dtype, batch=3, prompt=3, block_size=5)
    result = run(decode_steps(model, request, torch.device("cpu")))
    assert list(result.lengths) == list(range(4, 25))  # one row per decoded token
    per_layer = bytes_per_token_per_layer(shape, dtype)
    for length, held, formula in zip(result.lengths, result.held, result.formula, strict=True):
        assert formula == cache_bytes(shape, 3, int(length), dtype)
        if layout == "static":  # preallocated to the context, from the first step
            assert held.tolist() == [3 * t.context * per_layer] * t.layers
        elif layout == "concat":  # exactly what the tokens need
            assert held.sum() == formula
        else:  # whole blocks of 5 tokens per sequence
            blocks = 3 * -(-int(length) // 5)
            assert held.tolist() == [blocks * 5 * per_layer] * t.layers
    if layout == "paged":
        assert result.blocks[-1] == 3 * 5 * t.layers  # 24 tokens: 5 blocks of 5 each


def test_the_int8_cache_costs_a_small_logit_error_and_fp32_none():
    model = transformer(d_model=32, heads=4, kv_heads=2, context=24)
    errors = {}
    for dtype in ("fp32", "fp16", "int8"):
        request = p.DecodeKV(1, dtype=dtype, batch=2, prompt=4)
        errors[dtype] = run(decode_steps(model, request, torch.device("cpu"))).logit_error
    assert errors["fp32"] < 1e-5
    assert 0 < errors["int8"] < 0.05  # reported, and bounded
    assert errors["fp16"] < errors["int8"]


def test_int8_rounds_each_token_and_head_to_its_own_scale():
    x = torch.tensor([[[[1.0, -0.5, 0.25], [100.0, 50.0, -25.0]]]])
    q = quantize(x, "int8")
    assert q.values.dtype == torch.int8 and q.scales.shape == (1, 1, 2, 1)
    np.testing.assert_allclose(q.scales.flatten(), [1 / 127, 100 / 127])
    np.testing.assert_allclose((q.values.float() * q.scales), x, atol=100 / 127 / 2)


def test_a_mixed_batch_shows_what_each_layout_reserves():
    model = transformer(d_model=32, heads=4, kv_heads=4, context=32)
    request = p.DecodeKV(1, dtype="fp32", block_size=8)
    holdings = {h.layout: h for h in layout_holdings(model, request, (3, 9, 17), "cpu")}
    per = 2 * 2 * 4 * 8 * 4  # layers, K and V, kv heads, head dim, fp32
    needed = (3 + 9 + 17) * per
    assert all(h.needed_bytes == needed for h in holdings.values())
    assert holdings["static"].held_bytes == 3 * 32 * per  # the whole context each
    assert holdings["concat"].held_bytes == 3 * 17 * per  # padded to the longest
    assert holdings["paged"].blocks == (1 + 2 + 3) * 2  # blocks of 8, two layers
    assert holdings["paged"].held_bytes == (1 + 2 + 3) * 8 * per


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"tokens": 40}, "tokens"), ({"batch": 0}, "batch"), ({"layout": "ring"}, "layout"),
     ({"prompt": 0}, "prompt"), ({"dtype": "fp8"}, "dtype")],
)  # fmt: skip
def test_invalid_requests_name_the_field(request_fields, field):
    model = transformer(d_model=32, heads=4, kv_heads=4, context=32)
    with pytest.raises(ConfigError) as error:
        run(decode_steps(model, p.DecodeKV(1, **request_fields), torch.device("cpu")))
    assert error.value.field == field


def test_a_dtype_the_device_lacks_is_refused(monkeypatch):
    real = torch.Tensor.to

    def no_half(self, *args, **kwargs):
        if torch.float16 in args:
            raise RuntimeError("float16 is not supported on this device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", no_half)
    with pytest.raises(ConfigError, match="fp16 is not available on cpu") as error:
        check_dtype("fp16", "cpu")
    assert error.value.field == "dtype"


def test_sampling_keeps_to_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    generator = torch.Generator().manual_seed(0)
    draws = {int(choose(logits, Sampling(1.0, top_k=2), generator)) for _ in range(200)}
    assert draws == {0, 1}
    draws = {int(choose(logits, Sampling(1.0, top_p=0.7), generator)) for _ in range(200)}
    assert draws == {0, 1}  # 0.5 < 0.7, then 0.8 >= 0.7: the first two
    assert int(choose(logits, Sampling(), None)) == 0
    with pytest.raises(ConfigError):
        Sampling(top_p=0)
    model = transformer(d_model=32, heads=4, kv_heads=4, context=32)
    prompt = torch.zeros((1, 3), dtype=torch.long)
    a = generate(model, prompt, 10, Sampling(1.0, seed=3))
    assert torch.equal(a, generate(model, prompt, 10, Sampling(1.0, seed=3)))  # seeded
