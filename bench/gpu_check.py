"""The CUDA paths, each beside the CPU's result, in about a minute on a
machine with an NVIDIA GPU:

1. training: spirals-mlp and copy-transformer, 200 steps each from the same
   seed on CPU and CUDA: the loss curves agree (float32 matmuls on the GPU
   may use TF32; the check allows for it);
2. probes: the per-layer gradient norms and activation std of the last
   probed step, CPU vs CUDA;
3. a landscape: a 21x21 filter-normalised grid around the trained MLP;
4. a measured decode of the trained Transformer (static and paged caches):
   bytes held equal on both devices and to the formula, the CUDA
   allocator's figures (allocated, reserved, peak), tokens/s.

Prints what it measured and, last, one JSON line with figures and "pass".
Without CUDA it says so and exits with status 2: the CPU path never needs it.
``--device cpu`` runs the same script with the CPU on both sides (a dry run
of the script itself: every check must hold trivially).

    python bench/gpu_check.py [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from common import verdict  # also sets sys.path

from lab.core import protocol as p
from lab.core import wire
from lab.core.presets import PRESETS
from lab.generate.measure import decode_steps
from lab.landscape import landscape_for
from lab.train.trainer import Trainer

STEPS = 200


def trained(preset: str, device: str) -> tuple[Trainer, np.ndarray, float]:
    config = PRESETS[preset].with_changes(
        {"train.device": device, "train.steps": STEPS, "probes.every": 50}
    )
    trainer = Trainer(config)
    start = time.perf_counter()
    trainer.run(STEPS)
    sync(device)
    seconds = time.perf_counter() - start
    trainer.store.sync()
    return trainer, trainer.store[wire.STEP].column("loss"), seconds


def last_probe(trainer: Trainer, name: str) -> np.ndarray:
    series = trainer.store[name]
    return series.values[-1]


def decoded(trainer: Trainer, layout: str) -> p.KVDecode:
    steps = decode_steps(
        trainer.model, p.DecodeKV(0, layout=layout, batch=4, prompt=4), trainer.device
    )
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        return stop.value


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    device = parser.parse_args().device
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a machine with an NVIDIA GPU")
        return 2
    name = torch.cuda.get_device_name(0) if device == "cuda" else device
    print(f"device: {name}, torch {torch.__version__}")
    figures: dict[str, object] = {"device": name}
    checks: dict[str, bool] = {}
    for preset in ("spirals-mlp", "copy-transformer"):
        cpu, cpu_loss, cpu_s = trained(preset, "cpu")
        gpu, gpu_loss, gpu_s = trained(preset, device)
        gap = float(np.max(np.abs(cpu_loss[:20] - gpu_loss[:20])))  # before chaos amplifies TF32
        final = (float(cpu.evaluate()["test_loss"]), float(gpu.evaluate()["test_loss"]))
        print(
            f"{preset}: {STEPS} steps cpu {cpu_s:.1f} s, {device} {gpu_s:.1f} s; first 20 losses"
            f" differ by <= {gap:.2e}; test loss cpu {final[0]:.4f}, {device} {final[1]:.4f}"
        )
        figures[f"{preset}_first_losses_max_diff"] = gap
        figures[f"{preset}_test_loss"] = final
        checks[f"{preset}_training"] = (
            gap < 1e-2 and abs(final[0] - final[1]) < 0.1 + 0.2 * final[0]
        )
        for probe in (wire.PROBE_GRAD_NORM, wire.PROBE_OUTPUT_STD):
            a, b = last_probe(cpu, probe), last_probe(gpu, probe)
            rel = float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(a), 1e-12)))
            figures[f"{preset}_{probe}_rel_diff"] = rel
            print(f"  {probe}: largest relative difference cpu vs {device} {rel:.2e}")
            checks[f"{preset}_{probe}"] = rel < 0.5  # after 200 steps the weights differ a little
        if preset == "spirals-mlp":
            start = time.perf_counter()
            surface = landscape_for(gpu, kind="filter", resolution=21, n_points=512).surface
            sync(device)
            seconds = time.perf_counter() - start
            low, high = float(np.nanmin(surface.losses)), float(np.nanmax(surface.losses))
            centre = float(surface.losses[10, 10])
            print(f"  landscape 21x21 on {device} in {seconds:.2f} s: loss {low:.4g} .. {high:.4g}")
            figures["landscape_seconds"] = seconds
            checks["landscape"] = np.isfinite(surface.losses).all() and centre <= high
        else:
            for layout in ("static", "paged"):
                on_cpu, on_gpu = decoded(cpu, layout), decoded(gpu, layout)
                same = np.array_equal(on_cpu.held, on_gpu.held)
                rate = 4 / float(np.median(on_gpu.seconds_cached))
                allocator = {
                    what: None if values is None else int(values[-1])
                    for what, values in (
                        ("allocated", on_gpu.allocated),
                        ("reserved", on_gpu.reserved),
                        ("peak", on_gpu.peak),
                    )
                }
                print(
                    f"  decode {layout}: held {int(on_gpu.held[-1].sum()):,} bytes (cpu the same:"
                    f" {same}), CUDA allocator {allocator}; {rate:,.0f} tokens/s;"
                    f" logit error {on_gpu.logit_error:.1e}"
                )
                figures[f"decode_{layout}"] = {
                    "held": int(on_gpu.held[-1].sum()),
                    **allocator,
                    "tokens_per_s": rate,
                }
                checks[f"decode_{layout}"] = same and on_gpu.logit_error < 1e-3
    figures["checks"] = checks
    verdict(figures, {"all_checks": True}, all(checks.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
