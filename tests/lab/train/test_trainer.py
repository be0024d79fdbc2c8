import contextlib
import threading
import time

import numpy as np
import pytest
import torch

from lab.core.changes import classify_change
from lab.core.config import ConfigError
from lab.train.trainer import Trainer, TrainingStopped
from tests.lab.helpers import tiny_config


def test_same_seed_same_curves_other_seed_other_curves():
    runs = []
    for seed in (3, 3, 4):
        trainer = Trainer(tiny_config(**{"train.seed": seed, "model.layers[0].dropout": 0.2}))
        trainer.run(60)
        runs.append(trainer.store["step"].column("loss"))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_reset_reproduces_the_start():
    trainer = Trainer(tiny_config())
    trainer.run(20)
    first = trainer.store["step"].column("loss")
    trainer.reset()
    assert trainer.step_count == 0 and "step" not in trainer.store
    trainer.run(20)
    np.testing.assert_array_equal(trainer.store["step"].column("loss"), first)


def test_evaluation_rows_every_eval_every_steps_and_more_often_early():
    trainer = Trainer(tiny_config(**{"train.eval_every": 7}))
    trainer.run(30)
    series = trainer.store["eval"]
    np.testing.assert_array_equal(series.steps, [1, 2, 4, 7, 14, 21, 28])
    # the logged test loss is the model's loss on the test set, recomputed by hand
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(
            trainer.model.eval()(trainer.x_test), trainer.y_test
        )
    trainer.model.train()
    row = trainer.log_evaluation()
    assert row["test_loss"] == pytest.approx(float(loss), rel=1e-5)
    predicted = trainer.predict(trainer.data.x_test).argmax(axis=1)
    assert row["test_acc"] == pytest.approx(float(np.mean(predicted == trainer.data.y_test)))


def test_confusion_counts_equal_a_recount_of_the_test_predictions():
    from lab.core.presets import PRESETS

    trainer = Trainer(PRESETS["shapes-cnn"].with_changes({"data.n_samples": 300}))
    trainer.run(20)
    row = trainer.log_evaluation()
    series = trainer.store["confusion"]
    assert series.latest_step == 20
    classes = trainer.data.n_outputs
    predicted = trainer.predict(trainer.data.x_test).argmax(axis=1)
    by_hand = np.zeros((classes, classes))
    for true, guess in zip(trainer.data.y_test, predicted, strict=True):
        by_hand[true, guess] += 1
    np.testing.assert_array_equal(series.latest.reshape(classes, classes), by_hand)
    assert series.columns[classes + 2] == "true1_pred2"
    assert np.trace(by_hand) / by_hand.sum() == pytest.approx(row["test_acc"])
    regression = Trainer(tiny_config(**{"data.name": "regression1d"}))
    regression.log_evaluation()
    assert "confusion" not in regression.store


def test_change_classification():
    base = tiny_config()
    assert classify_change(base, base.with_changes({"optim.lr": 0.5})).kind == "live"
    assert classify_change(base, base.with_changes({"data.batch_size": 16})).kind == "live"
    assert classify_change(base, base.with_changes({"optim.name": "adam"})).kind == "optimizer"
    assert (
        classify_change(base, base.with_changes({"model.layers[0].activation": "tanh"})).kind
        == "rebuild"
    )
    assert classify_change(base, base.with_changes({"init.gain": 2.0})).kind == "rebuild"
    assert classify_change(base, base).kind == "none"


def test_structural_change_rebuilds_cleanly():
    trainer = Trainer(tiny_config())
    trainer.run(10)
    trainer.submit({"model.layers[1].activation": "sigmoid", "model.layers[1].width": 8})
    result = trainer.step()
    assert result.step == 1
    assert trainer.last_change.kind == "rebuild"
    assert "rebuilt" in trainer.last_change.message
    assert isinstance(trainer.model.blocks[1].act, torch.nn.Sigmoid)
    assert trainer.model.blocks[1].transform.out_features == 8


def test_bad_submit_raises_and_queues_nothing():
    trainer = Trainer(tiny_config())
    with pytest.raises(ConfigError) as excinfo:
        trainer.submit({"optim.lr": -1})
    assert excinfo.value.field == "optim.lr"
    assert not trainer.pending


def test_label_smoothing_change_is_live_and_used():
    trainer = Trainer(tiny_config())
    trainer.run(3)
    trainer.submit({"train.label_smoothing": 0.3})
    x, y = trainer.batches.next(32)  # peek at the next batch
    trainer.batches.cursor -= x.shape[0]
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(trainer.model(x), y, label_smoothing=0.3)
    result = trainer.step()
    assert trainer.last_change.kind == "live" and trainer.step_count == 4
    assert result.loss == pytest.approx(float(expected), rel=1e-6)


