"""The engine loop over the real protocol, in-process (a thread and a Pipe)."""

import multiprocessing
import threading
import time

import numpy as np
import pytest
import torch

from lab.core import protocol as p
from lab.engine.loop import Engine
from lab.engine.pictures import THUMBNAIL_IMAGES_PER_CLASS
from tests.lab.helpers import tiny_config


class Harness:
    def __init__(self) -> None:
        self.gui, engine_end = multiprocessing.Pipe()
        self.engine = Engine(engine_end)
        self.thread = threading.Thread(target=self.engine.serve, daemon=True)
        self.thread.start()
        self.events: list = []

    def send(self, command) -> None:
        self.gui.send(command)

    def wait_for(self, kind, predicate=lambda e: True, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if isinstance(event, kind) and predicate(event):
                    return event
            seen = len(self.events)
            if self.gui.poll(0.05):
                self.events.append(self.gui.recv())
        raise AssertionError(
            f"no {kind.__name__} within {timeout}s; got {[type(e).__name__ for e in self.events]}"
        )

    def close(self) -> None:
        self.send(p.Shutdown())
        self.thread.join(5)


@pytest.fixture
def engine():
    harness = Harness()
    yield harness
    harness.close()


def test_start_build_and_stream_metrics(engine):
    engine.wait_for(p.Ready)
    engine.send(p.SetConfig(tiny_config(**{"train.steps": 10**6}).to_dict()))
    built = engine.wait_for(p.Built)
    assert built.n_params == sum(row[3] for row in built.summary_rows)
    assert built.x_train.shape[1] == 2
    signal = engine.wait_for(p.SignalPropagation)
    assert len(signal.act_grad_norm) == 3
    engine.send(p.Play())
    rows = engine.wait_for(p.MetricRows, lambda e: "eval" in e.series)
    columns, steps, values = rows.series["eval"]
    assert "test_loss" in columns and values.shape[1] == len(columns)
    engine.send(p.Pause())
    status = engine.wait_for(p.Status, lambda e: e.state == "paused")
    assert status.step > 0


def test_live_change_and_rebuild_are_reported(engine):
    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.SetConfig(tiny_config(**{"optim.lr": 0.05}).to_dict()))
    applied = engine.wait_for(p.ConfigApplied)
    assert applied.kind == "live" and engine.engine.trainer.optimizer.param_groups[0]["lr"] == 0.05
    engine.send(p.SetConfig(tiny_config(**{"model.layers[0].activation": "tanh"}).to_dict()))
    applied = engine.wait_for(p.ConfigApplied, lambda e: e.kind == "rebuild")
    assert "activation of layer 1 → tanh" in applied.message  # in words
    engine.wait_for(p.Built, lambda e: "rebuilt from scratch" in e.reason)


def test_rows_of_the_old_settings_arrive_before_the_change_is_confirmed():
    """The window relabels probe histograms when a change is confirmed: rows
    binned under the old settings must not trail behind the confirmation.
    Driven by hand, without the loop: steps whose rows wait in the outbox (a
    flush is due only every 1/30 s), then the change."""
    gui, engine_end = multiprocessing.Pipe()
    engine = Engine(engine_end)
    config = tiny_config(**{"probes.every": 1})
    engine.handle(p.SetConfig(config.to_dict()))
    engine._flush(force=True)
    engine.trainer.run(3)  # rows of steps 1-3, binned over [0, 4], not yet sent
    engine.handle(p.SetConfig(config.with_changes({"probes.hist_range": 2.0}).to_dict()))
    events = []
    while gui.poll(0.2):
        events.append(gui.recv())
    confirmed = next(i for i, e in enumerate(events) if isinstance(e, p.ConfigApplied))
    old_rows = [
        i
        for i, e in enumerate(events)
        if isinstance(e, p.MetricRows) and 3 in e.series.get("probe/hist/layer1", ((), []))[1]
    ]
    assert old_rows and max(old_rows) < confirmed


def test_bad_config_is_an_error_event_naming_the_field(engine):
    bad = tiny_config().to_dict()
    bad["optim"]["lr"] = -1
    engine.send(p.SetConfig(bad))
    error = engine.wait_for(p.Error)
    assert error.field == "optim.lr"
    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)  # still serving


