"""ONNX export against PyTorch (onnxruntime parity), in and out of process."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from lab.core.config import LayerConfig, ModelConfig, mlp_layers
from lab.core.presets import PRESETS
from lab.engine.export import ExportError, export_onnx, report_path
from lab.models import build_model
from lab.train.trainer import Trainer

MODELS = {
    "mlp-batchnorm-dropout": (
        ModelConfig(layers=mlp_layers(3, 32, norm="batch", dropout=0.3)),
        (2,),
        3,
    ),
    "mlp-layernorm-residual": (
        ModelConfig(
            layers=(LayerConfig(16, norm="layer"), LayerConfig(16, "gelu", "rms", residual=True)),
            residual_scale="rezero",
        ),
        (2,),
        2,
    ),
    "cnn": (PRESETS["shapes-cnn"].model, (1, 16, 16), 4),
}


def trained_model(config: ModelConfig, input_shape, outputs: int) -> nn.Module:
    torch.manual_seed(0)
    model = build_model(config, input_shape, outputs)
    model.train()
    with torch.no_grad():  # move BatchNorm statistics and ReZero scalars off their start values
        for _ in range(3):
            model(torch.randn(32, *input_shape))
        for name, p in model.named_parameters():
            if "branch_scale" in name:
                p.fill_(0.5)
    return model


@pytest.mark.parametrize("legacy", [False, True], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_family_exports_and_matches_torch(name, legacy, tmp_path):
    model = trained_model(*MODELS[name])
    path = tmp_path / "model.onnx"
    if legacy and name == "mlp-layernorm-residual":
        # The TorchScript exporter has no rms_norm: it says so, and writes nothing.
        with pytest.raises(ExportError, match="rms_norm"):
            export_onnx(model, MODELS[name][1], path, legacy=True)
        assert list(tmp_path.iterdir()) == []
        return
    report = export_onnx(
        model, MODELS[name][1], path, config_json='{"a": 1}', legacy=legacy, latency_repeats=3
    )
    assert sorted(report.parity) == ["1", "64", "7"]
    assert report.max_abs_diff <= 1e-4
    assert report.inputs[0]["shape"][0] == "batch" and report.inputs[0]["shape"][1:] == list(
        MODELS[name][1]
    )
    assert report.exporter == ("torchscript" if legacy else "dynamo")
    assert [p.name for p in tmp_path.iterdir()] == sorted(
        ["model.onnx", "model.report.json"]
    ) or set(p.name for p in tmp_path.iterdir()) == {
        "model.onnx",
        "model.report.json",
    }  # no stray .data file
    saved = json.loads(report_path(path).read_text())
    assert saved["parity"] == report.parity and saved["opset"] == report.opset
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["producer"] == "knoblab" and meta["knoblab_config"] == '{"a": 1}'
    model.eval()  # the file computes the inference-mode model
    x = torch.randn(5, *MODELS[name][1])
    import onnxruntime as ort

    got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-4)


def test_exported_file_runs_in_a_fresh_process_without_knoblab(tmp_path):
    trainer = Trainer(PRESETS["moons-mlp"])
    trainer.run(50)
    path = tmp_path / "moons.onnx"
    export_onnx(trainer.model, (2,), path, latency_repeats=2)
    x = np.random.default_rng(0).normal(size=(9, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = trainer.predict(x)
    code = (
        "import sys, numpy as np, onnxruntime as ort\n"
        f"s = ort.InferenceSession({str(path)!r})\n"
        f"out = s.run(None, {{'input': np.load({str(tmp_path / 'x.npy')!r})}})[0]\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, out)\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('lab', 'torch')]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-4)


@torch.library.custom_op("knoblab_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@mystery.register_fake
def _(x):
    return torch.empty_like(x)


class Unexportable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mystery(self.linear(x))


@pytest.mark.parametrize("legacy", [False, True], ids=["dynamo", "torchscript"])
def test_an_op_the_exporter_rejects_gives_export_error_and_no_file(legacy, tmp_path):
    path = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="exporter failed") as excinfo:
        export_onnx(Unexportable(), (2,), path, legacy=legacy)
    assert "mystery" in str(excinfo.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_a_file_that_computes_something_else_is_refused(tmp_path, monkeypatch):
    import lab.engine.export as export

    monkeypatch.setattr(export, "PARITY_TOLERANCE", 0.0)
    model = trained_model(*MODELS["mlp-batchnorm-dropout"])
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_onnx(model, (2,), tmp_path / "m.onnx", latency_repeats=1)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("preset", ["copy-transformer", "chars-transformer"])
def test_a_transformer_exports_with_dynamic_batch_and_sequence_axes(preset, tmp_path):
    import onnxruntime as ort

    from lab.core.presets import PRESETS
    from lab.train.trainer import Trainer

    trainer = Trainer(PRESETS[preset])
    trainer.run(10)
    path = tmp_path / "m.onnx"
    report = export_onnx(trainer.model, trainer.data.input_shape, path, latency_repeats=3)
    assert report.inputs[0]["shape"] == ["batch", "sequence"]
    half = trainer.data.input_shape[0] // 2
    for key in ("7", "64", f"7x{half}", f"64x{half}"):  # two batch sizes, two lengths
        assert report.parity[key]["max_abs"] <= 1e-4
    session = ort.InferenceSession(str(path))
    tokens = trainer.x_test[:3, :5]  # a length the export never saw
    with torch.no_grad():
        expected = trainer.model.eval()(tokens).numpy()
    np.testing.assert_allclose(session.run(None, {"input": tokens.numpy()})[0], expected, atol=1e-4)
    with pytest.raises(ExportError, match="TorchScript exporter cannot export the Transformer"):
        export_onnx(trainer.model, trainer.data.input_shape, tmp_path / "l.onnx", legacy=True)
