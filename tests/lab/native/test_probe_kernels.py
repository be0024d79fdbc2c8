"""probe_stats.c against numpy and torch on the same tensors: shapes that end
mid-vector and mid-block, conv maps, several calls merged, NaN and infinity;
the same figures from a build without vector instructions; and the probes
using it on the CPU (torch's path otherwise)."""

import functools
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lab.native import build as native
from lab.native import probe_kernels
from lab.probes.collectors import Collector, CompiledCollector
from lab.train.trainer import Trainer
from tests.lab.helpers import tiny_config

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler"
)
ALL = probe_kernels.HIST | probe_kernels.SATURATION | probe_kernels.ALIVE
PLAIN = ("-O2", "-mno-avx", "-shared", "-fPIC", "-std=c11")  # scalar and SSE code only


@pytest.fixture(params=["native", "plain"])
def kernels(request, tmp_path) -> probe_kernels.ProbeKernels:
    """The build the probes use, and one without AVX: plain C, same figures."""
    if request.param == "native":
        lib = probe_kernels.library()
        assert lib is not None, "the probe kernels did not build"
        return lib
    path = native.build(probe_kernels.SOURCE, tmp_path, PLAIN)
    assert path is not None
    return probe_kernels.ProbeKernels(path)


def numpy_figures(a: np.ndarray, lo: float, hi: float, bounds: tuple[float, float], bins: int):
    a64 = a.astype(np.float64)
    finite = a64[~np.isnan(a64)]
    counts, _ = np.histogram(np.clip(finite, lo, hi), bins=bins, range=(lo, hi))
    saturated = np.sum((a < bounds[0]) | (a > bounds[1]))
    alive = (a > 0).any(axis=tuple(i for i in range(a.ndim) if i != 1))
    return a64.mean(), a64.std(), counts, saturated, alive


def row(acc: probe_kernels.Accumulator, number: int = 0) -> SimpleNamespace:
    """One row of an accumulator's tables (one collection), per layer."""
    return SimpleNamespace(
        moments=acc.moments[number],
        hist=acc.hist[number],
        saturated=acc.saturated[number],
        squares=acc.squares[number],
        alive=[None if (a := acc.units(i)) is None else a[number] for i in range(len(acc.flags))],
    )


@pytest.mark.parametrize(
    "shape",
    [(256, 128), (37, 53), (5, 3, 7, 7), (2, 4, 17), (1, 1)],
    ids=["mlp", "odd", "conv", "sequence", "one"],
)
def test_layer_figures_equal_numpy(kernels, shape):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator) * 1.5 - 0.2
    acc = probe_kernels.Accumulator(kernels, [ALL], [(-1.0, 2.5, -0.9, 0.9)], 24)
    acc.add(0, x)
    mean, std, counts, saturated, alive = numpy_figures(x.numpy(), -1.0, 2.5, (-0.9, 0.9), 24)
    assert row(acc).moments[0, 0] == x.numel()
    assert row(acc).moments[0, 1] == pytest.approx(mean, rel=1e-6, abs=1e-7)
    assert np.sqrt(row(acc).moments[0, 2] / x.numel()) == pytest.approx(std, rel=1e-6)
    np.testing.assert_array_equal(row(acc).hist[0], counts)
    assert row(acc).saturated[0] == saturated
    np.testing.assert_array_equal(row(acc).alive[0], alive)


def test_calls_merge_as_one_tensor(kernels):
    """Gradient accumulation: three calls count as their concatenation, a unit
    positive in one call only is alive."""
    generator = torch.Generator().manual_seed(1)
    calls = [torch.randn(n, 16, generator=generator) for n in (7, 64, 33)]
    for number, call in enumerate(calls):
        call[:, 3] = 0.5 if number == 1 else -0.5
        call[:, 5] = 0.0  # never positive: dead
    acc = probe_kernels.Accumulator(kernels, [ALL], [(-2.0, 2.0, -1.5, 1.5)], 10)
    for call in calls:
        acc.add(0, call)
    whole = torch.cat(calls).numpy()
    mean, std, counts, saturated, alive = numpy_figures(whole, -2.0, 2.0, (-1.5, 1.5), 10)
    assert row(acc).moments[0, 1] == pytest.approx(mean, rel=1e-6, abs=1e-7)
    assert np.sqrt(row(acc).moments[0, 2] / whole.size) == pytest.approx(std, rel=1e-6)
    np.testing.assert_array_equal(row(acc).hist[0], counts)
    assert row(acc).saturated[0] == saturated
    np.testing.assert_array_equal(row(acc).alive[0], alive)
    assert row(acc).alive[0][3] and not row(acc).alive[0][5]
    acc.reset()
    assert not acc.moments.any() and not acc.hist.any() and not acc.alive.any()


