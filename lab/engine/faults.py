"""Faults on purpose, so tests can show the window survives them: the
engine process reads ``KNOBLAB_FAULT`` once at start (``train-error``: a
training step raises; ``train-oom``: it runs out of memory the way a GPU
does). Unset, as always outside the tests, nothing happens."""

from __future__ import annotations

import os

import torch

FAULT = os.environ.get("KNOBLAB_FAULT", "")


def inject(where: str) -> None:
    place, _, what = FAULT.rpartition("-")
    if place != where:
        return
    if what == "error":
        raise RuntimeError(f"a fault injected into {where} (KNOBLAB_FAULT)")
    if what == "oom":
        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 20.00 GiB (injected: KNOBLAB_FAULT)"
        )


def release_memory() -> None:
    """After an out-of-memory: hand cached device memory back, so what comes
    next (a smaller model, a restart of the run) can have it."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if hasattr(torch, "mps") and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def after_failure(error: BaseException) -> None:
    """A job failed: if for want of memory, release what the device caches."""
    if isinstance(error, torch.OutOfMemoryError):
        release_memory()
