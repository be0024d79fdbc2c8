"""The classic image sets by name (MNIST, Fashion-MNIST, CIFAR-10): fetched
once, on first use, into the user's cache folder, checked against their
published SHA-256 and moved into place only when whole.

``KNOBLAB_DATA_DIR`` points the cache elsewhere; ``KNOBLAB_DATA_MIRROR``
replaces every file's address with ``<mirror>/<file name>`` (a local copy,
or the tests' loopback server). ``fetch`` is a job (``lab.jobs``): it yields
progress and stops at the next chunk when cancelled, leaving no half file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from lab.core.errors import FileError
from lab.jobs import Progress

CHUNK = 1 << 16
TIMEOUT_S = 30


@dataclass(frozen=True)
class Source:
    file: str
    url: str
    sha256: str
    size: int  # bytes, for progress before the server says


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
_IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip


def _idx_set(base: str, digests: tuple[str, ...], sizes: tuple[int, ...]) -> tuple[Source, ...]:
    """The four IDX files of an MNIST-layout set at ``base``."""
    return tuple(
        Source(name, base + name, digest, size)
        for name, digest, size in zip(_IDX, digests, sizes, strict=True)
    )


SOURCES: dict[str, tuple[Source, ...]] = {
    "mnist": _idx_set(
        _MNIST,
        (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
        (9912422, 28881, 1648877, 4542),
    ),
    "fashion_mnist": _idx_set(
        _FASHION,
        (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
        (26421880, 29515, 4422102, 5148),
    ),
    "cifar10": (
        Source(
            "cifar-10-binary.tar.gz",
            "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            170052171,
        ),
    ),
}
VERSIONS = {"mnist": "LeCun et al. 1998", "fashion_mnist": "Zalando 2017",
            "cifar10": "Krizhevsky 2009, binary version"}  # fmt: skip


def cache_dir() -> Path:
    """Where downloaded sets live: ``$KNOBLAB_DATA_DIR``, else the user cache folder."""
    chosen = os.environ.get("KNOBLAB_DATA_DIR")
    return Path(chosen) if chosen else Path(platformdirs.user_cache_dir("knoblab")) / "datasets"


def folder(name: str) -> Path:
    return cache_dir() / name


def missing(name: str) -> list[Source]:
    """The files of set ``name`` not in the cache yet."""
    return [s for s in SOURCES[name] if not (folder(name) / s.file).exists()]


def download_size(name: str) -> tuple[int, str]:
    """Bytes still to fetch for set ``name``, and the folder they go to."""
    return sum(s.size for s in missing(name)), str(folder(name))


def _url(source: Source) -> str:
    mirror = os.environ.get("KNOBLAB_DATA_MIRROR")
    return f"{mirror.rstrip('/')}/{source.file}" if mirror else source.url


def where_by_hand(name: str) -> str:
    files = ", ".join(s.file for s in SOURCES[name])
    return f"put {files} (from {SOURCES[name][0].url.rsplit('/', 1)[0]}/) into {folder(name)}"


def fetch(name: str) -> Generator[Progress, None, Path]:
    """Download what set ``name`` lacks; a job: yields progress, returns its folder."""
    wanted = missing(name)
    total = sum(s.size for s in wanted) or 1
    done = 0
    for source in wanted:
        target = folder(name) / source.file
        part = target.with_name(target.name + ".part")
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        url = _url(source)
        try:
            with (
                urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
                open(part, "wb") as out,
            ):
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    yield Progress(
                        min(done / total, 1.0), f"{name}: {source.file} {done / 2**20:.1f} MiB"
                    )
            if digest.hexdigest() != source.sha256:
                raise FileError(
                    f"{source.file} from {url} has SHA-256 {digest.hexdigest()}, not the published"
                    f" {source.sha256}: a damaged or changed download, not used. Try again, or"
                    f" {where_by_hand(name)}"
                )
            os.replace(part, target)  # whole and checked: only now under its name
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise FileError(
                f"could not download {source.file} from {url} ({reason}). Offline?"
                f" {where_by_hand(name)}"
            ) from exc
        finally:
            part.unlink(missing_ok=True)  # cancelled (GeneratorExit), failed or moved
    return folder(name)


def check_files(name: str) -> None:
    """Refuse a cached file that is not the published one (changed by hand?)."""
    for source in SOURCES[name]:
        path = folder(name) / source.file
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != source.sha256:
            raise FileError(f"has SHA-256 {digest}, not the published {source.sha256}; delete it"
                            " and Knoblab downloads it again", path)  # fmt: skip
