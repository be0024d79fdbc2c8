"""Recipes about one gradient: clipping by norm against clipping by value
(with the trainer's own clipping code), and gradient accumulation against
one large batch (with the trainer's own accumulation loop)."""

from __future__ import annotations

import numpy as np
import torch

from lab.core.config import ExperimentConfig
from lab.core.presets import preset
from lab.core.recipes import Plot, PlotKind, RecipeInfo
from lab.jobs import Progress
from lab.recipes.base import Arm, ArmSteps, Recipe, Verdict, arm_result
from lab.recipes.measure import mlp
from lab.train.trainer import Trainer, total_grad_norm

# ------------------------------------------------------------ 7. clipping

_STRENGTHS = np.geomspace(0.01, 1.0, 25)  # tau as a share of ||g|| (norm) or of max |g_i| (value)


def _clip_arms(fast: bool) -> list[Arm]:
    base = preset("spirals-mlp")
    return [
        Arm("clip by norm", base.with_changes({"optim.clip": "norm"})),
        Arm("clip by value", base.with_changes({"optim.clip": "value"})),
    ]


def _gradient(trainer: Trainer) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in trainer.params if p.grad is not None]


def _flat(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.flatten() for g in grads]).double()


def _clip_measure(arm: Arm, fast: bool) -> ArmSteps:
    """One batch's gradient, clipped at thresholds from 1% to 100% of its
    own scale by ``Trainer.clip_gradients`` (what every training step runs):
    the cosine to the raw gradient and the clipped norm against min(||g||, tau)."""
    trainer = Trainer(arm.config)
    trainer.model.train()
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer._forward_backward()
    raw = _gradient(trainer)
    g = _flat(raw)
    norm = float(total_grad_norm(trainer.params))
    mode = arm.config.optim.clip
    scale = norm if mode == "norm" else float(g.abs().max())
    cosines, ratios = [], []
    for strength in _STRENGTHS:
        tau = float(strength * scale)
        for p, r in zip((p for p in trainer.params if p.grad is not None), raw, strict=True):
            p.grad.copy_(r)
        trainer.clip_gradients(mode, tau, norm)
        c = _flat(_gradient(trainer))
        cosines.append(float(c @ g / (c.norm() * g.norm())))
        ratios.append(float(c.norm() / min(norm, tau)))
    yield Progress(1.0, "clipped")
    x = _STRENGTHS.tolist()
    figures = arm_result(
        arm,
        series={"cosine": (x, cosines), "norm ratio": (x, ratios)},
        scalars={
            "lowest cosine": min(cosines),
            "largest norm ratio": max(ratios),
            "smallest norm ratio": min(ratios),
            "||g||": norm,
        },
    )
    return figures, None


def _clip_verdict(v: Verdict) -> None:
    cos, hi, lo = (
        v("clip by norm", key)
        for key in ("lowest cosine", "largest norm ratio", "smallest norm ratio")
    )
    v.check(
        "clipping by norm keeps the direction and caps the length at tau",
        cos > 1 - 1e-9 and abs(hi - 1) < 1e-4 and abs(lo - 1) < 1e-4,
        f"lowest cosine to the raw gradient {cos:.12f}; clipped norm / min(||g||, tau)"
        f" between {lo:.6f} and {hi:.6f}",
    )
    cos_value, ratio_value = (
        v("clip by value", "lowest cosine"),
        v("clip by value", "largest norm ratio"),
    )
    v.check(
        "clipping by value bends the gradient and does not cap its length",
        cos_value < 0.99 and ratio_value > 2,
        f"lowest cosine {cos_value:.3f} (< 0.99); clipped norm up to {ratio_value:.1f}x tau",
    )


CLIPPING = Recipe(
    RecipeInfo(
        "clip-norm-vs-value",
        "Clip by norm vs clip by value",
        "Clipping by norm shrinks the whole gradient, keeping its direction; clipping by"
        " value cuts each component at tau, which changes the direction the step takes.",
        "x is the threshold tau as a share of the gradient's own scale (its norm for norm"
        " clipping, its largest component for value clipping). The cosine to the raw"
        " gradient stays at exactly 1 for norm clipping and falls for value clipping as"
        " tau shrinks; the clipped norm equals min(||g||, tau) for norm clipping only.",
        (
            Plot("cosine", "cosine(clipped, raw gradient)", PlotKind.CURVE, "tau / scale"),
            Plot(
                "norm ratio",
                "||clipped|| / min(||g||, tau)",
                PlotKind.CURVE,
                "tau / scale",
                log_y=True,
            ),
        ),
        ("Gradients",),
    ),
    _clip_arms,
    _clip_measure,
    _clip_verdict,
)


# ------------------------------------------------------------ 8. accumulation


def _accumulation_arms(fast: bool) -> list[Arm]:
    base = preset("spirals-mlp").with_changes({"data.batch_size": 64, "optim.accumulation": 4})
    return [
        Arm("4 x 64, no BatchNorm", base),
        Arm("4 x 64, BatchNorm", mlp(base, 4, 64, "relu", norm="batch")),
    ]


def _first_gradient(config: ExperimentConfig) -> torch.Tensor:
    trainer = Trainer(config)
    trainer.model.train()
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer._forward_backward()
    return _flat(_gradient(trainer))


def _accumulation_measure(arm: Arm, fast: bool) -> ArmSteps:
    """The first step's gradient accumulated over micro-batches, against
    the same examples in one batch (both through ``Trainer``)."""
    config = arm.config
    steps = config.optim.accumulation
    one = config.with_changes(
        {"data.batch_size": config.data.batch_size * steps, "optim.accumulation": 1}
    )
    accumulated = _first_gradient(config)
    yield Progress(0.5, "accumulated")
    large = _first_gradient(one)
    difference = float((accumulated - large).norm() / large.norm())
    cosine = float(accumulated @ large / (accumulated.norm() * large.norm()))
    figures = arm_result(arm, scalars={"relative difference": difference, "cosine": cosine})
    figures.options["compared with one batch of"] = one.data.batch_size
    return figures, None


def _accumulation_verdict(v: Verdict) -> None:
    plain = v("4 x 64, no BatchNorm", "relative difference")
    v.check(
        "without BatchNorm, accumulating 4 x 64 gives the gradient of one batch of 256",
        plain < 1e-5,
        f"||g_accumulated - g_256|| / ||g_256|| = {plain:.1e} (float rounding: < 1e-5)",
    )
    bn = v("4 x 64, BatchNorm", "relative difference")
    v.check(
        "with BatchNorm they differ: each micro-batch is normalised by its own statistics",
        bn > 1e-3,
        f"relative difference {bn:.2e} (> 1e-3)",
    )


ACCUMULATION = Recipe(
    RecipeInfo(
        "accumulation",
        "Gradient accumulation equals a large batch",
        "Summing the gradients of 4 micro-batches of 64 (each loss divided by 4) gives the"
        " gradient of one batch of 256, as long as no layer looks across the batch;"
        " BatchNorm does, so with it the two differ.",
        "The bars: how far the accumulated gradient is from the one-batch gradient of the"
        " same 256 examples, relative to its size (log scale). Without BatchNorm it is float"
        " rounding, about 1e-7; with BatchNorm it is percent-sized.",
        (Plot("relative difference", "||g_acc - g_256|| / ||g_256||", PlotKind.BARS, log_y=True),),
        ("Gradients",),
    ),
    _accumulation_arms,
    _accumulation_measure,
    _accumulation_verdict,
)
