"""The original binary formats of the classic image sets, parsed with numpy
(never unpickled): IDX (MNIST, Fashion-MNIST) and CIFAR-10's binary version."""

from __future__ import annotations

import gzip
import io
import tarfile

import numpy as np

# IDX type codes: http://yann.lecun.com/exdb/mnist/ (big-endian throughout)
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CIFAR_SIDE = 32
CIFAR_RECORD = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE  # a label byte, then R, G and B planes
CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST = "test_batch.bin"


class FormatError(ValueError):
    """Bytes that are not what their format says."""


def read_idx(data: bytes) -> np.ndarray:
    """An IDX file's array (gzip-compressed or not)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_TYPES:
        raise FormatError("not an IDX file (bad magic number)")
    ndim = data[3]
    head = 4 + 4 * ndim
    if ndim == 0 or len(data) < head:
        raise FormatError("an IDX header cut short")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - head != expected:
        raise FormatError(f"IDX data of {len(data) - head} bytes; its header says {expected}")
    return np.frombuffer(data, dtype, offset=head).reshape(shape).astype(dtype.newbyteorder("="))


def read_cifar_batch(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 3, 32, 32) uint8 and labels of one CIFAR-10 binary batch."""
    if len(data) == 0 or len(data) % CIFAR_RECORD:
        raise FormatError(f"{len(data)} bytes is not a whole number of CIFAR-10 records")
    records = np.frombuffer(data, np.uint8).reshape(-1, CIFAR_RECORD)
    images = records[:, 1:].reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE)
    return images.copy(), records[:, 0].astype(np.int64)


def read_cifar_archive(
    data: bytes,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str]]:  # noqa: E501
    """Train and test splits and the class names of ``cifar-10-binary.tar.gz``.
    Members are read by name from the archive; nothing is extracted to disk."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FormatError(f"not a gzip tar archive ({exc})") from exc
    with archive:
        members = {m.name.rsplit("/", 1)[-1]: m for m in archive.getmembers() if m.isfile()}

        def read(name: str) -> bytes:
            if name not in members:
                raise FormatError(f"the archive has no {name}")
            handle = archive.extractfile(members[name])
            assert handle is not None
            return handle.read()

        batches = [read_cifar_batch(read(name)) for name in CIFAR_TRAIN]
        train = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
        test = read_cifar_batch(read(CIFAR_TEST))
        names = [line.strip() for line in read("batches.meta.txt").decode().splitlines()]
    return train, test, [name for name in names if name]
