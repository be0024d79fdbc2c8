import numpy as np
import pytest

from lab.core.metrics import MetricStore, Series, series_to_csv


def test_a_million_rows_stay_within_capacity():
    series = Series(("loss",), capacity=1024)
    for step in range(1, 1_000_001):
        series.append(step, (step,))
    assert len(series) <= 1024
    assert series.nbytes() == 1024 * 8 * 2  # fixed at construction
    steps = series.steps
    assert steps[0] == 1
    assert steps[-1] > 1_000_000 - series.stride  # reaches the end
    assert len(set(np.diff(steps))) == 1  # evenly spaced
    np.testing.assert_array_equal(series.column("loss"), steps)  # rows stay paired
    assert series.latest_step == 1_000_000


def test_decimation_keeps_every_other_row():
    series = Series(("v",), capacity=4)
    for step in range(10):
        series.append(step, (float(step),))
    np.testing.assert_array_equal(series.steps, [0, 4, 8])
    assert series.stride == 4


def test_store_round_trips_through_npz_arrays():
    store = MetricStore(capacity=8)
    for step in range(20):
        store.append("eval", step, {"loss": step * 0.5, "acc": np.nan})
    again = MetricStore.from_npz_dict(store.to_npz_dict(), capacity=8)
    np.testing.assert_array_equal(again["eval"].steps, store["eval"].steps)
    np.testing.assert_array_equal(again["eval"].values, store["eval"].values)
    assert again["eval"].columns == ("loss", "acc")


def test_csv_writes_nan_as_empty():
    series = Series(("a", "b"), capacity=4)
    series.append(5, (1.5, np.nan))
    assert series_to_csv(series) == "step,a,b\n5,1.5,\n"


def test_wrong_row_width_is_refused():
    with pytest.raises(ValueError, match="expected 2 values"):
        Series(("a", "b")).append(0, (1.0,))


@pytest.mark.parametrize("capacity", [2, 4, 16])
def test_extend_keeps_the_rows_appending_one_by_one_keeps(capacity):
    """Batches of any size, across any number of thinnings: the same rows, the
    same stride and the same latest row as one append per row."""
    rng = np.random.default_rng(capacity)
    one_by_one, batched = Series(("a", "b"), capacity), Series(("a", "b"), capacity)
    step = 0
    for size in rng.integers(0, 40, size=60):
        steps = np.arange(step, step + size)
        rows = rng.normal(size=(size, 2))
        for s, row in zip(steps, rows, strict=True):
            one_by_one.append(int(s), row)
        batched.extend(steps, rows)
        step += size
        np.testing.assert_array_equal(batched.steps, one_by_one.steps)
        np.testing.assert_array_equal(batched.values, one_by_one.values)
        assert batched.stride == one_by_one.stride
        assert batched.latest_step == one_by_one.latest_step
        np.testing.assert_array_equal(batched.latest, one_by_one.latest)
    assert one_by_one.stride > 1  # thinned along the way


def test_extend_refuses_a_wrong_width():
    with pytest.raises(ValueError, match="expected 2 values"):
        Series(("a", "b")).extend([1, 2], np.zeros((2, 3)))


def test_rows_held_back_are_written_before_any_read():
    store = MetricStore()
    held = []

    def flush() -> None:
        store.extend("probe/x", [s for s, _ in held], np.array([[v] for _, v in held]), ("v",))
        held.clear()

    for step in range(3):
        held.append((step, float(step)))
        store.defer(flush)  # deferred once, however often
    assert store._deferred == [flush]
    store.append("step", 5, (1.0,))  # writing does not flush
    assert held
    assert "probe/x" in store and len(held) == 0
    np.testing.assert_array_equal(store["probe/x"].steps, [0, 1, 2])
    held.append((9, 9.0))
    store.defer(flush)
    store.clear()  # what was held belongs to what is cleared
    assert "probe/x" not in store.series


def test_drop_removes_the_series_under_a_prefix_after_held_rows_are_in():
    store = MetricStore()
    store.append("probe/hist/layer1", 1, (1.0, 2.0), ("bin0", "bin1"))
    store.append("probe/histogram_note", 1, (1.0,))
    store.append("loss", 1, (0.5,))
    store.defer(lambda: store.append("probe/hist/layer2", 2, (3.0, 4.0), ("bin0", "bin1")))
    store.drop("probe/hist/")  # the held-back layer2 rows are written first, then dropped
    assert sorted(store.series) == ["loss", "probe/histogram_note"]
