"""The ``knoblab`` entry point: the display check per platform (the platform
monkeypatched, not guessed), --version, the self-test, and the frozen
engine child's first call."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from knoblab import main as entry
from knoblab.display import X11_LIBRARIES, has_display, missing_window_packages

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("darwin", {}, True),  # macOS sets no DISPLAY: a desktop all the same
        ("win32", {}, True),
        ("cygwin", {}, True),
        ("linux", {}, False),  # a headless server
        ("linux", {"DISPLAY": ":0"}, True),  # X11
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, True),
        ("linux", {"QT_QPA_PLATFORM": "offscreen"}, True),  # Qt told where to draw
        ("linux", {"QT_QPA_PLATFORM": "xcb"}, False),  # ... but xcb needs an X server
        ("freebsd14", {"DISPLAY": ":1"}, True),
    ],
)
def test_the_display_check_on_each_platform(platform, environ, expected):
    assert has_display(platform, environ) is expected


def test_without_a_display_the_window_says_what_to_run_instead(monkeypatch, capsys):
    monkeypatch.setattr(entry, "has_display", lambda: False)
    assert entry.main([]) == 2
    err = capsys.readouterr().err
    assert "knoblab run --preset" in err and "xvfb-run -a knoblab" in err


def test_missing_x11_libraries_are_named_with_the_command_that_installs_them(monkeypatch, capsys):
    """First contact on a machine without Qt's X11 libraries: not Qt's raw
    "xcb-cursor0 ... no Qt platform plugin" abort, but what is missing and
    how to install it."""
    absent = {"libxcb-cursor.so.0", "libxcb-xinerama.so.0"}
    loads = lambda name: name not in absent  # noqa: E731
    found = missing_window_packages("linux", {"DISPLAY": ":0"}, loads)
    assert found == ["libxcb-cursor0", "libxcb-xinerama0"]
    assert missing_window_packages("linux", {"DISPLAY": ":0"}, lambda _n: True) == []
    assert missing_window_packages("darwin", {}, loads) == []  # no X11 there
    assert missing_window_packages("linux", {"QT_QPA_PLATFORM": "offscreen"}, loads) == []
    assert set(X11_LIBRARIES.values()) <= set((ROOT / "Makefile").read_text().split())
    monkeypatch.setattr(entry, "has_display", lambda: True)
    monkeypatch.setattr(entry, "missing_window_packages", lambda: found)
    assert entry.main([]) == 2
    err = capsys.readouterr().err
    assert "sudo apt-get install libxcb-cursor0 libxcb-xinerama0" in err and "make run" in err


def test_freeze_support_runs_before_the_parser(monkeypatch):
    """A frozen engine child arrives with --multiprocessing-fork: it must be
    taken by freeze_support first, never by argparse (which would exit 2)."""
    calls = []
    monkeypatch.setattr(entry.multiprocessing, "freeze_support", lambda: calls.append("freeze"))
    monkeypatch.setattr(entry, "open_window", lambda: calls.append("window") or 0)
    entry.main([])
    assert calls == ["freeze", "window"]


def knoblab(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "knoblab", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_version_names_knoblab_torch_and_python():
    result = knoblab("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("knoblab 0.1.0 (torch ") and "Python 3." in result.stdout


def test_the_selftest_passes_from_source():
    result = knoblab("--selftest", env={"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    for stage in ("window", "training", "landscape", "export", "data"):
        assert f"selftest: {stage}: ok" in result.stdout
    assert "selftest: all passed" in result.stdout


def test_a_failing_selftest_names_its_stage():
    result = knoblab("--selftest", "--no-window", "--device", "nowhere")
    assert result.returncode == 1
    assert "selftest: training: FAILED" in result.stderr and "nowhere" in result.stderr
