"""The sets shipped in assets/datasets: read through the same readers as a
user's files, with the sizes, classes and features their sources give;
split, limited and standardised as the config says."""

import numpy as np
import pytest

from lab.core.assets import asset
from lab.core.config import DataConfig
from lab.data import make_dataset

SETS = {  # name: (examples, features, classes; 1 for regression)
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
    "diabetes": (442, 10, 1),
    "digits": (1797, 64, 10),
}


@pytest.mark.parametrize("name", SETS)
def test_a_shipped_set_has_its_published_size_and_splits_deterministically(name):
    examples, features, classes = SETS[name]
    config = DataConfig(name=name, batch_size=8, test_fraction=0.25)
    a, b = make_dataset(config), make_dataset(config)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert len(a.x_train) + len(a.x_test) == examples
    assert len(a.x_test) == round(examples * 0.25)
    assert int(np.prod(a.input_shape)) == features and a.n_outputs == classes
    assert a.task == ("regression" if classes == 1 else "classification")
    axes = (0, 2, 3) if a.x_train.ndim == 4 else (0,)  # images: each channel's pixels
    mean, std = a.x_train.mean(axis=axes), a.x_train.std(axis=axes)
    assert np.abs(mean).max() < 1e-4  # standardised on the training set
    assert np.abs(std - 1).max() < 1e-3
    other = make_dataset(DataConfig(name=name, batch_size=8, test_fraction=0.25, seed=1))
    assert not np.array_equal(a.y_test, other.y_test)


def test_iris_classes_and_digits_pixels_are_the_sources():
    iris = make_dataset(DataConfig(name="iris", batch_size=8, standardize=False))
    assert iris.class_names == ("setosa", "versicolor", "virginica")
    counts = np.bincount(np.concatenate([iris.y_train, iris.y_test]))
    assert list(counts) == [50, 50, 50]
    row = np.array([5.1, 3.5, 1.4, 0.2], dtype=np.float32)  # the file's first row
    x = np.concatenate([iris.x_train, iris.x_test])
    assert (np.abs(x - row).max(axis=1) < 1e-6).sum() == 1
    digits = make_dataset(DataConfig(name="digits", batch_size=8, standardize=False))
    with np.load(asset("datasets/digits.npz")) as held:
        total = held["x"].astype(np.float64).sum() / 16
    seen = np.concatenate([digits.x_train, digits.x_test]).astype(np.float64).sum()
    assert digits.input_shape == (1, 8, 8) and seen == pytest.approx(total, rel=1e-6)


def test_a_sample_limit_draws_that_many_with_the_data_seed():
    limited = make_dataset(DataConfig(name="digits", batch_size=8, limit=300))
    assert len(limited.x_train) + len(limited.x_test) == 300
    again = make_dataset(DataConfig(name="digits", batch_size=8, limit=300))
    np.testing.assert_array_equal(limited.x_test, again.x_test)
