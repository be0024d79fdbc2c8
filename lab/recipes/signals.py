"""Recipes about the signal through depth: vanishing gradients, exploding
activations, which init goes with which activation, BatchNorm rescuing a
bad init, and residual connections at depth 30."""

from __future__ import annotations

from lab.core.config import ExperimentConfig
from lab.core.presets import preset
from lab.core.recipes import Plot, PlotKind, RecipeInfo
from lab.recipes.base import Arm, ArmSteps, Recipe, Verdict, arm_result
from lab.recipes.measure import (
    final,
    hidden,
    mlp,
    profile,
    smoothed_loss,
    train,
)
from lab.train.signal import signal_propagation

GRAD_PLOT = Plot("grad", "||dL/dh|| by depth (at init)", PlotKind.PROFILE, "layer", log_y=True)
STD_PLOT = Plot("std", "activation std by depth (at init)", PlotKind.PROFILE, "layer", log_y=True)


def _spirals_sgd(lr: float = 0.05) -> ExperimentConfig:
    return preset("deep-sigmoid").with_changes({"optim.lr": lr, "train.eval_every": 50})


def _signal_arm(arm: Arm, fast: bool) -> ArmSteps:
    """The signal at init by depth; with ``train`` in the options, a short
    training run too (its loss curve and final test accuracy)."""
    snap = signal_propagation(arm.config)
    grads = hidden(snap, snap.act_grad_norm)
    stds = hidden(snap, snap.output_std)
    figures = arm_result(
        arm,
        series={"grad": profile(grads), "std": profile(stds)},
        scalars={
            "grad first/last": float(grads[0] / grads[-1]),
            "std last/first": float(stds[-1] / stds[0]),
            "std last": float(stds[-1]),
        },
    )
    trainer = None
    steps = arm.options.get("train", 0)
    if steps:
        trainer = yield from train(arm.config, steps // 3 if fast else steps)
        figures.series["loss"] = smoothed_loss(trainer)
        figures.scalars["test acc"] = final(trainer, "test_acc")
        figures.scalars["train loss"] = final(trainer, "train_loss")
    return figures, trainer


def _within(value: float, lo: float, hi: float) -> bool:
    return lo <= value <= hi


# ------------------------------------------------------------ 1. vanishing


def _vanishing_arms(fast: bool) -> list[Arm]:
    base = _spirals_sgd()
    return [
        Arm("sigmoid, Xavier", base, {"train": 600}),
        Arm("ReLU, He", mlp(base, 20, 64, "relu").with_changes(_HE), {"train": 600}),
        Arm(
            "ReLU, He, residual",
            mlp(base, 20, 64, "relu", residual=True).with_changes(
                {**_HE, "model.residual_scale": "inv_sqrt_2n"}
            ),
            {"train": 600},
        ),
    ]


_HE = {"init.scheme": "he_normal"}


def _vanishing_verdict(v: Verdict) -> None:
    sig = v("sigmoid, Xavier", "grad first/last")
    v.check(
        "sigmoid: the gradient vanishes towards the input",
        sig < 1e-4,
        f"||dL/dh|| of layer 1 is {sig:.1e} of the last layer's (< 1e-4)",
    )
    for label in ("ReLU, He", "ReLU, He, residual"):
        ratio = v(label, "grad first/last")
        v.check(
            f"{label}: the gradient reaches the input",
            _within(ratio, 0.1, 10),
            f"layer 1 / last layer = {ratio:.2f} (within 0.1-10)",
        )


VANISHING = Recipe(
    RecipeInfo(
        "vanishing-gradients",
        "Vanishing gradients",
        "A deep sigmoid net's gradient vanishes on its way to the input; ReLU with He init,"
        " and residual connections, carry it through.",
        "On the depth plot (log scale) the sigmoid line falls by a factor of about four per"
        " layer, to a millionth of a millionth at layer 1; the ReLU lines stay flat. The loss"
        " curves: the sigmoid net's first layers cannot learn, so it stalls near ln 2.",
        (
            GRAD_PLOT,
            Plot("loss", "training loss", PlotKind.CURVE, "step"),
            Plot("grad first/last", "||dL/dh|| layer 1 / last", PlotKind.BARS, log_y=True),
        ),
        ("Signal", "Gradients"),
    ),
    _vanishing_arms,
    _signal_arm,
    _vanishing_verdict,
)


# ------------------------------------------------------------ 2. exploding


def _relu_he(depth: int = 20) -> ExperimentConfig:
    return mlp(_spirals_sgd(0.01), depth, 64, "relu").with_changes(_HE)


def _exploding_arms(fast: bool) -> list[Arm]:
    base = _relu_he()
    return [Arm(f"He x {g:g}", base.with_changes({"init.gain": g})) for g in (1.0, 1.5, 2.0)]


def _exploding_verdict(v: Verdict) -> None:
    plain = v("He x 1", "std last/first")
    v.check(
        "plain He keeps the activations' scale",
        _within(plain, 0.2, 5),
        f"std of layer 20 / layer 1 = {plain:.2f} (within 0.2-5)",
    )
    g15, g2 = v("He x 1.5", "std last/first"), v("He x 2", "std last/first")
    v.check(
        "a larger gain makes them explode, the more the larger",
        g15 > 100 and g2 > 100 * g15,
        f"layer 20 / layer 1 = {g15:.3g} at gain 1.5 (> 100), {g2:.3g} at gain 2"
        " (> 100x gain 1.5's)",
    )


EXPLODING = Recipe(
    RecipeInfo(
        "exploding-signals",
        "Exploding signals",
        "Scale He init up by a gain g and each ReLU layer multiplies the signal by about g:"
        " over 20 layers that is g to the 19th.",
        "On the std plot (log scale) plain He is flat, gain 1.5 climbs by 1.5 a layer (about"
        " 2,000x by layer 20) and gain 2 by 2 a layer (about 500,000x). A straight line on a"
        " log axis is a geometric growth.",
        (
            STD_PLOT,
            GRAD_PLOT,
            Plot("std last/first", "std layer 20 / layer 1", PlotKind.BARS, log_y=True),
        ),
        ("Signal", "Activations"),
    ),
    _exploding_arms,
    _signal_arm,
    _exploding_verdict,
)


# ------------------------------------------------------------ 3. init pairing

_SCHEMES = {"He": "he_normal", "Xavier": "xavier_normal", "torch default": "default"}


def _pairing_arms(fast: bool) -> list[Arm]:
    return [
        Arm(
            f"{act}, {name}",
            mlp(_spirals_sgd(), 20, 64, act.lower()).with_changes({"init.scheme": s}),
        )
        for act in ("ReLU", "tanh")
        for name, s in _SCHEMES.items()
    ]


def _pairing_verdict(v: Verdict) -> None:
    he = v("ReLU, He", "std last/first")
    xavier = v("ReLU, Xavier", "std last/first")
    default = v("ReLU, torch default", "std last/first")
    v.check(
        "ReLU keeps its scale with He, loses it with Xavier and torch's default",
        _within(he, 0.5, 2) and xavier < 0.01 and default < xavier,
        f"std of layer 20 / layer 1: He {he:.2f} (0.5-2), Xavier {xavier:.1e} (< 0.01),"
        f" default {default:.1e} (below Xavier)",
    )
    t_xavier = v("tanh, Xavier", "std last/first")
    t_default = v("tanh, torch default", "std last/first")
    v.check(
        "tanh keeps a signal with Xavier, loses it with torch's default",
        t_xavier > 0.1 and t_default < 0.01,
        f"std of layer 20 / layer 1: Xavier {t_xavier:.2f} (> 0.1), default {t_default:.1e}"
        " (< 0.01)",
    )
    he_std, xavier_std = v("tanh, He", "std last"), v("tanh, Xavier", "std last")
    he_grad = v("tanh, He", "grad first/last")
    v.check(
        "He over-drives tanh: larger activations, a gradient growing towards the input",
        he_std > 5 * xavier_std and he_grad > 2,
        f"layer-20 std He {he_std:.2f} vs Xavier {xavier_std:.3f} (> 5x);"
        f" ||dL/dh|| layer 1 / last with He {he_grad:.1f} (> 2)",
    )


PAIRING = Recipe(
    RecipeInfo(
        "init-pairing",
        "Init pairing",
        "He init is made for ReLU (it doubles the variance ReLU halves), Xavier for tanh;"
        " swap them, or keep torch's default, and the signal shrinks or saturates with depth.",
        "On the std plot ReLU + He is flat; ReLU + Xavier halves the variance at every layer"
        " and torch's default (uniform with bound 1/sqrt(fan_in)) shrinks it faster still."
        " For tanh, Xavier decays only slowly, the default dies out, and He drives tanh"
        " harder than it needs (larger activations, a gradient that grows towards the input).",
        (
            STD_PLOT,
            GRAD_PLOT,
            Plot("std last", "activation std at layer 20", PlotKind.BARS, log_y=True),
        ),
        ("Signal", "Activations"),
    ),
    _pairing_arms,
    _signal_arm,
    _pairing_verdict,
)


# ------------------------------------------------------------ 4. BatchNorm vs bad init


def _batchnorm_arms(fast: bool) -> list[Arm]:
    base = mlp(_spirals_sgd(0.05), 10, 64, "relu").with_changes(_HE)
    arms = []
    for norm in ("none", "batch"):
        net = base if norm == "none" else mlp(base, 10, 64, "relu", norm="batch")
        for gain in (0.5, 2.0):
            label = f"gain {gain:g}{', BatchNorm' if norm == 'batch' else ''}"
            arms.append(Arm(label, net.with_changes({"init.gain": gain}), {"train": 600}))
    return arms


def _batchnorm_verdict(v: Verdict) -> None:
    small, large = v("gain 0.5", "std last/first"), v("gain 2", "std last/first")
    v.check(
        "without BatchNorm a bad init shrinks or blows up the signal",
        small < 0.01 and large > 100,
        f"std layer 10 / layer 1: gain 0.5 {small:.1e} (< 0.01), gain 2 {large:.3g} (> 100)",
    )
    bn_small = v("gain 0.5, BatchNorm", "std last/first")
    bn_large = v("gain 2, BatchNorm", "std last/first")
    v.check(
        "with BatchNorm both keep their scale",
        _within(bn_small, 0.3, 3) and _within(bn_large, 0.3, 3),
        f"std layer 10 / layer 1: gain 0.5 {bn_small:.2f}, gain 2 {bn_large:.2f} (0.3-3)",
    )
    bn = min(v("gain 0.5, BatchNorm", "test acc"), v("gain 2, BatchNorm", "test acc"))
    plain = max(v("gain 0.5", "test acc"), v("gain 2", "test acc"))
    v.check(
        "and they train better",
        bn > plain,
        f"the worse BatchNorm arm's test accuracy {bn:.1%} > the better plain arm's {plain:.1%}",
    )


BATCHNORM = Recipe(
    RecipeInfo(
        "batchnorm-bad-init",
        "BatchNorm against a bad init",
        "BatchNorm re-normalises every layer, so a net starts healthy even when its init"
        " is off by a factor of two either way.",
        "Std plot: without BatchNorm gain 0.5 halves the signal each layer and gain 2 doubles"
        " it; with BatchNorm both lines lie flat. The loss curves and the accuracy bars show"
        " what that does to training.",
        (
            STD_PLOT,
            Plot("loss", "training loss", PlotKind.CURVE, "step"),
            Plot("test acc", "test accuracy", PlotKind.BARS),
        ),
        ("Signal", "Activations"),
    ),
    _batchnorm_arms,
    _signal_arm,
    _batchnorm_verdict,
)


# ------------------------------------------------------------ 12. residual at depth 30


def _residual_arms(fast: bool) -> list[Arm]:
    # torch's default init and Adam: the same for both, only the skips differ
    base = mlp(preset("spirals-mlp"), 30, 64, "relu").with_changes(
        {"init.scheme": "default", "optim.name": "adam", "optim.lr": 3e-3}
    )
    resid = mlp(base, 30, 64, "relu", residual=True).with_changes(
        {"model.residual_scale": "inv_sqrt_2n"}
    )
    return [
        Arm("plain, 30 layers", base, {"train": 900}),
        Arm("residual, 30 layers", resid, {"train": 900}),
    ]


def _residual_verdict(v: Verdict) -> None:
    plain, resid = v("plain, 30 layers", "test acc"), v("residual, 30 layers", "test acc")
    v.check(
        "the residual net trains where the plain one stalls",
        resid >= 0.8 and plain <= 0.7,
        f"test accuracy: residual {resid:.1%} (>= 80%), plain {plain:.1%} (<= 70%)",
    )


RESIDUAL = Recipe(
    RecipeInfo(
        "residual-depth-30",
        "Residual connections at depth 30",
        "At depth 30 a plain ReLU net (torch's default init, Adam) does not train; the same"
        " net with skip connections trains at once.",
        "Loss curves: the residual net's falls from the first steps, the plain net's stays"
        " at ln 2 (a coin toss). The depth plot shows why: through 30 plain layers ||dL/dh||"
        " shrinks by orders of magnitude before it reaches the first layers, while the skips"
        " carry it back unchanged.",
        (
            Plot("loss", "training loss", PlotKind.CURVE, "step"),
            GRAD_PLOT,
            Plot("test acc", "test accuracy", PlotKind.BARS),
        ),
        ("Loss", "Signal"),
    ),
    _residual_arms,
    _signal_arm,
    _residual_verdict,
)
