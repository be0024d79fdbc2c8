import pytest
import torch
from torch import nn

from lab.core.config import ACTIVATIONS, NORMS, LayerConfig, ModelConfig, mlp_layers
from lab.models import build_model, summarize
from lab.models.layers import Block


def test_mlp_parameter_count_and_shapes_match_the_formula():
    model = build_model(ModelConfig(layers=mlp_layers(4, 64)), (2,), 3)
    summary = summarize(model, (2,))
    expected = (2 * 64 + 64) + 3 * (64 * 64 + 64) + (64 * 3 + 3)
    assert summary.n_params == expected == sum(p.numel() for p in model.parameters())
    assert [layer.name for layer in summary.layers] == [
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "head",
    ]
    assert [layer.output_shape for layer in summary.layers] == [(64,)] * 4 + [(3,)]
    assert "total" in summary.table()


def test_cnn_shapes_follow_pooling():
    config = ModelConfig(
        kind="cnn",
        layers=(
            LayerConfig(8, pool=True),
            LayerConfig(16, kernel=5, pool=True),
            LayerConfig(16, residual=True),
        ),
    )
    model = build_model(config, (1, 16, 16), 4)
    summary = summarize(model, (1, 16, 16))
    assert [layer.output_shape for layer in summary.layers] == [
        (8, 8, 8),
        (16, 4, 4),
        (16, 4, 4),
        (4,),
    ]
    conv_params = (1 * 9 * 8 + 8) + (8 * 25 * 16 + 16) + (16 * 9 * 16 + 16)
    assert summary.n_params == conv_params + 16 * 4 + 4
    assert model(torch.zeros(5, 1, 16, 16)).shape == (5, 4)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("norm", NORMS)
def test_every_block_owns_its_activation_module(activation, norm):
    model = build_model(ModelConfig(layers=mlp_layers(3, 8, activation, norm=norm)), (2,), 2)
    acts = [block.act for block in model.blocks]
    assert len({id(a) for a in acts}) == 3  # three distinct modules, hookable per layer
    assert model(torch.randn(4, 2)).shape == (4, 2)
    assert summarize(model, (2,)).layers[0].output_shape == (8,)


def test_norm_types():
    layers = tuple(LayerConfig(8, norm=norm) for norm in ("batch", "layer", "rms"))
    model = build_model(ModelConfig(layers=layers), (2,), 2)
    assert [type(b.norm) for b in model.blocks] == [nn.BatchNorm1d, nn.LayerNorm, nn.RMSNorm]


def test_residual_branch_scales():
    layers = (LayerConfig(2, residual=True),) * 4
    scaled = build_model(ModelConfig(layers=layers, residual_scale="inv_sqrt_2n"), (2,), 2)
    assert all(float(b.branch_scale) == pytest.approx(1 / 8**0.5) for b in scaled.blocks)
    rezero = build_model(ModelConfig(layers=layers, residual_scale="rezero"), (2,), 2)
    x = torch.randn(5, 2)
    for block in rezero.blocks:  # a ReZero block starts as the identity
        assert isinstance(block.branch_scale, nn.Parameter)
        torch.testing.assert_close(block(x), x)
    assert sum(isinstance(p, nn.Parameter) for b in rezero.blocks for p in [b.branch_scale]) == 4


def test_pre_norm_normalises_the_block_input():
    model = build_model(
        ModelConfig(layers=(LayerConfig(2, norm="layer", residual=True),), norm_position="pre"),
        (2,),
        2,
    )
    block: Block = model.blocks[0]
    assert block.norm.normalized_shape == (2,)
    x = torch.randn(3, 2)
    expected = x + block.transform(block.act(block.norm(x)))  # pre-activation order
    torch.testing.assert_close(block(x), expected)
    plain = build_model(
        ModelConfig(layers=(LayerConfig(4, norm="layer"),), norm_position="pre"), (2,), 2
    )
    block = plain.blocks[0]  # not residual: normalise the input, then the usual order
    torch.testing.assert_close(block(x), block.act(block.transform(block.norm(x))))


def test_dropout_is_its_own_module_and_off_in_eval():
    model = build_model(ModelConfig(layers=mlp_layers(2, 16, dropout=0.5)), (2,), 2)
    assert isinstance(model.blocks[0].drop, nn.Dropout)
    model.eval()
    x = torch.randn(8, 2)
    torch.testing.assert_close(model(x), model(x))
