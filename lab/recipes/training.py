"""Recipes about training itself: ReLUs killed by a learning-rate spike,
BatchNorm evaluated in the wrong mode, and optimisers."""

from __future__ import annotations

import copy

import numpy as np
import torch

from lab.core.presets import preset
from lab.core.recipes import Plot, PlotKind, RecipeInfo
from lab.recipes.base import Arm, ArmSteps, Recipe, Verdict, arm_result
from lab.recipes.measure import (
    LOSS_PLOT,
    dead_units,
    final,
    mlp,
    profile,
    smoothed_loss,
    steps_for,
    steps_to,
    train,
)
from lab.train.trainer import Trainer

# ------------------------------------------------------------ 5. dying ReLUs


def _dying_arms(fast: bool) -> list[Arm]:
    base = preset("spirals-mlp").with_changes({"optim.lr": 3e-3})
    spike = {"train": 900, "spike": 0.3, "spike_steps": 3}
    return [
        Arm("ReLU", base, spike),
        Arm("leaky ReLU", mlp(base, 4, 64, "leaky_relu"), spike),
        Arm("BatchNorm, then ReLU", mlp(base, 4, 64, "relu", norm="batch"), spike),
    ]


def _unit_gradient(trainer: Trainer, units: np.ndarray) -> float:
    """The norm of the gradient, over the whole training set, of the first
    layer's weights into ``units``."""
    model = trainer.model
    model.zero_grad(set_to_none=True)
    trainer.task.loss(model(trainer.x_train), trainer.y_train).backward()
    grad = model.blocks[0].transform.weight.grad
    assert grad is not None
    norm = float(grad[torch.as_tensor(units)].norm()) if units.any() else 0.0
    model.zero_grad(set_to_none=True)
    return norm


