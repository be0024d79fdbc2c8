"""Atomic writes: a writer killed mid-save (SIGKILL, no chance to clean up)
leaves the previous file whole."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WRITER = """
import sys
from lab.core.fileio import atomic_write_bytes
target, n = sys.argv[1], 0
while True:  # ever new versions, each 8 MiB of one repeated byte
    n += 1
    atomic_write_bytes(target, bytes([n % 251]) * (8 << 20))
    print(n, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_writer_killed_mid_save_leaves_the_previous_file_whole(tmp_path: Path):
    target = tmp_path / "checkpoint.pt"
    root = Path(__file__).resolve().parents[3]
    for delay in (0.05, 0.13, 0.31):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        writer.stdout.readline()  # one version is whole on disk
        time.sleep(delay)  # then kill it in the middle of some later write
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        data = target.read_bytes()
        assert len(data) == 8 << 20 and data.count(data[:1]) == len(data)  # one whole version
