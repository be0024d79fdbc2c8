"""What a change takes, and the change in words (what the status bar says)."""

from lab.core.changes import classify_change, describe
from lab.core.config import ExperimentConfig, ModelConfig, mlp_layers
from lab.core.protocol import ChangeKind


def test_a_change_is_said_in_words_never_as_a_cut_raw_path():
    base = ExperimentConfig(model=ModelConfig(layers=mlp_layers(20, 64, "sigmoid")))
    every = base.with_changes({f"model.layers[{i}].activation": "relu" for i in range(20)})
    report = classify_change(base, every)
    assert report.kind == ChangeKind.REBUILD
    assert report.words == "activation of 20 layers → relu"
    assert "model.layers" not in report.message
    one = base.with_changes({"model.layers[3].width": 32})
    assert describe(base, one, tuple(base.diff(one))) == "width of layer 4 → 32"
    lr = base.with_changes({"optim.lr": 0.003})
    assert (
        classify_change(base, lr).message == "learning rate 0.01 → 0.003: applied on the next step"
    )
    fewer = base.with_changes({"model.layers": [base.to_dict()["model"]["layers"][0]]})
    assert classify_change(base, fewer).words == "20 hidden layers → 1"
    many = base.with_changes(
        {
            "optim.lr": 0.1,
            "optim.momentum": 0.5,
            "data.noise": 0.2,
            "train.steps": 10,
            "init.gain": 2.0,
        }
    )
    assert classify_change(base, many).words.startswith("5 settings (")
