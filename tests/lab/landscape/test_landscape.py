"""Landscape grids against independent computations: one point at a time with
the ordinary forward pass, the formula for a quadratic, and norms by hand."""

import numpy as np
import pytest
import torch
from torch import nn

from lab.landscape import (
    LossEvaluator,
    landscape_for,
    make_directions,
    parameters_of,
    pca_directions,
    project,
    refinement_order,
    surface_2d,
)
from lab.landscape.evaluator import fused_plan_for
from lab.native import fused_mlp
from lab.train.trainer import Trainer
from tests.lab.helpers import tiny_config


def trained(steps: int = 60, **changes) -> Trainer:
    trainer = Trainer(tiny_config(**changes))
    trainer.run(steps)
    return trainer


def loss_at(trainer: Trainer, params, x, y) -> float:
    """The plain way: load the weights into a copy of the model and run it."""
    import copy

    model = copy.deepcopy(trainer.model).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name])
        return float(trainer.task.loss_fn(model(x), y))


def test_centre_is_the_current_loss_and_the_grid_is_regular():
    trainer = trained()
    result = landscape_for(trainer, resolution=9, span=0.5, n_points=256)
    surface = result.surface
    np.testing.assert_allclose(surface.alphas, np.linspace(-0.5, 0.5, 9))
    np.testing.assert_allclose(surface.betas, surface.alphas)
    assert surface.alphas[4] == 0.0 and surface.complete
    x, y = trainer.x_train[:256], trainer.y_train[:256]
    by_hand = loss_at(trainer, parameters_of(trainer.model), x, y)
    assert surface.losses[4, 4] == pytest.approx(by_hand, rel=1e-6)
    assert result.center_loss == pytest.approx(by_hand, rel=1e-6)
    assert np.isfinite(surface.losses).all()


MODELS = {
    "plain relu": {},
    "leaky relu, identity, widths 20 and 37": {
        "model.layers[0].activation": "leaky_relu",
        "model.layers[0].width": 20,
        "model.layers[1].activation": "identity",
        "model.layers[1].width": 37,
    },
    "batchnorm+dropout": {"model.layers[0].norm": "batch", "model.layers[1].dropout": 0.3},
    "layer+rms norm": {"model.layers[0].norm": "layer", "model.layers[1].norm": "rms"},
    "rezero residual, pre-norm": {
        "model.layers[1].residual": True,
        "model.layers[1].norm": "layer",
        "model.residual_scale": "rezero",
        "model.norm_position": "pre",
    },
    "regression (mse)": {"data.name": "regression1d"},
    "four classes": {"data.name": "gaussians", "data.n_classes": 4},
    "label smoothing": {"train.label_smoothing": 0.2},
    "scaled residual, tanh": {
        "model.layers[1].residual": True,
        "model.residual_scale": "inv_sqrt_2n",
        "model.layers[1].activation": "tanh",
    },
}


@pytest.mark.parametrize("fused", [True, False], ids=["fused kernel", "torch"])
@pytest.mark.parametrize("kind", ["filter", "random"])
@pytest.mark.parametrize("changes", list(MODELS.values()), ids=list(MODELS))
def test_grid_equals_a_one_point_at_a_time_loop(changes, kind, fused):
    trainer = trained(**changes)
    params = parameters_of(trainer.model)
    d1, d2 = make_directions(params, kind, seed=3)  # random: norm scales move too
    x, y = trainer.x_train[:128], trainer.y_train[:128]
    evaluator = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y, fused=fused)
    assert evaluator.fast  # a batched MLP pass is what runs here
    # the compiled kernel where it was asked for and the model is one it runs
    runnable = fused_plan_for(trainer.model) is not None and fused_mlp.library() is not None
    assert evaluator.fused == (fused and runnable)
    # two-class cross-entropy takes the logit-difference shortcut; the rest the logits
    binary = changes.get("data.name", "moons") == "moons" and "train.label_smoothing" not in changes
    assert (evaluator._binary_sign is not None) == binary
    surface = surface_2d(
        evaluator,
        params,
        d1,
        d2,
        resolution=7,
        span=1.0,
        chunk=5,
    )
    for i, a in enumerate(surface.alphas):
        for j, b in enumerate(surface.betas):
            point = {n: params[n] + a * d1[n] + b * d2[n] for n in params}
            assert surface.losses[i, j] == pytest.approx(loss_at(trainer, point, x, y), rel=1e-5)


