"""The classic sets' binary formats, parsed against numpy by hand, and the
downloader against a loopback HTTP server this test starts: a good
download, a checksum failure, an interrupted one. No network."""

import gzip
import hashlib
import http.server
import io
import struct
import tarfile
import threading

import numpy as np
import pytest

from lab.core.config import DataConfig
from lab.core.errors import FileError
from lab.data import downloads, make_dataset
from lab.data.downloads import Source
from lab.data.formats import FormatError, read_cifar_archive, read_cifar_batch, read_idx
from lab.data.real import DataMissing

# ---------------------------------------------------------------- formats


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An IDX file written by hand: two zero bytes, the type, the rank, big-endian sizes."""
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_idx_files_of_every_type_read_back_the_array_written():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    assert np.array_equal(read_idx(idx_bytes(images, 0x08)), images)
    assert np.array_equal(read_idx(gzip.compress(idx_bytes(images, 0x08))), images)
    floats = rng.normal(size=(3, 2)).astype(np.float32)
    assert np.array_equal(read_idx(idx_bytes(floats, 0x0D)), floats)
    ints = rng.integers(-1000, 1000, 7).astype(np.int32)
    assert np.array_equal(read_idx(idx_bytes(ints, 0x0C)), ints)
    pixel = idx_bytes(images, 0x08)[16 + 2 * 3 + 1]  # image 0, row 2, column 1
    assert pixel == images[0, 2, 1]


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\x01\x02\x08\x01", "bad magic"), (b"\0\0\x08\x02\0\0", "cut short"),
     (bytes([0, 0, 8, 1, 0, 0, 0, 9]) + b"abc", "header says 9")],
)  # fmt: skip
def test_damaged_idx_is_refused(data, message):
    with pytest.raises(FormatError, match=message):
        read_idx(data)


def cifar_batch(labels: np.ndarray, images: np.ndarray) -> bytes:
    """Records as the CIFAR-10 page describes: a label byte, 1024 red, 1024 green, 1024 blue."""
    return b"".join(
        bytes([int(label)]) + image[0].tobytes() + image[1].tobytes() + image[2].tobytes()
        for label, image in zip(labels, images, strict=True)
    )


def test_cifar_binary_records_read_as_channel_planes():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    labels = np.array([3, 0, 9, 1])
    x, y = read_cifar_batch(cifar_batch(labels, images))
    assert np.array_equal(x, images) and np.array_equal(y, labels)
    with pytest.raises(FormatError, match="whole number of CIFAR-10 records"):
        read_cifar_batch(b"\0" * 100)


def cifar_archive(per_batch: int = 2) -> bytes:
    rng = np.random.default_rng(2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for i, name in enumerate(names):
            images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
            blob = cifar_batch(np.array([i, (i + 1) % 10][:per_batch]), images)
            member = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            member.size = len(blob)
            tar.addfile(member, io.BytesIO(blob))
        meta = "\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                          "horse", "ship", "truck"]).encode() + b"\n\n"  # fmt: skip
        member = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
        member.size = len(meta)
        tar.addfile(member, io.BytesIO(meta))
    return buffer.getvalue()


def test_the_cifar_archive_gives_both_splits_and_the_class_names():
    (x, y), (xt, yt), names = read_cifar_archive(cifar_archive())
    assert x.shape == (10, 3, 32, 32) and xt.shape == (2, 3, 32, 32)
    assert list(y) == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5] and list(yt) == [5, 6]
    assert names[0] == "airplane" and len(names) == 10


# ---------------------------------------------------------------- the downloader


class Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` by name; ``cut``: names sent only in part, then the
    connection is closed (an interrupted download)."""

    files: dict[str, bytes] = {}
    cut: set[str] = set()

    def do_GET(self):  # noqa: N802 - the http.server name
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.files:
            self.send_error(404)
            return
        data = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 3] if name in self.cut else data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("KNOBLAB_DATA_MIRROR", f"http://127.0.0.1:{httpd.server_port}/")
    monkeypatch.setenv("KNOBLAB_DATA_DIR", str(tmp_path / "cache"))
    Files.files, Files.cut = {}, set()
    yield Files
    httpd.shutdown()
    httpd.server_close()


