"""Probe figures against independent computations: autograd by hand, numpy on
the same activations, brute-force recounts."""

import copy
import math

import numpy as np
import pytest
import torch

from lab.core.config import ExperimentConfig, InitConfig, LayerConfig, ModelConfig, mlp_layers
from lab.native import probe_kernels
from lab.probes import probes
from lab.probes.collectors import CompiledCollector
from lab.train.signal import signal_propagation
from lab.train.trainer import Trainer
from tests.lab.helpers import tiny_config


@pytest.fixture(autouse=True, params=["compiled", "torch"])
def collector(request, monkeypatch) -> str:
    """Every figure is checked on both paths: the compiled kernels (the CPU
    with a C compiler) and torch's ops (a GPU, or no compiler)."""
    if request.param == "torch":
        monkeypatch.setattr(probe_kernels, "library", lambda: None)
    elif probe_kernels.library() is None:
        pytest.skip("the probe kernels did not build here")
    return request.param


def recorded(trainer: Trainer) -> list:
    """What the probes' collector holds: its tables, and torch's kept tensors."""
    collector = trainer.probes._collector
    tables = [collector.acts.moments, collector.outputs.moments, collector.outputs.squares]
    kept = []
    if not isinstance(collector, CompiledCollector):
        kept = [len(k) for k in collector.kept_acts + collector.kept_outputs + collector.grad_norms]
    return [table.copy() for table in tables] + [kept]


def probed(**changes) -> Trainer:
    return Trainer(tiny_config(**({"probes.every": 1} | changes)))


def capture(module: torch.nn.Module, sink: list) -> torch.utils.hooks.RemovableHandle:
    """Our own hook, independent of the probes, keeping a host copy of the
    outputs of training steps (evaluations run in eval mode)."""

    def keep(module: torch.nn.Module, _inputs: object, out: torch.Tensor) -> None:
        if module.training:
            sink.append(out.detach().numpy().copy())

    return module.register_forward_hook(keep)


@pytest.mark.parametrize("depth", [2, 4])  # 4: equal shapes, summarised stacked
def test_gradient_weight_and_update_norms_match_hand_computation(depth):
    import dataclasses

    config = tiny_config(**{"probes.every": 1})
    trainer = Trainer(dataclasses.replace(config, model=ModelConfig(layers=mlp_layers(depth, 16))))
    trainer.run(3)
    snap = trainer.probes.latest
    grads = [p.grad for p in trainer.params]
    by_hand = np.array([float(torch.linalg.vector_norm(g)) for g in grads])
    np.testing.assert_allclose(snap.param_grad_norm, by_hand, rtol=1e-5)
    # per layer: the norm of all of that layer's gradients together
    layer1 = torch.cat([g.reshape(-1) for g in grads[:2]])
    assert snap.grad_norm[0] == pytest.approx(float(layer1.norm()), rel=1e-5)
    assert snap.global_grad_norm == pytest.approx(
        float(torch.cat([g.reshape(-1) for g in grads]).norm()), rel=1e-5
    )
    # plain SGD: w_before = w_after + lr * g, and the update is lr * g
    lr = trainer.config.optim.lr
    w_before = [p.detach() + lr * p.grad for p in trainer.params]
    before_l1 = torch.cat([w.reshape(-1) for w in w_before[:2]]).norm()
    assert snap.weight_norm[0] == pytest.approx(float(before_l1), rel=1e-5)
    assert snap.update_ratio[0] == pytest.approx(
        lr * float(layer1.norm()) / float(before_l1), rel=1e-4
    )
    assert snap.step == 3
    assert trainer.store["probe/grad_norm"].steps.tolist() == [1, 2, 3]
    layers = tuple(f"layer{i + 1}" for i in range(depth))
    assert trainer.store["probe/grad_norm"].columns == (*layers, "head")
    # every layer, the last hidden one included (its shapes are grouped with others)
    last = depth - 1
    layer_last = torch.cat([g.reshape(-1) for g in grads[2 * last : 2 * last + 2]])
    assert snap.grad_norm[last] == pytest.approx(float(layer_last.norm()), rel=1e-5)
    before_last = torch.cat([w.reshape(-1) for w in w_before[2 * last : 2 * last + 2]]).norm()
    assert snap.update_ratio[last] == pytest.approx(
        lr * float(layer_last.norm()) / float(before_last), rel=1e-4
    )


