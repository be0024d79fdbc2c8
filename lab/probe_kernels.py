"""The probes' compiled CPU path, ``probe_stats.c``: a layer's output
summarised in one call as a forward hook sees it (moments, histogram,
saturation, alive units), a gradient's sum of squares, and the norms of a
list of tensors, where torch spends an op per statistic per layer.

It reads float32 tensors on the CPU (others are converted); a GPU, and a
machine without a C compiler, keep torch's path in ``probes.py``, which the
tests hold to the same independent figures.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lab import native

SOURCE = Path(__file__).with_name("probe_stats.c")
MAX_BINS = 1024  # as probe_stats.c
# what to take of a layer, as probe_stats.c's STAT_HIST, STAT_SATURATION, STAT_ALIVE
HIST, SATURATION, ALIVE = 1, 2, 4


class ProbeKernels:
    """probe_stats.c, loaded."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        pointer, int32, int64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
        self.layer_stats = lib.knoblab_layer_stats
        self.layer_stats.argtypes = [pointer, int64, int64, int64, int32, pointer, int32]
        self.layer_stats.argtypes += [pointer] * 4
        self.layer_stats.restype = ctypes.c_int
        self.add_squares = lib.knoblab_add_squares
        self.add_squares.argtypes = [pointer, int64, pointer]
        self.add_squares.restype = None
        self._norms = lib.knoblab_norms
        self._norms.argtypes = [ctypes.c_int, *[pointer] * 4]
        self._norms.restype = None
        self._param_norms = lib.knoblab_param_norms
        self._param_norms.argtypes = [ctypes.c_int, *[pointer] * 6]
        self._param_norms.restype = None

    def param_norms(
        self,
        grads: Tensors,
        weights: Tensors,
        copies: Tensors,
        sizes: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(||grad||, ||weight||) of each parameter in one pass, copying each
        weight into ``copies`` on the way; ``sizes`` (int64) their lengths."""
        count = len(sizes)
        grad_norms, weight_norms = np.empty(count), np.empty(count)
        self._param_norms(
            count, _addresses(grads), _addresses(weights), _addresses(copies),
            sizes.ctypes.data, grad_norms.ctypes.data, weight_norms.ctypes.data,
        )  # fmt: skip
        return grad_norms, weight_norms

    def norms(
        self,
        tensors: Tensors,
        minus: Tensors | None = None,
        sizes: np.ndarray | None = None,
    ) -> np.ndarray:
        """||t|| of each tensor (0 for None), or ||t - m|| pairing ``minus``.
        All float32, contiguous, on the CPU, paired tensors of equal size;
        ``sizes`` (int64), where given, their lengths."""
        if sizes is None:
            sizes = np.array([0 if t is None else t.numel() for t in tensors], dtype=np.int64)
        count = len(sizes)
        out = np.empty(count)
        pairs = None if minus is None else _addresses(minus)
        self._norms(count, _addresses(tensors), pairs, sizes.ctypes.data, out.ctypes.data)
        return out


class Accumulator:
    """Running figures of one step for a list of layers, which the kernel
    updates call by call (several forward calls with gradient accumulation):

    - ``moments`` (layers, 3): values seen, their mean, and their sum of
      squares about the mean;
    - ``hist`` (layers, bins) with HIST: counts in ``bins`` equal bins over
      the layer's range[0:2], values beyond in the edge bins;
    - ``saturated`` with SATURATION: values below range[2] or above range[3];
    - ``alive[layer]`` with ALIVE: per unit (dim 1), 1 once it gave a value > 0;
    - ``squares`` (layers, 2): the sum of squares of ``add_squares``'s tensors
      and how many there were.
    """

    def __init__(
        self,
        kernels: ProbeKernels,
        flags: Sequence[int],
        ranges: Sequence[Sequence[float]],
        bins: int,
    ) -> None:
        if not 1 <= bins <= MAX_BINS:
            raise ValueError(f"histogram bins must be 1..{MAX_BINS}, got {bins}")
        layers = len(flags)
        self.flags = list(flags)
        self.bins = bins
        self.moments = np.zeros((layers, 3))
        self.hist = np.zeros((layers, bins), dtype=np.int64)
        self.saturated = np.zeros(layers, dtype=np.int64)
        self.alive: list[np.ndarray | None] = [None] * layers
        self.squares = np.zeros((layers, 2))
        self._ranges = np.zeros((layers, 4), dtype=np.float32)
        self._ranges[:] = ranges if layers else 0.0
        self._stats = kernels.layer_stats
        self._add_squares = kernels.add_squares
        # each layer's constant arguments to the kernel: flags, range, bins, outputs
        self._args = [self._layer_args(layer, None) for layer in range(layers)]
        self._square_slots = [row.ctypes.data for row in self.squares]

    def _layer_args(self, layer: int, alive: np.ndarray | None) -> tuple:
        return (
            self.flags[layer],
            self._ranges[layer].ctypes.data,
            self.bins,
            self.moments[layer].ctypes.data,
            self.hist[layer].ctypes.data,
            self.saturated[layer:].ctypes.data,
            None if alive is None else alive.ctypes.data,
        )

    def reset(self) -> None:
        self.moments.fill(0.0)
        self.hist.fill(0)
        self.saturated.fill(0)
        self.squares.fill(0.0)
        for alive in self.alive:
            if alive is not None:
                alive.fill(0)

    def add(self, layer: int, values: torch.Tensor) -> None:
        """Fold one call's output of ``layer`` ((N, C, ...) on the CPU) in."""
        values = _readable(values)
        shape = values.shape
        if len(shape) == 2:  # (N, C): the common case, without arithmetic
            n, c, p = shape[0], shape[1], 1
        else:
            n = shape[0] if shape else 1
            c = shape[1] if len(shape) > 1 else 1
            p = values.numel() // (n * c) if n * c else 0
        args = self._args[layer]
        if self.flags[layer] & ALIVE:
            alive = self.alive[layer]
            if alive is None or len(alive) != c:  # first call (or the width changed)
                alive = self.alive[layer] = np.zeros(c, dtype=np.uint8)
                args = self._args[layer] = self._layer_args(layer, alive)
        self._stats(values.data_ptr(), n, c, p, *args)  # (its only error, bins, is checked above)

    def add_squares(self, layer: int, values: torch.Tensor) -> None:
        """Add the sum of squares of ``values`` (on the CPU) to ``layer``'s."""
        values = _readable(values)
        self._add_squares(values.data_ptr(), values.numel(), self._square_slots[layer])


def _readable(values: torch.Tensor) -> torch.Tensor:
    """``values`` as the kernel reads them: float32 and contiguous (a copy for
    bf16 under autocast, or a strided view)."""
    if values.dtype is torch.float32 and values.is_contiguous():
        return values
    return values.detach().float().contiguous()


Tensors = Sequence[torch.Tensor | None] | ctypes.Array  # tensors, or their C pointer array


def _addresses(tensors: Tensors) -> ctypes.Array:
    if isinstance(tensors, ctypes.Array):
        return tensors
    return native.pointers([None if t is None else t.data_ptr() for t in tensors])


class PointerCache:
    """The C array of some tensors' data pointers, made again only when one of
    them moved (the parameters and the probes' own buffers stay put, and
    making the array cost more than reading the pointers)."""

    def __init__(self) -> None:
        self._addresses: list[int] = []
        self._array: ctypes.Array = native.pointers([])

    def __call__(self, tensors: Sequence[torch.Tensor]) -> ctypes.Array:
        addresses = [t.data_ptr() for t in tensors]
        if addresses != self._addresses:
            self._addresses, self._array = addresses, native.pointers(addresses)
        return self._array


def usable(tensors: Sequence[torch.Tensor | None]) -> bool:
    """Whether the kernels can read these tensors as they are."""
    float32 = torch.float32  # (``is`` on the dtype and ``is_cpu``: 0.2 us a tensor, not 0.5)
    return all(
        t is None or (t.dtype is float32 and t.is_cpu and t.is_contiguous()) for t in tensors
    )


@functools.cache
def library() -> ProbeKernels | None:
    """The kernels built for this machine; None without a C compiler or with
    ``KNOBLAB_NO_FUSED`` set (torch's path then)."""
    return native.open_library(SOURCE, ProbeKernels)