@pytest.mark.parametrize("bins", [4, 40, 64, 65, 300])
def test_histograms_of_many_values_equal_numpy(kernels, bins):
    """Counts in the tens of thousands in one bin (a ReLU's zeros; a dead
    layer's), NaN, infinities and values far outside the range: more of one
    bin than the bit-sliced histogram (up to 64 bins, AVX-512) counts before
    reading out its counters."""
    generator = torch.Generator().manual_seed(bins)
    x = torch.relu(torch.randn(300, 130, generator=generator) * 2.0)
    x.view(-1)[::97] = float("nan")
    x.view(-1)[5::101] = float("inf")
    x.view(-1)[7::103] = -float("inf")
    x.view(-1)[9::89] = 1e30
    x.view(-1)[11::83] = -7.0
    acc = probe_kernels.Accumulator(kernels, [ALL], [(-0.5, 4.0, -0.1, 3.0)], bins)
    dead = torch.relu(torch.randn(400, 130, generator=generator) - 3.0)  # ~all in one bin
    acc.add(0, x)
    acc.add(0, dead)
    acc.add(0, x[:3])  # and a call too short for a vector round
    whole = torch.cat([x, dead, x[:3]]).numpy()
    with np.errstate(invalid="ignore"):  # the mean of inf and -inf
        _, _, counts, saturated, alive = numpy_figures(whole, -0.5, 4.0, (-0.1, 3.0), bins)
    assert counts.max() > 60_000 and row(acc).hist[0].sum() == counts.sum()
    np.testing.assert_array_equal(row(acc).hist[0], counts)
    assert row(acc).saturated[0] == saturated
    np.testing.assert_array_equal(row(acc).alive[0], alive)


def test_each_collection_gathers_into_its_own_row(kernels):
    """Collections wait as rows of the tables: selecting a row clears it and
    leaves the others as they were."""
    generator = torch.Generator().manual_seed(2)
    first, second = torch.randn(9, 5, generator=generator), torch.randn(4, 5, generator=generator)
    second[:, 2] = -1.0
    acc = probe_kernels.Accumulator(kernels, [ALL], [(-2.0, 2.0, -1.0, 1.0)], 6, rows=3)
    acc.add(0, first)
    acc.add_squares(0, first)
    acc.select(2)
    acc.add(0, second)
    acc.add(0, second)  # a second call merges into the same row
    for number, x in ((0, first.numpy()), (2, np.concatenate([second.numpy()] * 2))):
        mean, std, counts, saturated, alive = numpy_figures(x, -2.0, 2.0, (-1.0, 1.0), 6)
        assert row(acc, number).moments[0, 0] == x.size
        assert row(acc, number).moments[0, 1] == pytest.approx(mean, rel=1e-6, abs=1e-7)
        np.testing.assert_array_equal(row(acc, number).hist[0], counts)
        assert row(acc, number).saturated[0] == saturated
        np.testing.assert_array_equal(row(acc, number).alive[0], alive)
    assert row(acc, 0).squares[0, 0] == pytest.approx(float((first**2).sum()), rel=1e-5)
    assert not row(acc, 1).moments.any() and not row(acc, 2).squares.any()
    acc.select(0)
    assert not row(acc, 0).moments.any() and row(acc, 2).moments[0, 0] == second.numel() * 2


def test_spread_survives_a_mean_that_dwarfs_it(kernels):
    """Values near 1000 spread by 1e-3 (sigmoid outputs near 0.5 are the
    everyday case): the sum of squares is taken about the mean, and calls
    merge with Chan's update, so no cancellation."""
    generator = torch.Generator().manual_seed(3)
    calls = [1000.0 + 1e-3 * torch.rand(n, 8, generator=generator) for n in (5, 40, 21)]
    acc = probe_kernels.Accumulator(kernels, [0], [(0.0, 1.0, 0.0, 0.0)], 1)
    for call in calls:
        acc.add(0, call)
    whole = torch.cat(calls).numpy().astype(np.float64)
    assert np.sqrt(row(acc).moments[0, 2] / whole.size) == pytest.approx(whole.std(), rel=1e-3)


def test_nan_and_infinity(kernels):
    """NaN counts in no bin and keeps no unit alive; infinities land in the
    edge bins (numpy.histogram of the clipped values)."""
    x = torch.tensor([[np.nan, -np.inf, 0.5], [np.nan, np.inf, -0.5]], dtype=torch.float32)
    acc = probe_kernels.Accumulator(kernels, [ALL], [(-1.0, 1.0, -0.9, 0.9)], 4)
    acc.add(0, x)
    np.testing.assert_array_equal(row(acc).hist[0], [1, 1, 0, 2])  # 0.5 opens the last bin
    np.testing.assert_array_equal(row(acc).alive[0], [0, 1, 1])
    assert row(acc).saturated[0] == 2  # the infinities
    assert np.isnan(row(acc).moments[0, 1])


