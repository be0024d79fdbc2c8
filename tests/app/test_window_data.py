"""Real data in the window: a file opened or dropped becomes the data, the
panel shows its preview (rows with roles, images with labels, a text) and
class counts, the fields it reads; a file it cannot read says so and the
experiment stays; a set not downloaded is asked for, fetched with progress
and trained on; a run whose data moved offers to pick it."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from lab.core import protocol as p


def write_table(path, rows=90):
    lines = [f"{i % 7},{(i * 3) % 5},{'red' if i % 3 else 'blue'},{'a' if i % 2 else 'b'}"
             for i in range(rows)]  # fmt: skip
    path.write_text("x1,x2,colour,label\n" + "\n".join(lines) + "\n")
    return path


def built_on(window, qtbot, name: str, mark: int) -> p.Built:
    return window.recorder.wait_for(
        qtbot, p.Built, lambda e: e.config["data"]["name"] == name, after=mark
    )


def test_a_csv_opened_shows_its_rows_roles_and_class_counts(qtbot, window, tmp_path, monkeypatch):
    path = write_table(tmp_path / "t.csv")
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    mark = window.recorder.mark()
    window.data_panel.open_file.click()
    built = built_on(window, qtbot, "file", mark)
    assert built.config["data"]["batch_size"] == 72  # the file's 72 training rows
    panel = window.data_panel
    qtbot.waitUntil(lambda: panel.preview.rows.isVisible())
    header = [panel.preview.rows.horizontalHeaderItem(c).text() for c in range(4)]
    assert header == ["x1\nnumeric", "x2\nnumeric", "colour\none-hot (2)", "label\ntarget"]
    assert panel.preview.rows.item(0, 2).text() == "blue"
    counts = panel.preview.counts
    assert [counts.item(r, 0).text() for r in range(2)] == ["a", "b"]
    assert sum(int(counts.item(r, 1).text()) for r in range(2)) == 72
    assert "SHA-256" in panel.preview.source.text()
    assert panel.axes.text() == "x x1, y x2; colour: the class (the first 2 of 4 inputs)"
    editors = panel.form
    assert not editors._rows["data.noise"].isRowVisible(editors.editors["data.noise"])
    assert editors._rows["data.target"].isRowVisible(editors.editors["data.target"])
    assert window.model_panel.summary.text().count("(4,)") == 0  # 4 features in, not 2
    assert "(2,)" in window.model_panel.summary.text()  # two classes out


def test_a_file_dropped_on_the_window_is_the_data_and_a_bad_one_says_why(qtbot, window, tmp_path):
    folder = tmp_path / "pics"
    for c, name in enumerate(("circle", "square")):
        (folder / name).mkdir(parents=True)
        for i in range(12):
            Image.new("L", (12, 12), 60 * c + 5 * i).save(folder / name / f"{i}.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    drop = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    mark = window.recorder.mark()
    window.dropEvent(drop)
    built = built_on(window, qtbot, "file", mark)
    assert built.x_train.shape[1:] == (1, 28, 28) and built.class_names == ("circle", "square")
    assert window.config.model.kind == "mlp" and built.data.kind == "images"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,x\n2\n")
    mark = window.recorder.mark()
    window.data_files.use(str(bad))
    error = window.recorder.wait_for(qtbot, p.Error, after=mark)
    assert "line 3 has 1 fields" in error.message
    qtbot.waitUntil(lambda: window.config.data.path == str(folder))  # the data stays
    assert "line 3 has 1 fields" in window.banner.text()


def test_a_set_not_downloaded_is_asked_for_then_fetched_and_trained_on(qtbot, quiet_window):
    """The window's side (the engine's download is tested in tests/lab): it
    asks, starts the job, shows its progress with Cancel, and sends the
    change again once the set is here."""
    window, sent = quiet_window, quiet_window.client.sent
    changes = {"data.name": "mnist", "model.kind": "mlp"}
    window.on_event(p.NeedsDownload("mnist", 11_594_722, "/cache/mnist", changes))
    box = window.data_files.dialog
    assert box is not None and "mnist is not on this computer yet" in box.text()
    assert "11.1 MB" in box.text() and "/cache/mnist" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    fetch = next(c for c in sent if isinstance(c, p.FetchData))
    assert fetch.name == "mnist"
    bar = window.data_panel.download
    window.on_event(p.JobProgress(fetch.job, p.JobKind.DOWNLOAD, 0.5, "mnist: 5.5 MiB"))
    assert bar.isVisible() and bar.cancel.isEnabled() and bar.bar.value() == 500
    bar.cancel.click()
    assert p.CancelJob(fetch.job) in sent
    window.on_event(p.JobFinished(fetch.job, p.JobKind.DOWNLOAD, p.JobOutcome.DONE))
    assert sent[-1] == p.ChangeConfig(changes)


def test_a_download_declined_sends_nothing(qtbot, quiet_window):
    window = quiet_window
    window.on_event(p.NeedsDownload("cifar10", 170_052_171, "/cache/cifar10", {}))
    window.data_files.dialog.button(QMessageBox.StandardButton.No).click()
    assert not any(isinstance(c, p.FetchData) for c in window.client.sent)


def test_a_run_whose_data_is_gone_offers_to_pick_it(qtbot, quiet_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = quiet_window
    moved = write_table(tmp_path / "moved.csv")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(moved), ""))
    window.on_event(p.DataProblem("/runs/r", "missing", "the run's data file /d/t.csv is gone",
                                  "/d/t.csv"))  # fmt: skip
    box = window.data_files.dialog
    assert "is gone" in box.text()
    pick = next(b for b in box.buttons() if b.text() == "Pick the file…")
    pick.click()
    assert window.client.sent[-1] == p.OpenRun("/runs/r", data_path=str(moved), accept_changed=True)


def test_the_loss_view_follows_a_run_whose_loss_falls_fast(qtbot, window):
    """iris's loss fell a thousandfold within 40 steps, the loss axis turned
    log, and the steps' range froze there: 2,000 steps showed as 40."""
    mark = window.recorder.mark()
    window.on_field_changed("data.name", "iris")
    built_on(window, qtbot, "iris", mark)
    window.speed.setCurrentText("full speed")
    window.play_action.trigger()
    window.recorder.wait_for(qtbot, p.Stopped, after=mark, timeout=60)
    view = window.tabs.view("loss_view")
    qtbot.waitUntil(lambda: view.log_y.isChecked() and not view.dirty)
    qtbot.wait(200)
    low, high = view.loss_plot.getViewBox().viewRange()[0]
    assert low < 100 and high > 1900, (low, high)