def test_activation_statistics_match_numpy():
    layers = (LayerConfig(32, "relu"), LayerConfig(32, "tanh"), LayerConfig(32, "sigmoid"))
    trainer = probed(
        **{"model.layers": [layer.__dict__ for layer in layers], "probes.saturation": 0.9}
    )
    trainer.run(2)
    seen: list[list[np.ndarray]] = [[], [], []]
    handles = [capture(block.act, seen[i]) for i, block in enumerate(trainer.model.blocks)]
    trainer.step()
    for handle in handles:
        handle.remove()
    snap = trainer.probes.latest
    for i, (lo, hi) in enumerate([(0.0, 4.0), (-1.0, 1.0), (0.0, 1.0)]):
        a = seen[i][0].astype(np.float64)
        assert snap.act_mean[i] == pytest.approx(a.mean(), rel=1e-5, abs=1e-7)
        assert snap.act_std[i] == pytest.approx(a.std(), rel=1e-4)
        counts, edges = np.histogram(np.clip(a, lo, hi), bins=40, range=(lo, hi))
        np.testing.assert_array_equal(snap.hist[f"layer{i + 1}"], counts)
        np.testing.assert_allclose(snap.hist_edges[f"layer{i + 1}"], edges)
    tanh, sigmoid = seen[1][0], seen[2][0]
    assert snap.saturation[1] == pytest.approx(np.mean(np.abs(tanh) > 0.9))
    assert snap.saturation[2] == pytest.approx(np.mean((sigmoid < 0.1) | (sigmoid > 0.9)))
    assert math.isnan(snap.saturation[0])  # ReLU does not saturate
    assert snap.saturation[1] > 0  # the check is not vacuous


def test_equal_layers_summarised_together_match_numpy_and_ignore_other_calls():
    """Layers of one shape are stacked and summarised in one go, each still equal
    to numpy on its own outputs. With every step probed the hooks stay on
    between steps, yet record nothing outside a collection: not an evaluation
    pass, not a forward pass through a copy of the model."""
    widths = (16, 16, 16, 8)
    trainer = probed(**{"model.layers": [LayerConfig(w, "relu").__dict__ for w in widths]})
    trainer.run(2)
    assert trainer.probes._handles  # left on: the next step is probed too
    before = recorded(trainer)
    trainer.evaluate()
    copy.deepcopy(trainer.model)(trainer.x_train[:5])
    after = recorded(trainer)
    for held, now in zip(before, after, strict=True):
        np.testing.assert_array_equal(now, held)
    seen: list[list[np.ndarray]] = [[] for _ in widths]
    handles = [capture(block.act, seen[i]) for i, block in enumerate(trainer.model.blocks)]
    trainer.step()
    for handle in handles:
        handle.remove()
    snap = trainer.probes.latest
    for i, outputs in enumerate(seen):
        assert len(outputs) == 1
        a = outputs[0].astype(np.float64)
        assert snap.act_mean[i] == pytest.approx(a.mean(), rel=1e-5, abs=1e-7)
        assert snap.act_std[i] == pytest.approx(a.std(), rel=1e-4)
        counts, _ = np.histogram(np.clip(a, 0, 4), bins=40, range=(0, 4))  # ReLU: [0, r]
        np.testing.assert_array_equal(snap.hist[f"layer{i + 1}"], counts)
        dead = ~(a > 0).any(axis=0)
        assert snap.dead_now[i] == pytest.approx(dead.mean())
        assert snap.output_std[i] == pytest.approx(a.std(), rel=1e-4)


