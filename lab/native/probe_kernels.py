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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from lab.native import build as native

SOURCE = Path(__file__).with_name("probe_stats.c")
MAX_BINS = 1024  # as probe_stats.c
# what to take of a layer, as probe_stats.c's STAT_HIST, STAT_SATURATION, STAT_ALIVE
HIST, SATURATION, ALIVE = 1, 2, 4
FLOAT32 = torch.float32


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
        out: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(||grad||, ||weight||) of each parameter in one pass, copying each
        weight into ``copies`` on the way; ``sizes`` (int64) their lengths;
        ``out`` (2, parameters), C-contiguous float64, receives them."""
        count = len(sizes)
        out = np.empty((2, count)) if out is None else out
        grad_norms, weight_norms = out
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
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """||t|| of each tensor (0 for None), or ||t - m|| pairing ``minus``.
        All float32, contiguous, on the CPU, paired tensors of equal size;
        ``sizes`` (int64), where given, their lengths; ``out`` (contiguous
        float64) receives the norms."""
        if sizes is None:
            sizes = np.array([0 if t is None else t.numel() for t in tensors], dtype=np.int64)
        count = len(sizes)
        out = np.empty(count) if out is None else out
        pairs = None if minus is None else _addresses(minus)
        self._norms(count, _addresses(tensors), pairs, sizes.ctypes.data, out.ctypes.data)
        return out


class Accumulator:
    """Running per-layer figures of a collection, in one row of a table of
    ``rows`` collections (kept until they are turned into metric rows
    together); the kernel updates the selected row call by call (several
    forward calls with gradient accumulation):

    - ``moments`` (rows, layers, 3): values seen, their mean, and their sum
      of squares about the mean;
    - ``hist`` (rows, layers, bins) with HIST: counts in ``bins`` equal bins
      over the layer's range[0:2], values beyond in the edge bins;
    - ``saturated`` (rows, layers) with SATURATION: values below range[2] or
      above range[3];
    - ``alive`` (rows, units of every layer seen with ALIVE, in layer order,
      laid out as ``alive_layout``) and its per-layer views ``units(layer)``:
      1 where a unit (dim 1) gave a value > 0;
    - ``squares`` (rows, layers, 2): the sum of squares of ``add_squares``'s
      tensors and how many there were.

    Without ``kernels`` it is only the tables, which torch's collector fills.
    """

    def __init__(
        self,
        kernels: ProbeKernels | None,
        flags: Sequence[int],
        ranges: Sequence[Sequence[float]],
        bins: int,
        rows: int = 1,
    ) -> None:
        if not 1 <= bins <= MAX_BINS:
            raise ValueError(f"histogram bins must be 1..{MAX_BINS}, got {bins}")
        layers = len(flags)
        self.flags = list(flags)
        self.bins = bins
        self.rows = rows
        self.moments = np.zeros((rows, layers, 3))
        self.hist = np.zeros((rows, layers, bins), dtype=np.int64)
        self.saturated = np.zeros((rows, layers), dtype=np.int64)
        self.squares = np.zeros((rows, layers, 2))
        self.alive = np.zeros((rows, 0), dtype=np.uint8)
        self.alive_layout: list[tuple[int, int]] = []  # (layer, units) of its columns
        self._widths = [0] * layers  # units of each layer's part of ``alive`` (0: none)
        self._views: list[np.ndarray | None] = [None] * layers
        self._ranges = np.zeros((layers, 4), dtype=np.float32)
        self._ranges[:] = ranges if layers else 0.0
        self._stats = None if kernels is None else kernels.layer_stats
        self._add_squares = None if kernels is None else kernels.add_squares
        # each row's and layer's constant arguments to the kernels: flags,
        # range, bins, outputs; made when first needed
        self._args: list[list[tuple] | None] = [None] * rows
        self._square_slots = [[cell.ctypes.data for cell in row] for row in self.squares]
        self._point_at(0)

    def _point_at(self, row: int) -> None:
        """Gather into ``row``: the kernels' arguments of its cells at hand."""
        self.row = row
        self._current_squares = self._square_slots[row]
        self._current_args: list[tuple] = [] if self._stats is None else self._row_args(row)

    def _layer_args(self, row: int, layer: int) -> tuple:
        units = self._views[layer]
        return (
            self.flags[layer],
            self._ranges[layer].ctypes.data,
            self.bins,
            self.moments[row, layer].ctypes.data,
            self.hist[row, layer].ctypes.data,
            self.saturated[row, layer:].ctypes.data,
            None if units is None else units[row].ctypes.data,
        )

    def _row_args(self, row: int) -> list[tuple]:
        args = self._args[row]
        if args is None:
            args = self._args[row] = [self._layer_args(row, i) for i in range(len(self.flags))]
        return args

    def select(self, row: int) -> None:
        """Clear ``row`` and gather into it from now on."""
        self._point_at(row)
        self.moments[row] = 0.0
        self.hist[row] = 0
        self.saturated[row] = 0
        self.squares[row] = 0.0
        self.alive[row] = 0

    def reset(self) -> None:
        """Clear every row; gather into the first."""
        for table in (self.moments, self.hist, self.saturated, self.squares, self.alive):
            table.fill(0)
        self._point_at(0)

    def units(self, layer: int, count: int | None = None) -> np.ndarray | None:
        """``layer``'s part of ``alive`` (rows, units); with ``count``, made
        for that many units (zeroed) when it is new or its width changed."""
        if count is not None and self._widths[layer] != count:
            self._widths[layer] = count
            views = self._views  # of the old table
            self.alive = np.zeros((self.rows, sum(self._widths)), dtype=np.uint8)
            self.alive_layout = [(i, w) for i, w in enumerate(self._widths) if w]
            self._views, start = [None] * len(self._widths), 0
            for index, width in self.alive_layout:
                view = self._views[index] = self.alive[:, start : start + width]
                if index != layer:  # the other layers' figures so far stay
                    view[:] = views[index]  # type: ignore[index]
                start += width
            self._args = [None] * self.rows  # they point at the old table
            self._point_at(self.row)
        return self._views[layer]

    def add(self, layer: int, values: torch.Tensor) -> None:
        """Fold one call's output of ``layer`` ((N, C, ...) on the CPU) into
        the selected row."""
        values = _readable(values)
        shape = values.shape
        if len(shape) == 2:  # (N, C): the common case, without arithmetic
            n, c, p = shape[0], shape[1], 1
        else:
            n = shape[0] if shape else 1
            c = shape[1] if len(shape) > 1 else 1
            p = values.numel() // (n * c) if n * c else 0
        if self._widths[layer] != c and self.flags[layer] & ALIVE:  # first call, or new width
            self.units(layer, c)
        # (the kernel's only error, bins out of range, is checked in __init__)
        self._stats(values.data_ptr(), n, c, p, *self._current_args[layer])  # type: ignore[misc]

    def add_squares(self, layer: int, values: torch.Tensor) -> None:
        """Add the sum of squares of ``values`` (on the CPU) to ``layer``'s."""
        values = _readable(values)
        self._add_squares(  # type: ignore[misc]
            values.data_ptr(), values.numel(), self._current_squares[layer]
        )

    # A hook's call is most of a probe's cost on a small layer, and a probed
    # step's Python runs cold (slower than in a loop): the hooks call these
    # per-layer sinks, which take the common case (float32, contiguous, the
    # width seen before) straight to the kernel, skipping ``add``'s general
    # path, which takes the rest.

    def adder(self, layer: int) -> Callable[[torch.Tensor], None]:
        """``add`` for ``layer``."""
        stats, general = self._stats, functools.partial(self.add, layer)
        watches_units, widths = bool(self.flags[layer] & ALIVE), self._widths

        def add(values: torch.Tensor) -> None:
            if values.dtype is FLOAT32 and values.dim() == 2 and values.is_contiguous():
                n, c = values.shape
                if c == widths[layer] or not watches_units:
                    stats(values.data_ptr(), n, c, 1, *self._current_args[layer])  # type: ignore[misc]
                    return
            general(values)

        return add

    def squares_adder(self, layer: int) -> Callable[[torch.Tensor], None]:
        """``add_squares`` for ``layer``."""
        add_squares, general = self._add_squares, functools.partial(self.add_squares, layer)

        def add(values: torch.Tensor) -> None:
            if values.dtype is FLOAT32 and values.is_contiguous():
                add_squares(values.data_ptr(), values.numel(), self._current_squares[layer])  # type: ignore[misc]
            else:
                general(values)

        return add


