"""A fused forward pass of plain MLPs at many parameter points: the loss
landscape's hot loop for the models a ``Plan`` can describe
(``lab.landscape.evaluator.fused_plan_for`` makes one from a model).

``fused_mlp.c`` carries a tile of samples through every layer while it stays
in the L1 cache and applies bias and activation in the registers; torch's
batched GEMMs cannot fuse those, and each pass over the activations between
them leaves the cache. It is built on first use with the machine's C compiler
(``-O3 -march=native``), cached under the user cache directory, and loaded
with ctypes; without a compiler or a vector unit it knows (AVX2 or AVX-512),
``library()`` is None and the landscape keeps torch's batched path. Tests
check it against a one-point-at-a-time torch loop.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from lab.native import build as native

SOURCE = Path(__file__).with_name("fused_mlp.c")
FLAGS = native.FLAGS
PAD = 16  # output widths are padded to this (a multiple of every vector width)
# activation kinds, as fused_mlp.c's ACT_NONE, ACT_RELU, ACT_LEAKY
NONE, RELU, LEAKY = 0, 1, 2

Params = dict[str, torch.Tensor]


class FusedLibrary:
    """The compiled kernel, loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lib = ctypes.CDLL(str(path))
        self.vector_width = int(lib.knoblab_vector_width())
        self._forward = lib.knoblab_mlp_forward
        pointer = ctypes.c_void_p
        self._forward.argtypes = [ctypes.c_int] * 4 + [pointer] * 5 + [ctypes.c_long]
        self._forward.argtypes += [ctypes.c_int, pointer, pointer, pointer, ctypes.c_int]
        self._forward.restype = ctypes.c_int

    def forward(
        self, layout: Layout, x: torch.Tensor, packed: torch.Tensor, coords: torch.Tensor | None,
        out: torch.Tensor, p0: int, p1: int,
    ) -> None:  # fmt: skip
        """Points [p0, p1): rows of ``packed``, or (``coords`` given) packed[0]
        + coords @ packed[1:], formed point by point in the kernel."""
        dirs = 0 if coords is None else coords.shape[1]
        status = self._forward(
            p0, p1, x.shape[0], len(layout.widths) - 1, layout.c_widths, layout.c_acts,
            layout.c_slopes, x.data_ptr(), packed.data_ptr(), packed.shape[1], dirs,
            packed[1:].data_ptr() if dirs else None, coords.data_ptr() if dirs else None,
            out.data_ptr(), out.shape[2],
        )  # fmt: skip
        if status != 0:
            raise RuntimeError(f"the fused MLP kernel failed (status {status})")


def build(directory: Path, flags: Sequence[str] = native.FLAGS) -> Path | None:
    """Compile ``fused_mlp.c`` into ``directory`` (see ``native.build``)."""
    return native.build(SOURCE, directory, flags)


@functools.cache
def library() -> FusedLibrary | None:
    """The kernel built for this machine, or None where it cannot be (no
    compiler, no known vector unit, or ``KNOBLAB_NO_FUSED`` set)."""
    loaded = native.open_library(SOURCE, FusedLibrary)
    return loaded if loaded is not None and loaded.vector_width > 0 else None


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Plan:
    """A ``lab.models.Net`` MLP the kernel can run: Linear layers, each
    followed by ReLU, LeakyReLU or nothing (no norm, no residual; dropout is
    off in eval mode), then the Linear head."""

    weights: tuple[str, ...]  # parameter names of each layer's weight, input to head
    biases: tuple[str | None, ...]
    acts: tuple[tuple[int, float], ...]  # (kind, slope) after each layer; the head's is none