def test_step_divergence_and_boundary(engine):
    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Step(5))
    engine.wait_for(p.Status, lambda e: e.step == 5)
    boundary = engine.wait_for(p.DecisionBoundary, lambda e: e.step == 5)
    assert boundary.values.shape == (80, 80) and np.all(
        (boundary.confidence >= 0.5) & (boundary.confidence <= 1)
    )
    from lab.core.presets import PRESETS

    engine.send(
        p.SetConfig(
            PRESETS["spirals-mlp"].with_changes({"optim.name": "sgd", "optim.lr": 100.0}).to_dict()
        )
    )
    engine.wait_for(p.Built)
    engine.send(p.Play())
    stopped = engine.wait_for(p.Stopped)
    assert "non-finite" in stopped.reason
    engine.wait_for(p.Status, lambda e: e.state == "paused")


def test_save_and_open_restore_config_and_curves(engine, tmp_path):
    engine.send(p.SetConfig(tiny_config(**{"optim.lr": 0.07}).to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Step(30))
    engine.wait_for(p.Status, lambda e: e.step == 30)
    engine.send(p.SaveRun(str(tmp_path / "run")))
    engine.wait_for(p.Saved)
    saved_loss = engine.engine.trainer.store["step"].column("loss")
    engine.send(p.Reset())
    engine.wait_for(p.Built, lambda e: e.reason == "reset")
    engine.send(p.OpenRun(str(tmp_path / "run")))
    built = engine.wait_for(p.Built, lambda e: e.reason.startswith("opened"))
    assert built.config["optim"]["lr"] == 0.07
    rows = engine.wait_for(
        p.MetricRows, lambda e: "step" in e.series and len(e.series["step"][1]) == 30
    )
    np.testing.assert_array_equal(rows.series["step"][2][:, 0], saved_loss)
    assert engine.engine.trainer.step_count == 30
    engine.send(p.OpenRun(str(tmp_path / "missing")))
    assert "missing: does not exist" in engine.wait_for(p.Error).message


def test_events_unpickle_without_torch(engine):
    """Every event must be builtins and numpy only: the GUI process has no torch."""
    import io
    import pickle

    class Recording(pickle.Unpickler):
        modules: set[str] = set()

        def find_class(self, module: str, name: str):  # what unpickling would import
            Recording.modules.add(module)
            return super().find_class(module, name)

    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Step(10))
    engine.wait_for(p.MetricRows, lambda e: "probe/grad_norm" in e.series)
    engine.wait_for(p.DecisionBoundary, lambda e: e.step == 10)
    kinds = {type(event).__name__ for event in engine.events}
    assert {
        "Ready",
        "Built",
        "SignalPropagation",
        "Status",
        "MetricRows",
        "DecisionBoundary",
    } <= kinds
    for event in engine.events:
        Recording(io.BytesIO(pickle.dumps(event))).load()
    assert Recording.modules  # the check saw something
    assert not [m for m in Recording.modules if m.split(".")[0] == "torch"], Recording.modules


def test_status_reports_process_memory(engine):
    import os

    engine.send(p.SetConfig(tiny_config().to_dict()))
    status = engine.wait_for(p.Status)
    with open(f"/proc/{os.getpid()}/status") as handle:  # an independent reading of RSS
        vm_rss = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS"))
    assert status.rss_bytes == pytest.approx(vm_rss, rel=0.2)
    assert status.memory_bytes is None  # no CUDA figure on the CPU


