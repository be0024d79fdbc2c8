"""The loss-landscape recipe: a deep residual net's surface against the
same depth without skips, with a roughness figure computed from the grid."""

from __future__ import annotations

import numpy as np

from lab.core.presets import preset
from lab.core.recipes import Plot, PlotKind, RecipeInfo
from lab.jobs import Progress
from lab.landscape.job import LandscapeJob
from lab.recipes.base import Arm, ArmSteps, Recipe, Verdict, arm_result
from lab.recipes.measure import final, mlp, smoothed_loss, train


def roughness(losses: np.ndarray) -> float:
    """How wrinkled a loss grid is, free of its scale: the mean absolute
    discrete Laplacian of log(loss) over the inner points, divided by the
    range of log(loss). A smooth bowl scores near 0; every dent adds."""
    z = np.log(losses)
    lap = z[2:, 1:-1] + z[:-2, 1:-1] + z[1:-1, 2:] + z[1:-1, :-2] - 4 * z[1:-1, 1:-1]
    return float(np.abs(lap).mean() / (z.max() - z.min()))


def local_minima(losses: np.ndarray) -> int:
    """Inner grid points lower than all eight neighbours."""
    z = losses
    inner = z[1:-1, 1:-1]
    lower = np.ones_like(inner, dtype=bool)
    n, m = z.shape
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                lower &= inner < z[1 + di : n - 1 + di, 1 + dj : m - 1 + dj]
    return int(lower.sum())


def _landscape_arms(fast: bool) -> list[Arm]:
    base = mlp(preset("spirals-mlp"), 30, 32, "relu").with_changes({"optim.lr": 3e-3})
    resid = mlp(base, 30, 32, "relu", residual=True).with_changes(
        {"model.residual_scale": "inv_sqrt_2n"}
    )
    options = {"train": 600, "resolution": 31}
    return [Arm("plain, 30 layers", base, options), Arm("residual, 30 layers", resid, options)]


def _landscape_measure(arm: Arm, fast: bool) -> ArmSteps:
    """Train, then the filter-normalised landscape around the weights
    (``lab.landscape``, what the Landscape view computes)."""
    steps = int(arm.options["train"]) // (2 if fast else 1)
    trainer = yield from train(arm.config, steps)
    resolution = 21 if fast else int(arm.options["resolution"])
    job = LandscapeJob(
        trainer, kind="filter", resolution=resolution, n_points=512, mode_per_chunk=False
    )
    for report in job.steps():
        yield Progress(report.fraction, "landscape")
    losses = job.result.surface.losses
    middle = resolution // 2
    alphas = job.result.surface.alphas.tolist()
    figures = arm_result(
        arm,
        series={
            "loss": smoothed_loss(trainer),
            "slice": (alphas, losses[:, middle].tolist()),
        },
        scalars={
            "roughness": roughness(losses),
            "local minima": float(local_minima(losses)),
            "test acc": final(trainer, "test_acc"),
        },
    )
    figures.options["resolution"] = resolution
    return figures, trainer


def _landscape_verdict(v: Verdict) -> None:
    plain, resid = v("plain, 30 layers", "roughness"), v("residual, 30 layers", "roughness")
    v.check(
        "without skips the surface is rougher",
        plain >= 2 * resid,
        f"roughness {plain:.4f} plain against {resid:.4f} residual (2x at least)",
    )
    pits, pits_resid = (
        v("plain, 30 layers", "local minima"),
        v("residual, 30 layers", "local minima"),
    )
    v.check(
        "and pitted with more local minima",
        pits > pits_resid,
        f"{pits:.0f} local minima on the grid plain, {pits_resid:.0f} residual",
    )


LANDSCAPE = Recipe(
    RecipeInfo(
        "landscape-skips",
        "Skip connections smooth the loss landscape",
        "Around its trained weights a deep net without skip connections sits in a wrinkled,"
        " pitted surface; the same depth with skips sits in a smooth bowl (Li et al., 2018).",
        "The slice through the centre of each grid, and the bars: roughness (the mean"
        " absolute discrete Laplacian of log loss, divided by its range: 0 for a perfect"
        " bowl) and how many grid points are lower than all eight neighbours. Open the"
        " Landscape tab with either arm to see the whole surface.",
        (
            Plot(
                "slice",
                "loss along the first direction (centre row)",
                PlotKind.CURVE,
                "alpha",
                log_y=True,
            ),
            Plot("roughness", "roughness of log loss", PlotKind.BARS),
            Plot("local minima", "local minima on the grid", PlotKind.BARS),
        ),
        ("Landscape",),
    ),
    _landscape_arms,
    _landscape_measure,
    _landscape_verdict,
)