def test_the_two_class_shortcut_holds_for_confident_and_badly_wrong_logits():
    """softplus of the logit difference against cross-entropy on the logits,
    where the logits are hundreds apart (exp overflows without care)."""
    trainer = trained()
    params = parameters_of(trainer.model)
    x, y = trainer.x_train[:64], trainer.y_train[:64]
    evaluator = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y)
    assert evaluator._binary_sign is not None
    losses = []
    for scale in (1.0, 300.0, -300.0):  # -300: confidently wrong
        point = dict(params)
        point["head.weight"] = params["head.weight"] * scale
        losses.append(loss_at(trainer, point, x, y))
        stacked = {name: p.unsqueeze(0) for name, p in point.items()}
        assert float(evaluator(stacked)[0]) == pytest.approx(losses[-1], rel=1e-5)
    assert losses[2] > 100  # the logits really were far apart


CNNS = {
    "batchnorm folded into the conv, residual": {},
    "layer + rms norm, pre-norm, rezero": {
        "model.layers[0].norm": "layer",
        "model.layers[1].norm": "rms",
        "model.norm_position": "pre",
        "model.residual_scale": "rezero",
    },
    "residual on the input, tanh, dropout": {
        "model.layers[0].width": 1,
        "model.layers[0].pool": False,
        "model.layers[0].norm": "none",
        "model.layers[0].residual": True,
        "model.layers[0].activation": "tanh",
        "model.layers[1].dropout": 0.3,
    },
}


def cnn_trainer(**changes) -> Trainer:
    from lab.core.presets import PRESETS

    config = PRESETS["shapes-cnn"].with_changes({"data.n_samples": 200, **changes})
    trainer = Trainer(config)
    trainer.run(5)
    return trainer


def assert_grid_matches_the_plain_loop(trainer: Trainer, evaluator, kind: str) -> None:
    params = parameters_of(trainer.model)
    d1, d2 = make_directions(params, kind, seed=1)
    surface = surface_2d(evaluator, params, d1, d2, resolution=3, span=0.5, chunk=2)
    x, y = evaluator.x, evaluator.y
    for i, a in enumerate(surface.alphas):
        for j, b in enumerate(surface.betas):
            point = {n: params[n] + a * d1[n] + b * d2[n] for n in params}
            assert surface.losses[i, j] == pytest.approx(loss_at(trainer, point, x, y), rel=1e-5)


@pytest.mark.parametrize("kind", ["filter", "random"])
@pytest.mark.parametrize("changes", list(CNNS.values()), ids=list(CNNS))
def test_batched_cnn_grid_equals_a_one_point_at_a_time_loop(changes, kind):
    trainer = cnn_trainer(**changes)
    x, y = trainer.x_train[:32], trainer.y_train[:32]
    evaluator = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y)
    assert evaluator.fast  # the grouped-convolution pass is what runs here
    assert_grid_matches_the_plain_loop(trainer, evaluator, kind)


def test_the_vmap_path_matches_too_on_a_cnn():
    trainer = cnn_trainer()
    x, y = trainer.x_train[:32], trainer.y_train[:32]
    evaluator = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y)
    evaluator.fast = False  # the general path, for models without a batched pass
    assert_grid_matches_the_plain_loop(trainer, evaluator, "filter")