def tiny_mnist(monkeypatch, files: dict[str, bytes], corrupt: str = "") -> None:
    """Publish small IDX files as the 'mnist' set, their true digests recorded."""
    sources = []
    for name, data in files.items():
        digest = hashlib.sha256(b"other" if name == corrupt else data).hexdigest()
        sources.append(Source(name, f"https://example.invalid/{name}", digest, len(data)))
    monkeypatch.setitem(downloads.SOURCES, "mnist", tuple(sources))


def mnist_files() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    train = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    return {
        "train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(train, 0x08)),
        "train-labels-idx1-ubyte.gz": gzip.compress(
            idx_bytes((np.arange(40) % 10).astype(np.uint8), 0x08)
        ),
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(test, 0x08)),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(
            idx_bytes((np.arange(10) % 10).astype(np.uint8), 0x08)
        ),
    }


def run(job):
    reports = []
    try:
        while True:
            reports.append(next(job))
    except StopIteration as done:
        return reports, done.value


def test_a_good_download_is_checked_moved_into_place_and_read(server, monkeypatch, tmp_path):
    files = mnist_files()
    server.files = files
    tiny_mnist(monkeypatch, files)
    config = DataConfig(name="mnist", batch_size=8)
    with pytest.raises(
        DataMissing, match="data.name: .mnist. is not downloaded yet: `knoblab data fetch mnist`"
    ):
        make_dataset(config)
    reports, folder = run(downloads.fetch("mnist"))
    assert folder == tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)  # no .part left
    assert reports[-1].fraction == 1.0 and "MiB" in reports[-1].message
    data = make_dataset(config)
    assert data.x_train.shape == (40, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    assert data.class_names == tuple(str(d) for d in range(10))


def test_a_download_with_the_wrong_checksum_is_refused_and_not_kept(server, monkeypatch):
    files = mnist_files()
    server.files = files
    tiny_mnist(monkeypatch, files, corrupt="t10k-images-idx3-ubyte.gz")
    with pytest.raises(FileError, match="t10k-images-idx3-ubyte.gz from .* has SHA-256"):
        run(downloads.fetch("mnist"))
    folder = downloads.folder("mnist")
    left = sorted(p.name for p in folder.iterdir())
    assert "t10k-images-idx3-ubyte.gz" not in left and not any(n.endswith(".part") for n in left)
    assert [s.file for s in downloads.missing("mnist")] == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]  # what was good stays: the next try fetches only the rest


def test_an_interrupted_download_leaves_no_file_and_says_where_to_put_them(server, monkeypatch):
    files = mnist_files()
    server.files = files
    server.cut = {"train-images-idx3-ubyte.gz"}
    tiny_mnist(monkeypatch, files)
    with pytest.raises(FileError) as excinfo:
        run(downloads.fetch("mnist"))
    message = str(excinfo.value)
    assert "train-images-idx3-ubyte.gz" in message and str(downloads.folder("mnist")) in message
    assert not list(downloads.folder("mnist").iterdir())


def test_a_cancelled_download_leaves_no_half_file(server, monkeypatch):
    files = mnist_files()
    server.files = files
    tiny_mnist(monkeypatch, files)
    job = downloads.fetch("mnist")
    next(job)  # the first chunk arrived
    job.close()  # what cancelling does to a job
    assert not list(downloads.folder("mnist").iterdir())


def test_offline_names_the_folder_to_put_the_files_in(monkeypatch, tmp_path):
    monkeypatch.setenv("KNOBLAB_DATA_MIRROR", "http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setenv("KNOBLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(FileError, match=r"Offline\? put train-images-idx3-ubyte.gz, .* into"):
        run(downloads.fetch("fashion_mnist"))


def test_a_hand_placed_file_that_is_not_the_published_one_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("KNOBLAB_DATA_DIR", str(tmp_path))
    files = mnist_files()
    tiny_mnist(monkeypatch, files)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data if "t10k-labels" not in name else data + b"x")
    with pytest.raises(FileError, match="not the published"):
        make_dataset(DataConfig(name="mnist", batch_size=8))
