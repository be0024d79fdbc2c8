import math

import pytest
import torch
from torch import nn

from lab.core.config import INIT_SCHEMES, InitConfig, ModelConfig, mlp_layers
from lab.models import build_model
from lab.train.init import apply_init, expected_std

FAN_OUT, FAN_IN = 256, 512


def independent_std(scheme: str, gain: float, std: float) -> float:
    """Expected std written out from the papers, not from lab.init."""
    return (
        gain
        * {
            "default": 1 / math.sqrt(3 * FAN_IN),
            "he_normal": math.sqrt(2 / FAN_IN),
            "he_uniform": math.sqrt(2 / FAN_IN),
            "xavier_normal": math.sqrt(2 / (FAN_IN + FAN_OUT)),
            "xavier_uniform": math.sqrt(2 / (FAN_IN + FAN_OUT)),
            "orthogonal": 1 / math.sqrt(FAN_IN),
            "normal": std,
            "zeros": 0.0,
        }[scheme]
    )


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
@pytest.mark.parametrize("gain", [1.0, 1.5])
def test_each_scheme_gives_the_expected_weight_std(scheme, gain):
    torch.manual_seed(0)
    layer = nn.Linear(FAN_IN, FAN_OUT).requires_grad_(False)
    config = InitConfig(scheme=scheme, gain=gain, std=0.05, bias=0.25)
    apply_init(layer, config)
    want = independent_std(scheme, gain, 0.05)
    assert expected_std(config, tuple(layer.weight.shape)) == pytest.approx(want)
    n = layer.weight.numel()
    # The sample std of n draws has a relative standard error of ~1/sqrt(2n);
    # 6 of those is a tolerance that a wrong scheme (off by >= 10%) cannot meet.
    tolerance = 6 / math.sqrt(2 * n) * want
    assert float(layer.weight.std()) == pytest.approx(want, abs=tolerance + 1e-12)
    assert float(layer.weight.mean()) == pytest.approx(0.0, abs=6 * want / math.sqrt(n) + 1e-12)
    torch.testing.assert_close(layer.bias, torch.full((FAN_OUT,), 0.25))


def test_uniform_schemes_are_uniform_and_normal_ones_are_not():
    torch.manual_seed(0)
    w = torch.empty(FAN_OUT, FAN_IN)
    layer = nn.Linear(FAN_IN, FAN_OUT).requires_grad_(False)
    apply_init(layer, InitConfig(scheme="he_uniform"))
    bound = math.sqrt(6 / FAN_IN)
    assert float(layer.weight.abs().max()) <= bound
    assert float(layer.weight.abs().max()) > 0.99 * bound
    apply_init(layer, InitConfig(scheme="he_normal"))
    w = layer.weight
    assert float(w.abs().max()) > 3 * float(w.std())  # Gaussian tails


def test_orthogonal_rows_are_orthonormal():
    layer = nn.Linear(FAN_IN, FAN_OUT).requires_grad_(False)
    apply_init(layer, InitConfig(scheme="orthogonal", gain=2.0))
    gram = layer.weight @ layer.weight.T
    torch.testing.assert_close(gram, 4.0 * torch.eye(FAN_OUT), atol=1e-4, rtol=1e-4)


def test_init_reaches_every_layer_but_leaves_norms_alone():
    model = build_model(
        ModelConfig(layers=mlp_layers(3, 16, norm="layer")), (2,), 2
    ).requires_grad_(False)
    apply_init(model, InitConfig(scheme="zeros", bias=0.5))
    for block in model.blocks:
        assert float(block.transform.weight.abs().max()) == 0.0
        assert torch.all(block.transform.bias == 0.5)
        assert torch.all(block.norm.weight == 1.0)
    assert float(model.head.weight.abs().max()) == 0.0


def test_conv_fans_include_the_kernel():
    conv = nn.Conv2d(8, 16, 3)
    config = InitConfig(scheme="he_normal")
    assert expected_std(config, tuple(conv.weight.shape)) == pytest.approx(math.sqrt(2 / (8 * 9)))
