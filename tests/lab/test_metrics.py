import numpy as np
import pytest

from lab.metrics import MetricStore, Series, series_to_csv


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