def test_landscape_job_streams_partial_grids_while_training(engine):
    engine.send(p.SetConfig(tiny_config(**{"train.steps": 10**6}).to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Step(30))
    engine.wait_for(p.Status, lambda e: e.step == 30)
    engine.send(p.Play())
    engine.wait_for(p.Status, lambda e: e.state == "running")
    # big enough not to finish within one slice of work (~17 ms) on a fast machine
    engine.send(p.ComputeLandscape(1, kind="filter", resolution=81, span=0.5, n_points=400))
    first_report = engine.wait_for(p.JobProgress, lambda e: e.partial is not None)
    first = first_report.partial
    assert first_report.job == 1 and first_report.kind == p.JobKind.LANDSCAPE
    assert first.step >= 30 and not first.complete  # partial grids arrive first
    finished = engine.wait_for(p.JobFinished, lambda e: e.job == 1)
    assert finished.outcome == p.JobOutcome.DONE
    final = finished.result
    assert final.complete
    assert np.isfinite(final.losses).all() and final.losses.shape == (81, 81)
    assert final.losses[40, 40] == pytest.approx(final.center_loss, rel=1e-6)
    assert np.isfinite(final.line_losses).all()  # and the line from the initial weights
    position = {id(e): i for i, e in enumerate(engine.events)}  # by identity: events hold arrays
    between = engine.events[position[id(first_report)] : position[id(finished)]]
    steps = [e.step for e in between if isinstance(e, p.Status)]
    assert steps and max(steps) > first.step  # training went on while it computed
    engine.send(p.Pause())


def test_landscape_cancel_and_pca_without_a_path(engine):
    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.ComputeLandscape(1, kind="pca"))
    refused = engine.wait_for(p.JobFinished, lambda e: e.job == 1)
    assert refused.outcome == p.JobOutcome.FAILED
    assert "PCA directions need a training path" in refused.error
    engine.send(p.ComputeLandscape(2, kind="filter", resolution=101, n_points=2000))
    engine.send(p.CancelJob(2))
    cancelled = engine.wait_for(p.JobFinished, lambda e: e.job == 2)
    assert cancelled.outcome == p.JobOutcome.CANCELLED
    assert cancelled.result is None or not cancelled.result.complete


def test_a_landscape_while_paused_computes_without_idling():
    """Paused, the engine waits for commands between loops; not while a
    landscape is computing (it used to wait 50 ms after every 1/60 s of work)."""

    class CountingPipe:
        def __init__(self, conn) -> None:
            self.conn, self.waits = conn, []

        def poll(self, timeout: float) -> bool:
            self.waits.append((timeout, bool(harness.engine.jobs.jobs)))
            return self.conn.poll(timeout)

        def __getattr__(self, name: str):
            return getattr(self.conn, name)

    harness = Harness.__new__(Harness)
    harness.gui, engine_end = multiprocessing.Pipe()
    pipe = CountingPipe(engine_end)
    harness.engine = Engine(pipe)
    harness.thread = threading.Thread(target=harness.engine.serve, daemon=True)
    harness.events = []
    harness.thread.start()
    try:
        harness.send(p.SetConfig(tiny_config().to_dict()))
        harness.wait_for(p.Built)
        harness.send(p.ComputeLandscape(1, kind="filter", resolution=41, n_points=400))
        harness.wait_for(p.JobFinished, lambda e: e.outcome == p.JobOutcome.DONE)
    finally:
        harness.close()
    while_computing = [timeout for timeout, computing in pipe.waits if computing]
    assert while_computing and max(while_computing) == 0.0
    assert any(timeout > 0 for timeout, _ in pipe.waits)  # idle otherwise


def test_an_error_while_training_is_reported_and_the_engine_keeps_serving(engine):
    engine.send(p.SetConfig(tiny_config(**{"train.steps": 10**6}).to_dict()))
    engine.wait_for(p.Built)
    trainer = engine.engine.trainer
    real_step = trainer.step
    calls = {"n": 0}

    def failing_step():
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("simulated CUDA out of memory")
        return real_step()

    trainer.step = failing_step
    engine.send(p.Play())
    error = engine.wait_for(p.Error)
    assert "simulated CUDA out of memory" in error.message and "Traceback" in error.details
    paused = engine.wait_for(p.Status, lambda e: e.state == "paused")
    assert paused.step == 4
    engine.send(p.Step(2))
    engine.wait_for(p.Status, lambda e: e.step == 6)  # still serving


def test_image_data_is_sent_as_examples_of_each_class_with_their_names(engine):
    from lab.core.presets import PRESETS

    config = PRESETS["shapes-cnn"].with_changes({"data.n_samples": 200})
    engine.send(p.SetConfig(config.to_dict()))
    built = engine.wait_for(p.Built)
    assert built.x_train.shape == (4 * THUMBNAIL_IMAGES_PER_CLASS, 1, 16, 16)
    assert np.bincount(built.y_train).tolist() == [THUMBNAIL_IMAGES_PER_CLASS] * 4
    assert built.class_names == ("circle", "square", "triangle", "cross")


