"""Real data as a ``Dataset``: the sets shipped in ``assets/datasets``, the
downloaded image sets, and a user's file (a table, arrays, an image folder
or a text). What is read from disk is kept (by file size and time) so a
rebuild that changes only the model does not read it again; the split,
the sample limit and standardisation follow the config each time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lab.core.assets import asset
from lab.core.config import DataConfig
from lab.core.config.choices import BUNDLED_DATASETS, DOWNLOADED_DATASETS
from lab.core.datainfo import DataInfo
from lab.core.errors import ConfigError, FileError
from lab.data import downloads
from lab.data.arrays import read_arrays
from lab.data.formats import FormatError, read_cifar_archive, read_idx
from lab.data.images import read_images
from lab.data.reading import check_memory
from lab.data.sequences import text_windows
from lab.data.tables import read_table
from lab.data.text import read_text

BUNDLED_VERSION = "scikit-learn 1.9.1's copy"
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")  # fmt: skip
TEXT_SAMPLE = 600  # characters of a text shown in the preview
HEAD_ROWS = 8  # a table's first rows in the preview
MOST_FEATURE_NAMES = 256  # sent to the window: enough to name any axis it draws


@dataclass(frozen=True)
class Raw:
    """What a source holds before the split: examples, labels and their words."""

    x: np.ndarray
    y: np.ndarray
    task: str
    class_names: tuple[str, ...]
    kind: str  # table, arrays, images, text
    test: tuple[np.ndarray, np.ndarray] | None = None  # the source's own test split
    columns: tuple[tuple[str, str], ...] = ()
    features: tuple[str, ...] = ()  # a table's input names, one-hot columns expanded
    head: tuple[tuple[str, ...], ...] = ()
    text: str = ""
    sha256: str = ""


class DataMissing(ConfigError):
    """A set by name whose files are not downloaded yet (``name``): the
    window offers the download, the command line fetches it."""

    def __init__(self, name: str) -> None:
        super().__init__(
            "data.name",
            f"{name!r} is not downloaded yet: `knoblab data fetch {name}`, choose it in the"
            f" window (it offers the download), or {downloads.where_by_hand(name)}",
        )
        self.name = name


def fingerprint(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (their relative names and bytes)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> tuple[int, int]:
    if not path.exists():
        raise FileError("does not exist", path)
    if path.is_dir():
        stats = [p.stat() for p in path.rglob("*")]
        return (len(stats), max((s.st_mtime_ns for s in stats), default=0))
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns)


def _bundled(name: str) -> Raw:
    if name == "digits":
        with np.load(asset("datasets/digits.npz")) as held:
            x, y = held["x"], held["y"]
        names = tuple(str(d) for d in range(10))
        return Raw(x[:, None].astype(np.float32) / 16.0, y, "classification", names, "images")
    table = read_table(asset(f"datasets/{name}.csv"))
    return Raw(table.features, table.target, table.task, table.class_names, "table",
               columns=table.columns, features=table.feature_names, head=table.head)  # fmt: skip


def _downloaded(name: str) -> Raw:
    downloads.check_files(name)
    folder = downloads.folder(name)
    files = [folder / s.file for s in downloads.SOURCES[name]]
    check_memory(sum(f.stat().st_size for f in files) * 8, folder, f"{name}'s images")
    try:
        if name == "cifar10":
            train, test, names = read_cifar_archive(files[0].read_bytes())
        else:
            images, labels, test_images, test_labels = (read_idx(f.read_bytes()) for f in files)
            train, test = (images[:, None], labels), (test_images[:, None], test_labels)
            names = list(FASHION_NAMES) if name == "fashion_mnist" else [str(d) for d in range(10)]
    except FormatError as exc:
        raise FileError(f"is damaged: {exc}", folder) from exc
    # kept as bytes (a quarter of the memory); scaled to [0, 1] when split
    return Raw(train[0], train[1].astype(np.int64), "classification", tuple(names), "images",
               test=(test[0], test[1].astype(np.int64)))  # fmt: skip


@lru_cache(maxsize=2)
def _read_file(path: str, kind: str, options: tuple, _stamp: tuple) -> Raw:  # noqa: ANN001
    source = Path(path)
    sha = fingerprint(source)
    if kind == "table":
        target, target_kind, impute = options
        table = read_table(source, target, target_kind, impute)
        return Raw(table.features, table.target, table.task, table.class_names, "table",
                   columns=table.columns, features=table.feature_names, head=table.head,
                   sha256=sha)  # fmt: skip
    if kind == "arrays":
        arrays = read_arrays(source, options[0])
        return Raw(arrays.x, arrays.y, arrays.task, arrays.class_names, "arrays",
                   test=arrays.test, sha256=sha)  # fmt: skip
    if kind == "images":
        size, colour = options
        images = read_images(source, size, colour)
        return Raw(images.x, images.y, "classification", images.class_names, "images",
                   sha256=sha)  # fmt: skip
    text = read_text(source, options[0])
    empty = np.empty(0)
    return Raw(empty, empty, "next_token", (), "text", text=text, sha256=sha)


@lru_cache(maxsize=2)
def _named(name: str, _where: str, _stamps: tuple) -> Raw:  # noqa: ANN001
    return _bundled(name) if name in BUNDLED_DATASETS else _downloaded(name)


def read_raw(config: DataConfig) -> Raw:
    name = config.name
    if name in BUNDLED_DATASETS:
        return _named(name, "", ())
    if name in DOWNLOADED_DATASETS:
        if downloads.missing(name):
            raise DataMissing(name)
        folder = downloads.folder(name)
        stamps = tuple(_stamp(folder / s.file) for s in downloads.SOURCES[name])
        return _named(name, str(folder), stamps)
    path = Path(config.path).expanduser()
    kind = config.file_kind or ""
    options: tuple = {
        "table": (config.target, config.target_kind, config.impute),
        "arrays": (config.target_kind,),
        "images": (config.image_size, config.colour),
        "text": (config.seq_len,),
    }[kind]
    return _read_file(str(path.resolve()), kind, options, _stamp(path))


def version_of(name: str) -> str:
    if name in BUNDLED_DATASETS:
        return BUNDLED_VERSION
    return downloads.VERSIONS.get(name, "")


def source_info(config: DataConfig, raw: Raw) -> DataInfo:
    """Where ``raw`` came from and what it holds (``lab.data.fitting``
    completes it with the sizes the model reads)."""
    return DataInfo(
        name=config.name,
        kind=raw.kind,
        source=config.path if config.name == "file" else config.name,
        version=version_of(config.name),
        sha256=raw.sha256,
        columns=raw.columns,
        features=raw.features[:MOST_FEATURE_NAMES],
        head=raw.head[:HEAD_ROWS],
        text=raw.text[:TEXT_SAMPLE],
    )


def _limit(x: np.ndarray, y: np.ndarray, count: int, rng: np.random.Generator):  # noqa: ANN202
    if count and len(x) > count:
        keep = np.sort(rng.choice(len(x), count, replace=False))
        return x[keep], y[keep]
    return x, y


def split_real(config: DataConfig, raw: Raw) -> tuple[np.ndarray, ...]:
    """x_train, y_train, x_test, y_test: the source's own test split when it
    has one, else a seeded split by ``test_fraction``; at most ``limit``
    examples in all; standardised on the training set when asked."""
    rng = np.random.default_rng(config.seed)
    if raw.kind == "text":
        n_test = round(config.n_samples * config.test_fraction)
        (x_train, y_train), (x_test, y_test), _ = text_windows(
            raw.text, config.seq_len, config.n_samples, n_test, rng
        )
        return x_train, y_train, x_test, y_test
    if raw.test is not None:
        share = len(raw.test[0]) / (len(raw.x) + len(raw.test[0]))
        n_test = round(config.limit * share) if config.limit else 0
        x_train, y_train = _limit(raw.x, raw.y, config.limit - n_test if config.limit else 0, rng)
        x_test, y_test = _limit(*raw.test, n_test, rng)
    else:
        x, y = _limit(raw.x, raw.y, config.limit, rng)
        order = rng.permutation(len(x))
        n_test = round(len(x) * config.test_fraction)
        test, train = order[:n_test], order[n_test:]
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    scale = 255.0 if x_train.dtype == np.uint8 else 1.0  # bytes: pixels in [0, 1]
    train = np.multiply(x_train, np.float32(1 / scale), dtype=np.float32)  # a new array
    test = np.multiply(x_test, np.float32(1 / scale), dtype=np.float32)
    if config.standardize:
        mean, std = _moments(train)
        for part in (train, test):  # in place: this build's own copies
            part -= mean
            part *= 1 / std
    return train, y_train, test, y_test


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's (images: each channel's) mean and std on ``x``, float32,
    shaped to broadcast; a constant feature gets std 1 (it stays 0). No
    temporary as large as ``x``: sums by einsum."""
    if x.ndim == 4:
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        count = flat.shape[0] * flat.shape[2]
        mean = flat.sum(axis=(0, 2), dtype=np.float64) / count
        squares = np.einsum("nci,nci->c", flat, flat, dtype=np.float64) / count
        shape = (1, -1, 1, 1)
    else:
        count = x.shape[0]
        mean = x.sum(axis=0, dtype=np.float64) / count
        squares = np.einsum("ni,ni->i", x, x, dtype=np.float64) / count
        shape = (1, -1)
    std = np.sqrt(np.maximum(squares - mean**2, 0.0))
    std[std < 1e-12] = 1.0
    return mean.reshape(shape).astype(np.float32), std.reshape(shape).astype(np.float32)
