"""``knoblab recipe``: list the recipes, run one (or all) headless, print
the verdict with its numbers, write each arm's run folder and the result."""

from __future__ import annotations

import argparse
import json
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lab.cli.help import command
from lab.core.errors import UsageError
from lab.core.fileio import atomic_write_text
from lab.core.recipes import RecipeResult

if TYPE_CHECKING:
    from lab.recipes import Recipe

RESULT_FILE = "recipe.json"  # beside the arms' run folders


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "recipe", "run a recipe: a textbook claim put to the test, with a verdict",
        "  knoblab recipe --list\n"
        "  knoblab recipe vanishing-gradients --fast\n"
        "  knoblab recipe warmup --out runs/warmup --json > warmup.json\n"
        "  knoblab recipe --all --fast")  # fmt: skip
    p.add_argument("name", nargs="?", help="the recipe (see --list)")
    p.add_argument("--list", action="store_true", help="list the recipes and what each claims")
    p.add_argument("--all", action="store_true", help="run every recipe")
    p.add_argument("--fast", action="store_true", help="the quick variant (seconds, not minutes)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", help="write each arm's run folder and recipe.json under this folder")
    p.add_argument(
        "--jobs",
        type=int,
        help="arms measured at once, each in its own process (default: half the cores;"
        " the KV-cache recipe times its arms, always one at a time)",
    )
    p.add_argument(
        "--data",
        help="run every arm on this data: a dataset's name or your file"
        " (the verdict's thresholds were set on the recipe's own data)",
    )
    p.add_argument("--target", help="a table's target column (with --data)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_recipe)


def cmd_recipe(args: argparse.Namespace) -> int:
    from lab.recipes import RECIPES, recipe

    if args.list:
        for r in RECIPES.values():
            print(f"{r.name:22s} {r.info.title}")
            for line in textwrap.wrap(r.info.claim, 76):
                print(f"{'':22s} {line}")
        return 0
    if args.all == bool(args.name):
        raise UsageError("NAME", "give a recipe's name or --all (see knoblab recipe --list)")
    chosen = list(RECIPES.values()) if args.all else [recipe(args.name)]
    if args.data:
        chosen = [r.on_data(data_changes(args.data, args.target)) for r in chosen]
    start = time.perf_counter()
    results = []
    for r in chosen:
        out = Path(args.out) / r.name if args.out and args.all else args.out
        results.append(_run(r, args, out))
        if not args.json:
            print(results[-1].verdict_text(), flush=True)
    seconds = time.perf_counter() - start
    passed = all(r.passed for r in results)
    if args.json:
        if args.all:
            payload = {"recipes": [r.to_dict() for r in results], "pass": passed}
            print(json.dumps(payload | {"seconds": round(seconds, 1)}, indent=1))
        else:
            print(results[0].to_json())
    elif args.all:
        ok = sum(r.passed for r in results)
        print(f"knoblab: {ok} of {len(results)} recipes passed in {seconds:.0f} s")
    return 0 if passed else 4


def data_changes(data: str, target: str | None) -> dict:
    """What every arm changes to train on ``data``: the data section as the
    data asks (its batch fitted), a loss chosen by the task."""
    from lab.cli.data import ensure_downloaded, with_data
    from lab.core.presets import preset

    config = with_data(preset("spirals-mlp"), data, target)
    ensure_downloaded(config)
    return {"data": config.to_dict()["data"], "train.loss": "auto", "train.label_smoothing": 0.0}


def _run(r: Recipe, args: argparse.Namespace, out: str | Path | None) -> RecipeResult:
    from lab.cli.progress import ProgressLine
    from lab.engine.runs import save_run
    from lab.recipes.parallel import default_workers, run_parallel

    bar = None if args.quiet else ProgressLine(r.name, 100)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs", f"{args.jobs}; allowed: at least 1")
    workers = args.jobs or default_workers(r, args.fast)
    steps = run_parallel(r, args.fast, workers, out=out, save=save_run)
    try:
        while True:
            report = next(steps)
            if bar is not None:
                bar.update(100 * report.fraction, report.message)
    except StopIteration as stop:
        result: RecipeResult = stop.value
    finally:
        if bar is not None:
            bar.close()
    if out is not None:
        atomic_write_text(Path(out) / RESULT_FILE, result.to_json())
    return result
