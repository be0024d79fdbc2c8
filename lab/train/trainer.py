"""The training session: build from a config, step, run, reset, and take
config changes from any thread between steps (what each change takes:
``lab.core.changes``).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.core import wire
from lab.core.changes import ChangeReport, classify_change
from lab.core.config import ConfigError, ExperimentConfig
from lab.core.errors import FileError
from lab.core.metrics import MetricStore
from lab.core.protocol import ChangeKind
from lab.core.schedule import lr_factor
from lab.data import Dataset, experiment_data
from lab.models import Net, build_model
from lab.probes import Probes
from lab.train.allocator import keep_freed_memory
from lab.train.batches import Batches
from lab.train.budget import check_fits
from lab.train.devices import resolve_device, supports_bf16
from lab.train.init import init_model
from lab.train.optim import apply_live, build_optimizer, set_lr
from lab.train.task import Classification, Task, make_task
from lab.train.trajectory import Trajectory

CHECKPOINT_FORMAT = 1
# Rows per evaluation forward pass: small enough for activations to stay in
# cache (a pass over 4096 rows spills it); for token sequences, tokens per
# pass (a pass per few short sequences is all overhead).
EVAL_CHUNK = 1024
EVAL_TOKENS = 16384
NO_CHANGE = ChangeReport((), ChangeKind.NONE)


class TrainingStopped(RuntimeError):
    """Raised by ``step()`` while the session is stopped (divergence)."""


@dataclass(frozen=True)
class StepResult:
    step: int  # number of optimiser steps taken so far (1 after the first)
    loss: float
    grad_norm: float  # global L2 norm before clipping; NaN when not measured this step
    lr: float
    clipped: bool


def evaluation_due(step: int, every: int) -> bool:
    """Every ``every`` steps, and more often early, where the loss moves
    fastest and a person first looks: at steps 1, 2, 4, 8, ... below ``every``."""
    return step % every == 0 or (step < every and step & (step - 1) == 0)


def total_grad_norm(params: list[nn.Parameter]) -> torch.Tensor:
    """Global L2 norm of all gradients, as clip_grad_norm_ computes it."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
    def __init__(self, config: ExperimentConfig, *, store: MetricStore | None = None) -> None:
        self.store = store if store is not None else MetricStore()
        self._lock = threading.Lock()
        self._pending: ExperimentConfig | None = None
        self.last_change = NO_CHANGE
        self._build(config)

    # ------------------------------------------------------------ building

    def _build(self, config: ExperimentConfig) -> None:
        # what can refuse the config comes first: a refusal leaves the trainer as it was
        device = resolve_device(config.train.device)
        if config.train.precision == "bf16" and not supports_bf16(device):
            raise ConfigError("train.precision", f"bf16 is not supported on {device}")
        data = experiment_data(config)
        check_fits(config, data, device)  # refused up front, with the estimate
        self.config, self.device = config, device
        self.data: Dataset = data
        if config.train.threads:
            torch.set_num_threads(config.train.threads)
        keep_freed_memory()  # probes and landscapes hold tensors across a step
        torch.manual_seed(config.train.seed)
        self.model: Net = build_model(config.model, self.data.input_shape, self.data.n_outputs)
        init_model(self.model, config)
        self.model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, config.optim)
        self._lr_in_groups = config.optim.lr
        self.probes = Probes(self.model, config.probes, self.store)
        self.path = Trajectory(self.model)
        self.task: Task = make_task(config, self.data.n_outputs, self.data.task)
        to = {"device": self.device}
        self.x_train = torch.as_tensor(self.data.x_train).to(**to)
        self.y_train = self.task.targets(torch.as_tensor(self.data.y_train).to(**to))
        self.x_test = torch.as_tensor(self.data.x_test).to(**to)
        self.y_test = self.task.targets(torch.as_tensor(self.data.y_test).to(**to))
        # evaluated in one pass: both splits, or the first ``eval_limit`` of each
        limit = self.task.eval_limit
        self.n_eval_train = min(len(self.x_train), limit or len(self.x_train))
        n_eval_test = min(len(self.x_test), limit or len(self.x_test))
        self.x_all = torch.cat([self.x_train[: self.n_eval_train], self.x_test[:n_eval_test]])
        self.y_eval = (self.y_train[: self.n_eval_train], self.y_test[:n_eval_test])
        self._found_inf: torch.Tensor | None = torch.zeros(1, device=self.device)
        self._one = torch.ones(1, device=self.device)
        self.batches = Batches(self.x_train, self.y_train, config.train.seed + 1)
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

    def apply_pending(self, before_rebuild: Callable[[], None] | None = None) -> ChangeReport:
        """Apply queued changes now (``step()`` does this first); what they
        took is classified here, once. ``before_rebuild`` runs first when
        they start the experiment over (the engine keeps the run for Undo)."""
        if self._pending is None:  # an attribute read is atomic: no lock needed to look
            return NO_CHANGE
        with self._lock:
            new, self._pending = self._pending, None
        if new is None:
            return NO_CHANGE
        report = classify_change(self.config, new)
        if report.kind == ChangeKind.REBUILD:
            if before_rebuild is not None:
                before_rebuild()
            self._build(new)
        else:
            if report.kind == ChangeKind.OPTIMIZER:
                self.optimizer = build_optimizer(self.params, new.optim)
            else:
                apply_live(self.optimizer, new.optim)
            new.check_task(self.data.task)  # a loss that does not fit a file's target
            old, self.config = self.config, new
            self.task = make_task(
                new, self.data.n_outputs, self.data.task
            )  # label smoothing is live
            if any(f.startswith("probes.") for f in report.fields):
                self.probes.detach()
                self.probes.flush()  # its pending collections, into the store
                self.probes = Probes(self.model, new.probes, self.store)
                if old.probes.binning != new.probes.binning:  # histograms binned the old way go
                    self.store.drop(wire.PROBE_HIST)
        self._lr_in_groups = new.optim.lr  # what build_optimizer/apply_live wrote
        if report.kind != ChangeKind.NONE:
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

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.train.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _forward_backward(self) -> torch.Tensor:
        """Accumulate gradients over ``accumulation`` micro-batches; mean loss."""
        accumulation = self.config.optim.accumulation
        losses = []
        for _ in range(accumulation):
            x, y = self.batches.next(self.config.data.batch_size)
            with self._autocast():
                loss = self.task.loss(self.model(x), y)
            (loss / accumulation if accumulation > 1 else loss).backward()
            losses.append(loss.detach())
        return losses[0] if accumulation == 1 else torch.stack(losses).mean()

    def step(self) -> StepResult:
        """One optimiser step (after applying queued changes)."""
        self.apply_pending()
        if self.stop_reason is not None:
            raise TrainingStopped(self.stop_reason)
        optim = self.config.optim
        lr = self.current_lr()
        if lr != self._lr_in_groups:
            set_lr(self.optimizer, lr)
            self._lr_in_groups = lr
        if not self.model.training:  # train() walks every module: only when needed
            self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        probing = self.probes.wants(self.step_count + 1)
        if probing:
            self.probes.begin()
        try:
            loss = self._forward_backward()
        except BaseException:
            self.probes.detach()
            raise
        # The global grad norm costs three ops; it is measured when clipping needs
        # it, on evaluation and on probe steps. Others check finiteness with one op.
        measure = (
            probing
            or optim.clip == "norm"
            or evaluation_due(self.step_count + 1, self.config.train.eval_every)
        )
        loss_value = loss.item()
        # Probes take every parameter's grad norm anyway; the global norm follows.
        per_param = self.probes.after_backward() if probing else None
        if measure:
            norm = (
                total_grad_norm(self.params)
                if per_param is None
                else torch.linalg.vector_norm(per_param)
            )
            grad_norm = norm.item()
            finite = math.isfinite(loss_value) and math.isfinite(grad_norm)
        else:
            bad_grads = self._nonfinite_grads().item()
            finite, grad_norm = math.isfinite(loss_value) and not bad_grads, math.nan
        if not finite:
            self.probes.detach()
            self.stop_reason = self._divergence_reason(loss_value)
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingStopped(self.stop_reason)
        clipped = self.clip_gradients(optim.clip, optim.clip_value, grad_norm)
        if probing:
            self.probes.after_clip(clipped)
        self.optimizer.step()
        self.step_count += 1
        if probing:
            self.probes.finish(self.step_count)
        self.path.after_step(self.step_count)
        self.store.append(
            wire.STEP, self.step_count, (loss_value, lr, float(clipped)), wire.STEP_COLUMNS
        )
        if measure:
            self.store.append(wire.GRAD_NORM, self.step_count, (grad_norm,), ("grad_norm",))
        self._interval_loss += loss_value
        self._interval_steps += 1
        if evaluation_due(self.step_count, self.config.train.eval_every):
            self.log_evaluation(lr, grad_norm)
        return StepResult(self.step_count, loss_value, grad_norm, lr, clipped)

    def clip_gradients(self, mode: str, tau: float, grad_norm: float) -> bool:
        """Clip the gradients in place: by their global norm (``grad_norm``,
        measured) down to ``tau``, or each element to [-tau, tau]. Whether
        clipping changed anything."""
        if mode == "norm":
            if grad_norm > tau:
                torch._foreach_mul_(
                    [p.grad for p in self.params if p.grad is not None], tau / (grad_norm + 1e-6)
                )
                return True
        elif mode == "value":
            clipped = any(p.grad.abs().max() > tau for p in self.params if p.grad is not None)
            nn.utils.clip_grad_value_(self.params, tau)
            return clipped
        return False

    def _nonfinite_grads(self) -> torch.Tensor:
        """1.0 if any gradient holds NaN/Inf, else 0.0, in one fused op where torch
        has it (the check GradScaler uses); the grad norm otherwise."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if self._found_inf is not None:
            try:
                self._found_inf.zero_()
                torch._amp_foreach_non_finite_check_and_unscale_(grads, self._found_inf, self._one)
                return self._found_inf[0]
            except (RuntimeError, NotImplementedError):
                self._found_inf = None  # not on this device: fall back for good
        return (~torch.isfinite(total_grad_norm(self.params))).float()

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
        """Take up to ``n`` steps. Returns why it ended: "done" or the
        divergence reason."""
        for _ in range(n):
            try:
                result = self.step()
            except TrainingStopped as exc:
                return str(exc)
            if callback is not None:
                callback(result)
        return "done"

    # ------------------------------------------------------------ evaluation

    def evaluate(self) -> dict[str, float]:
        """Mean loss and accuracy (NaN for regression) on the whole train and test
        sets, in eval mode: one forward pass over both."""
        return self._evaluate()[0]

    @torch.no_grad()
    def _evaluate(self) -> tuple[dict[str, float], torch.Tensor]:
        """``evaluate``'s row, and the test set's outputs."""
        was_training = self.model.training
        self.model.eval()
        tokens = self.x_all.dtype == torch.int64 and self.x_all.dim() == 2
        rows = max(1, EVAL_TOKENS // self.x_all.shape[1]) if tokens else EVAL_CHUNK
        try:
            outputs = [
                self.model(self.x_all[i : i + rows]) for i in range(0, len(self.x_all), rows)
            ]
        finally:
            self.model.train(was_training)
        out = torch.cat(outputs).float()
        n_train = self.n_eval_train
        row = {}
        for split, outputs, target in (
            ("train", out[:n_train], self.y_eval[0]),
            ("test", out[n_train:], self.y_eval[1]),
        ):
            row[f"{split}_loss"], row[f"{split}_acc"] = self.task.scores(outputs, target)
        return row, out[n_train:]

    def log_evaluation(
        self, lr: float | None = None, grad_norm: float = math.nan
    ) -> dict[str, float]:
        """Evaluate and append a row to the ``eval`` series (a row of metrics.csv);
        for classifiers, the test set's confusion counts too."""
        row, test_out = self._evaluate()
        task = self.task
        if isinstance(task, Classification) and len(self.y_test):
            counts = task.confusion(test_out, self.y_eval[1])
            self.store.append(wire.CONFUSION, self.step_count, counts, task.confusion_columns())
        batch_loss = (
            self._interval_loss / self._interval_steps if self._interval_steps else math.nan
        )
        self._interval_loss, self._interval_steps = 0.0, 0
        row |= {
            "lr": self.current_lr() if lr is None else lr,
            "batch_loss": batch_loss,
            "grad_norm": grad_norm,
        }
        self.store.append(
            wire.EVAL, self.step_count, [row[c] for c in wire.EVAL_COLUMNS], wire.EVAL_COLUMNS
        )
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
                "format": CHECKPOINT_FORMAT,
                "config": self.config.to_json(),
                "step": self.step_count,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                **self.batches.state(),
                "torch_rng": torch.get_rng_state(),
            }
        )

    def load_checkpoint(
        self, state: Mapping[str, Any], config: ExperimentConfig | None = None
    ) -> None:
        """``config``: the run's, where it differs from the checkpoint's (its
        data file picked again at another path)."""
        self._build(config or ExperimentConfig.from_json(state["config"]))
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:  # a data file that changed shape since
            raise FileError(
                "the run's weights do not fit the model its data gives now (a data file with"
                f" other columns or classes?): {str(exc).splitlines()[0]}"
            ) from exc
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_count = int(state["step"])
        self.batches.load_state(state)
        # Without the saved path (``path.restore``), the path starts here.
        self.path = Trajectory(self.model, self.step_count)
        torch.set_rng_state(state["torch_rng"])
