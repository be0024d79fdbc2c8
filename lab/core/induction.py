"""The induction score of attention heads, torch-free (the Attention view
computes it from the maps it draws): for a sequence that repeats its first
``half`` tokens, the mean weight a head puts, from a query in the repeat, on
the token after the previous occurrence of the query's token (query i ->
key i - half + 1). An induction head scores near 1; a head looking anywhere
else near 0."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def induction_scores(maps: np.ndarray, half: int) -> np.ndarray:
    """(layers, heads) scores of ``maps`` (layers, heads, T, T)."""
    queries = np.arange(half, 2 * half - 1)
    keys = queries - half + 1
    return maps[:, :, queries, keys].mean(axis=-1)


def repeat_half(tokens: Sequence[str]) -> int | None:
    """``half`` if ``tokens`` are a sequence followed by its own start (an
    induction task's input: n tokens, then n - 1 of them again), else None."""
    length = len(tokens)
    half = (length + 1) // 2
    if half < 2 or list(tokens[half:]) != list(tokens[: length - half]):
        return None
    return half
