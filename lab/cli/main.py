"""The headless ``knoblab`` sub-commands: run, landscape, export, presets,
kv (in ``lab.cli.kv``).

This module imports no torch at import time; each sub-command imports the
engine's modules when it runs.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from lab.cli import kv
from lab.core import wire
from lab.core.config import ConfigError, ExperimentConfig
from lab.core.presets import DEFAULT_PRESET
from lab.core.protocol import DirectionKind


def _parse_value(text: str) -> Any:
    """A --set value as TOML (numbers, booleans, quoted strings), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_experiment(
    config_path: str | None, preset_name: str | None, sets: list[str]
) -> ExperimentConfig:
    from lab.core.presets import preset

    if config_path and preset_name:
        raise ConfigError("preset", "give a config file or a preset, not both")
    if config_path:
        config = ExperimentConfig.load(config_path)
    else:
        config = preset(preset_name or DEFAULT_PRESET)
    changes = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(item, "a --set needs the form field=value, e.g. optim.lr=0.01")
        changes[key.strip()] = _parse_value(value.strip())
    return config.with_changes(changes) if changes else config


def _fmt_row(step: int, total: int, row: dict[str, float], rate: float) -> str:
    parts = [
        f"step {step:>{len(str(total))}}/{total}",
        f"train_loss {row['train_loss']:.4f}",
        f"test_loss {row['test_loss']:.4f}",
    ]
    if not math.isnan(row["test_acc"]):
        parts.append(f"test_acc {100 * row['test_acc']:5.1f}%")
    parts += [f"lr {row['lr']:.2e}", f"{rate:,.0f} steps/s"]
    return "  ".join(parts)


