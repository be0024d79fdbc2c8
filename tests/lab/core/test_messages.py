"""Commands are read without trusting them: every protocol command comes
through whole; random bytes, truncated messages and pickles of foreign
classes are refused without running anything."""

from __future__ import annotations

import dataclasses
import os
import pickle
import random

import pytest

from lab.core import protocol as p
from lab.core.messages import MessageError, decode
from lab.core.presets import PRESETS

COMMANDS = [
    p.SetConfig(PRESETS["copy-transformer"].to_dict()),
    p.Play(),
    p.Step(3),
    p.SetSpeed(2.5),
    p.SaveRun("/tmp/x", autosave=True),
    p.WatchTokens(attention=True, text="a b"),
    p.ComputeLandscape(4, p.DirectionKind.PCA, 21),
    p.DecodeKV(5, mixed=(3, 9)),
    p.RunRecipe(6, "warmup", True),
    p.CancelJob(6),
    p.Ping(7),
    p.Shutdown(),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_every_command_comes_through_whole(command):
    assert decode(pickle.dumps(command, protocol=pickle.HIGHEST_PROTOCOL)) == command


class Planted:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "planted"
    data = pickle.dumps(p.SetConfig({"payload": Planted(str(target))}))
    with pytest.raises(MessageError, match="posix.mkdir|os.mkdir|nt.mkdir"):
        decode(data)
    assert not target.exists()


def test_random_and_truncated_bytes_are_refused():
    rng = random.Random(0)
    for _ in range(300):
        with pytest.raises(MessageError):
            decode(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    whole = pickle.dumps(COMMANDS[0])
    for cut in (1, len(whole) // 2, len(whole) - 1):
        with pytest.raises(MessageError, match="unreadable"):
            decode(whole[:cut])


def test_dataclass_fields_of_another_module_are_refused():
    @dataclasses.dataclass
    class Foreign:
        x: int = 1

    with pytest.raises(MessageError, match="not part of the protocol"):
        decode(pickle.dumps(p.SetConfig({"x": Foreign.__new__})))
