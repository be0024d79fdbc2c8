"""ONNX export: export time with each exporter, and PyTorch eager vs onnxruntime
latency (p50) at batch 1 and 256, for the default MLP and the CNN, in one run.

(The issue also names the Transformer: Knoblab has none yet; it joins this bench
when the Transformer lands.) The verdict requires every export to verify
(parity <= 1e-4) and onnxruntime to be at least as fast as eager at batch 1,
where per-op overhead dominates (FACTS.md: 39 -> 8 us on the MLP).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from common import verdict  # also sets sys.path

from lab.core.presets import PRESETS
from lab.engine.export import export_onnx
from lab.train.trainer import Trainer


def describe(key: str, report) -> dict[str, float]:  # noqa: ANN001 - an ExportReport
    one, big = report.latency_ms["1"], report.latency_ms["256"]
    ratio_1 = one["torch"] / one["onnxruntime"]
    ratio_256 = big["torch"] / big["onnxruntime"]
    print(f"{key:<24} export {report.export_seconds:5.2f} s, parity {report.max_abs_diff:.1e}")
    small = f"batch 1: {one['torch']:.3f} / {one['onnxruntime']:.3f} ms = {ratio_1:.1f}x"
    large = f"batch 256: {big['torch']:.3f} / {big['onnxruntime']:.3f} ms = {ratio_256:.1f}x"
    print(f"{'':<24} torch / onnxruntime p50, {small}; {large}")
    return {
        f"{key}/export_s": report.export_seconds,
        f"{key}/max_abs": report.max_abs_diff,
        f"{key}/speedup_batch1": round(ratio_1, 2),
        f"{key}/speedup_batch256": round(ratio_256, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    print(f"torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("spirals-mlp", "shapes-cnn"):
            trainer = Trainer(PRESETS[name].with_changes({"data.n_samples": 400}))
            trainer.run(20)
            for legacy in (False, True):
                path = Path(tmp) / f"{name}-{legacy}.onnx"
                shape = trainer.data.input_shape
                report = export_onnx(
                    trainer.model, shape, path, legacy=legacy, latency_repeats=args.repeats
                )
                figures |= describe(f"{name}/{report.exporter}", report)
    passed = all(v <= 1e-4 for k, v in figures.items() if k.endswith("max_abs")) and all(
        v >= 1.0 for k, v in figures.items() if k.endswith("speedup_batch1")
    )
    verdict(figures, {"max_abs_max": 1e-4, "speedup_batch1_min": 1.0}, passed)


if __name__ == "__main__":
    main()
