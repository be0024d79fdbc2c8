"""Keep freed memory in the process instead of handing it back to the OS.

glibc's malloc serves blocks of 128 KiB and more (one activation of a 256 x 128
layer) with fresh ``mmap`` pages, and returns the top of the heap to the OS
once 2x the largest freed block sits unused. Anything that holds tensors a
little longer than one training step (probes, landscape chunks) then meets
page faults on every new tensor: measured here, a fresh 2.6 MB tensor cost
~1 ms to fill and a reused one ~0.1 ms, and all probes every step cost +90%
instead of +30%. Fixed thresholds make the heap keep what it has freed, as
PyTorch's CPU tuning guides get from jemalloc or tcmalloc.

Only glibc (Linux) is tuned; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # blocks below this come from the heap (glibc's maximum)
TRIM_THRESHOLD = 256 * 2**20  # free heap kept before any is handed back

_tuned: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for this process (once); whether it was tuned."""
    global _tuned
    if _tuned is None:
        _tuned = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _tuned = bool(
                    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                )
            except (OSError, AttributeError):  # not glibc (musl has no mallopt)
                _tuned = False
    return _tuned
