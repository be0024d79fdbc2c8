"""Recipes about generalisation: label smoothing (confidence and
calibration) and dropout (train against eval mode, the train/test gap), both
on a net with room to overfit."""

from __future__ import annotations

import torch

from lab.core.config import ExperimentConfig
from lab.core.presets import preset
from lab.core.recipes import Plot, PlotKind, RecipeInfo
from lab.recipes.base import Arm, ArmSteps, Recipe, Verdict, arm_result
from lab.recipes.measure import (
    LOSS_PLOT,
    calibration_error,
    final,
    mlp,
    probabilities,
    smoothed_loss,
    steps_for,
    train,
)
from lab.train.trainer import Trainer

# ------------------------------------------------------------ 10. label smoothing


def _smoothing_base() -> ExperimentConfig:
    # few noisy points and a wide net: trained long, it becomes sure of everything
    return _overfitting()


def _smoothing_arms(fast: bool) -> list[Arm]:
    base = _smoothing_base()
    return [
        Arm(
            f"smoothing {eps:g}", base.with_changes({"train.label_smoothing": eps}), {"train": 1500}
        )
        for eps in (0.0, 0.2)
    ]


def _smoothing_measure(arm: Arm, fast: bool) -> ArmSteps:
    trainer = yield from train(arm.config, steps_for(arm, fast))
    p_train, _ = probabilities(trainer, "train")
    p_test, y_test = probabilities(trainer, "test")
    figures = arm_result(
        arm,
        series={"loss": smoothed_loss(trainer)},
        scalars={
            "train confidence": float(p_train.max(axis=1).mean()),
            "calibration error": calibration_error(p_test, y_test),
            "test acc": final(trainer, "test_acc"),
        },
    )
    return figures, trainer


def _smoothing_verdict(v: Verdict) -> None:
    plain, smooth = v("smoothing 0", "train confidence"), v("smoothing 0.2", "train confidence")
    v.check(
        "smoothing lowers confidence on the training examples",
        smooth <= plain - 0.03,
        f"mean top probability {smooth:.3f} against {plain:.3f} (3 points lower at least)",
    )
    e_plain, e_smooth = (
        v("smoothing 0", "calibration error"),
        v("smoothing 0.2", "calibration error"),
    )
    v.check(
        "and calibrates better",
        e_smooth < e_plain,
        f"expected calibration error on the test set {e_smooth:.3f} against {e_plain:.3f}",
    )


LABEL_SMOOTHING = Recipe(
    RecipeInfo(
        "label-smoothing",
        "Label smoothing",
        "Training towards 0.8 instead of 1.0 for the right class keeps a net from pushing"
        " its confidence to 100%, which it would have no right to on overlapping classes.",
        "Bars: the mean top probability on the training examples, and the expected"
        " calibration error on the test set (the gap between how sure the model is and how"
        " often it is right, averaged over ten confidence bins).",
        (
            Plot("train confidence", "confidence on training examples", PlotKind.BARS),
            Plot("calibration error", "calibration error (test)", PlotKind.BARS),
            LOSS_PLOT,
        ),
        ("Loss", "Boundary"),
    ),
    _smoothing_arms,
    _smoothing_measure,
    _smoothing_verdict,
)


# ------------------------------------------------------------ 11. dropout


def _overfitting() -> ExperimentConfig:
    """Few noisy points and a wide net: room to overfit."""
    return mlp(preset("spirals-mlp"), 3, 256, "relu").with_changes(
        {"data.n_samples": 300, "data.noise": 0.25, "optim.lr": 3e-3}
    )


def _dropout_arms(fast: bool) -> list[Arm]:
    base = _overfitting()
    return [
        Arm("no dropout", base, {"train": 1500}),
        Arm("dropout 0.3", mlp(base, 3, 256, "relu", dropout=0.3), {"train": 1500}),
    ]


@torch.no_grad()
def _pass_difference(trainer: Trainer, training: bool) -> float:
    """The largest difference between two forward passes over the test set."""
    model = trainer.model
    was = model.training
    model.train(training)
    try:
        return float((model(trainer.x_test) - model(trainer.x_test)).abs().max())
    finally:
        model.train(was)


def _dropout_measure(arm: Arm, fast: bool) -> ArmSteps:
    trainer = yield from train(arm.config, steps_for(arm, fast))
    train_acc, test_acc = final(trainer, "train_acc"), final(trainer, "test_acc")
    figures = arm_result(
        arm,
        series={"loss": smoothed_loss(trainer)},
        scalars={
            "train-mode passes differ by": _pass_difference(trainer, True),
            "eval-mode passes differ by": _pass_difference(trainer, False),
            "train acc": train_acc,
            "test acc": test_acc,
            "train-test gap": train_acc - test_acc,
        },
    )
    return figures, trainer


def _dropout_verdict(v: Verdict) -> None:
    noisy = v("dropout 0.3", "train-mode passes differ by")
    still = v("dropout 0.3", "eval-mode passes differ by")
    v.check(
        "dropout is random in train mode, off in eval mode",
        noisy > 1e-3 and still == 0.0,
        f"two passes over the same inputs differ by {noisy:.3g} in train mode, {still:g} in"
        " eval mode",
    )
    gap, gap_plain = v("dropout 0.3", "train-test gap"), v("no dropout", "train-test gap")
    v.check(
        "dropout narrows the train/test gap",
        gap < gap_plain,
        f"train minus test accuracy {gap:.1%} with dropout, {gap_plain:.1%} without",
    )


DROPOUT = Recipe(
    RecipeInfo(
        "dropout",
        "Dropout",
        "Dropout zeroes a random share of units at every training step (and scales the rest"
        " up), and does nothing in eval mode; it keeps a wide net from memorising few points.",
        "Bars: how much two forward passes over the same inputs differ (train mode: every"
        " pass drops other units; eval mode: not at all), and the gap between training and"
        " test accuracy, which dropout narrows.",
        (
            Plot("train-test gap", "train minus test accuracy", PlotKind.BARS),
            Plot("train-mode passes differ by", "two train-mode passes differ by", PlotKind.BARS),
            LOSS_PLOT,
        ),
        ("Loss", "Boundary"),
    ),
    _dropout_arms,
    _dropout_measure,
    _dropout_verdict,
)
