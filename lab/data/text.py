"""A UTF-8 text file for the character-level Transformer: its characters
are the vocabulary, windows of it the examples (``sequences.text_windows``)."""

from __future__ import annotations

from pathlib import Path

from lab.core.errors import FileError
from lab.data.reading import check_memory, read_utf8
from lab.data.sequences import CORPUS_TEST_SHARE

MOST_CHARACTERS = 4096  # a vocabulary larger than this is not a text a small model learns


def read_text(path: str | Path, seq_len: int) -> str:
    path = Path(path)
    if path.exists():
        check_memory(path.stat().st_size * 12, path, "its characters")  # str + int64 codes
    text = read_utf8(path)
    if not text.strip():
        raise FileError("is empty: the character-level model needs text to learn", path)
    shortest = int((seq_len + 2) / CORPUS_TEST_SHARE) + 1  # windows in the test tenth too
    if len(text) < shortest:
        raise FileError(
            f"has {len(text)} characters; windows of {seq_len + 1} need at least {shortest}"
            " (or make data.seq_len smaller)",
            path,
        )
    characters = len(set(text))
    if characters > MOST_CHARACTERS:
        raise FileError(f"uses {characters} different characters; at most {MOST_CHARACTERS}", path)
    return text
