"""KV-cache accounting: weights against the published parameter counts of
real models and against the lab's own models, bytes against hand arithmetic,
budgets against the formula at the edge."""

import pytest

from lab.core.config import ConfigError
from lab.core.kv import (
    GIB,
    MODEL_SHAPES,
    PUBLISHED_PARAMETERS,
    breakdown,
    bytes_per_token,
    cache_bytes,
    lab_shape,
    max_batch,
    max_tokens,
    weight_bytes,
)
from lab.core.presets import PRESETS


@pytest.mark.parametrize("name", MODEL_SHAPES)
def test_weights_of_real_shapes_equal_their_published_parameter_counts(name):
    assert MODEL_SHAPES[name].parameters() == PUBLISHED_PARAMETERS[name]
    assert MODEL_SHAPES[name].source


@pytest.mark.parametrize(
    "preset", ["copy-transformer", "chars-transformer", "post-norm-warmup", "induction-transformer"]
)
def test_the_lab_shape_counts_the_lab_models_parameters(preset):
    from lab.train.trainer import Trainer

    trainer = Trainer(PRESETS[preset])
    shape = lab_shape(PRESETS[preset], len(trainer.data.class_names))
    assert shape.parameters() == sum(p.numel() for p in trainer.model.parameters())


def test_bytes_by_hand():
    llama2 = MODEL_SHAPES["llama-2-7b"]  # 32 layers x 32 kv heads x 128 dims, K and V
    assert bytes_per_token(llama2, "fp16") == 2 * 32 * 32 * 128 * 2 == 512 * 1024
    assert cache_bytes(llama2, 1, 4096, "fp16") == 2 * GIB  # the well-known 2 GiB at 4k
    llama3 = MODEL_SHAPES["llama-3-8b"]  # GQA: 8 kv heads of 32 query heads
    assert bytes_per_token(llama3, "fp16") == bytes_per_token(llama2, "fp16") // 4
    int8 = bytes_per_token(llama3, "int8")
    assert int8 == 32 * 2 * 8 * (128 + 4)  # a float32 scale per token and kv head
    report = breakdown(llama3, batch=2, tokens=1000, dtype="fp16")
    assert report.mha_total == 4 * report.total and report.mqa_total * 8 == report.total
    assert report.per_layer * 32 == report.total


def test_the_longest_context_in_a_budget_is_the_edge_of_the_formula():
    shape, budget = MODEL_SHAPES["llama-3-8b"], 24 * GIB
    tokens = max_tokens(shape, 1, "fp16", budget, "bf16")
    weights = weight_bytes(shape, "bf16")
    assert weights + cache_bytes(shape, 1, tokens, "fp16") <= budget
    assert weights + cache_bytes(shape, 1, tokens + 1, "fp16") > budget
    assert tokens == (24 * GIB - 2 * 8_030_261_248) // (128 * 1024) == 74_075  # by hand
    batch = max_batch(shape, 8192, "fp16", budget, "bf16")
    assert weights + cache_bytes(shape, batch, 8192, "fp16") <= budget
    assert weights + cache_bytes(shape, batch + 1, 8192, "fp16") > budget
    assert max_tokens(MODEL_SHAPES["llama-3-70b"], 1, "fp16", budget, "bf16") == 0


def test_bad_requests_name_the_field():
    shape = MODEL_SHAPES["gpt2"]
    with pytest.raises(ConfigError, match="batch"):
        cache_bytes(shape, 0, 10, "fp16")
    with pytest.raises(ConfigError) as error:
        cache_bytes(shape, 1, 10, "fp8")
    assert error.value.field == "dtype"
    with pytest.raises(ConfigError) as error:
        shape.with_changes(kv_heads=5)
    assert error.value.field == "kv_heads" and "1, 2, 3, 4, 6, 12" in str(error.value)