class Layout:
    """Where each layer's W^T and bias sit in a point's packed row: widths
    padded to a multiple of 16, the padding zero."""

    def __init__(self, plan: Plan, in_width: int, outputs: Sequence[int]) -> None:
        padded = [-(-n // PAD) * PAD for n in outputs]
        self.widths = [in_width, *padded]
        self.offsets = []
        offset = 0
        for k, n in zip(self.widths[:-1], self.widths[1:], strict=True):
            self.offsets.append(offset)
            offset += k * n + n
        self.stride = offset
        self.outputs = outputs[-1]
        self.c_widths = (ctypes.c_int * len(self.widths))(*self.widths)
        self.c_acts = (ctypes.c_int * len(plan.acts))(*(kind for kind, _ in plan.acts))
        self.c_slopes = (ctypes.c_float * len(plan.acts))(*(slope for _, slope in plan.acts))


def pack(plan: Plan, stacked: Params, in_width: int) -> tuple[Layout, torch.Tensor]:
    """Each point's weights (transposed) and biases in the kernel's layout:
    (points, stride), contiguous."""
    outputs = [stacked[name].shape[1] for name in plan.weights]
    layout = Layout(plan, in_width, outputs)
    points = stacked[plan.weights[0]].shape[0]
    packed = torch.zeros(points, layout.stride)
    for index, (weight_name, bias_name) in enumerate(zip(plan.weights, plan.biases, strict=True)):
        k, n = layout.widths[index], layout.widths[index + 1]
        start = layout.offsets[index]
        weight = stacked[weight_name]  # points x outputs x inputs
        block = packed[:, start : start + k * n].view(points, k, n)
        block[:, : weight.shape[2], : weight.shape[1]].copy_(weight.transpose(1, 2))
        if bias_name is not None:
            bias = stacked[bias_name]
            packed[:, start + k * n : start + k * n + bias.shape[1]].copy_(bias)
    return layout, packed


@contextlib.contextmanager
def torch_single_threaded() -> Iterator[int]:
    """Torch on one thread while the kernel runs on its own threads, yielding
    torch's thread count: after a parallel torch op, OpenMP's idle threads
    spin for a while, and on a machine with few cores they take a core from
    the kernel."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="fused")
    return _pool


def run(
    layout: Layout,
    x: torch.Tensor,
    packed: torch.Tensor,
    *,
    coords: torch.Tensor | None = None,
    threads: int = 1,
    lib: FusedLibrary | None = None,
) -> torch.Tensor:
    """The model's outputs, (points, outputs, samples), at each row of
    ``packed`` or (``coords``, points x directions) at packed[0] + coords @
    packed[1:]; the points split between ``threads`` threads (ctypes lets go
    of the GIL while the kernel runs); ``lib``: another build than this
    machine's own (tests)."""
    lib = lib or library()
    assert lib is not None
    x = x.contiguous()
    if coords is not None:
        coords = coords.to(torch.float32).contiguous()
    # the kernel reads raw memory: refuse what it would misread
    for tensor in (x, packed) if coords is None else (x, packed, coords):
        if tensor.dtype != torch.float32 or tensor.device.type != "cpu":
            raise ValueError(f"the fused MLP pass takes fp32 CPU tensors, not {tensor.dtype}")
    if not packed.is_contiguous() or packed.shape[1] != layout.stride:
        raise ValueError("packed points do not have the layout's shape")
    if coords is not None and packed.shape[0] != 1 + coords.shape[1]:
        raise ValueError(f"{coords.shape[1]} coordinates need an origin and as many directions")
    if x.shape[1] != layout.widths[0]:
        raise ValueError(
            f"inputs have {x.shape[1]} features, the first layer takes {layout.widths[0]}"
        )
    points = packed.shape[0] if coords is None else coords.shape[0]
    out = torch.empty(points, x.shape[0], layout.outputs)
    threads = max(1, min(threads, points))
    bounds = [points * i // threads for i in range(threads + 1)]
    jobs = [
        _threads().submit(lib.forward, layout, x, packed, coords, out, bounds[i], bounds[i + 1])
        for i in range(1, threads)
    ]
    lib.forward(layout, x, packed, coords, out, bounds[0], bounds[1])
    for job in jobs:
        job.result()
    return out.transpose(1, 2)