def test_a_rebinned_histogram_is_dropped_on_the_wire_before_the_change_is_confirmed(engine):
    engine.send(p.SetConfig(tiny_config(**{"probes.every": 1}).to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Step(3))
    engine.wait_for(p.MetricRows, lambda e: "probe/hist/layer1" in e.series)
    engine.send(p.SetConfig(tiny_config(**{"probes.every": 1, "probes.hist_range": 2.0}).to_dict()))
    applied = engine.wait_for(p.ConfigApplied)
    position = next(i for i, e in enumerate(engine.events) if e is applied)
    drops = [i for i, e in enumerate(engine.events) if isinstance(e, p.MetricRows) and e.dropped]
    assert drops and drops[0] < position  # the window drops them before relabelling
    assert engine.events[drops[0]].dropped == ("probe/hist/",)
    assert "probe/hist/layer1" not in engine.engine.trainer.store


def test_export_runs_as_a_job_with_progress_and_can_be_cancelled(engine, tmp_path):
    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Step(5))
    path = tmp_path / "m.onnx"
    engine.send(p.ExportOnnx(1, str(path), legacy=True))
    done = engine.wait_for(p.JobFinished, lambda e: e.job == 1, timeout=60)
    assert done.outcome == p.JobOutcome.DONE and path.exists()
    messages = [e.message for e in engine.events if isinstance(e, p.JobProgress) and e.job == 1]
    assert "started" in messages and any("onnxruntime" in m for m in messages)
    other = tmp_path / "cancelled.onnx"
    engine.send(p.ExportOnnx(2, str(other)))  # the slower exporter: cancelled while it works
    engine.wait_for(p.JobProgress, lambda e: e.job == 2)
    engine.send(p.CancelJob(2))
    cancelled = engine.wait_for(p.JobFinished, lambda e: e.job == 2, timeout=60)
    assert cancelled.outcome == p.JobOutcome.CANCELLED
    time.sleep(3)  # the worker stops at its next stage and removes its temporary file
    assert not other.exists() and not list(tmp_path.glob(".cancelled.onnx.*"))
    engine.send(p.Step(1))
    engine.wait_for(p.Status, lambda e: e.step == 6)  # still serving


def test_a_rebuild_keeps_the_trained_run_one_undo_away(engine):
    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Step(40))
    engine.wait_for(p.Status, lambda e: e.step == 40)
    trained = engine.engine.trainer
    weights = [w.detach().clone() for w in trained.params]
    losses = trained.store["step"].column("loss").copy()
    engine.send(p.SetConfig(tiny_config(**{"model.layers[0].activation": "tanh"}).to_dict()))
    rebuilt = engine.wait_for(p.Built, lambda e: "rebuilt" in e.reason)
    assert rebuilt.undo == "experiment after 40 steps"
    engine.send(p.Step(3))
    engine.wait_for(p.Status, lambda e: e.step == 3)
    engine.send(p.Undo())
    back = engine.wait_for(p.Built, lambda e: e.reason.startswith("undo"))
    assert back.config["model"]["layers"][0]["activation"] == "relu"
    state = engine.wait_for(p.UndoState, lambda e: e.redo)  # the tanh run can come back
    assert state == p.UndoState("", "activation of layer 1 → tanh")
    engine.wait_for(p.Status, lambda e: e.step == 40)
    for now, before in zip(engine.engine.trainer.params, weights, strict=True):
        assert torch.equal(now, before)
    after = next(i for i, e in enumerate(engine.events) if e is back)
    rows = engine.wait_for(  # the restored curves follow the Built of the undo
        p.MetricRows,
        lambda e: "step" in e.series and any(x is e for x in engine.events[after:]),
    )
    np.testing.assert_array_equal(rows.series["step"][2][:, 0], losses)
    engine.send(p.Redo())  # and forward again: the tanh run as it was, 3 steps in
    forward = engine.wait_for(p.Built, lambda e: e.reason.startswith("redo"))
    assert forward.config["model"]["layers"][0]["activation"] == "tanh"
    engine.wait_for(p.Status, lambda e: e.step == 3)
    engine.send(p.Undo())
    engine.wait_for(p.Status, lambda e: e.step == 40)
    engine.send(p.Reset())  # a reset is undoable too
    reset = engine.wait_for(p.Built, lambda e: e.reason == "reset")
    assert reset.undo == "experiment after 40 steps"


