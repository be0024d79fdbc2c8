"""``knoblab kv``: the KV-cache accounting of a model shape (a real model's,
or a lab Transformer's from a preset or config), and with ``--decode`` a
measured decode of the lab's Transformer (a run folder or a preset)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from lab.cli.experiments import config_file
from lab.cli.help import command
from lab.core.config import ConfigError, ExperimentConfig
from lab.core.errors import UsageError
from lab.core.kv import GIB, KV_DTYPES, MODEL_SHAPES, Breakdown, ModelShape, breakdown, lab_shape
from lab.core.presets import PRESETS
from lab.core.units import size


def _mib(n: int | float) -> str:
    """Bytes in the unit that reads best."""
    return size(n, 2)


def shape_of(args: argparse.Namespace) -> ModelShape:
    """The shape asked for: a real model's, a lab preset's, or a config file's."""
    if args.config and args.preset:
        raise UsageError("--preset", "give a config file or a preset, not both")
    if not (args.config or args.preset):
        raise UsageError("--preset", f"give a model: --preset {' | '.join(MODEL_SHAPES)}, a lab"
                          " Transformer preset, or a config file")  # fmt: skip
    if args.preset in MODEL_SHAPES:
        shape = MODEL_SHAPES[args.preset]
    else:
        if args.config:
            config = ExperimentConfig.load(config_file(args.config))
        elif args.preset in PRESETS:
            config = PRESETS[args.preset]
        else:
            known = ", ".join(
                [*MODEL_SHAPES, *(n for n, c in PRESETS.items() if c.model.kind == "transformer")]
            )
            raise UsageError("--preset", f"{args.preset!r} is not one of {known}")
        if config.model.kind != "transformer":
            raise ConfigError(
                "model.kind", f"{config.name} is an {config.model.kind.upper()}: no KV cache"
            )
        from lab.data.sequences import task_vocabulary

        shape = lab_shape(config, task_vocabulary(config.data))
        shape = shape.with_changes(name=config.name)
    if args.kv_heads:
        shape = shape.with_changes(kv_heads=args.kv_heads)
    return shape


def print_breakdown(report: Breakdown) -> None:
    s = report.shape
    print(
        f"{s.name}: {s.layers} layers, {s.heads} heads, {s.kv_heads} kv heads"
        f" ({s.attention_kind}), head dim {s.head_dim}, {s.parameters():,} parameters"
    )
    if s.source:
        print(f"  shape from {s.source}")
    print(
        f"  cache of {report.batch} x {report.tokens:,} tokens in {report.dtype}:"
        f" {report.per_token_per_layer:,} bytes a token per layer, {report.per_token:,} a token,"
        f" {_mib(report.per_layer)} per layer, {_mib(report.total)} in all"
    )
    print(
        f"  the same as MHA: {_mib(report.mha_total)}, as MQA: {_mib(report.mqa_total)};"
        f" weights in {report.weights_dtype}: {_mib(report.weights)}"
    )
    if report.budget is not None:
        tokens = report.fits_tokens or 0
        capped = f" (the model's context is {s.context:,})" if tokens > s.context else ""
        print(
            f"  within {_mib(report.budget)}: up to {tokens:,} tokens per sequence at batch"
            f" {report.batch}{capped}, or {report.fits_batch:,} sequences of {report.tokens:,}"
        )


def measured_decode(args: argparse.Namespace) -> dict[str, object]:
    """Decode with the lab's Transformer (a run folder or a preset), print the
    figures, write the per-step table; the summary for --json."""
    import numpy as np

    from lab.core import protocol as p
    from lab.generate.measure import decode_steps
    from lab.train.devices import resolve_device
    from lab.train.trainer import Trainer

    source = args.decode
    if Path(source).is_dir():
        from lab.engine.runs import load_trainer

        trainer = load_trainer(source)
    elif source in PRESETS:
        trainer = Trainer(PRESETS[source])
    else:
        raise UsageError("--decode", f"{source!r} is neither a run folder nor a preset")
    if not hasattr(trainer.model, "attention_layers"):
        raise UsageError("--decode", f"{source} is not a Transformer")
    device = resolve_device(args.device)
    model = trainer.model.to(device)
    request = p.DecodeKV(
        0, layout=args.layout, dtype=args.dtype, batch=args.batch, prompt=args.prompt,
        tokens=args.tokens,
    )  # fmt: skip
    steps = decode_steps(model, request, device)
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        result: p.KVDecode = stop.value
    cached = args.batch / np.nanmedian(result.seconds_cached)
    full = args.batch / np.nanmedian(result.seconds_full)
    held, needed = int(result.held[-1].sum()), int(result.formula[-1])
    if not args.json:
        print(
            f"decode: {source} on {device}, {args.layout} cache in {args.dtype}, batch"
            f" {args.batch}, {request.prompt} -> {int(result.lengths[-1])} tokens"
        )
        print(
            f"  held at the end: {_mib(held)}; the tokens need {_mib(needed)}; reserved but"
            f" unused {_mib(held - needed)}"
        )
        print(f"  prefill of {request.prompt} tokens: {1e3 * result.prefill_seconds:.2f} ms")
        if result.blocks is not None:
            print(f"  paged: {int(result.blocks[-1])} blocks in use (all layers)")
        if result.allocated is not None:
            print(
                f"  CUDA allocator: allocated {_mib(int(result.allocated[-1]))}, reserved"
                f" {_mib(int(result.reserved[-1]))}, peak {_mib(int(result.peak[-1]))}"
            )
        speed = f"{cached:,.0f} with the cache, {full:,.0f} recomputing"
        print(f"  tokens/s: {speed} ({cached / full:.1f}x)")
        print(f"  logits against an fp32 recompute: max abs error {result.logit_error:.2e}")
        for h in result.layouts:
            blocks = f", {h.blocks} blocks" if h.blocks is not None else ""
            print(
                f"  lengths {list(result.mixed)} in a {h.layout} cache: holds {_mib(h.held_bytes)}"
                f" for {_mib(h.needed_bytes)} of tokens{blocks}"
            )
    if args.csv:
        write_csv(args.csv, result)
    return {
        "layout": args.layout, "dtype": args.dtype, "batch": args.batch, "device": str(device),
        "tokens": int(result.lengths[-1]), "held_bytes": held, "needed_bytes": needed,
        "prefill_seconds": result.prefill_seconds,
        "tokens_per_s_cached": cached, "tokens_per_s_recompute": full,
        "logit_error": result.logit_error,
        "layouts": {h.layout: {"held_bytes": h.held_bytes, "needed_bytes": h.needed_bytes,
                               "blocks": h.blocks} for h in result.layouts},
    }  # fmt: skip


