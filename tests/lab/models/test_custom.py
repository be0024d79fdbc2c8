"""A model of the person's own (``model.source = "file.py:function"``):
trained by the lab's trainer, probed per leaf module under its own names
(checked against autograd by hand), and refused clearly where the probes
could not measure it right."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lab.core.errors import ConfigError
from lab.data import experiment_data
from lab.models import build_model
from lab.train.init import init_model
from lab.train.signal import signal_propagation
from lab.train.task import make_task
from lab.train.trainer import Trainer
from tests.lab.helpers import tiny_config

MODEL = """
from torch import nn


def make_model(input_shape, n_outputs):
    return nn.Sequential(
        nn.Linear(input_shape[0], 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(),
        nn.Linear(16, n_outputs),
    )
"""


def model_file(tmp_path, text: str = MODEL, name: str = "mine.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def custom(tmp_path, text: str = MODEL, **changes):
    source = f"{model_file(tmp_path, text)}:make_model"
    return tiny_config(**{"model.kind": "custom", "model.source": source, **changes})


def test_a_model_of_ones_own_trains_and_is_probed_per_leaf_module(tmp_path):
    config = custom(tmp_path)
    trainer = Trainer(config)
    assert [name for name, _ in trainer.model.named_layers()] == ["0", "1", "2", "3", "4"]
    assert trainer.model.blind == ()
    assert trainer.run(60) == "done"
    trainer.store.sync()
    assert trainer.store["probe/grad_norm"].columns == ("0", "1", "2", "3", "4")
    assert trainer.store["probe/act_std"].columns == ("1", "3")  # the ReLU and the Tanh
    assert "probe/dead_map/1" in trainer.store.series  # the ReLU's units
    assert trainer.evaluate()["test_acc"] > 0.7


def test_its_probed_gradients_equal_autograd_by_hand(tmp_path):
    config = custom(tmp_path)
    snapshot = signal_propagation(config, n_samples=128)
    data = experiment_data(config)
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, data.input_shape, data.n_outputs)
    init_model(model, config)
    task = make_task(config, data.n_outputs, data.task)
    model.train()
    x = torch.as_tensor(data.x_train[:128])
    task.loss(model(x), task.targets(torch.as_tensor(data.y_train[:128]))).backward()
    for index, name in enumerate(snapshot.layer_names):
        module = dict(model.named_layers())[name]
        grads = [p.grad for p in module.parameters()]
        expected = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))  # 0: no weights
        assert float(snapshot.grad_norm[index]) == pytest.approx(expected, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("act = nn.ReLU()\n    return nn.Sequential(nn.Linear(input_shape[0], 8), act,"
         " nn.Linear(8, 8), act, nn.Linear(8, n_outputs))",
         "module '1' is called 2 times in one forward pass"),
        ("return nn.Linear(input_shape[0], 3)", r"the model gives \(2, 3\) for 2 examples"),
        ("return 'a model'", "returned a str, not an nn.Module"),
        ("raise RuntimeError('no GPU here')", "raised RuntimeError: no GPU here"),
        ("class Odd(nn.Module):\n        def __init__(self):\n            super().__init__()\n"
         "            self.scale = nn.Parameter(torch.ones(1))\n"
         "            self.fc = nn.Linear(input_shape[0], n_outputs)\n"
         "        def forward(self, x):\n            return self.fc(x) * self.scale\n"
         "    return Odd()", "holds parameters of its own .scale."),
    ],
)  # fmt: skip
def test_what_the_probes_could_not_measure_right_is_refused_naming_it(tmp_path, body, message):
    head = "import torch\nfrom torch import nn\n\n\ndef make_model(input_shape, n_outputs):\n"
    text = f"{head}    {body}\n"
    with pytest.raises(ConfigError, match=message) as excinfo:
        Trainer(custom(tmp_path, text))
    assert excinfo.value.field == "model.source"


def test_a_missing_file_or_function_and_a_broken_file_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Trainer(tiny_config(**{"model.kind": "custom", "model.source": f"{tmp_path}/no.py:f"}))
    path = model_file(tmp_path)
    with pytest.raises(ConfigError, match="has no function 'build'"):
        Trainer(tiny_config(**{"model.kind": "custom", "model.source": f"{path}:build"}))
    broken = model_file(tmp_path, "import nosuchmodule\n", "broken.py")
    with pytest.raises(ConfigError, match="failed to run: ModuleNotFoundError"):
        Trainer(tiny_config(**{"model.kind": "custom", "model.source": f"{broken}:f"}))
    with pytest.raises(ConfigError, match="model.source: 'mine' does not name a function"):
        tiny_config(**{"model.kind": "custom", "model.source": "mine"})


def test_an_activation_written_as_a_function_is_said_to_be_unseen(tmp_path):
    text = MODEL.replace("nn.ReLU(), ", "").replace("nn.Tanh(),\n        ", "")
    text = text.replace("return nn.Sequential(", "return nn.Sequential(")
    trainer = Trainer(custom(tmp_path, text))
    assert any("no activation statistics" in words for words in trainer.model.blind)
    from lab.engine.pictures import built

    assert built(trainer, "start").model_notes == trainer.model.blind  # the window says it
    assert np.isfinite(trainer.step().loss)


def test_the_readmes_example_model_trains(tmp_path):
    from lab.core.assets import readme

    text = readme().read_text(encoding="utf-8")
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert "def make_model(input_shape, n_outputs):" in block
    trainer = Trainer(custom(tmp_path, block))
    assert trainer.run(20) == "done"