def test_statistics_pool_over_accumulated_micro_batches():
    trainer = probed(
        **{"optim.accumulation": 3, "data.batch_size": 16, "model.layers[0].activation": "tanh"}
    )
    seen: list[np.ndarray] = []
    handle = capture(trainer.model.blocks[0].act, seen)
    trainer.step()
    handle.remove()
    all_a = np.concatenate(seen).astype(np.float64)
    assert len(seen) == 3
    snap = trainer.probes.latest
    assert snap.act_mean[0] == pytest.approx(all_a.mean(), rel=1e-5)
    assert snap.act_std[0] == pytest.approx(all_a.std(), rel=1e-5)


def test_activation_gradient_norms_match_autograd():
    trainer = probed()
    size = trainer.config.data.batch_size
    x, y = trainer.batches.next(size)  # peek at the batch the next step will use
    trainer.batches.cursor -= size
    outputs = []
    handles = [
        block.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        for block in trainer.model.blocks
    ]
    handles.append(
        trainer.model.head.register_forward_hook(lambda _m, _i, out: outputs.append(out))
    )
    logits = trainer.model(x)
    for handle in handles:
        handle.remove()
    grads = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), outputs)
    by_hand = [float(g.norm()) for g in grads]
    trainer.step()
    np.testing.assert_allclose(trainer.probes.latest.act_grad_norm, by_hand, rtol=1e-5)
    np.testing.assert_allclose(
        trainer.probes.latest.output_std,
        [o.detach().std(unbiased=False) for o in outputs],
        rtol=1e-5,
    )


def test_dead_units_equal_a_brute_force_recount_over_the_window():
    trainer = probed(**{"probes.dead_window": 3, "model.layers[0].width": 64, "init.bias": -0.3})
    seen: list[np.ndarray] = []
    handle = capture(trainer.model.blocks[0].act, seen)
    trainer.run(5)
    handle.remove()
    snap = trainer.probes.latest
    window = np.concatenate(seen[-3:])  # the last three probed batches
    dead_by_hand = ~(window > 0).any(axis=0)
    np.testing.assert_array_equal(snap.dead_map["layer1"], dead_by_hand.astype(float))
    assert snap.dead_fraction[0] == pytest.approx(dead_by_hand.mean())
    assert snap.dead_now[0] == pytest.approx((~(seen[-1] > 0).any(axis=0)).mean())
    assert 0 < dead_by_hand.mean() < 1  # a mixed picture, so the test can tell


def test_dead_conv_channels_count_every_position():
    from lab.core.presets import PRESETS

    trainer = Trainer(
        PRESETS["shapes-cnn"].with_changes(
            {"probes.every": 1, "data.n_samples": 200, "init.bias": -0.5}
        )
    )
    seen: list[np.ndarray] = []
    handle = capture(trainer.model.blocks[1].act, seen)
    trainer.step()
    handle.remove()
    dead = ~(seen[0] > 0).any(axis=(0, 2, 3))
    np.testing.assert_array_equal(trainer.probes.latest.dead_map["layer2"], dead.astype(float))


def test_a_layer_made_to_die_reports_100_percent_then_0_after_reset():
    # biases at 0.3: no unit of this net is dead at the start (checked below)
    trainer = probed(**{"probes.dead_window": 2, "data.batch_size": 64, "init.bias": 0.3})
    trainer.step()
    assert trainer.probes.latest.dead_fraction[1] == 0.0
    bias = trainer.model.blocks[1].transform.bias
    saved = bias.detach().clone()
    with torch.no_grad():
        bias.fill_(-100.0)
    trainer.run(2)
    assert trainer.probes.latest.dead_fraction[1] == 1.0
    assert trainer.probes.latest.dead_now[1] == 1.0
    with torch.no_grad():
        bias.copy_(saved)
    trainer.step()
    assert trainer.probes.latest.dead_now[1] == 0.0
    assert trainer.probes.latest.dead_fraction[1] == 0.0  # revived units show at once