def test_strided_and_bf16_values_are_converted(kernels):
    x = torch.randn(16, 12)
    acc = probe_kernels.Accumulator(kernels, [ALL], [(-2.0, 2.0, -1.0, 1.0)], 8)
    acc.add(0, x.T)  # not contiguous
    mean, _, counts, _, alive = numpy_figures(x.T.numpy(), -2.0, 2.0, (-1.0, 1.0), 8)
    np.testing.assert_array_equal(row(acc).hist[0], counts)
    np.testing.assert_array_equal(row(acc).alive[0], alive)
    acc.add_squares(0, x.T.to(torch.bfloat16))
    expected = float(torch.sum(x.to(torch.bfloat16).float() ** 2))
    assert row(acc).squares[0, 0] == pytest.approx(expected, rel=1e-5)
    assert row(acc).squares[0, 1] == 1


def test_layer_sinks_equal_the_general_calls(kernels):
    """The hooks' per-layer sinks take float32 (N, C) tensors of a known
    width straight to the kernel and the rest through ``add``: the same
    tables either way, over a first call, a change of width, a strided
    tensor, bf16, a conv map, and rows switched between calls."""
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(32, 12, generator=generator)
    calls = [x, x[:, :7].contiguous(), x.T, x.to(torch.bfloat16), x.view(8, 3, 4, 4), x + 0.1]
    tables = []
    for sinks in (False, True):
        acc = probe_kernels.Accumulator(kernels, [ALL, 0], [(-2.0, 2.0, -1.0, 1.0)] * 2, 8, 2)
        add = acc.adder(0) if sinks else functools.partial(acc.add, 0)
        add_plain = acc.adder(1) if sinks else functools.partial(acc.add, 1)
        add_squares = acc.squares_adder(1) if sinks else functools.partial(acc.add_squares, 1)
        for number, call in enumerate(calls):
            if number == 3:
                acc.select(1)
            add(call)
            add_plain(call)
            add_squares(call)
        tables.append([acc.moments, acc.hist, acc.saturated, acc.squares, acc.alive])
    assert tables[1][4].shape == (2, 12)  # widths 12, 7, 32, 12, 3 and 12 again
    for general, sunk in zip(*tables, strict=True):
        np.testing.assert_array_equal(sunk, general)
    assert tables[0][0][:, 0, 0].sum() == sum(c.numel() for c in calls)


def test_norms_equal_torch(kernels):
    generator = torch.Generator().manual_seed(2)
    weights = [torch.randn(*s, generator=generator) for s in [(33, 7), (7,), (3000,)]]
    grads = [torch.randn_like(w) for w in weights]
    grads[1] = None  # a parameter without a gradient
    copies = [torch.empty_like(w) for w in weights]
    sizes = np.array([w.numel() for w in weights], dtype=np.int64)
    grad_norms, weight_norms = kernels.param_norms(grads, weights, copies, sizes)
    by_hand = [float(grads[0].norm()), 0.0, float(grads[2].norm())]
    np.testing.assert_allclose(grad_norms, by_hand, rtol=1e-6)
    np.testing.assert_allclose(weight_norms, [float(w.norm()) for w in weights], rtol=1e-6)
    assert all(torch.equal(c, w) for c, w in zip(copies, weights, strict=True))
    moved = [w - 0.01 * torch.randn_like(w) for w in weights]
    by_hand = [float((c - m).norm()) for c, m in zip(copies, moved, strict=True)]
    np.testing.assert_allclose(kernels.norms(copies, moved, sizes), by_hand, rtol=1e-6)
    np.testing.assert_allclose(kernels.norms(grads), grad_norms, rtol=1e-12)


def test_bins_out_of_range_are_refused():
    lib = probe_kernels.library()
    assert lib is not None
    with pytest.raises(ValueError, match="bins"):
        probe_kernels.Accumulator(lib, [ALL], [(0.0, 1.0, 0.0, 1.0)], probe_kernels.MAX_BINS + 1)


def test_cpu_probes_use_the_kernels_and_switch_off(monkeypatch):
    """CI has a compiler: the probe tests' compiled runs really are compiled;
    KNOBLAB_NO_FUSED leaves torch's path."""
    trainer = Trainer(tiny_config(**{"probes.every": 1}))
    trainer.step()
    assert isinstance(trainer.probes._collector, CompiledCollector)
    assert trainer.probes._collector._params_compiled
    monkeypatch.setenv("KNOBLAB_NO_FUSED", "1")
    probe_kernels.library.cache_clear()
    try:
        trainer = Trainer(tiny_config(**{"probes.every": 1}))
        trainer.step()
        assert type(trainer.probes._collector) is Collector  # torch's, the same interface
    finally:
        probe_kernels.library.cache_clear()
