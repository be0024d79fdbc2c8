"""Decoding: the model's continuation of a prompt, one token at a time."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def greedy(model: nn.Module, prompt: torch.Tensor, steps: int) -> torch.Tensor:
    """The ``steps`` most likely next tokens after ``prompt`` (batch, T), each
    chosen from the whole sequence so far (recomputed every step), in eval
    mode; the context's last tokens when the sequence outgrows it."""
    context = model.config.context  # type: ignore[union-attr]
    was_training = model.training
    model.eval()
    try:
        tokens = prompt
        for _ in range(steps):
            logits = model(tokens[:, -context:])
            tokens = torch.cat([tokens, logits[:, -1:].argmax(dim=-1)], dim=1)
    finally:
        model.train(was_training)
    return tokens[:, prompt.shape[1] :]
