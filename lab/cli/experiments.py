"""The experiment a command names: a config file or a preset, with
``--set`` changes; and which files can be a config at all."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from lab.core.config import ExperimentConfig
from lab.core.errors import UsageError
from lab.core.presets import DEFAULT_PRESET, preset


def _parse_value(text: str) -> Any:
    """A --set value as TOML (numbers, booleans, quoted strings), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_experiment(
    config_path: str | None, preset_name: str | None, sets: list[str]
) -> ExperimentConfig:
    if config_path and preset_name:
        raise UsageError("--preset", "give a config file or a preset, not both")
    if config_path:
        config = ExperimentConfig.load(config_file(config_path))
        config = _data_beside(config, Path(config_path).parent)
    else:
        config = preset(preset_name or DEFAULT_PRESET)
    changes = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("--set", f"{item!r}: give field=value, e.g. --set optim.lr=0.01")
        changes[key.strip()] = _parse_value(value.strip())
    return config.with_changes(changes) if changes else config


def _data_beside(config: ExperimentConfig, folder: Path) -> ExperimentConfig:
    """A relative ``data.path`` names a file beside the config (where a person
    keeps the two together), unless it names one from here."""
    path = Path(config.data.path).expanduser()
    if not config.data.path or path.is_absolute() or path.exists():
        return config
    beside = folder / path
    return config.with_changes({"data.path": str(beside)}) if beside.exists() else config


CONFIG_SUFFIXES = (".toml", ".json")


def config_file(path: str) -> str:
    """``path`` if it can be an experiment config; ``UsageError`` saying which
    files a command takes when it cannot (a model's Python file, a CSV)."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        what = "Python code" if suffix == ".py" else f"a {suffix or 'suffix-less'} file"
        raise UsageError(
            "CONFIG",
            f"{path} is {what}, not an experiment config. This command takes a config file"
            " (.toml or .json, as Save and `knoblab run --out` write them) or --preset NAME"
            " (see `knoblab presets`).",
        )
    return path