def test_a_typed_learning_rate_travels_as_one_field_and_can_be_undone(engine):
    """ChangeConfig carries the field, not the config; the engine validates
    and classifies it once; Undo goes back, Redo forward; a slider dragged
    over many values is one step."""
    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)
    for lr in (0.02, 0.03, 0.04):  # a drag
        engine.send(p.ChangeConfig({"optim.lr": lr}))
    applied = engine.wait_for(p.ConfigApplied, lambda e: e.changes == {"optim.lr": 0.04})
    assert applied.kind == "live"
    state = engine.wait_for(p.UndoState, lambda e: "0.04" in e.undo)
    assert state.undo == "learning rate 0.1 → 0.04" and state.redo == ""  # one step
    engine.send(p.Undo())
    back = engine.wait_for(p.ConfigApplied, lambda e: e.changes == {"optim.lr": 0.1})
    assert back.kind == "live" and engine.engine.trainer.config.optim.lr == 0.1
    engine.wait_for(p.UndoState, lambda e: e.redo and not e.undo)
    engine.send(p.Redo())
    engine.wait_for(p.ConfigApplied, lambda e: e.changes == {"optim.lr": 0.04})
    engine.send(p.ChangeConfig({"optim.lr": -1.0}))  # refused, naming the field
    error = engine.wait_for(p.Error)
    assert error.field == "optim.lr" and engine.engine.trainer.config.optim.lr == 0.04


def small_copy_config(**changes):
    from lab.core.presets import PRESETS

    changes = {"data.n_samples": 400, "model.transformer.d_model": 32, **changes}
    return PRESETS["copy-transformer"].with_changes(changes)


