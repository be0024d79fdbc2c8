"""Attention weights of a Transformer for one input, layer by layer and head
by head, read at the blocks' pattern hook points: what the Attention view
draws, and what the induction-head measurement reads."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lab.core.induction import induction_scores
from lab.models.hooks import collecting, pattern_points

__all__ = ["attention_maps", "induction_scores"]


@torch.no_grad()
def attention_maps(model: nn.Module, tokens: torch.Tensor) -> np.ndarray:
    """(layers, heads, T, T) weights of ``tokens`` (batch, T), averaged over
    the batch, in eval mode; row i is where query i looks."""
    maps: list[torch.Tensor] = []
    readers = dict.fromkeys(pattern_points(model), lambda weights: maps.append(weights.mean(dim=0)))
    was_training = model.training
    model.eval()
    try:
        with collecting(model, readers):
            model(tokens)
    finally:
        model.train(was_training)
    return torch.stack(maps).float().cpu().numpy()