class ParamNorms:
    """Per-parameter figures of a probed step from the kernels, into rows of
    ``table`` (rows, 3, parameters): ||grad|| and ||w|| before the optimiser
    step, with a copy of w taken in the same pass, and ||w_before - w_after||
    after it. The C arrays of the parameters' and copies' addresses are made
    again only when a parameter moved.

    Gradients are read as the parameters are laid out: autograd gives a
    parameter's gradient its dtype, device and strides (the gradient layout
    contract), so only the parameters are checked, and a norm is the same in
    any order of a dense tensor's values."""

    def __init__(
        self, kernels: ProbeKernels, params: Sequence[torch.Tensor], table: np.ndarray
    ) -> None:
        self._kernels = kernels
        self.params = list(params)
        self.sizes = np.array([p.numel() for p in self.params], dtype=np.int64)
        assert table.shape[1:] == (3, len(self.params)) and table.flags.c_contiguous
        self._table = table
        self._addresses: list[int] | None = None
        self.usable = False
        self._params: ctypes.Array = native.pointers([])
        self._copies: ctypes.Array = native.pointers([])
        self._copy_tensors: list[torch.Tensor] = []

    def check(self) -> bool:
        """Whether the kernels read the parameters as they are now (float32,
        contiguous, on the CPU)."""
        addresses = [p.data_ptr() for p in self.params]
        if addresses != self._addresses:
            self._addresses = addresses
            self.usable = usable(self.params)
            if self.usable:
                self._copy_tensors = [torch.empty_like(p) for p in self.params]
                self._params = native.pointers(addresses)
                self._copies = native.pointers([c.data_ptr() for c in self._copy_tensors])
        return self.usable

    def _grads(self) -> ctypes.Array:
        return native.pointers(
            [None if (g := p.grad) is None else g.data_ptr() for p in self.params]
        )

    def before_step(self, row: int) -> None:
        """Into ``table[row, 0:2]``: ||grad|| (0 without one) and ||w|| of each
        parameter; w copied for ``after_step``."""
        self._kernels.param_norms(
            self._grads(), self._params, self._copies, self.sizes, out=self._table[row, :2]
        )

    def grad_norms(self) -> np.ndarray:
        return self._kernels.norms(self._grads(), sizes=self.sizes)

    def after_step(self, row: int) -> None:
        """Into ``table[row, 2]``: ||w_before - w_after|| of each parameter."""
        self._kernels.norms(self._copies, self._params, self.sizes, out=self._table[row, 2])


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
