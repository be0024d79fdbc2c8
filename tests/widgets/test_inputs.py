import math

import pytest

from lab.core.config import ExperimentConfig
from widgets.forms import Field, FieldForm
from widgets.layer_editor import LayerEditor
from widgets.log_slider import LogSlider


def test_log_slider_maps_positions_to_a_log_scale_and_accepts_typed_values(qtbot):
    slider = LogSlider(1e-5, 10.0, 0.01)
    qtbot.addWidget(slider)
    seen = []
    slider.valueChanged.connect(seen.append)
    position = slider.slider.value()
    assert position == round((math.log10(0.01) + 5) / 6 * 1000)
    slider.slider.setValue(1000)
    assert seen[-1] == pytest.approx(10.0)
    slider.slider.setValue(500)
    assert seen[-1] == pytest.approx(10 ** (-5 + 3), rel=1e-2)
    assert slider.box.value() == pytest.approx(seen[-1])
    slider.box.setValue(0.00314)  # typed
    assert seen[-1] == pytest.approx(0.00314)
    assert slider.slider.value() == round((math.log10(0.00314) + 5) / 6 * 1000)
    count = len(seen)
    slider.setValue(0.5)  # programmatic: no signal
    assert len(seen) == count and slider.value() == 0.5


def test_layer_editor_add_remove_move(qtbot):
    editor = LayerEditor()
    qtbot.addWidget(editor)
    layers = ExperimentConfig().to_dict()["model"]["layers"][:2]
    layers[1]["activation"] = "tanh"
    editor.set_layers(layers, cnn=False)
    emitted = []
    editor.layersChanged.connect(emitted.append)
    editor.table.selectRow(0)
    editor.add_layer()
    assert [layer["activation"] for layer in emitted[-1]] == ["relu", "relu", "tanh"]
    editor.table.selectRow(2)
    editor.move_layer(-1)
    assert [layer["activation"] for layer in emitted[-1]] == ["relu", "tanh", "relu"]
    editor.table.selectRow(0)
    editor.remove_layer()
    assert [layer["activation"] for layer in emitted[-1]] == ["tanh", "relu"]
    editor.table.cellWidget(0, 0).setValue(12)
    editor.table.cellWidget(0, 0).editingFinished.emit()
    assert emitted[-1][0]["width"] == 12
    assert editor.table.isColumnHidden(6)  # pooling only for CNNs


def test_field_form_emits_paths_and_marks_errors(qtbot):
    form = FieldForm(
        [
            (
                "g",
                [
                    Field("optim.name", "optimiser", "choice", ("sgd", "adam")),
                    Field("data.batch_size", "batch", "int", low=1, high=10**6),
                ],
            )
        ]
    )
    qtbot.addWidget(form)
    seen = []
    form.changed.connect(lambda path, value: seen.append((path, value)))
    form.set_values({"optim.name": "adam", "data.batch_size": 32})
    assert seen == []  # showing values emits nothing
    form.editors["data.batch_size"].setValue(64)
    form.editors["optim.name"].setCurrentText("sgd")
    assert seen == [("data.batch_size", 64), ("optim.name", "sgd")]
    form.show_error("data.batch_size", "too big")
    assert form.error.text() == "too big" and form.editors["data.batch_size"].styleSheet()
    form.show_error(None, "")
    assert not form.editors["data.batch_size"].styleSheet()
