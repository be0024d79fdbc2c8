import numpy as np
import pytest

from lab.core.config import DATASETS, DataConfig
from lab.core.config.choices import REAL_DATASETS
from lab.data import IMAGE_SIZE, examples_per_class, make_dataset


def config_for(name: str, **kw) -> DataConfig:
    classes = 3 if name in ("spirals", "circles", "gaussians", "shapes") else 2
    return DataConfig(
        name=name, n_classes=kw.pop("n_classes", classes), n_samples=kw.pop("n_samples", 400), **kw
    )


GENERATED = [name for name in DATASETS if name not in REAL_DATASETS]  # real: test_real.py


@pytest.mark.parametrize("name", GENERATED)
def test_datasets_are_deterministic_split_and_typed(name):
    config = config_for(name, test_fraction=0.25)
    a, b = make_dataset(config), make_dataset(config)
    for first, second in [(a.x_train, b.x_train), (a.y_train, b.y_train), (a.x_test, b.x_test)]:
        np.testing.assert_array_equal(first, second)
    assert len(a.x_test) == 100 and len(a.x_train) == 300
    assert a.x_train.dtype == (np.int64 if a.task == "next_token" else np.float32)
    if a.task == "next_token":
        assert a.y_train.dtype == np.int64 and a.x_train.max() < a.n_outputs
    elif a.task == "classification":
        assert a.y_train.dtype == np.int64
        counts = np.bincount(np.concatenate([a.y_train, a.y_test]), minlength=a.n_outputs)
        assert counts.min() >= 400 // a.n_outputs - 1  # balanced classes
    else:
        assert a.n_outputs == 1
    other = make_dataset(DataConfig(**{**config.__dict__, "seed": 1}))
    assert not np.array_equal(a.x_train, other.x_train)


def test_input_shapes():
    assert make_dataset(config_for("moons")).input_shape == (2,)
    assert make_dataset(config_for("regression1d")).input_shape == (1,)
    assert make_dataset(config_for("shapes")).input_shape == (1, IMAGE_SIZE, IMAGE_SIZE)


def test_noise_moves_points_and_zero_noise_does_not():
    clean = make_dataset(DataConfig(name="circles", noise=0.0, n_samples=200))
    radius = np.linalg.norm(np.concatenate([clean.x_train, clean.x_test]), axis=1)
    np.testing.assert_allclose(np.sort(np.unique(radius.round(5))), [0.5, 1.0])
    noisy = make_dataset(DataConfig(name="circles", noise=0.5, n_samples=200))
    assert np.unique(np.linalg.norm(noisy.x_train, axis=1).round(5)).size > 100


def test_xor_labels_follow_the_quadrant_without_noise():
    data = make_dataset(DataConfig(name="xor", noise=0.0, n_samples=500))
    expected = (data.x_train[:, 0] > 0) ^ (data.x_train[:, 1] > 0)
    np.testing.assert_array_equal(data.y_train, expected.astype(np.int64))


def test_shape_images_differ_by_class():
    data = make_dataset(DataConfig(name="shapes", noise=0.0, n_samples=400, n_classes=4))
    means = [data.x_train[data.y_train == c].mean(axis=0) for c in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(means[i] - means[j]).max() > 0.1


def test_examples_per_class_takes_the_first_of_each_class_in_class_order():
    y = np.array([2, 0, 1, 0, 2, 0, 1])
    x = np.arange(len(y)) * 10
    xs, ys = examples_per_class(x, y, per_class=2)
    np.testing.assert_array_equal(ys, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(xs, [10, 30, 20, 60, 0, 40])


@pytest.mark.parametrize("name", ["copy", "reverse", "sort", "induction"])
def test_symbol_tasks_ask_for_what_their_rule_says(name):
    from lab.data.sequences import IGNORE

    n = 6
    data = make_dataset(DataConfig(name=name, n_samples=50, batch_size=8, seq_len=n, vocab=7))
    rule = {"copy": lambda q: q, "reverse": lambda q: q[::-1], "sort": np.sort}
    for x, y in zip(data.x_train, data.y_train, strict=True):
        tokens = np.append(x, y[-1])  # the input, then the last target
        question = tokens[:n]
        if name == "induction":  # the sequence twice; its first repeat has no cue
            np.testing.assert_array_equal(tokens[n:], question)
            assert (y[:n] == IGNORE).all() and (y[n:] == question[1:]).all()
        else:
            assert tokens[n] == 7 and data.class_names[7] == "|"  # the separator
            np.testing.assert_array_equal(tokens[n + 1 :], rule[name](question))
            assert (y[:n] == IGNORE).all() and (y[n:] == tokens[n + 1 :]).all()


def test_chars_windows_are_the_corpus_text_shifted_by_one():
    from lab.core.assets import asset

    data = make_dataset(DataConfig(name="chars", n_samples=40, batch_size=8, seq_len=24))
    text = asset("corpus.txt").read_text(encoding="utf-8")
    chars = data.class_names
    for x, y in zip(data.x_test, data.y_test, strict=True):
        window = "".join(chars[i] for i in x) + chars[y[-1]]
        assert window in text[int(len(text) * 0.9) - 24 :]  # test windows: the text's last tenth
        np.testing.assert_array_equal(x[1:], y[:-1])
