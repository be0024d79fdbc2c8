"""A user's own files: every format read right (checked against what the
test wrote), every bad input refused with the file, the row or entry and
what is wrong, and the file never written."""

import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from lab.core.config import DataConfig
from lab.core.errors import ConfigError, FileError, TooLarge
from lab.data import reading
from lab.data.arrays import read_arrays
from lab.data.images import read_images
from lab.data.tables import read_table
from lab.data.text import read_text
from tests.lab.helpers import tiny_config


def write(path, text: str | bytes):
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), os.stat(path).st_mtime_ns


# ---------------------------------------------------------------- tables


def test_a_csv_reads_numbers_as_they_are_text_one_hot_and_the_last_column_as_target(tmp_path):
    path = write(
        tmp_path / "t.csv",
        "size,colour,weight,kind\n1.5,red,10,cat\n2.5,blue,20,dog\n3.5,red,30,cat\n0.5,green,5,dog\n",
    )
    table = read_table(path)
    assert table.task == "classification" and table.class_names == ("cat", "dog")
    np.testing.assert_array_equal(table.target, [0, 1, 0, 1])
    assert table.feature_names == ("size", "colour=blue", "colour=green", "colour=red", "weight")
    expected = [[1.5, 0, 0, 1, 10], [2.5, 1, 0, 0, 20], [3.5, 0, 0, 1, 30], [0.5, 0, 1, 0, 5]]
    np.testing.assert_array_equal(table.features, np.array(expected, dtype=np.float32))
    assert table.columns == (
        ("size", "numeric"), ("colour", "one-hot (3)"), ("weight", "numeric"), ("kind", "target")
    )  # fmt: skip
    assert table.head[0] == ("1.5", "red", "10", "cat")


def test_the_target_column_can_be_chosen_and_decides_the_task(tmp_path):
    rows = "\n".join(f"{i},{i * 0.37:.3f},{i % 3}" for i in range(40))
    path = write(tmp_path / "t.tsv", "a\tb\tc\n" + rows.replace(",", "\t") + "\n")
    assert read_table(path).task == "classification"  # three integers: classes
    by_b = read_table(path, target="b")
    assert by_b.task == "regression" and by_b.target.dtype == np.float32
    assert by_b.feature_names == ("a", "c")
    np.testing.assert_allclose(by_b.target[:3], [0.0, 0.37, 0.74], rtol=1e-6)
    assert read_table(path, target_kind="regression").task == "regression"  # overridden


