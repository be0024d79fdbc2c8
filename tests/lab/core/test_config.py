import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.core.config import (
    ACTIVATIONS,
    NORMS,
    OPTIMIZERS,
    SCHEMA_VERSION,
    ConfigError,
    DataConfig,
    ExperimentConfig,
    LayerConfig,
    ModelConfig,
    OptimConfig,
    mlp_layers,
)
from lab.core.errors import FileError
from lab.core.presets import PRESETS


def field_of(excinfo) -> str:
    return excinfo.value.field


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_toml_and_json(name, tmp_path):
    config = PRESETS[name]
    assert ExperimentConfig.from_toml(config.to_toml()) == config
    assert ExperimentConfig.from_json(config.to_json()) == config
    for suffix in (".toml", ".json"):
        config.save(tmp_path / f"c{suffix}")
        assert ExperimentConfig.load(tmp_path / f"c{suffix}") == config


layers = st.lists(
    st.builds(
        LayerConfig,
        width=st.integers(1, 512),
        activation=st.sampled_from(ACTIVATIONS),
        norm=st.sampled_from(NORMS),
        dropout=st.floats(0.0, 0.9),
    ),
    min_size=0,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(layers, st.sampled_from(OPTIMIZERS), st.floats(1e-6, 10.0), st.integers(0, 2**32 - 1))
def test_any_valid_config_round_trips(layer_list, optimizer, lr, seed):
    config = ExperimentConfig(
        model=ModelConfig(layers=tuple(layer_list)),
        optim=OptimConfig(name=optimizer, lr=lr),
    ).with_changes({"train.seed": seed})
    assert ExperimentConfig.from_toml(config.to_toml()) == config
    assert ExperimentConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"model.layers[1].width": -3}, "model.layers[1].width", ">= 1"),
        ({"model.layers[0].activation": "swish"}, "model.layers[0].activation", "relu"),
        (
            {"model.layers[2].width": 0, "model.layers[2].norm": "batch"},
            "model.layers[2].width",
            ">= 1",
        ),
        ({"optim.lr": 0.0}, "optim.lr", "> 0"),
        ({"optim.lr": -1e-3}, "optim.lr", "> 0"),
        ({"optim.name": "lion"}, "optim.name", "adamw"),
        ({"data.n_classes": 3, "data.name": "moons"}, "data.n_classes", "exactly 2"),
        ({"data.batch_size": 100000}, "data.batch_size", "training set"),
        ({"train.loss": "mse"}, "train.loss", "cross_entropy"),
        ({"model.kind": "cnn"}, "model.kind", "image"),
        ({"model.layers[0].residual": True}, "model.layers[0].residual", "width 2"),
        ({"optim.momentum": 1.5}, "optim.momentum", "< 1"),
        ({"train.steps": "many"}, "train.steps", "integer"),
        ({"train.steps": True}, "train.steps", "integer"),
        ({"model.layers[0].dropout": 1.0}, "model.layers[0].dropout", "< 1"),
    ],
)
def test_invalid_values_name_the_field(changes, field, words):
    with pytest.raises(ConfigError) as excinfo:
        ExperimentConfig().with_changes(changes)
    assert field_of(excinfo) == field
    assert field in str(excinfo.value)
    assert words in str(excinfo.value)


def test_the_bad_value_is_quoted_in_the_message():
    with pytest.raises(ConfigError, match="'swish' is not one of relu"):
        ExperimentConfig().with_changes({"model.layers[0].activation": "swish"})


def test_unknown_fields_and_paths_are_named():
    with pytest.raises(ConfigError) as excinfo:
        ExperimentConfig.from_dict({"optim": {"learning_rate": 0.1}})
    assert field_of(excinfo) == "optim.learning_rate"
    with pytest.raises(ConfigError) as excinfo:
        ExperimentConfig().with_changes({"model.layers[9].width": 3})
    assert field_of(excinfo) == "model.layers[9].width"


def test_missing_file_malformed_toml_and_json_are_file_errors_naming_the_file(tmp_path):
    """Not a field's fault: a FileError with the path, never a ConfigError
    whose field is not a field."""
    with pytest.raises(FileError, match="does not exist") as excinfo:
        ExperimentConfig.load(tmp_path / "nope.toml")
    assert excinfo.value.path == str(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim\nlr = 0.1\n")
    with pytest.raises(FileError, match="not a Knoblab config: malformed TOML") as excinfo:
        ExperimentConfig.load(bad)
    assert excinfo.value.path == str(bad) and not isinstance(excinfo.value, ConfigError)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(FileError, match="malformed JSON"):
        ExperimentConfig.load(bad_json)


def test_a_config_error_field_is_always_a_dotted_path():
    with pytest.raises(ValueError, match="dotted field path"):
        ConfigError("config file", "x")
    for path in ("optim.lr", "model.layers[2].width", "name"):
        assert ConfigError(path, "x").field == path


def test_invalid_value_in_a_file_names_the_field(tmp_path):
    path = tmp_path / "c.toml"
    text = ExperimentConfig().to_toml().replace("lr = 0.01", "lr = -0.5")
    path.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        ExperimentConfig.load(path)
    assert field_of(excinfo) == "optim.lr"


def test_newer_schema_is_refused_clearly():
    data = ExperimentConfig().to_dict() | {"schema": SCHEMA_VERSION + 1}
    with pytest.raises(ConfigError, match="newer") as excinfo:
        ExperimentConfig.from_dict(data)
    assert field_of(excinfo) == "schema"


def test_integers_are_accepted_for_float_fields():
    config = ExperimentConfig.from_dict({"optim": {"lr": 1}})
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)


def test_with_changes_and_diff():
    base = ExperimentConfig(model=ModelConfig(layers=mlp_layers(3, 32)))
    changed = base.with_changes({"optim.lr": 0.5, "model.layers[1].activation": "tanh"})
    assert changed.optim.lr == 0.5
    assert changed.model.layers[1].activation == "tanh"
    assert base.optim.lr == 0.01  # frozen: the original is untouched
    assert base.diff(changed) == ["model.layers[1].activation", "optim.lr"]
    fewer = base.with_changes(
        {"model.layers": [json.loads(json.dumps(base.to_dict()["model"]["layers"][0]))]}
    )
    assert "model.layers.#" in base.diff(fewer)


def test_defaults_are_valid_and_loss_resolves_by_task():
    assert ExperimentConfig().loss == "cross_entropy"
    regression = ExperimentConfig(data=DataConfig(name="regression1d"))
    assert regression.loss == "mse"


def test_every_preset_says_what_it_is_and_what_to_look_for():
    from lab.core.presets import PRESET_NOTES

    assert set(PRESET_NOTES) == set(PRESETS)
    for note in PRESET_NOTES.values():
        assert note.description.endswith(".") and len(note.look_for) > 20


def test_the_probed_activations_are_named_as_the_probes_name_them():
    from lab.core.config import dead_units_absent, histogram_span
    from lab.core.presets import PRESETS

    chars = PRESETS["chars-transformer"]  # SwiGLU: SiLU inside
    assert chars.model.activations() == {"block1": "silu", "block2": "silu"}
    copy = PRESETS["copy-transformer"]
    assert histogram_span(copy.model.activations()["block1"], copy.probes)[0] < 0  # GELU
    assert PRESETS["deep-sigmoid"].model.activations()["layer1"] == "sigmoid"
    assert dead_units_absent(copy.model, copy.probes) is None  # GELU units can go silent