def test_watched_attention_and_samples_are_sent_for_a_test_example_and_typed_text(engine):
    engine.send(p.SetConfig(small_copy_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.WatchTokens(attention=True, samples=True, example=3))
    maps = engine.wait_for(p.AttentionMaps)
    trainer = engine.engine.trainer
    example = trainer.x_test[3]
    layers, heads = 2, 4
    assert maps.maps.shape == (layers, heads, len(example), len(example))
    assert maps.tokens == tuple(trainer.data.class_names[i] for i in example)
    np.testing.assert_allclose(maps.maps.sum(axis=-1), 1.0, atol=1e-5)  # each query's weights
    assert np.all(np.triu(maps.maps, k=1) == 0)  # causal: nothing from the future
    samples = engine.wait_for(p.Samples)
    assert len(samples.rows) == 6
    first = samples.rows[0]
    assert len(first.expected) == len(first.got) == 8  # the copied half
    # the prompt ends at the separator: the answer is the symbols before it
    assert first.expected == first.prompt[:8]
    assert samples.answer_length == 8

    engine.send(p.WatchTokens(attention=True, samples=True, text="1 2 3 4"))
    typed = engine.wait_for(p.AttentionMaps, lambda e: len(e.tokens) == 4)
    assert typed.tokens == ("1", "2", "3", "4")
    # a typed prompt on a symbol task continues for the answer's length (it ran
    # on for 34 tokens), not to the end of the context
    row = engine.wait_for(p.Samples, lambda e: e.rows[0].prompt == typed.tokens).rows[0]
    assert len(row.got) == 8 and row.expected == ()

    engine.send(p.WatchTokens(attention=True, text="1 2 x"))
    error = engine.wait_for(p.Error)
    assert error.field == "sequence" and "'x'" in str(error.message)


def test_the_watched_views_follow_training_and_stop_when_hidden(engine):
    engine.send(p.SetConfig(small_copy_config(**{"train.steps": 10**6}).to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.WatchTokens(samples=True))
    engine.wait_for(p.Samples, lambda e: e.step == 0)
    engine.send(p.Play())
    later = engine.wait_for(p.Samples, lambda e: e.step > 0)
    assert later.step > 0
    engine.send(p.WatchTokens())  # both views hidden
    engine.send(p.Pause())
    engine.wait_for(p.Status, lambda e: e.state == "paused")
    time.sleep(0.6)
    seen = len(engine.events)
    engine.send(p.Step(5))
    engine.wait_for(p.Status, lambda e: e.step >= later.step + 5, timeout=10)
    time.sleep(0.6)
    while engine.gui.poll(0.05):
        engine.events.append(engine.gui.recv())
    assert not any(isinstance(e, p.Samples) for e in engine.events[seen:])


def test_a_measured_decode_streams_rows_and_ends_with_each_layout(engine):
    config = small_copy_config(**{"model.transformer.context": 32})
    engine.send(p.SetConfig(config.to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.DecodeKV(7, layout="paged", batch=2, prompt=4, block_size=8))
    partial = engine.wait_for(p.JobProgress, lambda e: e.job == 7 and e.partial is not None)
    assert isinstance(partial.partial, p.KVDecode) and partial.kind == "decode"
    done = engine.wait_for(p.JobFinished, lambda e: e.job == 7)
    assert done.outcome == "done", done.error
    result = done.result
    assert result.lengths[-1] == 32 and result.held.shape == (28, 2)
    assert result.blocks[-1] == 2 * 4 * 2  # 2 sequences x 4 blocks of 8 x 2 layers
    assert [h.layout for h in result.layouts] == ["static", "concat", "paged"]
    assert np.isfinite(result.seconds_full).all() and result.logit_error < 1e-5


def test_a_decode_the_model_cannot_serve_is_refused_clearly(engine):
    engine.send(p.SetConfig(small_copy_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.DecodeKV(8, tokens=100))
    refused = engine.wait_for(p.JobFinished, lambda e: e.job == 8)
    assert refused.outcome == "failed" and "exceed the model's context of 16" in refused.error
    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built, lambda e: e.task == "classification")
    engine.send(p.DecodeKV(9))
    refused = engine.wait_for(p.JobFinished, lambda e: e.job == 9)
    assert "needs a Transformer" in refused.error


def test_fuzzed_and_wrong_type_messages_are_answered_with_errors(engine):
    """Random bytes and well-formed messages of the wrong shape: each gets an
    error event, and the engine still answers afterwards."""
    import random

    engine.wait_for(p.Ready)
    rng = random.Random(1)
    for _ in range(40):
        engine.gui.send_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120))))
    wrong = [42, None, {"play": True}, p.SetConfig(config=5), p.Step(count="x"), p.SetSpeed("fast")]
    for message in wrong:
        engine.send(message)
    engine.send(p.Ping(99))
    engine.wait_for(p.Pong, lambda e: e.number == 99)
    errors = [e for e in engine.events if isinstance(e, p.Error)]
    unreadable = [e for e in errors if "could not read a command" in e.message]
    assert len(unreadable) >= 35  # (a few random strings may happen to decode)
    assert len(errors) >= len(unreadable) + 4  # 42, None, a dict, SetConfig(5) at least
    engine.send(p.SetConfig(tiny_config().to_dict()))
    assert engine.wait_for(p.Built).n_params > 0


def test_learning_rate_1e6_pauses_with_a_report_naming_a_layer(engine):
    engine.send(p.SetConfig(tiny_config(**{"optim.name": "sgd", "optim.lr": 1e6}).to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Play())
    stopped = engine.wait_for(p.Stopped)
    assert "non-finite" in stopped.reason and (
        "layer" in stopped.reason or "head" in stopped.reason
    )
    engine.wait_for(p.Status, lambda e: e.state == "paused")


def test_out_of_memory_while_training_pauses_and_keeps_the_run(engine, monkeypatch):
    from lab.engine import faults

    engine.send(p.SetConfig(tiny_config().to_dict()))
    engine.wait_for(p.Built)
    engine.send(p.Step(3))
    engine.wait_for(p.Status, lambda e: e.step == 3)
    released = []
    monkeypatch.setattr(faults, "FAULT", "train-oom")
    monkeypatch.setattr(faults, "release_memory", lambda: released.append(True))
    engine.send(p.Play())
    error = engine.wait_for(p.Error, lambda e: "out of memory" in e.message)
    assert "OutOfMemoryError" in error.details and released
    engine.wait_for(p.Status, lambda e: e.state == "paused" and e.step == 3)  # the run is kept
    monkeypatch.setattr(faults, "FAULT", "")
    engine.send(p.Step(2))
    engine.wait_for(p.Status, lambda e: e.step == 5)
