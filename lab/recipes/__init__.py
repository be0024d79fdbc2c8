"""Recipes: named, ready experiments of two or more arms that put a
textbook claim to the test, with a verdict computed from the arms' own
figures (``lab.core.recipes`` holds what the window draws).

The catalog, in the order a course would meet them. Each module groups
recipes by what they look at; ``base`` runs any of them as a job.
"""

from __future__ import annotations

import dataclasses

from lab.core.errors import UsageError
from lab.core.recipes import RecipeInfo
from lab.recipes.base import Arm, Recipe, run_recipe
from lab.recipes.generalisation import DROPOUT, LABEL_SMOOTHING
from lab.recipes.gradients import ACCUMULATION, CLIPPING
from lab.recipes.signals import BATCHNORM, EXPLODING, PAIRING, RESIDUAL, VANISHING
from lab.recipes.surface import LANDSCAPE
from lab.recipes.training import DYING, FORGOT_EVAL, OPTIMIZERS
from lab.recipes.transformer import ATTENTION_SCALING, KV_CACHE, WARMUP

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        VANISHING,
        EXPLODING,
        PAIRING,
        BATCHNORM,
        DYING,
        FORGOT_EVAL,
        CLIPPING,
        ACCUMULATION,
        OPTIMIZERS,
        LABEL_SMOOTHING,
        DROPOUT,
        RESIDUAL,
        ATTENTION_SCALING,
        WARMUP,
        KV_CACHE,
        LANDSCAPE,
    )
}


def catalog() -> tuple[RecipeInfo, ...]:
    """Every recipe's description with its arms' labels: what the gallery lists."""
    return tuple(
        dataclasses.replace(r.info, arms=tuple(a.label for a in r.arms(True)))
        for r in RECIPES.values()
    )


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UsageError("recipe", f"{name!r} is not one of {', '.join(RECIPES)}")
    return RECIPES[name]


__all__ = ["RECIPES", "Arm", "Recipe", "catalog", "recipe", "run_recipe"]
