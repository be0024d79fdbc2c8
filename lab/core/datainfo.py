"""What the window shows about the data an experiment reads, and what a run
folder records of it: where it came from (a file and its SHA-256, or a set
by name and version), each column's role, the first rows, a text sample and
the class counts. Plain builtins; no torch, no numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataInfo:
    name: str  # data.name
    kind: str  # "generated", "table", "arrays", "images", "text"
    source: str  # the file's path, or the set's name in words
    version: str = ""  # a named set: which release it is
    sha256: str = ""  # a file (a folder: of its files' names and bytes)
    task: str = ""
    n_train: int = 0
    n_test: int = 0
    input_shape: tuple[int, ...] = ()
    n_outputs: int = 0
    columns: tuple[tuple[str, str], ...] = ()  # a table: (name, role)
    features: tuple[str, ...] = ()  # a table: the model's inputs by name ("colour=red", ...)
    head: tuple[tuple[str, ...], ...] = ()  # a table's first rows as written
    text: str = ""  # a text file's opening
    class_counts: tuple[tuple[str, int, int], ...] = ()  # (class, train, test)

    def words(self) -> str:
        """One line: what the data is and how much of it."""
        shape = "x".join(str(d) for d in self.input_shape)
        out = f"{self.n_outputs} classes" if self.task == "classification" else self.task
        if self.task == "next_token":
            out = f"{self.n_outputs} tokens"
        return f"{self.source}: {self.n_train:,} train / {self.n_test:,} test, input {shape}, {out}"
