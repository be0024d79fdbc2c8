"""Small C kernels in ``lab/`` built on first use with the machine's C compiler.

Each source is compiled once per (source, flags, CPU) into the user cache
directory, written atomically so processes building at once do not collide,
and loaded with ctypes. Without a compiler, with a failed build or with
``KNOBLAB_NO_FUSED`` set, ``load`` gives None and the caller keeps its torch
path: every kernel is an optimisation, never the only way to a figure.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import platformdirs

FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=c11")
# A bundle's kernels, built when it was made: for the build machine's CPU, and
# a portable baseline (any x86-64, or the architecture's default) for others.
PORTABLE_FLAGS = ("-O3", "-shared", "-fPIC", "-std=c11") + (
    ("-march=x86-64", "-mtune=generic") if platform.machine().lower() in ("x86_64", "amd64") else ()
)
PREBUILT = Path(__file__).with_name("prebuilt")
CPU_FILE = "cpu.txt"  # the build machine's CPU identity, beside the prebuilt kernels
SWITCH = "KNOBLAB_NO_FUSED"  # set: no compiled kernels, torch paths only
Library = TypeVar("Library")


def build(source: Path, directory: Path, flags: Sequence[str] = FLAGS) -> Path | None:
    """Compile ``source`` into ``directory`` as ``<stem>-<key>.so`` and remove
    the stem's older builds (other sources, flags or CPUs). None without a C
    compiler or when the compiler fails."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        return None
    text = source.read_bytes()
    key = hashlib.sha256(text + " ".join(flags).encode() + _cpu_identity()).hexdigest()[:16]
    target = directory / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(suffix=".so", dir=directory)
    os.close(handle)
    try:
        subprocess.run(
            [compiler, *flags, str(source), "-o", scratch],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        os.replace(scratch, target)
    except (OSError, subprocess.SubprocessError):
        Path(scratch).unlink(missing_ok=True)
        return None
    for stale in directory.glob(f"{source.stem}-*.so"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


def _cpu_identity() -> bytes:
    """What -march=native compiled for: the CPU's feature flags (a cache shared
    between machines must not hand one CPU another's build)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.encode()
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}".encode()


def prebuilt(source: Path, folder: Path = PREBUILT) -> Path | None:
    """A bundle's kernel for ``source``: the one built for this CPU when the
    bundle was made here (or on a machine with the same CPU flags), else the
    portable one; None outside a bundle."""
    native, portable = (folder / f"{source.stem}-{kind}.so" for kind in ("native", "portable"))
    try:
        same_cpu = (folder / CPU_FILE).read_bytes() == _cpu_identity()
    except OSError:
        same_cpu = False
    if same_cpu and native.exists():
        return native
    return portable if portable.exists() else None


def load(source: Path) -> Path | None:
    """The path of ``source`` built for this machine: a bundle's prebuilt
    kernel, or one compiled here into the user cache (or a temporary
    directory where that is not writable); None where there is neither a
    prebuilt kernel nor a source and compiler, or ``KNOBLAB_NO_FUSED`` is set."""
    if os.environ.get(SWITCH):
        return None
    shipped = prebuilt(source)
    if shipped is not None:
        return shipped
    if not source.exists():  # a bundle made without its sources: the torch path serves
        return None
    directory = Path(platformdirs.user_cache_dir("knoblab")) / "kernels"
    try:
        return build(source, directory)
    except OSError:
        return build(source, Path(tempfile.mkdtemp(prefix="knoblab-kernels-")))


def open_library(source: Path, wrap: Callable[[Path], Library]) -> Library | None:
    """``wrap`` (which loads it with ctypes) of ``source`` built for this
    machine; None where it cannot be built or loaded (a damaged file): the
    caller's torch path serves then."""
    path = load(source)
    if path is None:
        return None
    try:
        return wrap(path)
    except OSError:
        return None


def pointers(addresses: Sequence[int | None]) -> ctypes.Array:
    """A C array of pointers (NULL for None)."""
    return (ctypes.c_void_p * len(addresses))(*addresses)
