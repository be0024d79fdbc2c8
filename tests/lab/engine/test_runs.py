import pickle

import numpy as np
import pytest
import torch

from lab.core.config import SCHEMA_VERSION
from lab.engine.runs import FileError, load_checkpoint, load_run, save_run
from lab.train.trainer import Trainer
from tests.lab.helpers import tiny_config


def test_save_and_load_a_run(tmp_path):
    trainer = Trainer(tiny_config())
    trainer.run(40)
    save_run(tmp_path / "run", trainer)
    run = load_run(tmp_path / "run")
    assert run.config == trainer.config
    np.testing.assert_array_equal(run.metrics["eval"].values, trainer.store["eval"].values)
    np.testing.assert_array_equal(
        run.metrics["step"].column("loss"), trainer.store["step"].column("loss")
    )
    assert run.checkpoint["step"] == 40
    other = Trainer(tiny_config())
    other.load_checkpoint(run.checkpoint)
    for a, b in zip(other.params, trainer.params, strict=True):
        torch.testing.assert_close(a, b)
    np.testing.assert_array_equal(run.trajectory["steps"], trainer.path.steps)
    np.testing.assert_array_equal(
        run.trajectory["snapshots"], torch.stack(trainer.path.snapshots).numpy()
    )
    other.path.restore(**run.trajectory)
    for name, p in other.path.initial.items():
        torch.testing.assert_close(p, trainer.path.initial[name])
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("step,train_loss,test_loss,train_acc,test_acc,lr")
    assert len(lines) == 1 + len(trainer.store["eval"]) == 1 + 8  # 1, 2, 4, 8, 10, 20, 30, 40
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    probes = (tmp_path / "run" / "probes.csv").read_text().splitlines()
    assert probes[0] == "step,probe,layer,value"
    grad_rows = [r.split(",") for r in probes if ",grad_norm,layer1," in r]
    assert [int(r[0]) for r in grad_rows] == [10, 20, 30, 40]
    expected = trainer.store["probe/grad_norm"].column("layer1")
    np.testing.assert_allclose([float(r[3]) for r in grad_rows], expected, rtol=1e-7)


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_with_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": Evil()}, path)
    with pytest.raises(FileError, match="unsafe"):
        load_checkpoint(path)
    assert "must never run" not in capsys.readouterr().out


def test_damaged_and_missing_files(tmp_path):
    trainer = Trainer(tiny_config())
    save_run(tmp_path / "run", trainer)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(FileError, match="damaged"):
        load_run(tmp_path / "run")
    with pytest.raises(FileError, match="does not exist"):
        load_run(tmp_path / "nothing")
    (tmp_path / "run" / "config.toml").write_text("[model\n")
    with pytest.raises(FileError, match="malformed TOML"):
        load_run(tmp_path / "run")


@pytest.mark.parametrize("name", ["metrics.npz", "trajectory.npz"])
def test_an_empty_array_file_is_named_and_left_as_it_is(tmp_path, name):
    """An empty metrics.npz or trajectory.npz (a disk that filled up) is a
    FileError naming it, not an EOFError; the file stays as it was."""
    trainer = Trainer(tiny_config())
    trainer.run(5)
    save_run(tmp_path / "run", trainer)
    (tmp_path / "run" / name).write_bytes(b"")
    with pytest.raises(FileError, match=f"{name}: is empty") as excinfo:
        load_run(tmp_path / "run")
    assert excinfo.value.path == str(tmp_path / "run" / name)
    assert (tmp_path / "run" / name).read_bytes() == b""


def test_a_folder_that_is_not_a_run_says_so(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(FileError, match="is not a Knoblab run folder") as excinfo:
        load_run(tmp_path / "photos")
    assert "config.toml does not exist" not in str(excinfo.value)


def test_newer_checkpoint_format_is_refused(tmp_path):
    path = tmp_path / "new.pt"
    torch.save({"format": 99}, path)
    with pytest.raises(FileError, match="newer"):
        load_checkpoint(path)


def test_a_failed_write_leaves_the_old_file(tmp_path):
    from lab.core.fileio import atomic_write_with

    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def fail(handle):
        handle.write(b"half")
        raise pickle.PicklingError("boom")

    with pytest.raises(pickle.PicklingError):
        atomic_write_with(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def _corruptions(path, kind):
    """Bytes that make file ``path`` truncated, random, of a wrong schema or newer."""
    import io
    import random

    data = path.read_bytes()
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "random":
        return bytes(random.Random(3).randrange(256) for _ in range(len(data)))
    name = path.name
    if name == "config.toml":
        return (
            b"[model]\nkind = 3\n"
            if kind == "schema"
            else data.replace(b"schema = %d" % SCHEMA_VERSION, b"schema = 9")
        )
    if name == "checkpoint.pt":
        buffer = io.BytesIO()
        torch.save({"format": 99} if kind == "newer" else {"weights": [1, 2]}, buffer)
        return buffer.getvalue()
    buffer = io.BytesIO()  # the .npz files: arrays of the wrong names or shapes
    if name == "metrics.npz":
        np.savez(buffer, **{"series/step/values": np.zeros(3)})
    else:
        np.savez(buffer, steps=np.zeros(2), snapshots=np.zeros((5, 3)))
    return buffer.getvalue()


FILE_KINDS = ["config.toml", "checkpoint.pt", "metrics.npz", "trajectory.npz"]
DAMAGES = [  # the npz files carry no version: their schema is what is checked
    (name, kind)
    for name in FILE_KINDS
    for kind in ("truncated", "random", "schema", "newer")
    if not (kind == "newer" and name.endswith(".npz"))
]


@pytest.mark.parametrize(("name", "kind"), DAMAGES)
def test_each_damaged_file_kind_gets_an_error_naming_it_and_is_left_untouched(tmp_path, name, kind):
    trainer = Trainer(tiny_config())
    trainer.run(12)
    folder = save_run(tmp_path / "run", trainer)
    path = folder / name
    bad = _corruptions(path, kind)
    path.write_bytes(bad)
    with pytest.raises(FileError) as caught:
        load_run(folder)
    message = str(caught.value)
    assert name in message, message
    if kind == "newer":
        assert "newer" in message
    assert path.read_bytes() == bad  # left as it was
