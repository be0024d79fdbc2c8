"""Will it fit? Before a model is built for real, it is built on torch's
``meta`` device (shapes, no memory) and run on one meta batch, counting the
tensors autograd keeps for the backward pass; with the weights, their
gradients and the optimiser's state that is what training holds. A
configuration that needs more than the device has free is refused up front,
with the estimate and what is free, instead of dying mid-step. The same for
a measured decode's KV cache. (A landscape batches its grid points within a
fixed 64 MiB, ``lab.landscape.evaluator``: it needs no check of its own.)"""

from __future__ import annotations

from dataclasses import dataclass

import psutil
import torch

from lab.core.config import ExperimentConfig
from lab.core.errors import TooLarge
from lab.core.kv import token_bytes
from lab.core.protocol import DecodeKV
from lab.core.units import size
from lab.data import Dataset
from lab.models import build_model

HEADROOM = 0.9  # of the free memory a run may plan to use
GIB = 2**30


@dataclass(frozen=True)
class Estimate:
    parameters: int  # how many
    weights: int  # bytes: weights and their gradients
    optimizer: int  # the optimiser's state
    activations: int  # saved for the backward pass of one (micro-)batch
    data: int  # the dataset's tensors on the device

    @property
    def total(self) -> int:
        return self.weights + self.optimizer + self.activations + self.data

    def words(self) -> str:
        parts = (
            ("weights and gradients", self.weights),
            ("optimiser state", self.optimizer),
            ("activations of a batch", self.activations),
            ("data", self.data),
        )
        return ", ".join(f"{what} {size(n)}" for what, n in parts)


OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "rmsprop": 1, "adagrad": 1}  # tensors per weight


def estimate(config: ExperimentConfig, data: Dataset) -> Estimate:
    with torch.device("meta"):
        model = build_model(config.model, data.input_shape, data.n_outputs)
    n = sum(p.numel() for p in model.parameters())
    optim = config.optim
    states = OPTIMIZER_STATES.get(optim.name, 1 if optim.momentum > 0 else 0)
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    tokens = data.x_train.dtype.kind in "iu"
    batch = torch.empty(
        (config.data.batch_size, *data.input_shape),
        dtype=torch.int64 if tokens else torch.float32,
        device="meta",
    )
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(batch)
    arrays = (data.x_train, data.y_train, data.x_test, data.y_test)
    return Estimate(
        parameters=n,
        weights=2 * 4 * n,
        optimizer=states * 4 * n,
        activations=saved,
        data=sum(a.nbytes for a in arrays),
    )


def free_bytes(device: torch.device) -> int:
    """What the device can still give: CUDA's free memory, else the host's available."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return int(psutil.virtual_memory().available)


def check_fits(config: ExperimentConfig, data: Dataset, device: torch.device) -> Estimate:
    """The estimate, or ``TooLarge`` when it does not fit: naming the batch
    size when a batch's activations are most of it, else the model."""
    need = estimate(config, data)
    free = free_bytes(device)
    if need.total > HEADROOM * free:
        field = "data.batch_size" if need.activations > need.total / 2 else "model"
        raise TooLarge(
            field,
            f"training this needs about {size(need.total)} on {device} ({need.words()});"
            f" {size(free)} is free. Make the model, the batch or the context smaller.",
            need.total,
            free,
        )
    return need


def check_cache_fits(model: torch.nn.Module, request: DecodeKV, device: torch.device) -> int:
    """The cache's bytes at the longest length, or ``TooLarge`` when the
    device has not that much free (with the estimate and what is free)."""
    t = model.config  # type: ignore[union-attr]
    end = request.tokens or t.context
    per_token = token_bytes(t.kv_heads, t.shape().head_dim, request.dtype)
    need = t.layers * request.batch * end * per_token
    free = free_bytes(device)
    if need > HEADROOM * free:
        raise TooLarge(
            "batch",
            f"a cache of {request.batch} x {end} tokens needs {size(need)} on {device};"
            f" {size(free)} is free. Decode fewer sequences or fewer tokens.",
            need,
            free,
        )
    return need
