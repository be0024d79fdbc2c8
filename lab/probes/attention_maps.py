"""Attention weights of a Transformer for one input, layer by layer and head
by head, from the explicit path: what the Attention view draws, and what the
induction-head measurement reads."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def attention_maps(model: nn.Module, tokens: torch.Tensor) -> np.ndarray:
    """(layers, heads, T, T) weights of ``tokens`` (batch, T), averaged over
    the batch, in eval mode; row i is where query i looks."""
    layers = model.attention_layers()  # type: ignore[operator]
    maps: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        for layer in layers:
            layer.recorder = lambda _scores, weights: maps.append(weights.mean(dim=0))
        model(tokens)
    finally:
        for layer in layers:
            layer.recorder = None
        model.train(was_training)
    return torch.stack(maps).float().cpu().numpy()


def induction_scores(maps: np.ndarray, half: int) -> np.ndarray:
    """(layers, heads): for a sequence that repeats its first ``half`` tokens,
    the mean weight each head puts, from a query in the repeat, on the token
    after the previous occurrence of the query's token (query i -> key
    i - half + 1): what an induction head does."""
    queries = np.arange(half, 2 * half - 1)
    keys = queries - half + 1
    return maps[:, :, queries, keys].mean(axis=-1)
