"""Where the files of ``assets/`` are: beside the package in a source checkout,
inside the bundle when frozen (PyInstaller unpacks data under ``sys._MEIPASS``)."""

from __future__ import annotations

import sys
from pathlib import Path


def assets_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen is not None:
        return Path(frozen) / "assets"
    return Path(__file__).resolve().parents[2] / "assets"


def asset(name: str) -> Path:
    """The path of ``assets/<name>``; FileNotFoundError naming it when missing."""
    path = assets_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"Knoblab's asset {name!r} is missing (looked in {path.parent})")
    return path


def readme() -> Path | None:
    """Knoblab's README (the window's Help shows it): the checkout's, or the
    bundle's copy; None when neither is there (an installed wheel)."""
    frozen = getattr(sys, "_MEIPASS", None)
    root = Path(frozen) if frozen is not None else Path(__file__).resolve().parents[2]
    path = root / "README.md"
    return path if path.exists() else None
