"""Hours of use in minutes: does memory stay put?

1. Headless: ``--steps`` (200,000) training steps of spirals-mlp with every
   probe on, every 10 steps; the process's resident memory (RSS) sampled
   every 2,000 steps.
2. The window, offscreen: ``--minutes`` (30) of training at full speed with
   every view opened in turn (each on screen for ``--dwell`` seconds, so each
   draws and keeps its data; the first round, which builds the views, falls
   in the warm-up at the default settings); the window's RSS and the
   engine's (from its status reports) sampled every 5 s.

Target for each series: the median of the last quarter within 5% of the
median of the first quarter after warm-up (the first tenth of the samples is
warm-up: caches, the metric store filling to its fixed capacity). Prints the
RSS series, then one JSON verdict.

    python bench/soak.py [--steps 200000] [--minutes 30] [--dwell 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import psutil
from common import verdict  # also sets sys.path

MIB = 2**20
TARGET_GROWTH = 0.05


def growth(series: list[int]) -> float:
    """Last quarter's median over the first quarter's, after the warm-up tenth."""
    warm = series[len(series) // 10 :]
    quarter = max(1, len(warm) // 4)
    first = sorted(warm[:quarter])[quarter // 2]
    last = sorted(warm[-quarter:])[quarter // 2]
    return last / first - 1


def headless(steps: int) -> list[int]:
    import torch

    from lab.core.presets import preset
    from lab.train.trainer import Trainer

    torch.set_num_threads(1)
    config = preset("spirals-mlp").with_changes({"probes.every": 10, "train.eval_every": 100})
    trainer = Trainer(config)
    process = psutil.Process()
    rss = []
    start = time.perf_counter()
    while trainer.step_count < steps:
        trainer.run(2000)
        trainer.store.sync()
        rss.append(process.memory_info().rss)
    seconds = time.perf_counter() - start
    print(f"headless: {steps} steps in {seconds:.0f} s ({steps / seconds:.0f} steps/s)")
    print("headless RSS MiB:", " ".join(f"{r / MIB:.0f}" for r in rss))
    return rss


def window(minutes: float, dwell: float) -> tuple[list[int], list[int]]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.tabs import NAMES
    from lab.core import protocol as p

    app = QApplication([])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "soak.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(1600, 960)
    win.show()
    win.speed.setCurrentText("full speed")
    engine_rss: list[int] = []
    steps = [0]

    def on_event(event: object) -> None:
        if isinstance(event, p.Status) and event.rss_bytes:
            engine_rss.append(event.rss_bytes)
            steps[0] = event.step

    win.client.event.connect(on_event)
    from lab.core.presets import preset

    win.apply_config(preset("spirals-mlp").with_changes({"train.steps": 10**8}))  # never done
    win.start()
    while win.engine_state is None:
        app.processEvents()
        time.sleep(0.01)
    win.play_action.trigger()
    process = psutil.Process()
    window_rss: list[int] = []
    engine_samples: list[int] = []
    end = time.monotonic() + 60 * minutes
    next_sample = time.monotonic()
    tab = 0
    next_tab = time.monotonic()
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
        now = time.monotonic()
        if now >= next_tab:  # every view in turn, the ones this experiment has
            while not win.tabs.isTabEnabled(tab % len(NAMES)):
                tab += 1
            win.tabs.setCurrentIndex(tab % len(NAMES))
            tab += 1
            next_tab = now + dwell
        if now >= next_sample and engine_rss:
            window_rss.append(process.memory_info().rss)
            engine_samples.append(engine_rss[-1])
            next_sample = now + 5.0
    print(f"window: {minutes:g} min, {steps[0]} steps trained, every view in turn")
    print("window RSS MiB:", " ".join(f"{r / MIB:.0f}" for r in window_rss))
    print("engine RSS MiB:", " ".join(f"{r / MIB:.0f}" for r in engine_samples))
    win.close()
    return window_rss, engine_samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--dwell", type=float, default=20.0, help="seconds on each view")
    args = parser.parse_args()
    figures, passed = {}, True
    if args.steps:
        rss = headless(args.steps)
        figures["headless_growth"] = round(growth(rss), 4)
        figures["headless_rss_mib"] = [round(rss[0] / MIB), round(rss[-1] / MIB)]
        passed &= figures["headless_growth"] < TARGET_GROWTH
    if args.minutes:
        window_rss, engine_rss = window(args.minutes, args.dwell)
        for name, series in (("window", window_rss), ("engine", engine_rss)):
            figures[f"{name}_growth"] = round(growth(series), 4)
            figures[f"{name}_rss_mib"] = [round(series[0] / MIB), round(series[-1] / MIB)]
            passed &= figures[f"{name}_growth"] < TARGET_GROWTH
    figures |= {"steps": args.steps, "minutes": args.minutes}
    verdict(figures, {"growth": f"< {TARGET_GROWTH:.0%} (last quarter over first)"}, passed)


if __name__ == "__main__":
    main()
