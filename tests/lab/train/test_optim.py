import dataclasses
import math

import pytest
import torch

from lab.core.config import OPTIMIZERS, OptimConfig
from lab.core.schedule import lr_curve, lr_factor
from lab.train.trainer import Trainer, total_grad_norm
from tests.lab.helpers import tiny_config


def test_live_lr_change_is_used_on_the_very_next_step():
    trainer = Trainer(tiny_config())
    trainer.run(3)
    trainer.submit({"optim.lr": 0.037})
    before = [p.detach().clone() for p in trainer.params]
    result = trainer.step()
    assert result.lr == 0.037
    assert all(group["lr"] == 0.037 for group in trainer.optimizer.param_groups)
    # Plain SGD: the update the step made is exactly -lr * grad.
    for p, old in zip(trainer.params, before, strict=True):
        torch.testing.assert_close(p.detach(), old - 0.037 * p.grad, rtol=0, atol=1e-7)
    assert trainer.last_change.kind == "live"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_learns_moons(name):
    lr = {"sgd": 0.1, "rmsprop": 0.003, "adagrad": 0.05, "adam": 0.01, "adamw": 0.01}[name]
    trainer = Trainer(tiny_config(**{"optim.name": name, "optim.lr": lr, "optim.momentum": 0.9}))
    first = trainer.evaluate()["train_loss"]
    assert trainer.run(150) == "done"
    last = trainer.evaluate()
    assert last["train_loss"] < 0.7 * first
    assert last["train_acc"] > 0.8


def test_live_hyperparameters_reach_the_param_groups():
    trainer = Trainer(tiny_config(**{"optim.name": "adam", "optim.lr": 0.01}))
    trainer.step()
    trainer.submit({"optim.beta1": 0.5, "optim.weight_decay": 0.01, "optim.eps": 1e-6})
    trainer.step()
    group = trainer.optimizer.param_groups[0]
    assert group["betas"] == (0.5, 0.999) and group["weight_decay"] == 0.01 and group["eps"] == 1e-6
    assert trainer.optimizer.state  # Adam's moments survived the change


def test_switching_optimizer_keeps_the_weights():
    trainer = Trainer(tiny_config())
    trainer.run(5)
    weights = [p.detach().clone() for p in trainer.params]
    trainer.submit({"optim.name": "adam"})
    trainer.apply_pending()
    assert trainer.last_change.kind == "optimizer"
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    for p, w in zip(trainer.params, weights, strict=True):
        torch.testing.assert_close(p.detach(), w)
    assert trainer.step_count == 5


def test_accumulation_equals_one_big_batch():
    # Micro-batches come from the same shuffled order, so 4 x 32 covers exactly
    # the samples of 1 x 128.
    big = Trainer(tiny_config(**{"data.batch_size": 128}))
    small = Trainer(tiny_config(**{"data.batch_size": 32, "optim.accumulation": 4}))
    for trainer in (big, small):
        trainer.optimizer.zero_grad()
        trainer._forward_backward()
    for p_big, p_small in zip(big.params, small.params, strict=True):
        torch.testing.assert_close(p_small.grad, p_big.grad, rtol=0, atol=1e-6)
    # ... and against autograd on the same 128 samples by hand
    order = torch.randperm(big.x_train.shape[0], generator=torch.Generator().manual_seed(1))[:128]
    reference = Trainer(tiny_config())
    loss = torch.nn.functional.cross_entropy(
        reference.model(reference.x_train[order]), reference.y_train[order]
    )
    grads = torch.autograd.grad(loss, reference.params)
    for g, p_small in zip(grads, small.params, strict=True):
        torch.testing.assert_close(p_small.grad, g, rtol=0, atol=1e-6)


def test_grad_norm_is_measured_on_evaluation_steps_by_hand():
    trainer = Trainer(tiny_config(**{"train.eval_every": 5}))
    results = [trainer.step() for _ in range(5)]
    # evaluated at 1, 2 and 4 (early, powers of two) and 5; step 3 is not
    assert math.isnan(results[2].grad_norm)
    assert not any(math.isnan(r.grad_norm) for r in (results[0], results[1], results[3]))
    by_hand = torch.sqrt(sum((p.grad**2).sum() for p in trainer.params))
    assert results[4].grad_norm == pytest.approx(float(by_hand), rel=1e-5)
    assert trainer.store["grad_norm"].steps.tolist() == [1, 2, 4, 5]
    assert trainer.store["eval"].column("grad_norm")[-1] == pytest.approx(float(by_hand), rel=1e-5)


