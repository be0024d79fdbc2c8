"""A recipe's arms side by side, each in a process of its own, where the
machine has the cores for it (headless: ``knoblab recipe --jobs``).

Each worker builds its arm from the recipe's name and the arm's number (a
recipe holds functions; names cross a process boundary), measures it with
``torch`` threads of its own share of the cores, and writes its run folder.
A recipe whose arms time themselves (``Recipe.parallel = False``, the KV
cache's tokens/s) runs them one at a time whatever was asked: arms timed
side by side would measure each other.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import torch

from lab.core.recipes import ArmResult, RecipeResult
from lab.jobs import Progress
from lab.recipes.base import Recipe, judge, measure_arms, run_recipe

Save = Callable[[Path, Any], None]


def default_workers(recipe: Recipe, fast: bool) -> int:
    """Half the cores (each worker keeps two threads), no more than arms."""
    if not recipe.parallel:
        return 1
    return max(1, min(len(recipe.arms(fast)), (os.cpu_count() or 1) // 2))


def _measure_one(
    name: str,
    fast: bool,
    index: int,
    out: str | None,
    save: Save | None,
    threads: int,
    data: dict | None = None,
) -> ArmResult:
    from lab.recipes import recipe  # (in the worker: the catalog by name)

    torch.set_num_threads(threads)
    r = recipe(name).on_data(data or {})
    arm = r.arms(fast)[index]
    result = RecipeResult(r.info, fast, [])
    for _ in measure_arms(r, fast, [arm], result, out=out, save=save, first=index):
        pass
    return result.arms[0]


def run_parallel(
    recipe: Recipe,
    fast: bool,
    workers: int,
    *,
    out: str | Path | None = None,
    save: Save | None = None,
) -> Generator[Progress, None, RecipeResult]:
    """The recipe with up to ``workers`` arms at once (1: ``run_recipe``);
    progress as arms finish, each finished arm a partial result."""
    arms = recipe.arms(fast)
    workers = min(workers, len(arms)) if recipe.parallel else 1
    if workers <= 1:
        return (yield from run_recipe(recipe, fast, out=out, save=save))
    threads = max(1, (os.cpu_count() or 1) // workers)
    folder = None if out is None else str(out)
    done: dict[int, ArmResult] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = {
            pool.submit(_measure_one, recipe.name, fast, i, folder, save, threads, recipe.data): i
            for i in range(len(arms))
        }
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                done[index] = future.result()
                partial = RecipeResult(recipe.info, fast, [done[i] for i in sorted(done)])
                message = f"{arms[index].label}: measured"
                yield Progress(len(done) / len(arms), message, partial)
    result = RecipeResult(recipe.info, fast, [done[i] for i in range(len(arms))])
    return judge(recipe, result)
