import csv
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lab.cli.main import main
from lab.core.config import ExperimentConfig
from tests.lab.data import test_downloads

ROOT = Path(__file__).resolve().parents[3]
server = test_downloads.server  # the loopback HTTP server the downloader is tested against


def knoblab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "knoblab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def train_run(folder: Path, steps: int) -> None:
    """A small trained run folder for the commands that read one."""
    assert (
        main(
            ["run", "--preset", "moons-mlp", "--steps", str(steps), "--out", str(folder), "--quiet"]
        )
        == 0
    )


def test_spirals_preset_reaches_95_percent_within_a_minute(tmp_path):
    start = time.perf_counter()
    result = knoblab("run", "--preset", "spirals-mlp", "--steps", "2000", "--out", str(tmp_path))
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert elapsed < 60
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert {"step", "train_loss", "test_loss", "train_acc", "test_acc", "lr"} <= set(rows[0])
    assert int(rows[-1]["step"]) == 2000
    assert float(rows[-1]["test_acc"]) >= 0.95
    assert "test_acc" in result.stdout
    config = ExperimentConfig.load(tmp_path / "config.toml")
    assert config.train.steps == 2000 and config.name == "spirals-mlp"
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 2000


def test_copy_transformer_reaches_99_percent_token_accuracy_within_a_minute(tmp_path):
    start = time.perf_counter()
    result = knoblab("run", "--preset", "copy-transformer", "--out", str(tmp_path), "--quiet")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert elapsed < 60
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert float(rows[-1]["test_acc"]) >= 0.99  # tokens of the answers, on the test split