@pytest.mark.parametrize("cnn", [False, True], ids=["mlp", "cnn"])
def test_a_job_keeps_the_running_statistics_it_started_with(cnn):
    """Training between chunks moves BatchNorm's running statistics; the
    landscape stays the one of the model as it was when it was asked for."""
    import copy
    from types import SimpleNamespace

    from lab.landscape import LandscapeJob

    trainer = cnn_trainer() if cnn else trained(**{"model.layers[0].norm": "batch"})
    then = SimpleNamespace(model=copy.deepcopy(trainer.model), task=trainer.task)
    norm = trainer.model.blocks[0].norm
    running_mean = norm.running_mean.clone()
    job = LandscapeJob(trainer, resolution=3, span=0.5, n_points=32, seed=2)
    for _report in job.steps():
        trainer.run(3)  # the engine trains between chunks
    assert not torch.equal(norm.running_mean, running_mean)  # the statistics did move
    params = parameters_of(then.model)
    d1, d2 = make_directions(params, "filter", seed=2)
    x, y = trainer.x_train[:32], trainer.y_train[:32]
    surface = job.result.surface
    for i, a in enumerate(surface.alphas):
        for j, b in enumerate(surface.betas):
            point = {n: params[n] + a * d1[n] + b * d2[n] for n in params}
            assert surface.losses[i, j] == pytest.approx(loss_at(then, point, x, y), rel=1e-5)


def test_the_model_is_left_as_it_was():
    trainer = trained()
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.model.train()
    landscape_for(trainer, resolution=5, n_points=64)
    assert trainer.model.training
    for name, p in trainer.model.named_parameters():
        assert p.requires_grad
        torch.testing.assert_close(p.detach(), before[name], rtol=0, atol=0)


def test_a_cancelled_landscape_leaves_the_model_in_training_mode_too():
    trainer = trained()
    trainer.model.train()
    result = landscape_for(trainer, resolution=9, n_points=64, progress=lambda _f, _s: False)
    assert not result.surface.complete and trainer.model.training


def test_filter_normalisation_matches_each_filter_and_zeroes_biases():
    trainer = trained(**{"model.layers[0].norm": "layer"})
    params = parameters_of(trainer.model)
    d1, _ = make_directions(params, "filter", seed=0)
    for name, d in d1.items():
        if d.dim() <= 1:
            assert float(d.abs().max()) == 0.0, name
            continue
        for row in range(d.shape[0]):  # each unit's incoming weights
            assert float(d[row].norm()) == pytest.approx(float(params[name][row].norm()), rel=1e-5)
    conv = nn.Conv2d(3, 4, 3)
    conv_params = parameters_of(conv)
    direction, _ = make_directions(conv_params, "filter", seed=1)
    for channel in range(4):
        expected = float(conv_params["weight"][channel].norm())
        assert float(direction["weight"][channel].norm()) == pytest.approx(expected, rel=1e-5)


