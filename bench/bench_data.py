"""Real data, loaded and trained on: a generated 60,000 x 784 IDX set (the
MNIST layout, gzip-compressed, SHA-256 checked) into tensors, a
100,000-row CSV into tensors, and the window's steps/s on that CSV against
the headless trainer's.

Each load is timed against a bare baseline in the same process: numpy
reading the same IDX bytes by hand, and Python's csv module with numpy
for the table (the least a loader can do); the ratio says what Knoblab's
checks, one-hot, split and standardisation cost.

Targets: IDX < 1 s, CSV < 2 s, window steps/s >= 0.8x headless.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import os
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
from common import verdict

ROWS_IDX, SIDE = 60_000, 28
ROWS_CSV, FEATURES = 100_000, 12


def idx(array: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return gzip.compress(head + array.tobytes(), compresslevel=6)


def write_idx_set(folder: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    images = (rng.random((ROWS_IDX, SIDE, SIDE)) < 0.2).astype(np.uint8) * 255
    labels = rng.integers(0, 10, ROWS_IDX, dtype=np.uint8)
    files = {
        "train-images-idx3-ubyte.gz": idx(images),
        "train-labels-idx1-ubyte.gz": idx(labels),
        "t10k-images-idx3-ubyte.gz": idx(images[:10_000]),
        "t10k-labels-idx1-ubyte.gz": idx(labels[:10_000]),
    }
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def write_csv(path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(ROWS_CSV, FEATURES))
    colour = rng.choice(["red", "green", "blue"], ROWS_CSV)
    y = np.where(x[:, 0] + 0.5 * x[:, 1] > 0, "yes", "no")
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([f"f{i}" for i in range(FEATURES)] + ["colour", "label"])
        for row, c, label in zip(x.round(5), colour, y, strict=True):
            out.writerow([*row, c, label])


def time_idx(cache: Path, files: dict[str, bytes]) -> tuple[float, float]:
    import torch

    from lab.core.config import DataConfig
    from lab.data import downloads, make_dataset
    from lab.data.formats import read_idx

    sources = tuple(
        downloads.Source(
            name, "https://example.invalid/" + name, hashlib.sha256(data).hexdigest(), len(data)
        )  # fmt: skip
        for name, data in files.items()
    )
    downloads.SOURCES["mnist"] = sources
    os.environ["KNOBLAB_DATA_DIR"] = str(cache)
    start = time.perf_counter()
    data = make_dataset(DataConfig(name="mnist", batch_size=128))
    torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    arrays = [read_idx((cache / "mnist" / name).read_bytes()) for name in files]
    torch.from_numpy(arrays[0].astype(np.float32) / 255), torch.from_numpy(arrays[1])
    bare = time.perf_counter() - start
    assert data.x_train.shape == (ROWS_IDX, 1, SIDE, SIDE)
    return ours, bare


def time_csv(path: Path) -> tuple[float, float]:
    import torch

    from lab.core.config import DataConfig
    from lab.data import make_dataset

    start = time.perf_counter()
    data = make_dataset(DataConfig(name="file", path=str(path), batch_size=128))
    torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    columns = list(zip(*rows, strict=True))
    x = np.stack([np.array(c, dtype=np.float32) for c in columns[:FEATURES]], axis=1)
    torch.from_numpy(x)
    bare = time.perf_counter() - start
    assert data.input_shape == (FEATURES + 3,)
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0, help="of training in the window")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = write_idx_set(root / "cache" / "mnist")
        idx_s, idx_bare = time_idx(root / "cache", files)
        table = root / "table.csv"
        write_csv(table)
        csv_s, csv_bare = time_csv(table)
        print(f"IDX 60,000 x 784 into tensors : {idx_s:.2f} s (bare numpy {idx_bare:.2f} s,"
              f" {idx_s / idx_bare:.1f}x)")  # fmt: skip
        print(f"CSV 100,000 rows into tensors : {csv_s:.2f} s (csv + numpy {csv_bare:.2f} s,"
              f" {csv_s / csv_bare:.1f}x)")  # fmt: skip
        from bench_ui import headless_rate, measure_app

        app = measure_app(args.seconds, str(root / "bench.ini"), data=str(table))
        config = app.pop("config")
        headless = headless_rate(config, min(args.seconds, 5.0))
    ratio = app["app_steps_per_s"] / headless
    what = f"{config.model.kind}, batch {config.data.batch_size}"
    print(f"steps/s on the CSV            : window {app['app_steps_per_s']:.0f}, headless"
          f" {headless:.0f} -> {ratio:.2f}x ({what})")  # fmt: skip
    figures = {
        "idx_load_s": round(idx_s, 3),
        "idx_bare_s": round(idx_bare, 3),
        "csv_load_s": round(csv_s, 3),
        "csv_bare_s": round(csv_bare, 3),
        "window_steps_per_s": round(app["app_steps_per_s"], 1),
        "headless_steps_per_s": round(headless, 1),
        "window_vs_headless": round(ratio, 3),
    }
    targets = {"idx_load_s_max": 1.0, "csv_load_s_max": 2.0, "window_vs_headless_min": 0.8}
    verdict(figures, targets, idx_s < 1.0 and csv_s < 2.0 and ratio >= 0.8)


if __name__ == "__main__":
    main()
