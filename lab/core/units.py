"""Byte counts in the unit that reads best ("390.6 KiB", "1.2 GiB"): one
formatting for every message about memory. Torch-free."""

from __future__ import annotations

GIB = 2**30
UNITS = (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10))


def size(n: float, digits: int = 1) -> str:
    for unit, scale in UNITS:
        if n >= scale:
            return f"{n / scale:,.{digits}f} {unit}"
    return f"{int(n):,} bytes"
