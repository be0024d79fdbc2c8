"""What a loss landscape is computed with: not part of the experiment (a
landscape reads the weights, never changes them), but its fields are knobs
like any other, so the window's landscape controls take typed values,
bounds and tooltips from here."""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.fields import knob, validate_section
from lab.core.protocol import DirectionKind


@dataclass(frozen=True)
class LandscapeSettings:
    kind: str = knob(
        DirectionKind.FILTER.value,
        "directions",
        "The plane's two directions: filter-normalised random ones (Li et al.), the"
        " principal components of the training path (pca), plain random ones, or random"
        " ones scaled per layer or for the whole model",
        choices=tuple(kind.value for kind in DirectionKind),
    )
    resolution: int = knob(
        41, "grid", "Points along each axis of the grid (the work grows with its square)",
        lo=3, hi=401, unit="points",
    )  # fmt: skip
    span: float = knob(
        1.0,
        "span",
        "Half-width of the plane, in units of the directions (1: as far again as the weights"
        " are long, for filter directions)",
        lo=0.0,
        hi=100.0,
        lo_open=True,
        slider=(0.01, 10.0),
        log=True,
    )
    n_points: int = knob(
        1024, "samples", "Training samples the loss is averaged over at each grid point",
        lo=16, hi=100_000,
    )  # fmt: skip
    seed: int = knob(0, "seed", "Seed of random directions", lo=0, hi=2**31 - 1)
    auto_every: int = knob(
        500, "auto every", "Recompute the landscape this often while training", lo=10,
        hi=10**6, unit="steps",
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate_section(self, "landscape")