def test_clip_by_norm_caps_the_applied_gradient():
    trainer = Trainer(tiny_config(**{"optim.clip": "norm", "optim.clip_value": 0.01}))
    result = trainer.step()
    assert result.clipped and result.grad_norm > 0.01
    assert float(total_grad_norm(trainer.params)) == pytest.approx(0.01, rel=1e-4)


def test_clip_by_value_caps_every_element():
    trainer = Trainer(tiny_config(**{"optim.clip": "value", "optim.clip_value": 1e-3}))
    result = trainer.step()
    assert result.clipped
    assert max(float(p.grad.abs().max()) for p in trainer.params) <= 1e-3 * (1 + 1e-6)  # float32


def test_schedules():
    warm = OptimConfig(lr=1.0, schedule="warmup_cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(warm, 110, 0) == pytest.approx(0.1)
    assert lr_factor(warm, 110, 9) == pytest.approx(1.0)
    assert lr_factor(warm, 110, 60) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))
    )
    assert lr_factor(warm, 110, 110) == pytest.approx(0.1)
    step = OptimConfig(schedule="step", step_size=100, gamma=0.5)
    assert [lr_factor(step, 1000, s) for s in (0, 99, 100, 250)] == [1.0, 1.0, 0.5, 0.25]
    cycle = OptimConfig(lr=2.0, schedule="one_cycle", warmup_steps=30)
    steps, lrs = lr_curve(cycle, 100, points=100)
    assert lrs.max() == pytest.approx(2.0) and steps[lrs.argmax()] == 30
    assert lrs[0] == pytest.approx(2.0 / 25) and lrs[-1] < 2.0 / 25
    assert lr_factor(OptimConfig(), 100, 57) == 1.0


def test_the_schedule_drives_the_optimizer_lr():
    trainer = Trainer(
        tiny_config(**{"optim.schedule": "step", "optim.step_size": 3, "optim.gamma": 0.1})
    )
    lrs = [trainer.step().lr for _ in range(7)]
    assert lrs == pytest.approx([0.1] * 3 + [0.01] * 3 + [0.001])


# A value unlike each field's default, valid for every optimiser and schedule.
_OTHER = {
    "momentum": 0.5,
    "nesterov": True,
    "beta1": 0.8,
    "beta2": 0.99,
    "eps": 1e-6,
    "alpha": 0.9,
    "weight_decay": 0.01,
    "step_size": 50,
    "gamma": 0.3,
    "warmup_steps": 20,
    "min_lr_ratio": 0.2,
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_fields_name_exactly_what_each_optimiser_reads(name):
    """The knobs panel greys out what OPTIMIZER_FIELDS leaves out: changing any
    of those must leave the optimiser as it was, and any listed one change it."""
    from lab.core.config import OPTIMIZER_FIELDS
    from lab.train.optim import build_optimizer

    def hyper(config: OptimConfig) -> dict:
        group = build_optimizer([torch.nn.Parameter(torch.ones(2))], config).param_groups[0]
        return {k: v for k, v in group.items() if k != "params"}

    base = OptimConfig(name=name)
    for field in ("momentum", "nesterov", "beta1", "beta2", "eps", "alpha", "weight_decay"):
        changed = hyper(dataclasses.replace(base, **{field: _OTHER[field]})) != hyper(base)
        assert changed == (field in OPTIMIZER_FIELDS[name]), (name, field)


@pytest.mark.parametrize("schedule", ["constant", "step", "warmup_cosine", "one_cycle"])
def test_schedule_fields_name_exactly_what_each_schedule_reads(schedule):
    from lab.core.config import SCHEDULE_FIELDS

    base = OptimConfig(schedule=schedule)
    for field in ("step_size", "gamma", "warmup_steps", "min_lr_ratio"):
        other = dataclasses.replace(base, **{field: _OTHER[field]})
        changed = not (lr_curve(other, 2000)[1] == lr_curve(base, 2000)[1]).all()
        assert changed == (field in SCHEDULE_FIELDS[schedule]), (schedule, field)