def cmd_run(args: argparse.Namespace) -> int:
    config = load_experiment(args.config, args.preset, args.set)
    if args.steps is not None:
        config = config.with_changes({"train.steps": args.steps})
    from lab.engine.runs import save_run
    from lab.train.trainer import Trainer

    out = Path(args.out or Path("runs") / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    trainer = Trainer(config)
    total = config.train.steps
    print(f"knoblab: {config.name} on {trainer.device}, {total} steps -> {out}", flush=True)
    start = time.perf_counter()

    def report(result: Any) -> None:
        if not args.quiet and result.step % config.train.eval_every == 0:
            row = dict(
                zip(trainer.store[wire.EVAL].columns, trainer.store[wire.EVAL].latest, strict=True)
            )
            rate = result.step / (time.perf_counter() - start)
            print(_fmt_row(result.step, total, row, rate), flush=True)

    outcome = trainer.run(total, report)
    elapsed = time.perf_counter() - start
    if trainer.step_count % config.train.eval_every or trainer.step_count == 0:
        trainer.log_evaluation()  # the last row always describes the final weights
    save_run(out, trainer)
    final = dict(
        zip(trainer.store[wire.EVAL].columns, trainer.store[wire.EVAL].latest, strict=True)
    )
    summary = f"train_loss {final['train_loss']:.4f}  test_loss {final['test_loss']:.4f}"
    if not math.isnan(final["test_acc"]):
        summary += f"  test_acc {100 * final['test_acc']:.1f}%"
    print(f"knoblab: {trainer.step_count} steps in {elapsed:.1f} s; {summary}; wrote {out}")
    if outcome != "done":
        print(f"knoblab: stopped: {outcome}", file=sys.stderr)
        return 3
    return 0


def cmd_landscape(args: argparse.Namespace) -> int:
    import numpy as np

    from lab.core.fileio import atomic_write_with
    from lab.engine.runs import load_trainer
    from lab.landscape import landscape_for

    trainer = load_trainer(args.run_dir)
    start = time.perf_counter()

    # On a terminal one line redrawn per percent; into a file or pipe (where
    # the carriage returns piled up 100 updates on one line) a line per quarter.
    interactive = sys.stdout.isatty()
    every = 1 if interactive else 25
    shown = [-1]  # the last percent printed

    def progress(fraction: float, _partial: object) -> bool:
        percent = int(100 * fraction) // every * every
        if not args.quiet and percent != shown[0]:
            shown[0] = percent
            if interactive:
                print(f"\rlandscape {percent:3d}%", end="", flush=True)
            else:
                print(f"landscape {percent:3d}%", flush=True)
        return True

    result = landscape_for(
        trainer,
        kind=args.dirs,
        resolution=args.grid,
        span=args.span,
        n_points=args.points,
        seed=args.seed,
        progress=progress,
    )
    elapsed = time.perf_counter() - start
    arrays = {
        "alphas": result.surface.alphas,
        "betas": result.surface.betas,
        "losses": result.surface.losses,
        "center_loss": np.float64(result.center_loss),
        "trajectory": result.trajectory,
        "trajectory_steps": result.trajectory_steps,
        "directions": np.str_(result.kind),
        "seed": np.int64(result.seed),
        "n_points": np.int64(result.n_points),
        "step": np.int64(trainer.step_count),
        "line_t": result.line_t,  # the straight line from the initial (0) to the current (1)
        "line_losses": result.line_losses,
        "direction_norms": np.asarray(result.direction_norms),  # one unit on each axis
    }
    if result.explained is not None:
        arrays["explained_variance"] = result.explained
    atomic_write_with(args.out, lambda handle: np.savez_compressed(handle, **arrays))
    low, high = np.nanmin(result.surface.losses), np.nanmax(result.surface.losses)
    print(
        ("\n" if interactive and not args.quiet else "")
        + f"knoblab: {args.grid}x{args.grid} {args.dirs} landscape of step {trainer.step_count} "
        f"in {elapsed:.2f} s; loss {low:.4g} .. {high:.4g}, centre {result.center_loss:.4g};"
        f" wrote {args.out}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lab.engine.export import export_onnx, report_path
    from lab.engine.runs import load_trainer

    trainer = load_trainer(args.run_dir)
    config = trainer.config
    report = export_onnx(
        trainer.model,
        trainer.data.input_shape,
        args.out,
        config_json=config.to_json(),
        legacy=args.legacy,
    )
    what = f"{config.name} (step {trainer.step_count})"
    size = f"opset {report.opset}, {report.file_bytes:,} bytes"
    print(
        f"knoblab: exported {what} with the {report.exporter} exporter, {size}, "
        f"in {report.export_seconds:.2f} s -> {args.out}"
    )
    for batch, entry in report.parity.items():
        diffs = f"max abs {entry['max_abs']:.2e}, max rel {entry['max_rel']:.2e}"
        print(f"  parity at batch {batch:>3}: {diffs}")
    for batch, entry in report.latency_ms.items():
        ratio = entry["torch"] / entry["onnxruntime"]
        times = f"torch {entry['torch']:.3f} ms, onnxruntime {entry['onnxruntime']:.3f} ms"
        print(f"  latency at batch {batch:>3}: {times} ({ratio:.1f}x)")
    print(f"  report: {report_path(args.out)}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from lab.core.presets import PRESET_NOTES, PRESETS

    for name, config in PRESETS.items():
        model = f"{config.model.kind} x{len(config.model.layers)}"
        optim = f"{config.optim.name} lr {config.optim.lr:g}"
        print(f"{name:<16} {model} on {config.data.name}, {optim}, {config.train.steps} steps")
        print(f"{'':<16} {PRESET_NOTES[name].description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="knoblab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="train an experiment headless")
    run.add_argument("config", nargs="?", help="experiment config (.toml or .json)")
    run.add_argument("--preset", help=f"a named experiment (default {DEFAULT_PRESET})")
    run.add_argument("--steps", type=int, help="optimiser steps (overrides train.steps)")
    run.add_argument("--out", help="run folder to write (default runs/NAME-TIME)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a field, e.g. --set optim.lr=0.03 (repeatable)",
    )
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    run.set_defaults(func=cmd_run)
    land = sub.add_parser("landscape", help="compute the loss landscape around a run's weights")
    land.add_argument("run_dir", help="a run folder written by `knoblab run` or the app")
    land.add_argument("--grid", type=int, default=41, help="points per axis (default 41)")
    land.add_argument("--span", type=float, default=1.0, help="half-width of the plane (default 1)")
    land.add_argument("--dirs", choices=list(DirectionKind), default=DirectionKind.FILTER)
    land.add_argument("--points", type=int, default=1024, help="evaluation samples (default 1024)")
    land.add_argument("--seed", type=int, default=0, help="seed of random directions")
    land.add_argument("--out", required=True, help="the .npz file to write")
    land.add_argument("--quiet", action="store_true")
    land.set_defaults(func=cmd_landscape)
    export = sub.add_parser("export", help="export a run's model to ONNX and verify it")
    export.add_argument("run_dir", help="a run folder written by `knoblab run` or the app")
    export.add_argument("--out", required=True, help="the .onnx file to write")
    export.add_argument("--legacy", action="store_true", help="use the TorchScript exporter")
    export.set_defaults(func=cmd_export)
    presets = sub.add_parser("presets", help="list the named experiments")
    presets.set_defaults(func=cmd_presets)
    kv.add_parser(sub)
    return parser


def main(argv: list[str]) -> int:
    """Run a sub-command (the entry point, ``knoblab.main``, opens the window
    when there is none)."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"knoblab: invalid config: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the store's and engine's own errors carry their reason
        from lab.engine.export import ExportError
        from lab.engine.runs import StoreError

        if isinstance(exc, StoreError | ExportError):
            print(f"knoblab: {exc}", file=sys.stderr)
            return 2
        raise
