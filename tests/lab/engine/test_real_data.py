"""The engine on real data: a file becomes the data with a model that fits
it, a file it cannot read leaves the experiment as it was (and the window is
told its values again), a set not downloaded is offered for download and
fetched as a job, and a run whose data file changed or went is not opened
without asking."""

import numpy as np
import pytest

from lab.core import protocol as p
from lab.data import downloads
from tests.lab.data import test_downloads
from tests.lab.data.test_downloads import mnist_files, tiny_mnist
from tests.lab.engine.test_loop import Harness
from tests.lab.helpers import tiny_config

server = test_downloads.server  # the loopback HTTP server


@pytest.fixture
def engine():
    harness = Harness()
    yield harness
    harness.close()


def table(path, rows=60):
    lines = [f"{i % 7},{(i * 3) % 5},{i % 4},{'a' if i % 2 else 'b'}" for i in range(rows)]
    path.write_text("x1,x2,x3,label\n" + "\n".join(lines) + "\n")
    return path


def start(engine, **changes):
    engine.wait_for(p.Ready)
    engine.send(p.SetConfig(tiny_config(**changes).to_dict()))
    return engine.wait_for(p.Built)


def test_a_file_becomes_the_data_and_its_batch_fits_it(engine, tmp_path):
    start(engine)
    path = table(tmp_path / "t.csv")
    engine.send(p.ChangeConfig({"data.path": str(path), "data.name": "file",
                                "data.batch_size": 128}))  # fmt: skip
    built = engine.wait_for(p.Built, lambda e: e.config["data"]["name"] == "file")
    assert built.config["data"]["batch_size"] == 48  # 60 rows, a fifth held out
    assert built.data.kind == "table" and built.data.columns[-1] == ("label", "target")
    assert built.data.class_counts[0][0] == "a" and built.data.n_train == 48
    assert built.class_names == ("a", "b")
    assert built.reason.endswith("input 2 features → 3 features")  # the rebuild says so


def test_a_file_it_cannot_read_leaves_the_experiment_and_resends_its_values(engine, tmp_path):
    start(engine)
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,a\n2\n")
    engine.send(p.ChangeConfig({"data.path": str(bad), "data.name": "file"}))
    error = engine.wait_for(p.Error)
    assert "line 3 has 1 fields" in error.message and str(bad) in error.message
    applied = engine.wait_for(p.ConfigApplied, lambda e: e.kind == p.ChangeKind.NONE)
    assert applied.changes["data.name"] == "moons" and applied.changes["data.path"] == ""
    engine.send(p.Step(3))  # the old experiment still trains
    status = engine.wait_for(p.Status, lambda e: e.step == 3)
    assert status.step == 3


def test_a_set_not_downloaded_is_offered_then_fetched_as_a_job(engine, server, monkeypatch):
    files = mnist_files()
    server.files = files
    tiny_mnist(monkeypatch, files)
    start(engine)
    engine.send(p.ChangeConfig({"data.name": "mnist", "model.kind": "mlp"}))
    asked = engine.wait_for(p.NeedsDownload)
    assert asked.name == "mnist" and asked.size == sum(len(d) for d in files.values())
    assert asked.folder == str(downloads.folder("mnist"))
    engine.send(p.FetchData(5, "mnist"))
    done = engine.wait_for(p.JobFinished, lambda e: e.job == 5)
    assert done.outcome == p.JobOutcome.DONE and done.kind == p.JobKind.DOWNLOAD
    engine.send(p.ChangeConfig(asked.changes))
    built = engine.wait_for(p.Built, lambda e: e.config["data"]["name"] == "mnist")
    assert built.data.input_shape == (784,) and built.x_train.shape[1:] == (1, 28, 28)


def test_a_run_whose_data_changed_or_went_asks_before_it_opens(engine, tmp_path):
    path = table(tmp_path / "t.csv")
    start(engine, **{"data.name": "file", "data.path": str(path), "data.batch_size": 8})
    engine.send(p.Step(2))
    engine.send(p.SaveRun(str(tmp_path / "run")))
    engine.wait_for(p.Saved)
    table(path, rows=70)  # the file changed
    engine.send(p.OpenRun(str(tmp_path / "run")))
    problem = engine.wait_for(p.DataProblem)
    assert problem.problem == "changed" and "has changed since it was trained" in problem.message
    engine.send(p.OpenRun(str(tmp_path / "run"), accept_changed=True))
    engine.wait_for(p.Opened)
    moved = tmp_path / "moved.csv"
    path.rename(moved)
    engine.send(p.OpenRun(str(tmp_path / "run")))
    gone = engine.wait_for(p.DataProblem, lambda e: e.problem == "missing")
    assert str(path) in gone.message and gone.data_path == str(path)
    engine.events.clear()
    engine.send(p.OpenRun(str(tmp_path / "run"), data_path=str(moved), accept_changed=True))
    engine.wait_for(p.Opened)
    built = engine.wait_for(p.Built)
    assert built.config["data"]["path"] == str(moved)
    assert np.isfinite(built.n_params)


def test_regression_on_many_features_shows_predictions_against_targets_with_r2(engine):
    start(engine, **{"data.name": "diabetes", "train.loss": "auto", "data.batch_size": 32,
                     "optim.name": "adam", "optim.lr": 0.03})  # fmt: skip
    engine.send(p.Step(300))
    event = engine.wait_for(p.DecisionBoundary, lambda e: e.step == 300)
    assert event.truth and event.ys is None and len(event.xs) == len(event.values) == 88
    truth, predicted = event.xs.astype(np.float64), event.values.astype(np.float64)
    by_hand = 1 - np.sum((truth - predicted) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert event.r2 == pytest.approx(by_hand, abs=1e-6)
    assert 0.2 < event.r2 < 0.8  # diabetes explains about half its variance in a small MLP


def test_a_run_whose_model_is_python_code_opens_only_when_told_to_run_it(engine, tmp_path):
    model = tmp_path / "mine.py"
    model.write_text(
        "from torch import nn\n\n\ndef make_model(input_shape, n_outputs):\n"
        "    return nn.Sequential(nn.Linear(input_shape[0], 8), nn.ReLU(),"
        " nn.Linear(8, n_outputs))\n"
    )
    built = start(engine, **{"model.kind": "custom", "model.source": f"{model}:make_model"})
    assert built.model_notes == ()  # Linear and ReLU: the probes see all of it
    assert [row[0] for row in built.summary_rows] == ["0", "1", "2"]
    engine.send(p.Step(3))
    engine.send(p.SaveRun(str(tmp_path / "run")))
    engine.wait_for(p.Saved)
    engine.send(p.OpenRun(str(tmp_path / "run")))
    asked = engine.wait_for(p.ModelCode)
    assert f"{model}:make_model" in asked.message and "SHA-256" in asked.message
    engine.send(p.OpenRun(str(tmp_path / "run"), run_code=True))
    engine.wait_for(p.Opened)