class Quadratic(nn.Module):
    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(start.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w.expand(x.shape[0], -1)


def test_a_quadratic_with_known_hessian_gives_the_known_bowl():
    torch.manual_seed(0)
    n = 5
    a = torch.randn(n, n)
    hessian = a @ a.T + n * torch.eye(n)
    optimum, start = torch.randn(n), torch.randn(n)

    def loss_fn(out, target):
        diff = out[0] - target[0]
        return 0.5 * diff @ hessian @ diff

    model = Quadratic(start)
    params = parameters_of(model)
    d1, d2 = {"w": torch.randn(n)}, {"w": torch.randn(n)}
    x, y = torch.zeros(1, 1), optimum.unsqueeze(0)
    surface = surface_2d(
        LossEvaluator(model, loss_fn, x, y), params, d1, d2, resolution=11, span=2.0
    )
    for i, alpha in enumerate(surface.alphas):
        for j, beta in enumerate(surface.betas):
            diff = start + alpha * d1["w"] + beta * d2["w"] - optimum
            assert surface.losses[i, j] == pytest.approx(
                float(0.5 * diff @ hessian @ diff), rel=1e-5
            )


def test_cancel_stops_within_one_chunk_and_keeps_what_was_done():
    trainer = trained()
    params = parameters_of(trainer.model)
    d1, d2 = make_directions(params, "filter", seed=0)
    evaluator = LossEvaluator(
        trainer.model, trainer.task.loss_fn, trainer.x_train[:64], trainer.y_train[:64]
    )
    calls = []

    def progress(fraction, partial):
        calls.append(fraction)
        return len(calls) < 2  # cancel after the second chunk

    surface = surface_2d(evaluator, params, d1, d2, resolution=21, chunk=7, progress=progress)
    assert not surface.complete
    assert np.isfinite(surface.losses).sum() == 14  # exactly two chunks
    assert len(calls) == 2


def test_refinement_passes_cover_every_point_once_and_start_with_the_centre():
    passes = refinement_order(41)
    cells = np.concatenate(passes)
    assert len(cells) == 41 * 41 == len({tuple(c) for c in cells})
    assert [20, 20] in passes[0].tolist()  # the first picture contains the current weights
    assert len(passes[0]) < 41 * 41 / 10  # and is coarse


def test_pca_plane_and_projection_recover_a_planar_path():
    torch.manual_seed(0)
    params = {"w": torch.randn(30), "b": torch.randn(4)}
    flat = torch.cat([params["w"], params["b"]])
    u, v = torch.linalg.qr(torch.randn(34, 2))[0].T
    coords = torch.randn(12, 2) * torch.tensor([3.0, 1.0])
    snapshots = flat + coords[:, :1] * u + coords[:, 1:] * v
    d1, d2, explained = pca_directions(snapshots, params)
    e1, e2 = torch.cat([d1["w"], d1["b"]]), torch.cat([d2["w"], d2["b"]])
    assert float(e1 @ e1) == pytest.approx(1.0) and float(e1 @ e2) == pytest.approx(0.0, abs=1e-6)
    assert explained.sum() == pytest.approx(1.0)
    projected = project(snapshots, params, d1, d2)
    back = (
        flat
        + torch.as_tensor(projected[:, :1]).float() * e1
        + torch.as_tensor(projected[:, 1:]).float() * e2
    )
    torch.testing.assert_close(back, snapshots, atol=1e-4, rtol=1e-4)  # the path lies in the plane


def test_trajectory_is_recorded_bounded_and_projected():
    trainer = trained(400)
    assert trainer.path.steps[0] == 0 and trainer.path.steps[-1] == 400
    assert len(trainer.path.snapshots) <= trainer.path.capacity
    result = landscape_for(trainer, kind="pca", resolution=5, n_points=64)
    assert result.trajectory.shape == (len(trainer.path.snapshots), 2)
    np.testing.assert_allclose(
        result.trajectory[-1], [0, 0], atol=1e-5
    )  # the path ends at the centre
    assert result.explained[0] >= result.explained[1] > 0


def test_pca_axes_are_scaled_so_a_span_of_one_shows_the_whole_path():
    from lab.landscape import PCA_MARGIN

    trainer = trained(300)
    result = landscape_for(trainer, kind="pca", resolution=5, n_points=64)
    # by hand: unit principal directions, the path's coordinates along them
    params = parameters_of(trainer.model)
    snapshots = torch.stack(trainer.path.snapshots)
    d1, d2, _ = pca_directions(snapshots, params)
    unit_path = project(snapshots, params, d1, d2)
    reach = np.abs(unit_path).max()
    assert reach > 2  # in unit directions the path leaves a span-1 grid far behind
    norm1, norm2 = result.direction_norms
    assert norm1 == pytest.approx(PCA_MARGIN * reach, rel=1e-4) and norm2 == pytest.approx(norm1)
    np.testing.assert_allclose(np.abs(result.trajectory), np.abs(unit_path) / norm1, atol=1e-5)
    assert np.abs(result.trajectory).max() == pytest.approx(1 / PCA_MARGIN)
    filtered = landscape_for(trainer, kind="filter", resolution=3, n_points=64)
    weights = float(torch.linalg.vector_norm(torch.cat([p.flatten() for p in params.values()])))
    assert 0 < filtered.direction_norms[0] < weights  # filter-wise norms, biases zeroed


def test_interpolation_line_runs_from_initial_to_current_weights():
    from lab.landscape import interpolation, line_1d

    trainer = trained(100)
    x, y = trainer.x_train[:200], trainer.y_train[:200]
    evaluator = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y)
    current = parameters_of(trainer.model)
    coords, losses = interpolation(evaluator, trainer.path.initial, current, points=21, extend=0.5)
    assert coords[5] == 0.0 and coords[15] == 1.0
    assert losses[5] == pytest.approx(loss_at(trainer, trainer.path.initial, x, y), rel=1e-5)
    assert losses[15] == pytest.approx(loss_at(trainer, current, x, y), rel=1e-5)
    assert losses[15] < losses[5]  # training went downhill
    d1, _ = make_directions(current, "filter", seed=2)
    along = line_1d(evaluator, current, d1, np.array([-0.5, 0.0, 0.5]))
    point = {n: current[n] + 0.5 * d1[n] for n in current}
    assert along[2] == pytest.approx(loss_at(trainer, point, x, y), rel=1e-5)
    assert along[1] == pytest.approx(losses[15], rel=1e-6)


