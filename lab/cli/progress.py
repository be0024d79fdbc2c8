"""Progress of a long command, on stderr (stdout is for results): on a
terminal one line redrawn, a bar with the fraction done, the count and the
time left; into a file or a pipe plain lines, one per tenth (carriage
returns would pile up on one line there)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR = 24  # characters of the bar


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ProgressLine:
    def __init__(
        self, what: str, total: int = 100, unit: str = "", stream: TextIO | None = None
    ) -> None:
        self.what, self.total, self.unit = what, max(1, total), unit
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.start = time.perf_counter()
        self.shown = -1  # the last tenth (piped) or percent (terminal) written
        self.open = False  # a terminal line waits for its newline

    def update(self, done: float, message: str = "") -> None:
        fraction = min(1.0, max(0.0, done / self.total))
        elapsed = time.perf_counter() - self.start
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
        eta = f"ETA {duration(left)}" if fraction > 0 else "ETA --:--"
        count = f"{int(done):,}/{self.total:,} {self.unit}".rstrip() if self.unit else ""
        detail = "  ".join(part for part in (count, eta, message) if part)
        if self.interactive:
            percent = int(100 * fraction)
            if percent == self.shown and not message:
                return
            self.shown = percent
            filled = int(BAR * fraction)
            bar = "#" * filled + "." * (BAR - filled)
            self.stream.write(f"\r{self.what} [{bar}] {percent:3d}%  {detail}\x1b[K")
            self.stream.flush()
            self.open = True
            return
        tenth = int(10 * fraction)
        if tenth != self.shown:
            self.shown = tenth
            self.stream.write(f"{self.what} {100 * fraction:3.0f}%  {detail}\n")
            self.stream.flush()

    def close(self) -> None:
        """End the terminal's line (before any other output)."""
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False
