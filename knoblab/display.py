"""Whether a window can open here, asked of the platform rather than guessed
from one environment variable (macOS and Windows set no DISPLAY), and on
Linux whether the X11 libraries Qt's window needs are installed."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping


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


# What Qt's X11 platform plugin loads, with the Debian/Ubuntu package of each
# (as the Makefile's DEB_WINDOW): without one, Qt only prints its own
# "could not load the Qt platform plugin xcb" and aborts.
X11_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
}


def _loads(name: str) -> bool:
    import ctypes

    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def missing_window_packages(
    platform: str = sys.platform,
    environ: Mapping[str, str] = os.environ,
    loads: Callable[[str], bool] = _loads,
) -> list[str]:
    """The packages of the X11 libraries Qt's window needs and this machine
    lacks (only where Qt will draw through X11: Linux, no other platform named)."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return []
    if not environ.get("DISPLAY"):
        return []
    return [package for library, package in X11_LIBRARIES.items() if not loads(library)]


def missing_packages_text(packages: list[str]) -> str:
    return (
        "knoblab: the window needs system libraries this machine does not have: "
        f"{', '.join(packages)}.\n"
        f"  Install them:  sudo apt-get install {' '.join(packages)}\n"
        "  (from a checkout, `make run` installs them for you)\n"
        "  Headless instead:  knoblab run --preset spirals-mlp"
    )
