"""``knoblab --selftest [--device DEVICE]``: does this install work?

In order, each a stage that must pass: the main window opens (offscreen
where there is no display) and its engine process starts, answers and
builds an experiment (in a bundle this is the frozen executable started
again as the engine child); a preset trains a few dozen steps with every
probe on each step; a small loss landscape; an ONNX export checked in
onnxruntime. Exit 0 when all pass, 1 naming the stage that failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from knoblab.display import has_display

PRESET = "spirals-mlp"
STEPS = 40
WINDOW_SECONDS = 120  # the engine's first start imports torch: seconds, more on a cold disk


def window_and_engine() -> str:
    if not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from lab.core import protocol as p

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "selftest.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()
    events: list = []
    window.client.event.connect(events.append)
    window.start()
    deadline = time.monotonic() + WINDOW_SECONDS
    try:
        while not any(isinstance(e, p.Built) for e in events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the engine built nothing in {WINDOW_SECONDS} s")
            errors = [e for e in events if isinstance(e, p.Error)]
            if errors:
                raise RuntimeError(f"the engine reported: {errors[0].message}")
            app.processEvents()
            time.sleep(0.01)
        ready = next(e for e in events if isinstance(e, p.Ready))
    finally:
        window.close()
    return f"window opened ({app.platformName()}), engine ready (torch {ready.torch_version})"


def train(device: str) -> tuple[str, object]:
    from lab.core.presets import PRESETS
    from lab.train.trainer import Trainer

    config = PRESETS[PRESET].with_changes(
        {"train.device": device, "probes.every": 1, "train.eval_every": 10}
    )
    trainer = Trainer(config)
    outcome = trainer.run(STEPS)
    if outcome != "done":
        raise RuntimeError(outcome)
    loss = trainer.evaluate()["test_loss"]
    trainer.store.sync()
    probed = [name for name in trainer.store.series if name.startswith("probe/")]
    if not probed:
        raise RuntimeError("no probe figures were recorded")
    from lab.native import fused_mlp, probe_kernels

    libraries = {"probes": probe_kernels.library(), "landscape": fused_mlp.library()}
    compiled = [name for name, library in libraries.items() if library is not None]
    kernels = f"compiled kernels: {', '.join(compiled) or 'none (torch paths)'}"
    what = f"{PRESET}: {STEPS} steps on {trainer.device}, test loss {loss:.3f}"
    return f"{what}, {len(probed)} probe series; {kernels}", trainer


def landscape(trainer: object) -> str:
    import numpy as np

    from lab.landscape import landscape_for

    result = landscape_for(trainer, kind="filter", resolution=9, n_points=256)
    losses = result.surface.losses
    if not np.isfinite(losses).all():
        raise RuntimeError("non-finite losses in the landscape")
    return f"9x9 landscape, loss {losses.min():.3g} .. {losses.max():.3g}"


def export(trainer: object) -> str:
    from lab.engine.export import export_onnx

    with tempfile.TemporaryDirectory() as folder:
        report = export_onnx(
            trainer.model,  # type: ignore[attr-defined]
            trainer.data.input_shape,  # type: ignore[attr-defined]
            Path(folder) / "selftest.onnx",
            latency_repeats=3,
        )
    worst = report.max_abs_diff
    if worst > 1e-4:
        raise RuntimeError(f"ONNX parity {worst:.2e} against PyTorch (checker: {report.checker})")
    return f"ONNX ({report.exporter}) checked, onnxruntime parity {worst:.1e}"


def real_data() -> str:
    """The shipped sets read from the bundle's assets, and an image folder
    through Pillow (both are data files and a library PyInstaller must carry)."""
    from PIL import Image

    from lab.core.config import DataConfig
    from lab.data import make_dataset

    iris = make_dataset(DataConfig(name="iris", batch_size=8))
    digits = make_dataset(DataConfig(name="digits", batch_size=8))
    with tempfile.TemporaryDirectory() as folder:
        for name in ("a", "b"):
            (Path(folder) / name).mkdir()
            for i in range(3):
                picture = Image.new("RGB", (9, 7), (80 * i, 40, 200))
                picture.save(Path(folder) / name / f"{i}.png")
        images = make_dataset(DataConfig(name="file", path=folder, batch_size=2, image_size=8))
    if (len(iris.x_train) + len(iris.x_test), digits.input_shape) != (150, (1, 8, 8)):
        raise RuntimeError("the shipped datasets are not what they should be")
    shapes = (iris.input_shape, digits.input_shape, images.input_shape)
    return "iris {}, digits {}, an image folder {}".format(*shapes)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="knoblab --selftest", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="where to train (cpu, cuda, mps, auto)")
    parser.add_argument("--no-window", action="store_true", help="skip the window stage")
    args = parser.parse_args(argv)
    trainer: object = None

    def trained() -> str:
        nonlocal trainer
        text, trainer = train(args.device)
        return text

    stages: list[tuple[str, Callable[[], str]]] = [
        ("window", window_and_engine),
        ("training", trained),
        ("landscape", lambda: landscape(trainer)),
        ("export", lambda: export(trainer)),
        ("data", real_data),
    ]
    if args.no_window:
        stages = stages[1:]
    for name, stage in stages:
        start = time.perf_counter()
        try:
            text = stage()
        except Exception as exc:  # every failure is reported by its stage
            print(f"selftest: {name}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
            return 1
        print(f"selftest: {name}: ok in {time.perf_counter() - start:.1f} s: {text}", flush=True)
    print("selftest: all passed")
    return 0