def test_a_job_ends_with_the_line_from_the_initial_weights():
    from lab.landscape import LandscapeJob, interpolation

    trainer = trained(80)
    job = LandscapeJob(trainer, resolution=5, n_points=64)
    fractions = []
    for report in job.steps():
        fractions.append(report.fraction)
        assert not job.complete
        if report.message == "grid" and job.result.surface.complete:
            assert np.isnan(job.result.line_losses).all()  # the grid first, then the line
    assert job.complete and fractions[-1] == 1.0 and fractions == sorted(fractions)
    x, y = trainer.x_train[:64], trainer.y_train[:64]
    current = parameters_of(trainer.model)
    evaluator = LossEvaluator(trainer.model, trainer.task.loss_fn, x, y)
    t, losses = interpolation(evaluator, trainer.path.initial, current)
    np.testing.assert_allclose(job.result.line_t, t)
    np.testing.assert_allclose(job.result.line_losses, losses, rtol=1e-5)
    start, end = np.flatnonzero(np.isclose(t, 0.0)), np.flatnonzero(np.isclose(t, 1.0))
    assert job.result.line_losses[start] == pytest.approx(
        loss_at(trainer, trainer.path.initial, x, y), rel=1e-5
    )
    assert job.result.line_losses[end] == pytest.approx(job.result.center_loss, rel=1e-5)


def test_a_transformer_landscape_by_the_generic_path_equals_the_loss_point_by_point():
    from lab.core.presets import PRESETS

    trainer = Trainer(PRESETS["copy-transformer"])
    trainer.run(30)
    result = landscape_for(trainer, resolution=3, span=0.5, n_points=16, seed=3)
    params = parameters_of(trainer.model)
    d1, d2 = make_directions(params, "filter", seed=3)
    x, y = trainer.x_train[:16], trainer.y_train[:16]
    assert result.center_loss == pytest.approx(loss_at(trainer, params, x, y), rel=1e-5)
    for i, a in enumerate(result.surface.alphas):
        for j, b in enumerate(result.surface.betas):
            point = {n: p + a * d1[n] + b * d2[n] for n, p in params.items()}
            expected = loss_at(trainer, point, x, y)
            assert result.surface.losses[i, j] == pytest.approx(expected, rel=1e-4)
