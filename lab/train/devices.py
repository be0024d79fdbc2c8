"""Device choice: CPU always; CUDA and MPS when this machine has them."""

from __future__ import annotations

import psutil
import torch

from lab.core.config import ConfigError


def available_devices() -> list[str]:
    names = ["cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an absent device is a ConfigError."""
    available = available_devices()
    if name == "auto":
        return torch.device(available[1] if len(available) > 1 else "cpu")
    if name not in available:
        raise ConfigError(
            "train.device", f"{name!r} is not available here; available: {', '.join(available)}"
        )
    return torch.device(name)


def supports_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"


def memory_in_use(device: torch.device) -> int | None:
    """Bytes the CUDA caching allocator has handed out on ``device``; None elsewhere."""
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    return None


def process_rss() -> int | None:
    """Resident memory of this process in bytes (None where the system will not say)."""
    try:
        return int(psutil.Process().memory_info().rss)
    except psutil.Error:
        return None