def _dying_measure(arm: Arm, fast: bool) -> ArmSteps:
    """Train a third, a spike of the learning rate for a few steps, then the
    rest; dead units per layer before, right after and at the end."""
    total = steps_for(arm, fast)
    trainer = yield from train(arm.config, total // 3)
    before, _ = dead_units(trainer)
    lr = arm.config.optim.lr
    spike_steps = int(arm.options["spike_steps"]) if arm.options.get("spike") else 0
    if spike_steps:
        trainer.submit({"optim.lr": float(arm.options["spike"])})
        trainer.run(spike_steps)
        trainer.submit({"optim.lr": lr})
    after, dead_after = dead_units(trainer)
    first = dead_after[0]
    gradient = _unit_gradient(trainer, first)
    trainer = yield from train(arm.config, total - trainer.step_count, trainer)
    end, dead_end = dead_units(trainer)
    figures = arm_result(
        arm,
        series={
            "dead before": profile(before),
            "dead after": profile(after),
            "dead end": profile(end),
            "loss": smoothed_loss(trainer),
        },
        scalars={
            "dead before": float(before.mean()),
            "dead after": float(after.mean()),
            "dead end": float(end.mean()),
            "layer 1 dead after": float(first.sum()),
            "layer 1 revived": float((first & ~dead_end[0]).sum()),
            "layer 1 dead gradient": gradient,
            "test acc": final(trainer, "test_acc"),
        },
    )
    return figures, trainer


def _dying_verdict(v: Verdict) -> None:
    before, after = v("ReLU", "dead before"), v("ReLU", "dead after")
    v.check(
        "the spike kills ReLUs",
        after - before >= 0.2,
        f"dead share over the layers {before:.0%} before, {after:.0%} after (+20 points at least)",
    )
    dead, revived = v("ReLU", "layer 1 dead after"), v("ReLU", "layer 1 revived")
    gradient = v("ReLU", "layer 1 dead gradient")
    v.check(
        "first-layer dead units never come back: their gradient is exactly zero",
        dead > 0 and revived == 0 and gradient == 0.0,
        f"{dead:.0f} dead in layer 1 after the spike, {revived:.0f} back by the end; the"
        f" gradient of their weights over the whole training set: {gradient:g}",
    )
    leaky = v("leaky ReLU", "layer 1 dead gradient")
    v.check(
        "leaky ReLU's silent units still learn",
        leaky > 0,
        f"gradient of the weights of layer-1 units negative on every example: {leaky:.2e} (> 0)",
    )
    bn = v("BatchNorm, then ReLU", "dead after")
    relu = v("ReLU", "dead after")
    v.check(
        "BatchNorm before the ReLU keeps units alive through the spike",
        bn < relu / 2,
        f"dead share after the spike {bn:.0%} against plain ReLU's {relu:.0%} (under half)",
    )


DYING = Recipe(
    RecipeInfo(
        "dying-relus",
        "Dying ReLUs",
        "One burst of too-high learning rate pushes ReLU units to where they output zero on"
        " every input; a dead unit gets no gradient, so in the first layer it stays dead.",
        "The dead-share plots by depth, right after the spike and at the end of training: the"
        " ReLU net loses many units in one spike and does not get them back. Leaky ReLU's"
        " units still have a gradient; BatchNorm re-centres each unit's input, so few die.",
        (
            Plot("dead after", "dead share by depth, after the spike", PlotKind.PROFILE, "layer"),
            Plot("dead end", "dead share by depth, at the end", PlotKind.PROFILE, "layer"),
            LOSS_PLOT,
            Plot("dead after", "dead share after the spike (all layers)", PlotKind.BARS),
        ),
        ("Activations", "Loss"),
    ),
    _dying_arms,
    _dying_measure,
    _dying_verdict,
)


# ------------------------------------------------------------ 6. forgot model.eval()

_EVAL_MODES = {
    "eval mode": ("eval", 0),
    "train mode, random batches of 500": ("train", 500),
    "train mode, batches of 4": ("train", 4),
    "train mode, one class per batch": ("sorted", 100),
}
_trained: dict[str, Trainer] = {}  # one trained net serves every arm of a run


def _eval_arms(fast: bool) -> list[Arm]:
    config = mlp(preset("spirals-mlp"), 4, 64, "relu", norm="batch")
    return [Arm(label, config, {"train": 900, "mode": label}) for label in _EVAL_MODES]


@torch.no_grad()
def _accuracy_in_mode(trainer: Trainer, mode: str, batch: int) -> float:
    """Test accuracy with the model in ``mode`` on batches of ``batch``
    (sorted: all of one class per batch). A copy: BatchNorm's running
    statistics of the trained model are left as they were."""
    model = copy.deepcopy(trainer.model)
    x, y = trainer.x_test, trainer.y_test
    if mode == "eval":
        model.eval()
        return float((model(x).argmax(-1) == y).float().mean())
    model.train()
    generator = torch.Generator().manual_seed(0)
    order = (
        torch.argsort(y, stable=True)
        if mode == "sorted"
        else torch.randperm(len(y), generator=generator)
    )
    correct = 0
    for start in range(0, len(y), batch):
        index = order[start : start + batch]
        if len(index) < 2:
            continue  # BatchNorm needs two examples in training mode
        correct += int((model(x[index]).argmax(-1) == y[index]).sum())
    return correct / len(y)


def _eval_measure(arm: Arm, fast: bool) -> ArmSteps:
    key = f"{arm.config.to_json()}{fast}"
    trainer = _trained.get(key)
    if trainer is None:
        trainer = yield from train(arm.config, steps_for(arm, fast))
        _trained.clear()
        _trained[key] = trainer
    mode, batch = _EVAL_MODES[arm.options["mode"]]
    accuracy = _accuracy_in_mode(trainer, mode, batch)
    return arm_result(arm, scalars={"test acc": accuracy}), trainer


def _eval_verdict(v: Verdict) -> None:
    right = v("eval mode", "test acc")
    large = v("train mode, random batches of 500", "test acc")
    v.check(
        "large random batches in train mode come close to eval mode",
        abs(right - large) <= 0.05,
        f"test accuracy {large:.1%} against {right:.1%} in eval mode (within 5 points)",
    )
    tiny = v("train mode, batches of 4", "test acc")
    v.check(
        "tiny batches in train mode lose accuracy",
        tiny <= right - 0.1,
        f"{tiny:.1%} against {right:.1%} (10 points lower at least)",
    )
    sorted_ = v("train mode, one class per batch", "test acc")
    v.check(
        "class-sorted batches in train mode break it",
        sorted_ <= right - 0.2,
        f"{sorted_:.1%} against {right:.1%} (20 points lower at least)",
    )


FORGOT_EVAL = Recipe(
    RecipeInfo(
        "forgot-eval",
        "Forgot model.eval()",
        "A BatchNorm net in training mode normalises each batch by its own statistics, so"
        " its predictions depend on what else is in the batch.",
        "The bars: the same trained weights, evaluated four ways. Eval mode uses the running"
        " statistics learnt in training. In train mode, large random batches have about the"
        " same statistics, so they come close; batches of 4 are noisy; a batch of one class"
        " is normalised against itself and loses what made it that class.",
        (Plot("test acc", "test accuracy of the same weights", PlotKind.BARS),),
        ("Loss", "Boundary"),
    ),
    _eval_arms,
    _eval_measure,
    _eval_verdict,
)


# ------------------------------------------------------------ 9. optimisers

_TARGET_LOSS = 0.3


def _optimizer_arms(fast: bool) -> list[Arm]:
    base = preset("spirals-mlp")
    return [
        Arm(
            "SGD",
            base.with_changes({"optim.name": "sgd", "optim.lr": 0.05, "optim.momentum": 0.0}),
            {"train": 1500},
        ),
        Arm(
            "SGD + momentum 0.9",
            base.with_changes({"optim.name": "sgd", "optim.lr": 0.05, "optim.momentum": 0.9}),
            {"train": 1500},
        ),
        Arm("Adam", base.with_changes({"optim.name": "adam", "optim.lr": 3e-3}), {"train": 1500}),
    ]


def _optimizer_measure(arm: Arm, fast: bool) -> ArmSteps:
    trainer = yield from train(arm.config, steps_for(arm, fast))
    steps, loss = smoothed_loss(trainer)
    figures = arm_result(
        arm,
        series={"loss": (steps, loss)},
        scalars={
            "steps to target": steps_to(steps, loss, _TARGET_LOSS),
            "test acc": final(trainer, "test_acc"),
        },
    )
    return figures, trainer


def _optimizer_verdict(v: Verdict) -> None:
    sgd, momentum, adam = (
        v(label, "steps to target") for label in ("SGD", "SGD + momentum 0.9", "Adam")
    )
    v.check(
        f"momentum reaches loss {_TARGET_LOSS} faster than SGD, Adam faster still",
        adam < momentum and momentum * 1.5 <= sgd,
        f"steps to loss {_TARGET_LOSS}: SGD {sgd:g}, momentum {momentum:g} (1.5x fewer at"
        f" least), Adam {adam:g} (inf: never)",
    )
    accuracy = {label: v(label, "test acc") for label in ("SGD", "SGD + momentum 0.9", "Adam")}
    v.check(
        "momentum and Adam end with a model that works",
        min(accuracy["SGD + momentum 0.9"], accuracy["Adam"]) >= 0.9,
        "final test accuracy "
        + ", ".join(f"{label} {acc:.1%}" for label, acc in accuracy.items())
        + " (momentum and Adam >= 90%; plain SGD gets there too given enough steps)",
    )


OPTIMIZERS = Recipe(
    RecipeInfo(
        "optimizers",
        "SGD, momentum and Adam",
        "On the same problem and steps, momentum speeds SGD up, and Adam, which scales each"
        " weight's step by its gradient's history, gets there sooner still.",
        f"Loss curves: the step at which each crosses {_TARGET_LOSS} is the bar. Plain SGD"
        " creeps along the spirals' flat early loss; momentum builds speed along it; Adam"
        " takes steps of about the learning rate in every weight from the start.",
        (
            LOSS_PLOT,
            Plot("steps to target", f"steps to loss {_TARGET_LOSS}", PlotKind.BARS),
            Plot("test acc", "final test accuracy", PlotKind.BARS),
        ),
        ("Loss",),
    ),
    _optimizer_arms,
    _optimizer_measure,
    _optimizer_verdict,
)