def test_missing_values_are_refused_with_row_and_column_or_imputed_when_asked(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,y\n1,2,x\n,4,y\n3,8,x\n")
    with pytest.raises(FileError, match=r"line 3, column 'a' is missing.*data.impute"):
        read_table(path)
    table = read_table(path, impute="mean")
    assert table.features[1, 0] == 2.0  # the mean of 1 and 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("a,b,y\n", "has a header but no rows"),
        ("a,b,y\n1,2,x\n3,4\n", "line 3 has 2 fields; the header has 3"),
        ("a,b,y\n1,2,x\n3,oops,y\n5,6,x\n", r"line 3, column 'b' holds 'oops', text in a numeric"),
        ("a,b,y\n1,inf,x\n3,4,y\n", r"line 2, column 'b' is 'inf', not a finite number"),
        ("a,b,y\n1,nan,x\n3,4,y\n", r"line 2, column 'b' is missing"),
        ("a,b,y\n1,2,x\n3,4,x\n", "has one class only"),
        ("y\nx\nz\n", "label-only"),
        ("a,b,y\n1,2,\n3,4,y\n", "line 2, column 'y' is missing: every row needs its target"),
    ],
)
def test_a_bad_table_is_refused_saying_where_and_what(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    before = digest(path)
    with pytest.raises(FileError, match=message) as excinfo:
        read_table(path)
    assert str(path) in str(excinfo.value)
    assert digest(path) == before  # never written


def test_a_target_that_does_not_exist_is_named_with_the_columns_there(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,y\n1,2,x\n3,4,y\n")
    with pytest.raises(
        FileError, match=r"no column 'price' \(data.target\); its columns are a, b, y"
    ):
        read_table(path, target="price")


def test_a_file_that_is_not_utf8_names_the_byte_and_line(tmp_path):
    path = write(tmp_path / "t.csv", b"a,b,y\n1,2,x\n3,4,\xff\n")
    with pytest.raises(FileError, match=r"not UTF-8 text: byte 0xff at offset 16 \(line 3\)"):
        read_table(path)


# ---------------------------------------------------------------- arrays


def test_an_npz_with_its_own_test_split_and_an_npy_table(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    xt, yt = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    np.savez(tmp_path / "a.npz", x=x, y=y, x_test=xt, y_test=yt)
    arrays = read_arrays(tmp_path / "a.npz")
    assert arrays.task == "classification" and arrays.class_names == ("0", "1", "2")
    np.testing.assert_array_equal(arrays.x, x.astype(np.float32))
    np.testing.assert_array_equal(arrays.y, y)
    assert arrays.test is not None
    np.testing.assert_array_equal(arrays.test[1], yt)
    np.save(tmp_path / "t.npy", np.column_stack([x, rng.normal(size=30)]))
    table = read_arrays(tmp_path / "t.npy")
    assert table.task == "regression" and table.x.shape == (30, 4)


def test_images_in_arrays_get_a_channel_axis_channels_last_or_not(tmp_path):
    np.savez(tmp_path / "g.npz", x=np.zeros((6, 5, 5), np.uint8), y=np.arange(6) % 2)
    assert read_arrays(tmp_path / "g.npz").x.shape == (6, 1, 5, 5)
    np.savez(tmp_path / "c.npz", x=np.zeros((6, 5, 5, 3), np.uint8), y=np.arange(6) % 2)
    assert read_arrays(tmp_path / "c.npz").x.shape == (6, 3, 5, 5)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"y": np.arange(4)}, r"has no array 'x'.*holds y"),
        ({"x": np.zeros((4, 2)), "y": np.arange(3)}, "x needs one row per example"),
        ({"x": np.array([[1.0, np.nan]] * 4), "y": np.arange(4) % 2}, r"holds nan at \[0, 1\]"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4)}, "one class only"),
        ({"x": np.array([["a", "b"]] * 4), "y": np.arange(4) % 2}, "not numbers"),
    ],
)
def test_bad_arrays_are_refused(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(FileError, match=message):
        read_arrays(tmp_path / "bad.npz")


def test_an_array_of_python_objects_is_refused_never_unpickled(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(FileError, match="never unpickles"):
        read_arrays(tmp_path / "o.npy")


def test_a_damaged_npz_is_refused(tmp_path):
    path = write(tmp_path / "d.npz", b"PK\x03\x04 not really a zip")
    with pytest.raises(FileError, match="damaged or not a numpy file"):
        read_arrays(path)


# ---------------------------------------------------------------- images


def image_folder(root, classes=("cat", "dog"), per_class=3, mode="L", size=(10, 6)):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            value = 40 * c + 10 * i
            colour = value if mode == "L" else (value, 255 - value, 7)
            Image.new(mode, size, colour).save(root / name / f"{i}.png")
    return root


def test_an_image_folder_reads_one_class_per_subfolder_resized_and_scaled(tmp_path):
    folder = image_folder(tmp_path / "pics")
    images = read_images(folder, 8, "grayscale")
    assert images.class_names == ("cat", "dog") and images.x.shape == (6, 1, 8, 8)
    np.testing.assert_array_equal(images.y, [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(images.x[4, 0], (40 + 10) / 255, atol=1e-6)  # dog, image 1
    rgb = read_images(image_folder(tmp_path / "rgb", mode="RGB"), 4, "rgb")
    assert rgb.x.shape == (6, 3, 4, 4)
    np.testing.assert_allclose(rgb.x[0, :, 0, 0], [0, 1, 7 / 255], atol=1e-6)


def test_bad_image_folders_are_refused(tmp_path):
    mixed = image_folder(tmp_path / "mixed")
    Image.new("RGB", (4, 4)).save(mixed / "dog" / "9.png")
    with pytest.raises(FileError, match=r"mixes image modes: cat/0.png is L and dog/9.png is RGB"):
        read_images(mixed, 8, "grayscale")
    broken = image_folder(tmp_path / "broken")
    write(broken / "cat" / "5.png", b"\x89PNG not an image")
    with pytest.raises(FileError, match=r"cat/5.png is not a readable image"):
        read_images(broken, 8, "grayscale")
    empty = image_folder(tmp_path / "empty")
    (empty / "bird").mkdir()
    with pytest.raises(FileError, match="class folder 'bird' holds no PNG or JPEG"):
        read_images(empty, 8, "grayscale")
    with pytest.raises(FileError, match="one class folder only"):
        read_images(image_folder(tmp_path / "one", classes=("cat",)), 8, "grayscale")


# ---------------------------------------------------------------- text


def test_a_text_file_gives_windows_over_its_own_characters(tmp_path):
    text = "the quick brown fox jumps over the lazy dog. " * 20
    path = write(tmp_path / "book.txt", text)
    config = tiny_config(
        **{"data.path": str(path), "data.name": "file", "data.seq_len": 16,
           "model.kind": "transformer", "data.n_samples": 200, "train.loss": "auto"}
    )  # fmt: skip
    from lab.data import experiment_data

    data = experiment_data(config)
    assert data.task == "next_token" and data.class_names == tuple(sorted(set(text)))
    assert data.x_train.shape == (160, 16)
    decoded = "".join(data.class_names[i] for i in data.x_train[0])
    assert decoded in text  # a window of the file itself
    np.testing.assert_array_equal(data.x_train[:, 1:], data.y_train[:, :-1])
    assert data.info is not None and data.info.text.startswith("the quick")


def test_bad_text_files_are_refused(tmp_path):
    with pytest.raises(FileError, match="is empty"):
        read_text(write(tmp_path / "e.txt", "  \n"), 8)
    with pytest.raises(FileError, match="not UTF-8 text: byte 0xe9"):
        read_text(write(tmp_path / "l.txt", "caf\xe9 ".encode("latin-1") * 100), 8)
    with pytest.raises(FileError, match="windows of 33 need at least"):
        read_text(write(tmp_path / "s.txt", "short text"), 32)


# ---------------------------------------------------------------- memory, config, fitting


def test_a_file_too_large_for_free_memory_is_refused_up_front_with_the_estimate(
    tmp_path, monkeypatch
):
    path = write(tmp_path / "big.npz", b"PK" + b"\0" * 100_000)
    monkeypatch.setattr(reading, "free_memory", lambda: 50_000)
    with pytest.raises(TooLarge, match=r"about 390.6 KiB in memory, and 48.8 KiB is free") as exc:
        read_arrays(path)
    assert exc.value.field == "data.limit" and exc.value.need == 400_008
    table = write(tmp_path / "big.csv", "a,b\n" + "1,2\n" * 5000)
    with pytest.raises(TooLarge, match=r"big.csv: its cells would take about"):
        read_table(table)


def test_config_keys_name_a_file_and_refuse_what_is_not_data():
    assert DataConfig(name="file", path="a/b.CSV", batch_size=1).file_kind == "table"
    assert DataConfig(name="file", path="pics/", batch_size=1).file_kind == "images"
    assert DataConfig(name="file", path="x.npy", batch_size=1).task == "auto"
    with pytest.raises(ConfigError, match="data.path: is empty"):
        DataConfig(name="file", batch_size=1)
    with pytest.raises(ConfigError, match=r"data.path: 'm.xlsx' has a suffix Knoblab does not"):
        DataConfig(name="file", path="m.xlsx", batch_size=1)


def test_the_model_follows_the_file_and_a_mismatch_names_the_field(tmp_path):
    from lab.data import experiment_data

    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i * 0.5}" for i in range(50))
    path = write(tmp_path / "r.csv", "a,b,price\n" + rows + "\n")
    config = tiny_config(**{"data.name": "file", "data.path": str(path), "data.batch_size": 8})
    data = experiment_data(config)
    assert data.task == "regression" and data.input_shape == (2,) and data.n_outputs == 1
    assert config.with_changes({"train.loss": "auto"}).loss_for(data.task) == "mse"
    with pytest.raises(ConfigError, match="train.loss: cross_entropy does not fit regression"):
        experiment_data(config.with_changes({"train.loss": "cross_entropy"}))
    with pytest.raises(ConfigError, match=r"data.batch_size: 64 is larger than the training set"):
        experiment_data(config.with_changes({"data.batch_size": 64}))
    with pytest.raises(
        ConfigError, match=r"model.kind: a CNN needs image data; .*r.csv is a table"
    ):
        experiment_data(config.with_changes({"model.kind": "cnn"}))
