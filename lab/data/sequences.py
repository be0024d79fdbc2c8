"""Token sequences for a decoder-only Transformer, generated from a seed:

- ``copy``, ``reverse``, ``sort``: ``seq_len`` random symbols, a separator,
  then the same symbols copied, reversed or sorted;
- ``induction``: ``seq_len`` random symbols, then the same symbols again:
  from the second token of the repeat on, the next token is the one that
  followed the current token the first time (what an induction head finds);
- ``chars``: windows of ``seq_len + 1`` characters of ``assets/corpus.txt``,
  the training windows from its first part and the test windows from the rest.

A model reads every token but the last and predicts the next one at each
position; targets are -100 (ignored by the loss) where nothing can be
predicted from what came before: the random question of a symbolic task,
and the first half of an induction sequence.
"""

from __future__ import annotations

import numpy as np

from lab.core import wire
from lab.core.assets import asset
from lab.core.config import SYMBOL_TASKS, DataConfig

IGNORE = wire.IGNORED_TARGET  # a target the loss leaves out (torch's ignore_index)
SEPARATOR = "|"
CORPUS = "corpus.txt"
CORPUS_TEST_SHARE = 0.1  # the text's last tenth gives the test windows


def symbol_names(count: int) -> list[str]:
    """Printable names of ``count`` symbols: digits, then letters, then s<i>."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [alphabet[i] if i < len(alphabet) else f"s{i}" for i in range(count)]


def _answer(name: str, question: np.ndarray) -> np.ndarray:
    if name == "reverse":
        return question[:, ::-1]
    if name == "sort":
        return np.sort(question, axis=1)
    return question


def symbol_task(
    config: DataConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Inputs, targets and token names of copy, reverse, sort or induction."""
    n, count = config.seq_len, config.n_samples
    question = rng.integers(0, config.vocab, (count, n))
    names = symbol_names(config.vocab)
    if config.name in SYMBOL_TASKS:
        separator = np.full((count, 1), config.vocab)
        tokens = np.concatenate([question, separator, _answer(config.name, question)], axis=1)
        names.append(SEPARATOR)
        answer_from = n  # targets from index n on are the answer's tokens
    else:  # induction: the sequence twice; its first repeated token has no cue yet
        tokens = np.concatenate([question, question], axis=1)
        answer_from = n
    x, y = tokens[:, :-1].copy(), tokens[:, 1:].copy()
    y[:, :answer_from] = IGNORE
    return x, y, names


def corpus_windows(config: DataConfig, rng: np.random.Generator, n_test: int):  # noqa: ANN201
    """Train and test windows of the corpus, and the characters as token names."""
    text = asset(CORPUS).read_text(encoding="utf-8")
    return text_windows(text, config.seq_len, config.n_samples, n_test, rng)


def text_windows(text: str, seq_len: int, n_samples: int, n_test: int, rng: np.random.Generator):  # noqa: ANN201
    """``n_samples`` windows of ``seq_len + 1`` characters of ``text``, the
    test ones from its last tenth; the vocabulary is the text's characters."""
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    codes = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    split = int(len(codes) * (1 - CORPUS_TEST_SHARE))
    width = seq_len + 1

    def windows(part: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        starts = rng.integers(0, len(part) - width, count)
        rows = part[starts[:, None] + np.arange(width)]
        return rows[:, :-1].copy(), rows[:, 1:].copy()

    train = windows(codes[:split], n_samples - n_test)
    test = windows(codes[split:], n_test)
    return train, test, chars


def corpus_characters() -> int:
    """How many distinct characters the corpus has (the chars task's vocabulary)."""
    return len(set(asset(CORPUS).read_text(encoding="utf-8")))


def task_vocabulary(config: DataConfig) -> int:
    """How many distinct tokens a token task has (a Transformer's vocabulary):
    the symbols (and the separator of copy, reverse and sort), or the
    corpus's characters."""
    if config.name == "chars":
        return corpus_characters()
    return config.vocab + (1 if config.name in SYMBOL_TASKS else 0)