def test_probes_run_every_n_steps_and_leave_no_hooks_behind():
    trainer = Trainer(tiny_config(**{"probes.every": 4}))
    trainer.run(10)
    assert trainer.store["probe/grad_norm"].steps.tolist() == [4, 8]
    for block in trainer.model.blocks:
        assert not block._forward_hooks and not block.act._forward_hooks
    trainer.submit({"probes.enabled": False})
    trainer.run(8)
    assert trainer.store["probe/grad_norm"].steps.tolist() == [4, 8]
    assert trainer.last_change.kind == "live"


def test_clipping_is_reported_before_and_after():
    trainer = probed(**{"optim.clip": "norm", "optim.clip_value": 0.01})
    trainer.step()
    snap = trainer.probes.latest
    assert snap.clipped
    assert snap.global_grad_norm > 0.01
    assert snap.global_grad_norm_clipped == pytest.approx(0.01, rel=1e-4)
    row = trainer.store["probe/global_grad_norm"].values[-1]
    assert row[2] == 1.0


# ------------------------------------------------------------ textbook pictures


def ratio_first_last(config: ExperimentConfig) -> float:
    grads = signal_propagation(config).act_grad_norm
    return grads[0] / grads[len(config.model.layers) - 1]  # hidden layers only


def deep(activation: str, scheme: str, gain: float = 1.0) -> ExperimentConfig:
    return ExperimentConfig(
        model=ModelConfig(layers=mlp_layers(20, 64, activation)),
        init=InitConfig(scheme=scheme, gain=gain),
    )


def test_deep_sigmoid_gradients_vanish():
    assert ratio_first_last(deep("sigmoid", "xavier_normal")) < 1e-8


def test_relu_with_he_init_keeps_gradients_level():
    assert 0.1 < ratio_first_last(deep("relu", "he_normal")) < 10


def test_relu_with_he_init_scaled_by_1_5_explodes():
    assert ratio_first_last(deep("relu", "he_normal", gain=1.5)) > 100


def residual(scale: str = "none", position: str = "post", norm: str = "none") -> ExperimentConfig:
    layers = (LayerConfig(64),) + tuple(
        LayerConfig(64, residual=True, norm=norm) for _ in range(19)
    )
    return ExperimentConfig(
        model=ModelConfig(layers=layers, residual_scale=scale, norm_position=position)
    )


def test_plain_residual_stack_with_he_init_explodes():
    assert ratio_first_last(residual()) > 1000


def test_residual_fixes_keep_gradients_near_one():
    assert 0.1 < ratio_first_last(residual("inv_sqrt_2n")) < 10
    assert ratio_first_last(residual("rezero")) == pytest.approx(1.0)
    # pre-norm (pre-activation order) tames the growth: ~13 here against >1000 plain
    assert ratio_first_last(residual(position="pre", norm="layer")) < 30


def test_signal_propagation_happens_before_any_step():
    config = deep("tanh", "xavier_normal")
    snap = signal_propagation(config)
    assert snap.step == 0
    assert len(snap.act_std) == 20 and len(snap.act_grad_norm) == 21
    assert np.all(snap.update_ratio == 0)  # nothing was updated


def test_signal_propagation_with_the_data_given_equals_making_it():
    from lab.data import make_dataset

    config = deep("tanh", "xavier_normal")
    given = signal_propagation(config, data=make_dataset(config.data))
    np.testing.assert_array_equal(given.act_grad_norm, signal_propagation(config).act_grad_norm)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid"])
def test_dead_unit_figures_exist_exactly_where_the_config_says(activation):
    """The GUI explains missing dead-unit figures from the config alone
    (dead_units_absent); the probes must agree with it on every activation."""
    from lab.core.config import dead_units_absent

    trainer = probed(
        **{"model.layers[0].activation": activation, "model.layers[1].activation": activation}
    )
    trainer.step()
    config = trainer.config
    absent = dead_units_absent(config.model, config.probes)
    has_figures = trainer.probes.latest.dead_fraction is not None
    assert has_figures == (absent is None)
    off = config.probes.__class__(dead_units=False)
    assert dead_units_absent(config.model, off) == "the dead-unit probe is off"