def write_csv(path: str, result: object) -> None:
    from lab.core.fileio import atomic_write_text

    r = result
    layers = r.held.shape[1]  # type: ignore[attr-defined]
    header = ["step", "tokens", "held_bytes", *(f"held_block{i + 1}" for i in range(layers))]
    header += ["formula_bytes", "blocks", "seconds_cached", "seconds_recompute"]
    header += ["cuda_allocated", "cuda_reserved", "cuda_peak"]
    rows = []
    for i, length in enumerate(r.lengths):  # type: ignore[attr-defined]
        cuda = [
            "" if a is None else int(a[i])
            for a in (r.allocated, r.reserved, r.peak)  # type: ignore[attr-defined]
        ]
        rows.append(
            [i + 1, int(length), int(r.held[i].sum()), *map(int, r.held[i]),  # type: ignore[attr-defined]
             int(r.formula[i]), "" if r.blocks is None else int(r.blocks[i]),  # type: ignore[attr-defined]
             float(r.seconds_cached[i]), float(r.seconds_full[i]), *cuda]  # type: ignore[attr-defined]
        )  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def cmd_kv(args: argparse.Namespace) -> int:
    shape = shape_of(args)
    budget = None if args.budget_gb is None else int(args.budget_gb * GIB)
    tokens = args.tokens or shape.context
    report = breakdown(shape, args.batch, tokens, args.dtype, args.weights_dtype, budget)
    out: dict[str, object] = {"accounting": report.to_dict()}
    if not args.json:
        print_breakdown(report)
    if args.decode:
        out["decode"] = measured_decode(args)
    if args.json:
        json.dump(out, sys.stdout)
        print()
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    examples = (
        "  knoblab kv --preset llama-3-8b --tokens 8192 --budget-gb 24\n"
        "  knoblab kv --preset llama-3-8b --kv-heads 1 --dtype int8 --json\n"
        "  knoblab kv --preset copy-transformer --decode runs/copy --layout paged --csv kv.csv"
    )
    what = "KV-cache memory: the formula for a model's shape, and a measured decode"
    kv = command(sub, "kv", what, examples)
    kv.add_argument("config", nargs="?", help="a Transformer experiment config (.toml or .json)")
    names = ", ".join(MODEL_SHAPES)
    kv.add_argument("--preset", default=None, help=f"a model shape ({names}) or a lab preset")
    kv.add_argument("--batch", type=int, default=1, help="sequences (default 1)")
    kv.add_argument(
        "--tokens", type=int, default=0, help="tokens per sequence (default: the context)"
    )
    kv.add_argument(
        "--dtype", choices=KV_DTYPES, default="fp16", help="cache values (default fp16)"
    )
    kv.add_argument(
        "--weights-dtype", choices=KV_DTYPES, default="bf16", help="weights (default bf16)"
    )
    kv.add_argument(
        "--kv-heads", type=int, default=0, help="change the kv heads (a divisor of heads)"
    )
    kv.add_argument("--budget-gb", type=float, default=None, help="memory budget in GiB")
    kv.add_argument(
        "--decode", metavar="RUN_OR_PRESET", help="measure a decode of the lab's Transformer"
    )
    kv.add_argument(
        "--layout",
        choices=("static", "concat", "paged"),
        default="static",
        help="the decode cache (default static)",
    )
    kv.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    kv.add_argument("--prompt", type=int, default=4, help="prompt tokens of the decode")
    kv.add_argument("--json", action="store_true", help="print one JSON object")
    kv.add_argument("--csv", metavar="PATH", help="write the decode's per-step table")
    kv.set_defaults(func=cmd_kv)
