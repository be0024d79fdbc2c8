"""Whether a window can open here, asked of the platform rather than guessed
from one environment variable (macOS and Windows set no DISPLAY)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def has_display(platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a window can open here: Qt told where to draw (offscreen, vnc,
    ...), macOS and Windows (always a desktop), or on Linux and other Unix an
    X11 or Wayland display."""
    qpa = environ.get("QT_QPA_PLATFORM", "")
    if qpa and qpa not in ("xcb", "wayland"):
        return True
    if platform == "darwin" or platform.startswith(("win", "cygwin")):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
