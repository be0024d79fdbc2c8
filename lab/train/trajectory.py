"""The training path, for landscapes: the weights at the start and every few
steps after, flattened on the host, in a bounded buffer that keeps an evenly
spaced picture of the whole run (thinned by half whenever it fills)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

EVERY = 10  # steps between snapshots (doubles as the buffer thins)
MAX_BYTES = 64 * 2**20  # memory bound of the snapshots


def flat_params(params: list[nn.Parameter]) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params]).float().cpu()


class Trajectory:
    def __init__(self, model: nn.Module, step: int = 0) -> None:
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        # the weights the path starts from (t = 0 of the landscape's straight line)
        self.initial = {n: p.detach().clone() for n, p in model.named_parameters()}
        n_params = sum(p.numel() for p in self.params)
        self.capacity = int(min(256, max(16, MAX_BYTES // (4 * n_params))))
        self.steps: list[int] = [step]
        self.snapshots: list[torch.Tensor] = [flat_params(self.params)]
        self.stride = 1

    def after_step(self, step: int) -> None:
        """Record the weights after optimiser step ``step`` when one is due."""
        if step % (EVERY * self.stride):
            return
        if len(self.snapshots) >= self.capacity:
            self.snapshots, self.steps = self.snapshots[::2], self.steps[::2]
            self.stride *= 2
            if step % (EVERY * self.stride):
                return
        self.snapshots.append(flat_params(self.params))
        self.steps.append(step)

    def restore(self, steps: np.ndarray, snapshots: np.ndarray, initial: np.ndarray) -> None:
        """Put back a saved path (``trajectory.npz`` of a run)."""
        self.steps = [int(s) for s in steps]
        self.snapshots = [torch.as_tensor(row, dtype=torch.float32) for row in snapshots]
        flat = torch.as_tensor(initial, dtype=torch.float32)
        offset = 0
        for name, p in self.model.named_parameters():
            self.initial[name] = flat[offset : offset + p.numel()].view_as(p).to(p.device)
            offset += p.numel()

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``restore`` takes, as numpy arrays (for ``trajectory.npz``)."""
        initial = torch.cat([p.detach().reshape(-1).float().cpu() for p in self.initial.values()])
        return {
            "steps": np.asarray(self.steps, dtype=np.int64),
            "snapshots": torch.stack(self.snapshots).numpy(),
            "initial": initial.numpy(),
        }
