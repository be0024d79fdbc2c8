"""Runs on disk: a folder with ``config.toml``, ``metrics.csv`` (one row per
evaluation), ``metrics.npz`` (every series, for reopening curves) and
``checkpoint.pt``. Every file is written atomically; checkpoints load with
``weights_only=True`` so a checkpoint from someone else can never run code."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from lab.core import wire
from lab.core.config import ExperimentConfig
from lab.core.errors import ConfigError, FileError
from lab.core.fileio import atomic_write_bytes, atomic_write_text, atomic_write_with
from lab.core.metrics import MetricStore, series_to_csv
from lab.train.trainer import CHECKPOINT_FORMAT

CONFIG_FILE = "config.toml"
METRICS_CSV = "metrics.csv"
METRICS_NPZ = "metrics.npz"
PROBES_CSV = "probes.csv"
TRAJECTORY_NPZ = "trajectory.npz"
CHECKPOINT_FILE = "checkpoint.pt"
DATA_FILE = "data.json"  # where the data came from: a file's path and SHA-256, a set's version
MODEL_FILE = "model.json"  # a model of the person's own: its Python file's path and SHA-256
T = TypeVar("T")


@dataclass
class Run:
    config: ExperimentConfig
    metrics: MetricStore
    checkpoint: dict[str, Any] | None
    trajectory: dict[str, np.ndarray] | None = None  # steps, snapshots, initial
    data: dict[str, Any] | None = None  # data.json: name, kind, source, sha256, version
    model: dict[str, Any] | None = None  # model.json: source, sha256 (a model of one's own)


def save_run(directory: str | Path, trainer: Any) -> Path:
    """Write the trainer's config, metrics and checkpoint into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / CONFIG_FILE, trainer.config.to_toml())
    info = trainer.data.info
    if info is not None:
        record = {
            key: getattr(info, key) for key in ("name", "kind", "source", "sha256", "version")
        }
        atomic_write_text(directory / DATA_FILE, json.dumps(record, indent=2) + "\n")
    if trainer.config.model.kind == "custom":
        from lab.models.custom import source_sha256

        source = trainer.config.model.source
        record = {"source": source, "sha256": source_sha256(source)}
        atomic_write_text(directory / MODEL_FILE, json.dumps(record, indent=2) + "\n")
    if wire.EVAL in trainer.store:
        atomic_write_text(directory / METRICS_CSV, series_to_csv(trainer.store[wire.EVAL]))
    probes = probes_to_csv(trainer.store)
    if probes:
        atomic_write_text(directory / PROBES_CSV, probes)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **trainer.store.to_npz_dict())
    atomic_write_bytes(directory / METRICS_NPZ, buffer.getvalue())
    atomic_write_with(directory / CHECKPOINT_FILE, lambda f: torch.save(trainer.checkpoint(), f))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **trainer.path.arrays())
    atomic_write_bytes(directory / TRAJECTORY_NPZ, buffer.getvalue())
    return directory