def test_choosing_file_as_the_dataset_asks_for_the_file(qtbot, quiet_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = quiet_window
    path = write_table(tmp_path / "chosen.csv")
    asked = []
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda *a, **k: asked.append(a) or (str(path), "")
    )
    window.data_panel.form.editors["data.name"].setCurrentText("file")
    assert asked  # the dialog, not a refused "data.path: is empty"
    change = next(c for c in window.client.sent if isinstance(c, p.ChangeConfig))
    assert change.changes["data.path"] == str(path) and change.changes["data.name"] == "file"
    assert window.config.data.path == str(path)


def test_a_run_whose_model_is_code_is_opened_only_after_asking(qtbot, quiet_window):
    window = quiet_window
    window.on_event(p.ModelCode("/runs/r", "the run's model is Python code, /m.py:f (SHA-256 ab…)"))
    box = window.data_files.dialog
    assert "Opening the run runs that file" in box.text()
    assert not any(isinstance(c, p.OpenRun) for c in window.client.sent)
    next(b for b in box.buttons() if b.text() == "Run it and open").click()
    assert window.client.sent[-1] == p.OpenRun("/runs/r", run_code=True)


def test_open_model_makes_a_model_file_the_model(qtbot, quiet_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    window = quiet_window
    model = tmp_path / "mine.py"
    model.write_text("def make_model(input_shape, n_outputs): ...\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(model), ""))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("make_model", True))
    window.model_panel.open_model.click()
    assert window.config.model.kind == "custom"
    assert window.config.model.source == f"{model}:make_model"
    assert window.model_panel.form.groups["Your model"].isVisibleTo(window.model_panel)
    assert not window.model_panel.layers.isVisibleTo(window.model_panel)
