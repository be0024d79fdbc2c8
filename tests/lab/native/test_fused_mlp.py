"""The compiled fused MLP pass against torch, for every vector width this CPU
can run, and the ways it declines (no compiler, no vectors, models it cannot
describe)."""

import shutil

import pytest
import torch
from torch import nn

from lab.landscape import LossEvaluator, Plane, make_directions, parameters_of
from lab.landscape.evaluator import fused_plan_for
from lab.native import fused_mlp, probe_kernels
from lab.train.trainer import Trainer
from tests.lab.helpers import tiny_config

needs_compiler = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler"
)
NATIVE = fused_mlp.FLAGS
AVX2 = (*fused_mlp.FLAGS, "-mno-avx512f")  # the 8-wide build, on a CPU that has AVX-512
NO_VECTORS = ("-O2", "-mno-avx", "-shared", "-fPIC", "-std=c11")


def built(tmp_path, flags) -> fused_mlp.FusedLibrary:
    path = fused_mlp.build(tmp_path, flags)
    assert path is not None, "the kernel did not compile"
    return fused_mlp.FusedLibrary(path)


def torch_mlp(widths, acts) -> nn.Sequential:
    """Linear layers of ``widths``, each followed by its activation module."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for k, n, act in zip(widths[:-1], widths[1:], acts, strict=True):
        layers += [nn.Linear(k, n), act]
    return nn.Sequential(*layers)


# 3 inputs; widths that are not multiples of 16 (padding); every activation
WIDTHS = [3, 20, 37, 16, 5]
ACTS = [nn.ReLU(), nn.LeakyReLU(0.2), nn.Identity(), nn.Identity()]
PLAN = fused_mlp.Plan(
    weights=tuple(f"{2 * i}.weight" for i in range(4)),
    biases=tuple(f"{2 * i}.bias" for i in range(4)),
    acts=(
        (fused_mlp.RELU, 0.0),
        (fused_mlp.LEAKY, 0.2),
        (fused_mlp.NONE, 0.0),
        (fused_mlp.NONE, 0.0),
    ),
)


def stacked_points(model: nn.Module, points: int) -> dict[str, torch.Tensor]:
    """``points`` perturbed copies of the model's parameters, stacked."""
    generator = torch.Generator().manual_seed(1)
    return {
        name: p.detach() + 0.3 * torch.randn(points, *p.shape, generator=generator)
        for name, p in model.named_parameters()
    }


def reference(model: nn.Module, stacked, x) -> torch.Tensor:
    """(points, outputs, samples), one point at a time through the module."""
    outs = []
    for i in range(next(iter(stacked.values())).shape[0]):
        params = {name: p[i] for name, p in stacked.items()}
        outs.append(torch.func.functional_call(model, params, (x,)).T)
    return torch.stack(outs)