def probes_to_csv(store: MetricStore) -> str:
    """Per-layer probe series in long form: ``step,probe,layer,value`` (NaN as
    empty). Histograms and per-unit maps stay in metrics.npz."""
    rows = []
    for name, series in store.series.items():
        if not name.startswith(wire.PROBE) or name.count("/") > 1:
            continue
        probe = name.removeprefix(wire.PROBE)
        for step, values in zip(series.steps, series.values, strict=True):
            for layer, value in zip(series.columns, values, strict=True):
                text = "" if np.isnan(value) else f"{value:.8g}"
                rows.append(f"{int(step)},{probe},{layer},{text}")
    return "step,probe,layer,value\n" + "\n".join(rows) + "\n" if rows else ""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileError("does not exist", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise FileError(
            f"holds more than weights and was not loaded (unsafe): {exc}", path
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise FileError(f"is damaged or not a Knoblab checkpoint: {exc}", path) from exc
    if not isinstance(state, dict) or "format" not in state:
        raise FileError("is not a Knoblab checkpoint", path)
    if state["format"] > CHECKPOINT_FORMAT:
        raise FileError(
            f"has checkpoint format {state['format']}, newer than this Knoblab reads"
            f" ({CHECKPOINT_FORMAT})",
            path,
        )
    return state


def load_run(directory: str | Path) -> Run:
    """A run folder, every file checked: ``FileError`` names the one that is
    missing, damaged or too new (and leaves it as it is)."""
    directory = Path(directory)
    if not directory.exists():
        raise FileError("does not exist", directory)
    if not directory.is_dir():
        raise FileError(
            "is a file, not a run folder (Open takes the folder a run was saved in)", directory
        )
    if not (directory / CONFIG_FILE).exists():
        raise FileError(
            f"is not a Knoblab run folder (it has no {CONFIG_FILE}); a run folder is what"
            " Save or `knoblab run --out` writes",
            directory,
        )
    try:  # Knoblab wrote every field: a missing one means the file was cut short
        config = ExperimentConfig.load(directory / CONFIG_FILE, whole=True)
    except ConfigError as exc:  # a value Knoblab would not have written
        raise FileError(
            f"holds a value this Knoblab does not take: {exc}", directory / CONFIG_FILE
        ) from exc
    npz = directory / METRICS_NPZ
    metrics = _read_npz(npz, MetricStore.from_npz_dict) if npz.exists() else MetricStore()
    checkpoint_path = directory / CHECKPOINT_FILE
    checkpoint = load_checkpoint(checkpoint_path) if checkpoint_path.exists() else None
    path = directory / TRAJECTORY_NPZ
    trajectory = (
        _read_npz(path, lambda arrays: {k: arrays[k] for k in ("steps", "snapshots", "initial")})
        if path.exists()
        else None
    )
    data = _read_record(directory / DATA_FILE)
    model = _read_record(directory / MODEL_FILE)
    return Run(config, metrics, checkpoint, trajectory, data, model)


def model_code(run: Run) -> str | None:
    """In words, the Python code opening ``run`` would run (a model of the
    person's own), and whether its file changed since; None for the lab's models."""
    if run.config.model.kind != "custom":
        return None
    from lab.models.custom import source_file, source_sha256

    source = run.config.model.source
    path = source_file(source)
    if not path.is_file():
        return f"the run's model file {path} is gone"
    recorded = (run.model or {}).get("sha256", "")
    now = source_sha256(source)
    changed = (
        f"; it has changed since the run was trained (SHA-256 {now[:12]}…, recorded"
        f" {recorded[:12]}…)"
        if recorded and recorded != now
        else ""
    )
    return f"the run's model is Python code, {source} (SHA-256 {now[:12]}…){changed}"


def _read_record(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None  # a run from before data was recorded
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileError(f"is damaged ({exc}); it was left as it is", path) from exc
    if not isinstance(record, dict) or not isinstance(record.get("sha256", ""), str):
        raise FileError("is not a Knoblab data record", path)
    return record


def data_problem(run: Run) -> tuple[str, str] | None:
    """("missing" or "changed", in words) when the file a run trained on is
    gone or no longer what it was; None when it is as recorded (or a set by name)."""
    record, data = run.data, run.config.data
    if data.name != "file":
        return None
    path = Path(data.path).expanduser()
    if not path.exists():
        return "missing", f"the run's data file {data.path} is gone"
    if record is None or not record.get("sha256") or record.get("source") != data.path:
        return None  # nothing recorded to compare with, or a file the user chose since
    from lab.data.real import fingerprint

    now = fingerprint(path)
    if now != record["sha256"]:
        return "changed", (
            f"the run's data file {data.path} has changed since it was trained"
            f" (SHA-256 {now[:12]}…, recorded {record['sha256'][:12]}…)"
        )
    return None


def _read_npz(path: Path, read: Callable[[dict[str, np.ndarray]], T]) -> T:
    """``read`` of the arrays in ``path``; ``FileError`` when it is empty, cut
    short, no array file or lacks what ``read`` looks for."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return read(dict(arrays))
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        why = "is empty" if isinstance(exc, EOFError) else f"is damaged ({exc})"
        raise FileError(f"{why}; it was left as it is", path) from exc


def snapshot(trainer: Any) -> Run:
    """The trainer's run as it is now, in memory (what Undo brings back):
    its config, a copy of its metrics, a checkpoint and its training path."""
    metrics = MetricStore.from_npz_dict(trainer.store.to_npz_dict())
    return Run(trainer.config, metrics, trainer.checkpoint(), trainer.path.arrays())


def restore(trainer: Any, run: Run) -> None:
    """Put a saved run into ``trainer``: weights, optimiser, step and RNG from
    the checkpoint, then the training path; without a checkpoint, a fresh
    start from the run's config."""
    if run.checkpoint is None:
        trainer.submit(run.config)
        trainer.reset()
        return
    trainer.load_checkpoint(run.checkpoint, run.config)
    if run.trajectory is not None:
        trainer.path.restore(**run.trajectory)


def load_trainer(
    directory: str | Path, device: str | None = None, *, run_code: bool = False
) -> Any:
    """A Trainer holding the saved model of a run folder (which must have a
    checkpoint), on ``device`` (default: the run's own; the checkpoint is
    read onto the CPU first, so a GPU run opens anywhere). A run whose model
    is Python code is refused, naming the file, unless ``run_code``."""
    from lab.train.trainer import Trainer

    run = load_run(directory)
    if run.checkpoint is None:
        raise FileError("has no checkpoint: nothing trained to load", directory)
    code = model_code(run)
    if code is not None and not run_code:
        raise FileError(f"{code}. Opening it runs that file: pass --run-model-code", directory)
    if device:
        run = replace(run, config=run.config.with_changes({"train.device": device}))
    try:
        trainer = Trainer(run.config)
    except ConfigError as exc:
        if exc.field != "train.device":
            raise
        raise ConfigError(
            "train.device", f"{exc.message}; the run was trained there: open it with --device cpu"
        ) from exc
    restore(trainer, run)
    return trainer
