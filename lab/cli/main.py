"""The headless ``knoblab`` sub-commands: run, landscape, export, presets,
kv (in ``lab.cli.kv``).

This module imports no torch at import time; each sub-command imports the
engine's modules when it runs.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from lab.cli import data, kv, recipe
from lab.cli.experiments import load_experiment
from lab.cli.help import EXIT_CODES
from lab.cli.help import command as _command
from lab.cli.output import guard_streams, say
from lab.core import wire
from lab.core.config import ExperimentConfig
from lab.core.errors import UsageError, UserError
from lab.core.presets import DEFAULT_PRESET
from lab.core.protocol import DirectionKind
from lab.core.version import version_text


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


class Interrupted(Exception):
    """Ctrl-C during a run: raised between steps, so the weights are whole."""


def _refuse_existing(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()) and not force:
        raise UsageError(
            "--out", f"{out} already exists and is not empty; choose another --out, or --force"
            " to replace it",
        )  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    import signal

    config = load_experiment(args.config, args.preset, args.set)
    if args.steps is not None:
        config = config.with_changes({"train.steps": args.steps})
    if args.device:
        config = config.with_changes({"train.device": args.device})
    if args.model:
        config = config.with_changes({"model.kind": "custom", "model.source": args.model})
    if args.data:
        config = data.with_data(config, args.data, args.target)
    elif args.target:
        config = config.with_changes({"data.target": args.target})
    data.ensure_downloaded(config, args.quiet)
    out = Path(args.out or Path("runs") / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    _refuse_existing(out, args.force)
    from lab.cli.progress import ProgressLine
    from lab.engine.runs import save_run
    from lab.train.trainer import Trainer

    trainer = Trainer(config)
    total = config.train.steps
    say(f"knoblab: {config.name} on {trainer.device}, {total} steps -> {out}")
    for note in getattr(trainer.model, "blind", ()):
        say(f"knoblab: your model: not measured: {note}")
    start = time.perf_counter()
    bar = None if args.quiet else ProgressLine("training", total, "steps")
    stop = {"asked": False}

    def interrupt(_signum: int, _frame: object) -> None:
        stop["asked"] = True  # acted on after the step under way: no half-updated weights

    def report(result: Any) -> None:
        if stop["asked"]:
            raise Interrupted
        if bar is None:
            return
        message = ""
        if result.step % config.train.eval_every == 0:
            row = dict(
                zip(trainer.store[wire.EVAL].columns, trainer.store[wire.EVAL].latest, strict=True)
            )
            message = _fmt_row(result.step, total, row, result.step / (time.perf_counter() - start))
            message = message.split("  ", 1)[1]  # the bar shows the step already
        bar.update(result.step, message)

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        outcome = trainer.run(total, report)
    except Interrupted:
        outcome = "interrupted"
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    if trainer.step_count % config.train.eval_every or trainer.step_count == 0:
        trainer.log_evaluation()  # the last row always describes the final weights
    if args.force and out.exists():
        import shutil

        shutil.rmtree(out)  # replaced only now that there is a run to put in its place
    save_run(out, trainer)
    final = dict(
        zip(trainer.store[wire.EVAL].columns, trainer.store[wire.EVAL].latest, strict=True)
    )
    summary = f"train_loss {final['train_loss']:.4f}  test_loss {final['test_loss']:.4f}"
    if not math.isnan(final["test_acc"]):
        summary += f"  test_acc {100 * final['test_acc']:.1f}%"
    print(f"knoblab: {trainer.step_count} steps in {elapsed:.1f} s; {summary}; wrote {out}")
    if outcome == "interrupted":
        saved = f"saved the {trainer.step_count} steps trained"
        say(f"knoblab: interrupted; {saved}")
        return 130
    if outcome != "done":
        say(f"knoblab: stopped: {outcome}")
        return 3
    return 0


def cmd_landscape(args: argparse.Namespace) -> int:
    import numpy as np

    from lab.cli.progress import ProgressLine
    from lab.core.fileio import atomic_write_with
    from lab.engine.runs import load_trainer
    from lab.landscape import landscape_for

    trainer = load_trainer(args.run_dir, args.device, run_code=args.run_model_code)
    start = time.perf_counter()
    bar = ProgressLine("landscape")

    def progress(fraction: float, _partial: object) -> bool:
        if not args.quiet:
            bar.update(100 * fraction)
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
    bar.close()
    print(
        f"knoblab: {args.grid}x{args.grid} {args.dirs} landscape of step {trainer.step_count} "
        f"in {elapsed:.2f} s; loss {low:.4g} .. {high:.4g}, centre {result.center_loss:.4g};"
        f" wrote {args.out}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lab.cli.progress import ProgressLine
    from lab.engine.export import export_steps, report_path
    from lab.engine.runs import load_trainer

    trainer = load_trainer(args.run_dir, args.device, run_code=args.run_model_code)
    config = trainer.config
    steps = export_steps(
        trainer.model,
        trainer.data.input_shape,
        args.out,
        config_json=config.to_json(),
        legacy=args.legacy,
    )
    bar = ProgressLine("export")
    while True:
        try:
            stage = next(steps)
        except StopIteration as done:
            report = done.value
            break
        if not args.quiet:
            bar.update(100 * stage.fraction, stage.message)
    bar.close()
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
        model = model_words(config)
        optim = f"{config.optim.name} lr {config.optim.lr:g}"
        print(f"{name:<16} {model} on {config.data.name}, {optim}, {config.train.steps} steps")
        print(f"{'':<16} {PRESET_NOTES[name].description}")
    return 0


def model_words(config: ExperimentConfig) -> str:
    """The model in a few words: "mlp 4x64", "cnn 3 layers", "transformer 2 blocks"."""
    model = config.model
    if model.kind == "transformer":
        t = model.transformer
        blocks = "block" if t.layers == 1 else "blocks"
        return f"transformer {t.layers} {blocks} of width {t.d_model}"
    widths = {layer.width for layer in model.layers}
    if model.kind == "mlp" and len(widths) == 1:
        return f"mlp {len(model.layers)}x{widths.pop()}"
    return f"{model.kind} {len(model.layers)} layers"


def _device_option(parser: argparse.ArgumentParser, default_says: str) -> None:
    parser.add_argument(
        "--device",
        help=f"cpu, cuda, mps or auto ({default_says}); a run trained on a GPU opens on"
        " a machine without one with --device cpu",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="knoblab",
        description="Knoblab: a desktop lab for deep learning by hand. Without a command it"
        " opens the window; the commands below run headless.",
        epilog="examples:\n  knoblab                      open the window\n"
        "  knoblab run --preset spirals-mlp\n  knoblab --selftest           check an install"
        f"\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = _command(sub, "run", "train an experiment headless and save it as a run folder",
        "  knoblab run --preset spirals-mlp --steps 2000 --out runs/spirals\n"
        "  knoblab run my.toml --set optim.lr=0.03 --set 'optim.schedule=\"warmup_cosine\"'\n"
        "  knoblab run --preset copy-transformer --device cuda\n"
        "  knoblab run --data digits\n  knoblab run --data houses.csv --target price\n"
        "  knoblab run --model mine.py:make_model --data wine")  # fmt: skip
    run.add_argument("config", nargs="?", help="an experiment config (.toml or .json)")
    run.add_argument("--preset", help=f"a named experiment (default {DEFAULT_PRESET}; see presets)")
    run.add_argument("--steps", type=int, help="optimiser steps (overrides train.steps)")
    run.add_argument("--out", help="the run folder to write (default runs/NAME-TIME)")
    run.add_argument("--force", action="store_true", help="replace --out if it holds a run")
    run.add_argument(
        "--data",
        help="a dataset by name (iris, digits, mnist, ...; see `knoblab"
        " data list`) or your file: CSV/TSV, NPZ/NPY, an image folder, a text",
    )
    run.add_argument("--target", help="a table's target column (default: the last)")
    run.add_argument(
        "--model",
        metavar="FILE.py:FUNCTION",
        help="train your own model: a function of (input_shape, n_outputs) returning an nn.Module",
    )
    _device_option(run, "default: the config's train.device")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a field, e.g. --set optim.lr=0.03 (repeatable)",
    )
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    run.set_defaults(func=cmd_run)
    land = _command(sub, "landscape", "compute the loss landscape around a run's weights",
        "  knoblab landscape runs/spirals --grid 41 --out landscape.npz\n"
        "  knoblab landscape runs/spirals --dirs pca --out pca.npz --device cpu")  # fmt: skip
    land.add_argument("run_dir", help="a run folder written by `knoblab run` or the app")
    land.add_argument("--grid", type=int, default=41, help="points per axis (default 41)")
    land.add_argument("--span", type=float, default=1.0, help="half-width of the plane (default 1)")
    land.add_argument("--dirs", choices=list(DirectionKind), default=DirectionKind.FILTER,
                      help="the plane's directions (default filter)")  # fmt: skip
    land.add_argument("--points", type=int, default=1024, help="evaluation samples (default 1024)")
    land.add_argument("--seed", type=int, default=0, help="seed of random directions (default 0)")
    land.add_argument("--out", required=True, help="the .npz file to write")
    _device_option(land, "default: the run's own")
    land.add_argument(
        "--run-model-code",
        action="store_true",
        help="the run's model is your own Python file: run it (asked, not assumed)",
    )
    land.add_argument("--quiet", action="store_true", help="print only the summary")
    land.set_defaults(func=cmd_landscape)
    export = _command(sub, "export", "export a run's model to ONNX and verify it with onnxruntime",
        "  knoblab export runs/spirals --out spirals.onnx\n"
        "  knoblab export runs/cuda-run --out model.onnx --device cpu")  # fmt: skip
    export.add_argument("run_dir", help="a run folder written by `knoblab run` or the app")
    export.add_argument("--out", required=True, help="the .onnx file to write")
    export.add_argument("--legacy", action="store_true", help="use the TorchScript exporter")
    _device_option(export, "default: the run's own")
    export.add_argument(
        "--run-model-code",
        action="store_true",
        help="the run's model is your own Python file: run it (asked, not assumed)",
    )
    export.add_argument("--quiet", action="store_true", help="print only the report")
    export.set_defaults(func=cmd_export)
    presets = _command(sub, "presets", "list the named experiments", "  knoblab presets")
    presets.set_defaults(func=cmd_presets)
    kv.add_parser(sub)
    recipe.add_parser(sub)
    data.add_parser(sub)
    return parser


def main(argv: list[str]) -> int:
    """Run a sub-command (the entry point, ``knoblab.main``, opens the window
    when there is none)."""
    guard_streams()  # `knoblab ... | head` ends quietly, having finished its work
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    try:
        return args.func(args)
    except UserError as exc:  # the message says what to fix
        say(f"knoblab: {exc}")
        return 2
    except KeyboardInterrupt:
        say("\nknoblab: interrupted")
        return 130
