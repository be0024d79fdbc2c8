"""The training session: build from a config, step, run, pause, reset, and take
config changes from any thread between steps.

Changes are sorted by what they need:

- live: optimiser hyper-parameters, schedule, clipping, accumulation, batch
  size, precision, loss smoothing, run length, evaluation period — written into
  the running session before the next step; weights and optimiser state stay.
- optimiser rebuild: another optimiser (or SGD momentum switched on/off) — the
  weights stay, the optimiser starts fresh.
- full rebuild: model, init, data, seed, device, loss — the session starts over.

A step whose loss or gradients are not finite is not applied: the weights stay
as they were, the session stops with a reason naming the first layer (in
backward order) whose gradient went bad, and it resumes after a reset or any
config change.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.config import ConfigError, ExperimentConfig
from lab.data import Dataset, make_dataset
from lab.devices import resolve_device, supports_bf16
from lab.init import apply_init
from lab.metrics import MetricStore
from lab.models import Net, build_model
from lab.optim import apply_live, build_optimizer, needs_rebuild, set_lr
from lab.schedule import lr_factor

# Changes under these prefixes restart the session from scratch.
REBUILD_PREFIXES = ("model.", "init.", "data.name", "data.n_samples", "data.noise",
                    "data.n_classes", "data.test_fraction", "data.seed", "train.seed",
                    "train.device", "train.loss", "train.threads", "name", "schema")  # fmt: skip

STEP_COLUMNS = ("loss", "grad_norm", "lr", "clipped")
EVAL_COLUMNS = ("train_loss", "test_loss", "train_acc", "test_acc", "lr", "batch_loss", "grad_norm")
EVAL_CHUNK = 8192


class TrainingStopped(RuntimeError):
    """Raised by ``step()`` while the session is stopped (divergence)."""


@dataclass(frozen=True)
class StepResult:
    step: int  # number of optimiser steps taken so far (1 after the first)
    loss: float
    grad_norm: float  # global L2 norm before clipping
    lr: float
    clipped: bool


@dataclass(frozen=True)
class ChangeReport:
    """What a config change did when it was applied."""

    fields: tuple[str, ...]
    kind: str  # "live", "optimizer", "rebuild" or "none"

    @property
    def message(self) -> str:
        if self.kind == "none":
            return "no change"
        names = ", ".join(self.fields)
        return {
            "live": f"applied on the next step: {names}",
            "optimizer": f"optimiser rebuilt, weights kept: {names}",
            "rebuild": f"rebuilt from scratch: {names}",
        }[self.kind]


def classify_change(old: ExperimentConfig, new: ExperimentConfig) -> ChangeReport:
    fields = tuple(old.diff(new))
    if not fields:
        return ChangeReport((), "none")
    if any(f.startswith(REBUILD_PREFIXES) for f in fields):
        return ChangeReport(fields, "rebuild")
    if needs_rebuild(old.optim, new.optim):
        return ChangeReport(fields, "optimizer")
    return ChangeReport(fields, "live")


def _loss_fn(config: ExperimentConfig) -> nn.Module:
    if config.loss == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=config.train.label_smoothing)
    if config.loss == "huber":
        return nn.HuberLoss()
    return nn.MSELoss()


def total_grad_norm(params: list[nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
    def __init__(self, config: ExperimentConfig, *, store: MetricStore | None = None) -> None:
        self.store = store if store is not None else MetricStore()
        self._lock = threading.Lock()
        self._pending: ExperimentConfig | None = None
        self._pause = threading.Event()
        self.last_change = ChangeReport((), "none")
        self._build(config)

    # ------------------------------------------------------------ building

    def _build(self, config: ExperimentConfig) -> None:
        self.config = config
        self.device = resolve_device(config.train.device)
        if config.train.precision == "bf16" and not supports_bf16(self.device):
            raise ConfigError("train.precision", f"bf16 is not supported on {self.device}")
        if config.train.threads:
            torch.set_num_threads(config.train.threads)
        self.data: Dataset = make_dataset(config.data)
        torch.manual_seed(config.train.seed)
        self.model: Net = build_model(config.model, self.data.input_shape, self.data.n_outputs)
        apply_init(self.model, config.init)
        self.model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, config.optim)
        self.loss_fn = _loss_fn(config)
        to = {"device": self.device}
        self.x_train = torch.as_tensor(self.data.x_train).to(**to)
        self.y_train = torch.as_tensor(self.data.y_train).to(**to)
        self.x_test = torch.as_tensor(self.data.x_test).to(**to)
        self.y_test = torch.as_tensor(self.data.y_test).to(**to)
        if self.data.task == "regression":
            self.y_train, self.y_test = self.y_train.view(-1, 1), self.y_test.view(-1, 1)
        # Batches come from their own generator so that dropout and other users of
        # the global RNG do not change the order of the data.
        self.sampler = torch.Generator().manual_seed(config.train.seed + 1)
        self._order = torch.empty(0, dtype=torch.int64)
        self._cursor = 0
        self.step_count = 0
        self.stop_reason: str | None = None
        self._interval_loss = 0.0
        self._interval_steps = 0
        self.store.clear()

    def reset(self) -> None:
        """Start over from the current config (fresh weights, data order, metrics)."""
        with self._lock:
            config = self._pending or self.config
            self._pending = None
        self._build(config)

    # ------------------------------------------------------------ changes

    def submit(self, changes: Mapping[str, Any] | ExperimentConfig) -> ExperimentConfig:
        """Queue a change for the next step; callable from any thread.

        ``changes`` is a whole config or dotted-path changes (``{"optim.lr": 0.1}``).
        The result is validated now, so a bad value raises ``ConfigError`` to the
        caller and nothing is queued.
        """
        with self._lock:
            base = self._pending or self.config
            new = changes if isinstance(changes, ExperimentConfig) else base.with_changes(changes)
            self._pending = new
        return new

    def apply_pending(self) -> ChangeReport:
        """Apply queued changes now (``step()`` does this first)."""
        with self._lock:
            new, self._pending = self._pending, None
        if new is None:
            return ChangeReport((), "none")
        report = classify_change(self.config, new)
        if report.kind == "rebuild":
            self._build(new)
        elif report.kind == "optimizer":
            self.optimizer = build_optimizer(self.params, new.optim)
            self.config = new
        else:
            apply_live(self.optimizer, new.optim)
            self.config = new
        if report.kind != "none":
            self.stop_reason = None  # a change is the user's answer to a divergence
        self.last_change = report
        return report

    # ------------------------------------------------------------ stepping

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def current_lr(self) -> float:
        return self.config.optim.lr * lr_factor(
            self.config.optim, self.config.train.steps, self.step_count
        )

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.data.batch_size
        if self._cursor + size > self._order.numel():
            self._order = torch.randperm(self.x_train.shape[0], generator=self.sampler)
            self._cursor = 0
        index = self._order[self._cursor : self._cursor + size].to(self.device)
        self._cursor += size
        return self.x_train[index], self.y_train[index]

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.train.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _forward_backward(self) -> torch.Tensor:
        """Accumulate gradients over ``accumulation`` micro-batches; mean loss."""
        accumulation = self.config.optim.accumulation
        total = torch.zeros((), device=self.device)
        for _ in range(accumulation):
            x, y = self._next_batch()
            with self._autocast():
                loss = self.loss_fn(self.model(x).float(), y)
            (loss / accumulation).backward()
            total += loss.detach()
        return total / accumulation

    def step(self) -> StepResult:
        """One optimiser step (after applying queued changes)."""
        self.apply_pending()
        if self.stop_reason is not None:
            raise TrainingStopped(self.stop_reason)
        optim = self.config.optim
        lr = self.current_lr()
        set_lr(self.optimizer, lr)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._forward_backward()
        norm = total_grad_norm(self.params)
        loss_value, grad_norm = torch.stack([loss, norm.to(loss.device)]).tolist()
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            self.stop_reason = self._divergence_reason(loss_value)
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingStopped(self.stop_reason)
        clipped = False
        if optim.clip == "norm":
            clipped = grad_norm > optim.clip_value
            if clipped:
                torch._foreach_mul_([p.grad for p in self.params if p.grad is not None],
                                    optim.clip_value / (grad_norm + 1e-6))  # fmt: skip
        elif optim.clip == "value":
            clipped = any(
                p.grad.abs().max() > optim.clip_value for p in self.params if p.grad is not None
            )
            nn.utils.clip_grad_value_(self.params, optim.clip_value)
        self.optimizer.step()
        self.step_count += 1
        self.store.append(
            "step", self.step_count, (loss_value, grad_norm, lr, float(clipped)), STEP_COLUMNS
        )
        self._interval_loss += loss_value
        self._interval_steps += 1
        if self.step_count % self.config.train.eval_every == 0:
            self.log_evaluation(lr, grad_norm)
        return StepResult(self.step_count, loss_value, grad_norm, lr, clipped)

    def _divergence_reason(self, loss_value: float) -> str:
        where = f"at step {self.step_count + 1}"
        for name, module in reversed(self.model.named_layers()):
            for pname, p in module.named_parameters():
                if p.grad is not None and not torch.isfinite(p.grad).all():
                    return (
                        f"non-finite gradient {where}: first in {name} ({pname}) in backward"
                        f" order; loss was {loss_value:g}. Lower the learning rate or clip."
                    )
        return f"non-finite loss ({loss_value:g}) {where}. Lower the learning rate or clip."

    def run(self, n: int, callback: Callable[[StepResult], None] | None = None) -> str:
        """Take up to ``n`` steps. Returns why it ended: "done", "paused" or the
        divergence reason. ``pause()`` from another thread ends it between steps."""
        self._pause.clear()
        for _ in range(n):
            if self._pause.is_set():
                return "paused"
            try:
                result = self.step()
            except TrainingStopped as exc:
                return str(exc)
            if callback is not None:
                callback(result)
        return "done"

    def pause(self) -> None:
        self._pause.set()

    # ------------------------------------------------------------ evaluation

    @torch.no_grad()
    def evaluate_split(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Mean loss and accuracy (NaN for regression) in eval mode."""
        was_training = self.model.training
        self.model.eval()
        loss_sum, correct = 0.0, 0
        try:
            for start in range(0, x.shape[0], EVAL_CHUNK):
                xb, yb = x[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
                with self._autocast():
                    out = self.model(xb).float()
                loss_sum += float(self.loss_fn(out, yb)) * xb.shape[0]
                if self.data.task == "classification":
                    correct += int((out.argmax(dim=1) == yb).sum())
        finally:
            self.model.train(was_training)
        n = x.shape[0]
        accuracy = correct / n if self.data.task == "classification" else math.nan
        return loss_sum / n, accuracy

    def evaluate(self) -> dict[str, float]:
        train_loss, train_acc = self.evaluate_split(self.x_train, self.y_train)
        test_loss, test_acc = self.evaluate_split(self.x_test, self.y_test)
        return {
            "train_loss": train_loss,
            "test_loss": test_loss,
            "train_acc": train_acc,
            "test_acc": test_acc,
        }

    def log_evaluation(
        self, lr: float | None = None, grad_norm: float = math.nan
    ) -> dict[str, float]:
        """Evaluate and append a row to the ``eval`` series (a row of metrics.csv)."""
        row = self.evaluate()
        batch_loss = (
            self._interval_loss / self._interval_steps if self._interval_steps else math.nan
        )
        self._interval_loss, self._interval_steps = 0.0, 0
        row |= {
            "lr": self.current_lr() if lr is None else lr,
            "batch_loss": batch_loss,
            "grad_norm": grad_norm,
        }
        self.store.append("eval", self.step_count, [row[c] for c in EVAL_COLUMNS], EVAL_COLUMNS)
        return row

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Model outputs (logits or values) for host inputs, in eval mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            out = self.model(torch.as_tensor(x, dtype=torch.float32, device=self.device))
        finally:
            self.model.train(was_training)
        return out.float().cpu().numpy()

    # ------------------------------------------------------------ checkpoints

    def checkpoint(self) -> dict[str, Any]:
        """Everything to resume exactly: weights, optimiser, step, RNG states.

        Only tensors and builtins, so ``torch.load(weights_only=True)`` reads it.
        A deep copy: ``state_dict()`` shares storage with the live weights.
        """
        return copy.deepcopy(
            {
                "format": 1,
                "config": self.config.to_json(),
                "step": self.step_count,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "sampler": self.sampler.get_state(),
                "order": self._order.clone(),
                "cursor": self._cursor,
                "torch_rng": torch.get_rng_state(),
            }
        )

    def load_checkpoint(self, state: Mapping[str, Any]) -> None:
        config = ExperimentConfig.from_json(state["config"])
        self._build(config)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_count = int(state["step"])
        self.sampler.set_state(state["sampler"])
        self._order, self._cursor = state["order"].clone(), int(state["cursor"])
        torch.set_rng_state(state["torch_rng"])


def steps_per_second(trainer: Trainer, n: int) -> float:
    """Run ``n`` steps and return the rate (a helper for benches and the CLI)."""
    start = time.perf_counter()
    trainer.run(n)
    return n / (time.perf_counter() - start)
