"""``knoblab data``: the datasets by name (which are here, which need a
download), what a set or a file holds, and downloading a set ahead of use.
``run --data`` uses ``with_data`` and ``ensure_downloaded`` from here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lab.cli.help import command
from lab.cli.output import say
from lab.core.config import DataConfig, ExperimentConfig
from lab.core.config.choices import (
    BUNDLED_DATASETS,
    DATASETS,
    DOWNLOADED_DATASETS,
    FILE_DATASET,
    REAL_SIZES,
)
from lab.core.coupling import coupled_changes
from lab.core.errors import UsageError


def with_data(config: ExperimentConfig, data: str, target: str | None) -> ExperimentConfig:
    """``config`` on data ``data``: a dataset's name or a file's path, with
    what must change with it (the model family, the loss, the batch size)."""
    if data in DATASETS and data != FILE_DATASET and not Path(data).exists():
        changes = coupled_changes(config, "data.name", data)
        name = data
    else:
        if not Path(data).expanduser().exists():
            known = ", ".join(name for name in DATASETS if name != FILE_DATASET)
            raise UsageError("--data", f"{data} is neither a file or folder here nor a dataset"
                             f" name ({known})")  # fmt: skip
        changes = coupled_changes(config, "data.path", str(Path(data).expanduser()))
        kind = changes.get("model", {}).get("kind", config.model.kind)
        name = f"{Path(data).stem}-{kind}"
    if target is not None:
        changes["data.target"] = target
    from lab.data.fitting import fit_batch

    return fit_batch(config.with_changes(changes | {"name": name}))


def ensure_downloaded(config: ExperimentConfig, quiet: bool = False) -> None:
    """Download a set by name that is not in the cache yet, with a progress line."""
    from lab.data import downloads

    name = config.data.name
    if name not in DOWNLOADED_DATASETS or not downloads.missing(name):
        return
    from lab.cli.progress import ProgressLine

    say(f"knoblab: downloading {name} into {downloads.folder(name)}")
    bar = None if quiet else ProgressLine(f"downloading {name}", 1000)
    job = downloads.fetch(name)
    try:
        for progress in job:
            if bar is not None:
                bar.update(1000 * progress.fraction, progress.message)
    finally:  # Ctrl-C cancels: the half file goes now, not when the job is collected
        job.close()
        if bar is not None:
            bar.close()


def cmd_data(args: argparse.Namespace) -> int:
    from lab.data import downloads

    if args.action == "list":
        rows = []
        for name in BUNDLED_DATASETS + DOWNLOADED_DATASETS:
            here = "shipped" if name in BUNDLED_DATASETS else (
                "downloaded" if not downloads.missing(name) else "not downloaded")  # fmt: skip
            rows.append({"name": name, "examples": REAL_SIZES[name], "status": here})
        if args.json:
            print(json.dumps({"datasets": rows, "cache": str(downloads.cache_dir())}))
            return 0
        for row in rows:
            print(f"{row['name']:<15} {row['examples']:>7,} examples  {row['status']}")
        print(f"cache: {downloads.cache_dir()} (KNOBLAB_DATA_DIR moves it)")
        return 0
    if not args.name:
        raise UsageError("NAME", f"`knoblab data {args.action}` needs a dataset name or a file")
    if args.action == "fetch":
        if args.name not in DOWNLOADED_DATASETS:
            raise UsageError("NAME", f"{args.name} is not downloaded; these are: "
                             f"{', '.join(DOWNLOADED_DATASETS)}")  # fmt: skip
        ensure_downloaded(ExperimentConfig(data=DataConfig(name=args.name, batch_size=1)))
        print(f"knoblab: {args.name} is in {downloads.folder(args.name)}")
        return 0
    return _show(args)


def _show(args: argparse.Namespace) -> int:
    from lab.core.presets import preset
    from lab.data import experiment_data

    config = with_data(preset("spirals-mlp"), args.name, args.target)
    ensure_downloaded(config)
    info = experiment_data(config).info
    assert info is not None
    if args.json:
        from lab.core.serialize import to_builtin

        print(json.dumps(to_builtin(info)))
        return 0
    print(info.words())
    if info.sha256:
        print(f"sha256 {info.sha256}")
    if info.version:
        print(f"version {info.version}")
    for column, role in info.columns:
        print(f"  {column:<32} {role}")
    for name, train, test in info.class_counts:
        print(f"  {name:<32} {train:>7,} train {test:>7,} test")
    if info.text:
        print(info.text[:200])
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "data", "list the datasets, show what one holds, download one",
        "  knoblab data list\n"
        "  knoblab data show iris\n"
        "  knoblab data show my_table.csv --target price\n"
        "  knoblab data fetch mnist")  # fmt: skip
    p.add_argument("action", choices=("list", "show", "fetch"), help="what to do")
    p.add_argument("name", nargs="?", help="a dataset's name, or a file or folder (show)")
    p.add_argument("--target", help="a table's target column (default: the last)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_data)
