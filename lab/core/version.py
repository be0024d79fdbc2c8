"""What this Knoblab is and runs on, in one line, without importing torch
(``knoblab --version``, the window's About box)."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version


def installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def version_text() -> str:
    python = ".".join(map(str, sys.version_info[:3]))
    torch = installed("torch")
    return f"knoblab {installed('knoblab')} (torch {torch}, Python {python}, {sys.platform})"