def test_bf16_activations_are_summarised_as_their_float_values():
    """Under bf16 autocast the hooks see bf16 outputs; the figures are those
    of the same values in float32."""
    trainer = probed(**{"train.precision": "bf16", "optim.name": "adam"})
    seen: list[np.ndarray] = []
    handle = trainer.model.blocks[0].act.register_forward_hook(
        lambda _m, _i, out: seen.append(out.detach().float().numpy().copy())
    )
    trainer.step()
    handle.remove()
    snap = trainer.probes.latest
    a = seen[0].astype(np.float64)
    assert snap.act_mean[0] == pytest.approx(a.mean(), rel=1e-5, abs=1e-7)
    assert snap.act_std[0] == pytest.approx(a.std(), rel=1e-4)
    counts, _ = np.histogram(np.clip(a, 0, 4), bins=40, range=(0, 4))
    np.testing.assert_array_equal(snap.hist["layer1"], counts)
    assert np.isfinite(snap.act_grad_norm).all()


def test_collections_written_in_batches_equal_those_written_one_by_one(monkeypatch):
    """Collections wait as rows and become store rows together; every series
    (dead units over the window, histograms, clipping included) is what one
    collection at a time gives, and reading the store brings it up to date."""
    changes = {
        "probes.every": 2, "probes.dead_window": 3, "optim.clip": "norm", "optim.clip_value": 0.5,
        "model.layers[0].activation": "relu", "model.layers[1].activation": "tanh",
    }  # fmt: skip
    batched = probed(**changes)
    batched.run(2 * probes.PENDING_ROWS + 10)  # a full batch, then part of one
    assert batched.probes._pending == 5
    monkeypatch.setattr(probes, "PENDING_ROWS", 1)
    one_by_one = probed(**changes)
    one_by_one.run(2 * 32 + 10)
    series = [name for name in one_by_one.store.series if name.startswith("probe/")]
    assert "probe/dead_map/layer1" in series and "probe/hist/layer2" in series
    assert batched.probes._pending == 5  # listing one store read nothing of the other
    assert sorted(batched.store.series) == sorted(one_by_one.store.series)
    assert batched.probes._pending == 0
    for name in series:
        np.testing.assert_array_equal(batched.store[name].steps, one_by_one.store[name].steps)
        np.testing.assert_allclose(
            batched.store[name].values, one_by_one.store[name].values, rtol=1e-12, err_msg=name
        )
    assert batched.store["probe/global_grad_norm"].column("clipped").any()
    latest, expected = batched.probes.latest, one_by_one.probes.latest
    assert latest.step == expected.step == 74
    np.testing.assert_array_equal(latest.dead_map["layer1"], expected.dead_map["layer1"])
    np.testing.assert_allclose(latest.update_ratio, expected.update_ratio, rtol=1e-12)


def test_a_new_binning_replaces_the_histograms_and_keeps_the_rest():
    """Changing the histogram bins (or range) while training: the pending
    collections land under the old settings, the old histograms go (a series
    holds one binning), the next collection brings new ones; other series go on."""
    trainer = probed()
    trainer.run(3)
    assert trainer.store["probe/hist/layer1"].values.shape == (3, 40)
    trainer.submit({"probes.hist_bins": 12})
    trainer.run(2)
    hist = trainer.store["probe/hist/layer1"]
    assert hist.values.shape == (2, 12) and list(hist.steps) == [4, 5]
    np.testing.assert_array_equal(trainer.store["probe/grad_norm"].steps, [1, 2, 3, 4, 5])
    trainer.submit({"probes.hist_range": 2.0})
    trainer.step()
    assert list(trainer.store["probe/hist/layer1"].steps) == [6]
    trainer.submit({"probes.dead_window": 2})  # the binning stays: so do the histograms
    trainer.step()
    assert list(trainer.store["probe/hist/layer1"].steps) == [6, 7]