def test_config_file_and_set_overrides(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    ExperimentConfig().with_changes({"data.name": "moons", "train.steps": 30}).save(path)
    code = main(
        [
            "run",
            str(path),
            "--set",
            "optim.lr=0.05",
            "--set",
            'optim.name="sgd"',
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    assert code == 0
    saved = ExperimentConfig.load(tmp_path / "out" / "config.toml")
    assert saved.optim.lr == 0.05 and saved.optim.name == "sgd" and saved.data.name == "moons"
    assert "30 steps" in capsys.readouterr().out


def test_invalid_config_exits_2_naming_the_field(tmp_path, capsys):
    assert main(["run", "--set", "model.layers[0].activation=swish", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "model.layers[0].activation" in err and "swish" in err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_run_says_which_files_it_takes_when_given_another(tmp_path, capsys):
    """A model's Python file is not a config: the message says what is."""
    model = tmp_path / "model.py"
    model.write_text("import torch\n")
    assert main(["run", str(model)]) == 2
    err = capsys.readouterr().err
    assert "model.py is Python code, not an experiment config" in err
    assert ".toml or .json" in err and "--preset" in err and "malformed" not in err


def test_divergence_exits_3_and_still_writes_the_run(tmp_path, capsys):
    code = main(
        [
            "run",
            "--set",
            "optim.lr=100",
            "--set",
            'optim.name="sgd"',
            "--steps",
            "50",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 3
    assert "non-finite" in capsys.readouterr().err
    assert (tmp_path / "checkpoint.pt").exists()


def test_presets_are_listed(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "spirals-mlp" in out and "shapes-cnn" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line and line[0] != " "}
    assert "transformer 2 blocks of width 64" in lines["copy-transformer"]  # not "x4"
    assert "mlp 4x64" in lines["spirals-mlp"] and "cnn 3 layers" in lines["shapes-cnn"]


def test_a_closed_stdout_ends_quietly_with_the_run_written(tmp_path):
    """`knoblab run ... | head -1`: the reader leaves; the run is trained,
    saved, and the command exits 0 without a traceback. `recipe --list |
    head -3` the same."""
    out = tmp_path / "run"
    run = subprocess.Popen(
        [sys.executable, "-m", "knoblab", "run", "--preset", "spirals-mlp", "--steps", "300",
         "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    run.stdout.close()  # the reader is gone before anything was written
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"BrokenPipe" not in err
    assert (out / "checkpoint.pt").exists() and (out / "config.toml").exists()
    from lab.engine.runs import load_trainer

    assert load_trainer(out).step_count == 300
    listed = subprocess.run(
        f"{sys.executable} -m knoblab recipe --list | head -3", shell=True, cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert len(listed.stdout.splitlines()) == 3
    assert "Traceback" not in listed.stderr and "BrokenPipe" not in listed.stderr


def test_landscape_command_writes_the_grid_of_a_run(tmp_path, capsys):
    import numpy as np

    from lab.engine.runs import load_run
    from lab.train.trainer import Trainer

    train_run(tmp_path / "run", steps=200)
    out = tmp_path / "land.npz"
    code = main(
        [
            "landscape",
            str(tmp_path / "run"),
            "--grid",
            "11",
            "--span",
            "0.5",
            "--dirs",
            "pca",
            "--points",
            "300",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    with np.load(out) as data:
        assert data["losses"].shape == (11, 11) and np.isfinite(data["losses"]).all()
        np.testing.assert_allclose(data["alphas"], np.linspace(-0.5, 0.5, 11))
        assert str(data["directions"]) == "pca" and int(data["step"]) == 200
        assert data["trajectory_steps"][0] == 0 and data["trajectory_steps"][-1] == 200
        centre = float(data["losses"][5, 5])
        assert centre == float(data["center_loss"])
        line_t, line = data["line_t"], data["line_losses"]
    assert np.isfinite(line).all() and line[np.isclose(line_t, 1.0)] == pytest.approx(centre)
    run = load_run(tmp_path / "run")  # the centre is the saved model's loss, recomputed here
    trainer = Trainer(run.config)
    trainer.load_checkpoint(run.checkpoint)
    import torch

    with torch.no_grad():
        loss = trainer.task.loss_fn(
            trainer.model.eval()(trainer.x_train[:300]), trainer.y_train[:300]
        )
    assert centre == pytest.approx(float(loss), rel=1e-5)
    from lab.engine.runs import load_trainer

    restored = load_trainer(tmp_path / "run")  # with the run's initial weights from its path
    with torch.no_grad():  # t = 0: the run's initial weights
        model = restored.model.eval()
        for name, p in model.named_parameters():
            p.copy_(restored.path.initial[name])
        start = restored.task.loss_fn(model(restored.x_train[:300]), restored.y_train[:300])
    assert line[np.isclose(line_t, 0.0)] == pytest.approx(float(start), rel=1e-5)
    printed = capsys.readouterr()
    assert "11x11 pca landscape of step 200" in printed.out  # the result: stdout
    # progress on stderr; not a terminal: a line per tenth, no carriage returns piling up
    progress = [line for line in printed.err.splitlines() if line.startswith("landscape ")]
    assert "\r" not in printed.err and progress[-1].startswith("landscape 100%  ETA 0:00")
    assert len(progress) <= 11 and "ETA" not in printed.out


def test_export_and_landscape_need_a_checkpoint(tmp_path, capsys):
    train_run(tmp_path / "run", steps=20)
    (tmp_path / "run" / "checkpoint.pt").unlink()
    for command in (
        ["export", str(tmp_path / "run"), "--out", str(tmp_path / "m.onnx")],
        ["landscape", str(tmp_path / "run"), "--out", str(tmp_path / "l.npz")],
    ):
        assert main(command) == 2
        assert "has no checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "l.npz").exists()


def test_export_command_verifies_and_reports(tmp_path, capsys):
    train_run(tmp_path / "run", steps=50)
    assert (
        main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "m.onnx"), "--legacy"]) == 0
    )
    out = capsys.readouterr().out
    assert "torchscript exporter" in out and "parity at batch  64" in out
    assert (tmp_path / "m.report.json").exists()


def test_kv_prints_the_accounting_of_a_real_shape_as_json():
    import json

    from lab.core.kv import GIB, MODEL_SHAPES, breakdown

    result = knoblab(
        "kv", "--preset", "llama-3-8b", "--tokens", "8192", "--budget-gb", "24", "--json"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)["accounting"]
    expected = breakdown(MODEL_SHAPES["llama-3-8b"], 1, 8192, "fp16", "bf16", 24 * GIB)
    assert out["cache_bytes"] == expected.total == 2**30  # 128 KiB a token x 8192
    assert out["max_tokens_in_budget"] == 74_075 and out["kv_heads"] == 8


def test_kv_decode_measures_a_lab_transformer_and_writes_its_table(tmp_path):
    table = tmp_path / "kv.csv"
    result = knoblab(
        "kv", "--preset", "copy-transformer", "--decode", "copy-transformer",
        "--layout", "concat", "--dtype", "fp32", "--batch", "2", "--csv", str(table),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "with the cache" in result.stdout and "lengths [2, 4, 8, 16]" in result.stdout
    rows = table.read_text().splitlines()
    assert rows[0].startswith("step,tokens,held_bytes,held_block1,held_block2,formula_bytes")
    last = rows[-1].split(",")
    assert last[1] == "16" and last[2] == last[5]  # concat holds exactly the formula


def test_kv_refuses_what_it_cannot_do_with_the_field():
    result = knoblab("kv", "--preset", "spirals-mlp")
    assert result.returncode == 2 and "no KV cache" in result.stderr
    result = knoblab("kv", "--preset", "copy-transformer", "--decode", "copy-transformer",
                     "--tokens", "64")  # fmt: skip
    assert result.returncode == 2 and "exceed the model's context of 16" in result.stderr


def test_ctrl_c_saves_what_was_trained_and_exits_130(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "knoblab", "run", "--preset", "spirals-mlp", "--steps", "1000000",
         "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    line = ""
    while "->" not in line and time.monotonic() < deadline:  # training has begun
        line = process.stderr.readline()  # (messages and progress: stderr)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted; saved the" in err
    from lab.engine.runs import load_trainer

    restored = load_trainer(out)
    assert restored.step_count > 0


def test_an_existing_run_folder_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "run"
    train_run(out, steps=20)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    result = knoblab("run", "--preset", "spirals-mlp", "--steps", "5", "--out", str(out))
    assert result.returncode == 2 and "--force" in result.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    forced = knoblab("run", "--preset", "moons-mlp", "--steps", "5", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert 'name = "moons-mlp"' in (out / "config.toml").read_text()


def test_a_run_saved_on_cuda_opens_on_the_cpu_with_device_cpu(tmp_path):
    run = tmp_path / "run"
    train_run(run, steps=20)
    config = run / "config.toml"
    text = config.read_text()
    assert 'device = "cpu"' in text or 'device = "auto"' in text
    config.write_text(text.replace('device = "cpu"', 'device = "cuda"').replace(
        'device = "auto"', 'device = "cuda"'))  # fmt: skip
    refused = knoblab("export", str(run), "--out", str(tmp_path / "m.onnx"))
    assert refused.returncode == 2 and "--device cpu" in refused.stderr
    exported = knoblab("export", str(run), "--out", str(tmp_path / "m.onnx"), "--device", "cpu")
    assert exported.returncode == 0, exported.stderr
    landscape = knoblab("landscape", str(run), "--grid", "5", "--points", "64",
                        "--out", str(tmp_path / "l.npz"), "--device", "cpu")  # fmt: skip
    assert landscape.returncode == 0, landscape.stderr


def test_every_option_has_help_and_commands_show_examples_and_exit_codes():
    from lab.cli.main import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    for name, command in commands.items():
        for action in command._actions:  # noqa: SLF001
            assert action.help, f"{name} {action.option_strings or action.dest}"
        text = command.format_help()
        assert "examples:" in text and "130" in text, name


@pytest.mark.parametrize(("preset", "floor"), [("spirals-mlp", 0.95), ("shapes-cnn", 0.97)])
def test_digits_by_name_trains_an_mlp_and_a_cnn_within_a_minute(tmp_path, preset, floor):
    start = time.perf_counter()
    result = knoblab("run", "--preset", preset, "--data", "digits", "--out", str(tmp_path / "r"))
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "r" / "metrics.csv") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert float(last["test_acc"]) >= floor
    assert elapsed < 60
    config = ExperimentConfig.load(tmp_path / "r" / "config.toml")
    assert config.data.name == "digits" and config.model.kind == preset.split("-")[1]


def test_run_takes_a_csv_and_its_target_column(tmp_path):
    rows = "\n".join(
        f"{i % 5},{(i * 7) % 11},{'big' if i % 5 > 2 else 'small'},{i}" for i in range(80)
    )
    table = tmp_path / "houses.csv"
    table.write_text("rooms,age,size,id\n" + rows + "\n")
    out = tmp_path / "r"
    code = main(["run", "--data", str(table), "--target", "size", "--steps", "50", "--out",
                 str(out), "--quiet"])  # fmt: skip
    assert code == 0
    config = ExperimentConfig.load(out / "config.toml")
    assert config.data.name == "file" and config.data.target == "size"
    assert config.name == "houses-mlp"
    import json

    record = json.loads((out / "data.json").read_text())
    import hashlib

    assert record["sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    assert record["kind"] == "table" and record["source"] == str(table)


def test_a_data_name_that_is_no_set_and_no_file_is_a_usage_error(capsys):
    assert main(["run", "--data", "nosuchset", "--steps", "1"]) == 2
    assert "is neither a file or folder here nor a dataset name" in capsys.readouterr().err


def test_a_run_on_an_image_folder_exports_with_the_datas_input_shape(tmp_path):
    """The CNN reads the folder's images at data.image_size; its ONNX file
    takes them and computes what the model does (checked by onnxruntime)."""
    import onnx
    from PIL import Image

    folder = tmp_path / "pics"
    for c, name in enumerate(("dark", "light")):
        (folder / name).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (20, 14), (40 + 150 * c, 30 + 5 * i, 90)).save(
                folder / name / f"{i}.jpg"
            )
    run = tmp_path / "run"
    assert main(["run", "--preset", "shapes-cnn", "--data", str(folder), "--steps", "20",
                 "--set", "data.image_size=12", "--set", 'data.colour="rgb"',
                 "--set", "data.batch_size=8", "--out", str(run), "--quiet"]) == 0  # fmt: skip
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx"), "--quiet"]) == 0
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3, 12, 12]
    landscape = tmp_path / "l.npz"
    assert main(["landscape", str(run), "--grid", "5", "--out", str(landscape), "--quiet"]) == 0
    import numpy as np

    with np.load(landscape) as held:
        assert held["losses"].shape == (5, 5) and np.isfinite(held["losses"]).all()


def test_a_config_names_its_data_file_relative_to_itself(tmp_path, monkeypatch):
    from lab.core.presets import preset

    folder = tmp_path / "project"
    folder.mkdir()
    rows = "\n".join(f"{i % 4},{i % 3},{'a' if i % 2 else 'b'}" for i in range(40))
    (folder / "t.csv").write_text("x,z,label\n" + rows + "\n")
    config = preset("spirals-mlp").with_changes(
        {"data.name": "file", "data.path": "t.csv", "data.batch_size": 8}
    )
    config.save(folder / "config.toml")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    out = tmp_path / "r"
    assert main(["run", str(folder / "config.toml"), "--steps", "5", "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    assert ExperimentConfig.load(out / "config.toml").data.path == str(folder / "t.csv")


def test_data_list_and_show_say_what_each_set_is(capsys):
    import json

    assert main(["data", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    by_name = {row["name"]: row for row in listed["datasets"]}
    assert by_name["iris"] == {"name": "iris", "examples": 150, "status": "shipped"}
    assert set(by_name) >= {"wine", "digits", "mnist", "fashion_mnist", "cifar10"}
    assert main(["data", "show", "iris"]) == 0
    shown = capsys.readouterr().out
    assert "iris: 120 train / 30 test, input 4, 3 classes" in shown
    assert "species" in shown and "target" in shown and "setosa" in shown


def test_run_downloads_a_set_it_lacks_with_progress_then_trains(
    tmp_path, server, monkeypatch, capsys
):
    """Against the tests' loopback server: `run --data mnist` fetches it first."""
    from lab.data import downloads
    from tests.lab.data import test_downloads as dl

    files = dl.mnist_files()
    server.files = files
    dl.tiny_mnist(monkeypatch, files)
    code = main(["run", "--data", "mnist", "--steps", "5", "--set", "data.batch_size=8",
                 "--out", str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"downloading mnist into {downloads.folder('mnist')}" in err
    assert "downloading mnist" in err and "100%" in err  # the progress line, piped
    assert not downloads.missing("mnist")


def test_run_trains_a_model_file_and_a_run_of_it_asks_before_its_code_runs(tmp_path, capsys):
    """--model trains the person's nn.Module; the run folder records the file;
    landscape and export run that file again only when told to."""
    import hashlib
    import json

    import numpy as np

    model = tmp_path / "mine.py"
    model.write_text(
        "from torch import nn\n\n\ndef make_model(input_shape, n_outputs):\n"
        "    return nn.Sequential(nn.Linear(input_shape[0], 16), nn.ReLU(),"
        " nn.Linear(16, n_outputs))\n"
    )
    run = tmp_path / "run"
    assert main(["run", "--model", f"{model}:make_model", "--data", "iris", "--steps", "50",
                 "--out", str(run), "--quiet"]) == 0  # fmt: skip
    record = json.loads((run / "model.json").read_text())
    assert record == {"source": f"{model}:make_model",
                      "sha256": hashlib.sha256(model.read_bytes()).hexdigest()}  # fmt: skip
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the run's model is Python code" in err and "--run-model-code" in err
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx"), "--quiet",
                 "--run-model-code"]) == 0  # fmt: skip
    landscape = tmp_path / "l.npz"
    assert main(["landscape", str(run), "--grid", "5", "--out", str(landscape), "--quiet",
                 "--run-model-code"]) == 0  # fmt: skip
    with np.load(landscape) as held:
        assert np.isfinite(held["losses"]).all()
    model.write_text(model.read_text() + "\n# edited\n")
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "n.onnx"), "--quiet"]) == 2
    assert "it has changed since the run was trained" in capsys.readouterr().err