@pytest.fixture(params=[NATIVE, AVX2], ids=["native", "avx2"])
def vector_lib(request, tmp_path) -> fused_mlp.FusedLibrary:
    """The kernel as this CPU builds it, and its 8-wide build."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    lib = built(tmp_path, request.param)
    if lib.vector_width == 0:
        pytest.skip("this CPU has neither AVX2+FMA nor AVX-512")
    if request.param is AVX2:
        assert lib.vector_width == 8
    return lib


def test_the_kernel_equals_torch_point_by_point(vector_lib):
    lib = vector_lib
    model = torch_mlp(WIDTHS, ACTS)
    x = torch.randn(101, 3)  # not a multiple of the 6-row register tile or the 48-row tile
    stacked = stacked_points(model, 7)
    layout, packed = fused_mlp.pack(PLAN, stacked, x.shape[1])
    assert layout.widths == [3, 32, 48, 16, 16]
    with torch.no_grad():
        expected = reference(model, stacked, x)
    one = fused_mlp.run(layout, x, packed, threads=1, lib=lib)
    assert one.shape == (7, 5, 101)
    torch.testing.assert_close(one, expected, rtol=1e-5, atol=1e-5)
    # the points split between threads: the same numbers, bit for bit
    assert torch.equal(fused_mlp.run(layout, x, packed, threads=3, lib=lib), one)


def test_points_formed_in_the_kernel_equal_the_plane_points(vector_lib):
    lib = vector_lib
    model = torch_mlp(WIDTHS, ACTS)
    x = torch.randn(50, 3)
    rows = stacked_points(model, 3)  # an origin and two directions
    coords = torch.tensor([[0.0, 0.0], [1.0, -0.5], [-2.0, 0.25], [0.5, 3.0]])
    points = {
        n: (r[0].flatten() + coords @ r[1:].flatten(1)).view(-1, *r.shape[1:])
        for n, r in rows.items()
    }
    layout, packed = fused_mlp.pack(PLAN, rows, 3)
    on_plane = fused_mlp.run(layout, x, packed, coords=coords, threads=2, lib=lib)
    with torch.no_grad():
        expected = reference(model, points, x)
    # the points themselves are rounded differently (here a + c1*d1 + c2*d2 by
    # FMAs, there by a matrix product): within 1e-5 of the outputs' scale
    scale = float(expected.abs().max())
    torch.testing.assert_close(on_plane, expected, rtol=1e-5, atol=1e-5 * scale)
    # the origin itself, exactly (a + 0 * d is a)
    alone = fused_mlp.run(layout, x, packed[:1], threads=1, lib=lib)
    assert torch.equal(on_plane[0], alone[0])


@needs_compiler
def test_a_build_without_vector_instructions_declines(tmp_path):
    lib = built(tmp_path, NO_VECTORS)
    assert lib.vector_width == 0
    model = torch_mlp(WIDTHS, ACTS)
    layout, packed = fused_mlp.pack(PLAN, stacked_points(model, 1), 3)
    with pytest.raises(RuntimeError, match="status -1"):
        fused_mlp.run(layout, torch.randn(4, 3), packed, lib=lib)


def test_no_compiler_or_switched_off_means_torch_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert fused_mlp.build(tmp_path / "kernels") is None
    assert not list((tmp_path / "kernels").glob("*"))  # no half-written library left
    monkeypatch.setenv("KNOBLAB_NO_FUSED", "1")
    fused_mlp.library.cache_clear()
    probe_kernels.library.cache_clear()  # the trainer's probes look too
    try:
        assert fused_mlp.library() is None
        trainer = Trainer(tiny_config())
        evaluator = LossEvaluator(
            trainer.model, trainer.task.loss_fn, trainer.x_train[:8], trainer.y_train[:8]
        )
        assert evaluator.fast and not evaluator.fused
    finally:
        fused_mlp.library.cache_clear()
        probe_kernels.library.cache_clear()


@needs_compiler
def test_the_kernel_builds_on_this_machine_and_the_landscape_uses_it():
    """CI has a compiler: the fused path must really be what the MLP tests run."""
    assert fused_mlp.library() is not None
    trainer = Trainer(tiny_config())
    x, y = trainer.x_train[:8], trainer.y_train[:8]
    assert LossEvaluator(trainer.model, trainer.task.loss_fn, x, y).fused
    assert not LossEvaluator(trainer.model, trainer.task.loss_fn, x, y, fused=False).fused


@pytest.mark.parametrize(
    "changes",
    [
        {"model.layers[0].norm": "layer"},
        {"model.layers[1].residual": True},
        {"model.layers[0].activation": "tanh"},
        {"model.layers[0].norm": "batch", "model.norm_position": "pre"},
    ],
    ids=["norm", "residual", "tanh", "pre-norm"],
)
def test_models_the_kernel_cannot_describe_have_no_plan(changes):
    assert fused_plan_for(Trainer(tiny_config(**changes)).model) is None


def test_a_plain_mlp_plan_names_each_layer_and_activation():
    changes = {"model.layers[0].activation": "leaky_relu", "model.layers[1].dropout": 0.5}
    plan = fused_plan_for(Trainer(tiny_config(**changes)).model)
    assert plan is not None
    assert plan.weights == ("blocks.0.transform.weight", "blocks.1.transform.weight", "head.weight")
    # dropout is off in eval mode
    assert plan.acts == ((fused_mlp.LEAKY, 0.01), (fused_mlp.RELU, 0.0), (fused_mlp.NONE, 0.0))


@needs_compiler
def test_the_grid_by_the_kernel_equals_torchs_batched_pass_and_the_centre_is_exact():
    trainer = Trainer(tiny_config(**{"model.layers[0].width": 24}))
    trainer.run(30)
    params = parameters_of(trainer.model)
    d1, d2 = make_directions(params, "filter", seed=2)
    x, y = trainer.x_train[:200], trainer.y_train[:200]
    fused = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y)
    plain = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y, fused=False)
    assert fused.fused
    plane = Plane(params, d1, d2)
    coords = torch.cartesian_prod(torch.linspace(-1, 1, 5), torch.linspace(-1, 1, 5))
    torch.testing.assert_close(
        fused.on_plane(plane, coords), plain.on_plane(plane, coords), rtol=1e-5, atol=0
    )
    centre = fused.on_plane(plane, torch.zeros(1, 2))
    assert float(centre[0]) == fused.single(params)


@needs_compiler
def test_inputs_the_kernel_would_misread_are_refused():
    model = torch_mlp(WIDTHS, ACTS)
    layout, packed = fused_mlp.pack(PLAN, stacked_points(model, 2), 3)
    with pytest.raises(ValueError, match="fp32"):
        fused_mlp.run(layout, torch.randn(4, 3, dtype=torch.float64), packed)
    with pytest.raises(ValueError, match="4 features"):
        fused_mlp.run(layout, torch.randn(4, 4), packed)
    with pytest.raises(ValueError, match="layout"):
        fused_mlp.run(layout, torch.randn(4, 3), packed[:, :-1])
    with pytest.raises(ValueError, match="3 coordinates"):  # two rows: one direction only
        fused_mlp.run(layout, torch.randn(4, 3), packed, coords=torch.zeros(5, 3))
