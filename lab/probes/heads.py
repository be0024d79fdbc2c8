"""Per-head attention figures of a probed step, read at each block's
attention hook points (``hook_scores`` and ``hook_pattern``, see
``lab.models.hooks``):

- the entropy of each query's attention weights, in nats (log T for a query
  spread evenly over T keys, 0 for one looking at a single key), averaged
  over the batch and the queries;
- the largest weight of each query, averaged (near 1: the softmax saturates);
- the standard deviation of the raw scores QK^T * scale over the causal
  entries: about 1 at init with the 1/sqrt(d_k) scaling, about sqrt(d_k)
  without it.

Several forward calls in one step (gradient accumulation) are averaged.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from lab.core import wire
from lab.models.hooks import collecting, pattern_points
from lab.probes.collectors import Transfer
from lab.probes.rows import Rows

MEASURES = (wire.PROBE_ATTN_ENTROPY, wire.PROBE_ATTN_MAX, wire.PROBE_SCORE_STD)


def head_figures(scores: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(3, heads): entropy, largest weight, score std of one call's
    (batch, heads, queries, keys) scores (-inf where masked) and weights."""
    logs = torch.log(weights.clamp_min(torch.finfo(weights.dtype).tiny))
    entropy = -(weights * logs).sum(dim=-1).mean(dim=(0, 2))
    largest = weights.amax(dim=-1).mean(dim=(0, 2))
    valid = torch.isfinite(scores)
    count = valid.sum(dim=(0, 2, 3)).clamp_min(1)
    values = scores.masked_fill(~valid, 0.0)
    mean = values.sum(dim=(0, 2, 3)) / count
    spread = ((values - mean[None, :, None, None]) ** 2).masked_fill(~valid, 0.0)
    std = torch.sqrt(spread.sum(dim=(0, 2, 3)) / count)
    return torch.stack([entropy, largest, std])


class HeadProbes:
    """The attention layers of a model (none for an MLP or CNN) and a table
    of ``rows`` collections: (rows, 3 measures, layers x heads)."""

    def __init__(self, model: nn.Module, rows: int) -> None:
        self.model = model
        self.layers = list(getattr(model, "attention_layers", lambda: [])())
        self.points = pattern_points(model) if self.layers else []  # block by block
        self.names = [
            f"block{index + 1}.h{head + 1}"
            for index, layer in enumerate(self.layers)
            for head in range(layer.heads)
        ]
        self.table = np.full((rows, len(MEASURES), len(self.names)), np.nan)
        self._calls: list[list[torch.Tensor]] = [[] for _ in self.layers]
        self._hooks = contextlib.ExitStack()

    def attach(self) -> None:
        """Read the next forward calls (the collection's training step)."""
        self.detach()
        for calls in self._calls:
            calls.clear()
        readers = {}
        for index, pattern in enumerate(self.points):
            readers |= self._readers(index, pattern)
        if readers:
            self._hooks.enter_context(collecting(self.model, readers))

    def _readers(self, index: int, pattern: str) -> dict:
        """A block's scores, kept until its pattern (the same call's) arrives."""
        calls, scores = self._calls[index], []

        def read_scores(tensor: torch.Tensor) -> None:
            scores[:] = [tensor.detach()]

        def read_pattern(tensor: torch.Tensor) -> None:
            with torch.no_grad():
                calls.append(head_figures(scores.pop().float(), tensor.detach().float()))

        return {pattern.replace("hook_pattern", "hook_scores"): read_scores, pattern: read_pattern}

    def detach(self) -> None:
        self._hooks.close()  # the hooks come off (attention takes the fused path again)

    def gather(self, batch: Transfer) -> None:
        """The figures of the collection, averaged over its calls, to fetch."""
        if self.layers and all(self._calls):
            figures = torch.cat([torch.stack(calls).mean(dim=0) for calls in self._calls], dim=1)
            batch.add("attention_heads", figures)

    def write(self, arrays: dict[object, np.ndarray], row: int) -> None:
        figures = arrays.get("attention_heads")
        self.table[row] = np.nan if figures is None else figures.reshape(len(MEASURES), -1)

    def rows(self, rows: Rows, count: int) -> None:
        """The first ``count`` rows of the table into ``rows``."""
        if self.layers:
            for index, name in enumerate(MEASURES):
                rows.per_head[name] = self.table[:count, index].copy()
