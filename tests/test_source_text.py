"""What the source may not say: a speed figure measured on one machine
belongs in a bench's output, not in a docstring or comment, where it goes
stale and disagrees with the next machine's (bench/ is where they live)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lab", "app", "widgets", "knoblab")
# "1.5x faster", "25% slower", "on this CPU", "this 2-core machine", "0.15 ms a step"
MACHINE_FIGURE = re.compile(
    r"\d+(\.\d+)?x (faster|slower)|\d+% (faster|slower|longer)|on this CPU|\d-core machine"
    r"|\d+(\.\d+)? ?ms (a|per) step",
    re.IGNORECASE,
)


def machine_figures(root: Path = ROOT) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix not in (".py", ".c"):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if MACHINE_FIGURE.search(line):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_no_docstring_or_comment_quotes_a_machine_timing():
    assert machine_figures() == []


def test_a_planted_timing_is_found(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "fast.py").write_text('"""The fused pass: 1.5x faster on this CPU."""\n')
    (tmp_path / "lab" / "kernel.c").write_text("/* a 41x41 grid on this 2-core machine */\n")
    assert len(machine_figures(tmp_path)) == 2
