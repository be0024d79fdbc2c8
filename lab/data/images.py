"""An image folder: one subfolder per class, PNG or JPEG files in each,
decoded with Pillow, converted to grey or RGB and resized to a square."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lab.core.config.choices import IMAGE_SUFFIXES
from lab.core.errors import FileError
from lab.data.reading import check_memory

# Pillow's modes by what they hold: grey (with or without alpha) or colour
MODE_KIND = {"1": "grey", "L": "grey", "LA": "grey", "I": "grey", "I;16": "grey", "F": "grey"}


@dataclass(frozen=True)
class Images:
    x: np.ndarray  # float32 (n, channels, size, size), pixels in [0, 1]
    y: np.ndarray  # int64
    class_names: tuple[str, ...]


def _files(folder: Path) -> list[tuple[str, list[Path]]]:
    if not folder.exists():
        raise FileError("does not exist", folder)
    if not folder.is_dir():
        raise FileError("is not a folder (an image folder has one subfolder per class)", folder)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FileError("has no subfolders: put each class's images in a folder of its own", folder)
    found = []
    for sub in classes:
        files = sorted(
            p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise FileError(f"class folder {sub.name!r} holds no PNG or JPEG image", folder)
        found.append((sub.name, files))
    if len(found) < 2:
        raise FileError(
            f"has one class folder only ({found[0][0]!r}): nothing to tell apart", folder
        )
    return found


def read_images(folder: str | Path, size: int, colour: str, limit: int = 0) -> Images:
    folder = Path(folder)
    found = _files(folder)
    count = sum(len(files) for _, files in found)
    channels = 3 if colour == "rgb" else 1
    check_memory(count * channels * size * size * 4 * 3, folder, f"{count} images of {size}px")
    mode = "RGB" if channels == 3 else "L"
    x = np.empty((count, channels, size, size), dtype=np.float32)
    y = np.empty(count, dtype=np.int64)
    first: tuple[Path, str] | None = None
    i = 0
    for label, (_, files) in enumerate(found):
        for file in files:
            try:
                with Image.open(file) as image:
                    kind = MODE_KIND.get(image.mode, "colour")
                    if first is None:
                        first = (file, image.mode)
                    elif kind != MODE_KIND.get(first[1], "colour"):
                        raise FileError(
                            f"mixes image modes: {first[0].relative_to(folder)} is {first[1]}"
                            f" and {file.relative_to(folder)} is {image.mode}; convert them"
                            " all to greyscale or all to colour",
                            folder,
                        )
                    picture = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                raise FileError(
                    f"{file.relative_to(folder)} is not a readable image ({exc})", folder
                ) from exc
            pixels = np.asarray(picture, dtype=np.float32) / 255.0
            x[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
            y[i] = label
            i += 1
    return Images(x, y, tuple(name for name, _ in found))