def test_batch_size_change_is_live():
    trainer = Trainer(tiny_config())
    trainer.run(3)
    trainer.submit({"data.batch_size": 8})
    trainer.step()
    assert trainer.last_change.kind == "live" and trainer.step_count == 4
    cursor = trainer.batches.cursor
    trainer.step()
    assert trainer.batches.cursor - cursor == 8  # the step took 8 examples


def test_submit_from_another_thread_while_running():
    trainer = Trainer(tiny_config(**{"train.steps": 10**6}))
    lrs = []

    class Enough(Exception):
        pass

    def record(result) -> None:
        lrs.append(result.lr)
        if lrs.count(0.0123) > 50:
            raise Enough  # the change has been in use for a while: stop

    def work() -> None:
        with contextlib.suppress(Enough):
            trainer.run(10**6, record)

    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(0.2)
    trainer.submit({"optim.lr": 0.0123})
    worker.join(20)
    assert not worker.is_alive()
    assert lrs[0] == 0.1 and lrs[-1] == 0.0123
    switch = lrs.index(0.0123)
    assert set(lrs[switch:]) == {0.0123}


def test_nonfinite_gradient_stops_names_the_layer_and_keeps_weights():
    trainer = Trainer(tiny_config())
    trainer.run(2)
    weights = [p.detach().clone() for p in trainer.params]

    def poison(_module, _inputs, output):  # NaN in dL/dh of layer2 only
        output.register_hook(lambda grad: grad * float("nan"))

    handle = trainer.model.blocks[1].register_forward_hook(poison)
    with pytest.raises(TrainingStopped, match=r"first in layer2"):
        trainer.step()
    handle.remove()
    assert trainer.step_count == 2
    for p, w in zip(trainer.params, weights, strict=True):
        torch.testing.assert_close(p.detach(), w)
    assert trainer.run(5).startswith("non-finite")  # stays stopped...
    trainer.submit({"optim.lr": 0.05})  # ...until the user changes something
    assert trainer.run(5) == "done" and trainer.step_count == 7


def test_divergence_from_a_huge_learning_rate_stops_cleanly():
    from lab.core.presets import PRESETS

    trainer = Trainer(PRESETS["spirals-mlp"].with_changes({"optim.name": "sgd", "optim.lr": 100.0}))
    outcome = trainer.run(50)
    assert outcome.startswith("non-finite"), outcome
    assert "Lower the learning rate" in outcome
    assert all(torch.isfinite(p).all() for p in trainer.params)


def test_checkpoint_resumes_exactly():
    trainer = Trainer(
        tiny_config(**{"optim.name": "adam", "optim.lr": 0.01, "model.layers[0].dropout": 0.1})
    )
    trainer.run(25)
    state = trainer.checkpoint()
    trainer.run(25)
    expected = trainer.store["step"].column("loss")[25:]
    resumed = Trainer(tiny_config())
    resumed.load_checkpoint(state)
    assert resumed.step_count == 25
    resumed.run(25)
    np.testing.assert_array_equal(resumed.store["step"].column("loss"), expected)


def test_metric_memory_is_bounded_over_long_runs():
    from lab.core.metrics import MetricStore

    trainer = Trainer(tiny_config(**{"train.eval_every": 10**6}), store=MetricStore(capacity=64))
    trainer.run(1000)
    series = trainer.store["step"]
    assert len(series) <= 64
    steps = series.steps
    assert steps[0] == 1 and steps[-1] > 900  # the whole run, evenly thinned
    assert len(set(np.diff(steps))) == 1


def test_bf16_autocast_trains():
    trainer = Trainer(
        tiny_config(**{"train.precision": "bf16", "optim.name": "adam", "optim.lr": 0.01})
    )
    first = trainer.evaluate()["train_loss"]
    assert trainer.run(100) == "done"
    assert trainer.evaluate()["train_loss"] < first


def test_unavailable_device_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError) as excinfo:
        Trainer(tiny_config(**{"train.device": "cuda"}))
    assert excinfo.value.field == "train.device"


def test_regression_and_cnn_train():
    from lab.core.presets import PRESETS

    regression = Trainer(PRESETS["regression-mlp"].with_changes({"train.eval_every": 100}))
    before = regression.evaluate()["test_loss"]
    regression.run(300)
    assert regression.evaluate()["test_loss"] < 0.5 * before
    cnn = Trainer(PRESETS["shapes-cnn"].with_changes({"data.n_samples": 600}))
    cnn.run(150)
    assert cnn.evaluate()["test_acc"] > 0.6  # 4 classes: chance is 0.25
