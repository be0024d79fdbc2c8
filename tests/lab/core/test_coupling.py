"""Coupled fields: every switch of dataset, from every model family, yields
a valid config (the window never refuses a dataset for its model)."""

from dataclasses import replace

import pytest

from lab.core.config import DATASETS, SEQUENCE_DATASETS
from lab.core.coupling import coupled_changes
from lab.core.presets import PRESETS

STARTS = ["spirals-mlp", "regression-mlp", "shapes-cnn", "copy-transformer", "chars-transformer"]


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("name", [name for name in DATASETS if name != "file"])
def test_every_dataset_switch_gives_a_valid_config(start, name):
    config = PRESETS[start]
    new = config.with_changes(coupled_changes(config, "data.name", name))  # raises if invalid
    assert new.data.name == name
    if name in SEQUENCE_DATASETS:
        assert new.model.kind == "transformer"
        assert new.model.transformer.context >= new.data.sequence_length
        assert new.train.loss == "auto"
    if config.model.kind == new.model.kind:
        context = config.model.transformer.context
        kept = replace(new.model, transformer=replace(new.model.transformer, context=context))
        assert kept == config.model  # the model a person built is kept (but its context)


def test_a_longer_sequence_lengthens_the_context_and_a_shorter_keeps_it():
    config = PRESETS["copy-transformer"]  # 8 symbols: 16 tokens, context 16
    longer = config.with_changes(coupled_changes(config, "data.seq_len", 20))
    assert longer.model.transformer.context == 40
    shorter = config.with_changes(coupled_changes(config, "data.seq_len", 4))
    assert shorter.model.transformer.context == 16


def test_unrelated_fields_change_alone():
    config = PRESETS["copy-transformer"]
    assert coupled_changes(config, "optim.lr", 0.1) == {"optim.lr": 0.1}


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize(
    ("path", "kinds"),
    [("t.csv", ("mlp",)), ("a.npz", ("mlp", "cnn")), ("pictures", ("cnn", "mlp")),
     ("book.txt", ("transformer",))],
)  # fmt: skip
def test_choosing_a_file_makes_it_the_data_with_a_model_that_reads_it(start, path, kinds):
    config = PRESETS[start]
    new = config.with_changes(coupled_changes(config, "data.path", f"/somewhere/{path}"))
    assert new.data.name == "file" and new.data.path == f"/somewhere/{path}"
    assert new.model.kind in kinds
    assert new.model.kind == (config.model.kind if config.model.kind in kinds else kinds[0])
    assert new.train.loss == "auto"


def test_a_small_real_set_gets_a_batch_no_larger_than_its_training_set():
    config = PRESETS["spirals-mlp"].with_changes({"data.batch_size": 500})
    new = config.with_changes(coupled_changes(config, "data.name", "iris"))
    assert new.data.batch_size == 120  # 150 rows, a fifth held out
    assert new.model.kind == "mlp"
    digits = config.with_changes(coupled_changes(config, "data.name", "digits"))
    assert digits.model.kind == "mlp" and digits.data.batch_size == 500  # an MLP reads pixels
