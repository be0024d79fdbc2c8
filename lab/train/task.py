"""What a model learns and how it is scored: a ``Task`` owns the loss, the
shape the targets take, and the figures of an evaluation (loss and accuracy;
the confusion counts of a classifier).

The trainer, the landscape and signal propagation all take their loss from
here, so they agree on it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from lab.core.config import ExperimentConfig
from lab.data.sequences import IGNORE


class Task:
    """The regression and classification tasks' common ground."""

    name = "task"
    eval_limit: int | None = None  # examples of each split an evaluation reads (None: all)
    loss_fn: nn.Module  # mean over samples (the landscape's batched path copies it per sample)

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        """Targets as the loss reads them."""
        return y

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(outputs.float(), targets)

    def accuracy(self, outputs: torch.Tensor, targets: torch.Tensor) -> float:
        """Share of correct predictions (NaN where the task has none)."""
        return math.nan

    def scores(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
        """(mean loss, accuracy) over a split."""
        return float(self.loss(outputs, targets)), self.accuracy(outputs, targets)


class Classification(Task):
    name = "classification"

    def __init__(self, classes: int, label_smoothing: float = 0.0) -> None:
        self.classes = classes
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def accuracy(self, outputs: torch.Tensor, targets: torch.Tensor) -> float:
        return float((outputs.argmax(dim=1) == targets).float().mean())

    def confusion(self, outputs: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        """How many samples of each true class (rows) got each predicted class
        (columns), flattened row-major."""
        cells = targets.long() * self.classes + outputs.argmax(dim=1)
        return torch.bincount(cells, minlength=self.classes**2).cpu().numpy()

    def confusion_columns(self) -> tuple[str, ...]:
        return tuple(f"true{t}_pred{p}" for t in range(self.classes) for p in range(self.classes))


class TokenCrossEntropy(nn.Module):
    """Cross-entropy of every position's next-token logits (batch, T, vocab)
    against targets (batch, T), leaving out targets of -100 (no answer there)."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE,
            label_smoothing=self.label_smoothing,
        )


class NextToken(Task):
    """Next-token prediction: the loss and accuracy count the positions that
    carry an answer (every position of a text; the answer of a symbolic task)."""

    name = "next_token"
    # a fixed subset of each split: every window of a text, evaluated every
    # few steps, cost more than the training between evaluations
    eval_limit = 256

    def __init__(self, vocab: int, label_smoothing: float = 0.0) -> None:
        self.vocab = vocab
        self.loss_fn = TokenCrossEntropy(label_smoothing)

    def accuracy(self, outputs: torch.Tensor, targets: torch.Tensor) -> float:
        answered = targets != IGNORE
        if not bool(answered.any()):
            return math.nan
        return float((outputs.argmax(dim=-1) == targets)[answered].float().mean())


class Regression(Task):
    name = "regression"

    def __init__(self, loss: str = "mse") -> None:
        self.loss_fn = nn.HuberLoss() if loss == "huber" else nn.MSELoss()

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        return y.view(-1, 1)  # one output per sample


def make_task(config: ExperimentConfig, n_outputs: int, task: str | None = None) -> Task:
    """The task of ``config``'s data (``task``: the data read, where a file's
    content decides), with its loss settings."""
    task = task or config.data.task
    if task == "regression":
        return Regression(config.loss_for(task))
    if task == "next_token":
        return NextToken(n_outputs, config.train.label_smoothing)
    return Classification(n_outputs, config.train.label_smoothing)
