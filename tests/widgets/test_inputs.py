"""The editors made from field metadata: typed values kept as typed, ranges
from the config, wheel guarded, object names equal to config paths."""

import math

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab.core.config import ExperimentConfig, field_knob
from tests.qt_helpers import type_into, wheel
from widgets.forms import FieldForm
from widgets.inputs import NumberBox, SliderBox, editor_for
from widgets.layer_editor import LayerEditor


@pytest.fixture
def lr(qtbot) -> SliderBox:
    editor = editor_for("optim.lr", field_knob("optim.lr"))
    qtbot.addWidget(editor)
    editor.setValue(0.01)
    return editor


def test_the_lr_gets_a_log_slider_whose_positions_follow_the_knob(lr):
    assert isinstance(lr, SliderBox) and lr.objectName() == "optim.lr"
    seen = []
    lr.edited.connect(seen.append)
    assert lr.slider.value() == round((math.log10(0.01) + 5) / 6 * 1000)
    lr.slider.setValue(1000)
    assert seen[-1] == pytest.approx(10.0)
    lr.slider.setValue(500)
    assert seen[-1] == pytest.approx(10 ** (-5 + 3), rel=1e-2)
    assert lr.value() == pytest.approx(seen[-1])
    count = len(seen)
    lr.setValue(0.5)  # shown by the program: no signal
    assert len(seen) == count and lr.value() == 0.5


def test_typed_scientific_notation_is_taken_as_typed(qtbot, lr):
    seen = []
    lr.edited.connect(seen.append)
    type_into(qtbot, lr.box, "1e-4")
    assert seen == [pytest.approx(1e-4)] and lr.value() == pytest.approx(1e-4)
    assert lr.slider.value() == round((math.log10(1e-4) + 5) / 6 * 1000)
    type_into(qtbot, lr.box, "50")  # beyond the slider, within what the field takes
    assert seen[-1] == 50.0 and lr.slider.value() == 1000 and not lr.invalid


@pytest.mark.parametrize(
    ("text", "words"),
    [("-1", "> 0"), ("0", "> 0"), ("2e6", "<= 1e+06"), ("abc", "not a number"), ("", "number")],
)
def test_an_invalid_value_stays_as_typed_marked_with_the_range(qtbot, lr, text, words):
    seen, validity = [], []
    lr.edited.connect(seen.append)
    lr.validity.connect(validity.append)
    type_into(qtbot, lr.box, text)
    assert seen == [] and lr.box.text() == text  # never replaced by another number
    assert lr.invalid and words in lr.error and "allowed" in lr.error
    assert lr.box.styleSheet() and words in lr.box.toolTip()
    assert validity == [lr.error]
    assert lr.value() == 0.01  # the experiment still uses the last valid value
    qtbot.keyClick(lr.box, Qt.Key.Key_Escape)  # Escape brings the last valid value back
    assert lr.box.text() == "0.01" and not lr.invalid and validity[-1] == ""


def test_integer_fields_take_whole_numbers_in_any_notation(qtbot):
    box = editor_for("train.steps", field_knob("train.steps"))
    qtbot.addWidget(box)
    assert isinstance(box, NumberBox)
    box.setValue(2000)
    seen = []
    box.edited.connect(seen.append)
    type_into(qtbot, box, "2e3")
    type_into(qtbot, box, "5_000")
    assert seen == [2000, 5000] and all(isinstance(v, int) for v in seen)
    type_into(qtbot, box, "2.5")
    assert box.invalid and "whole number" in box.error and seen == [2000, 5000]


def test_a_wheel_over_an_unfocused_editor_changes_nothing(qtbot):
    panel = QWidget()
    qtbot.addWidget(panel)
    seed = editor_for("optim.name", field_knob("optim.name"))
    gain = editor_for("init.gain", field_knob("init.gain"))
    layout = QVBoxLayout(panel)
    layout.addWidget(seed)
    layout.addWidget(gain)
    panel.show()
    panel.activateWindow()
    qtbot.waitExposed(panel)
    seed.setValue("adam")
    gain.setValue(1.0)
    seen = []
    seed.edited.connect(seen.append)
    gain.edited.connect(seen.append)
    wheel(seed)
    wheel(gain.slider)
    assert seen == [] and seed.value() == "adam" and gain.value() == 1.0
    seed.setFocus()  # with focus, the wheel is the person's choice
    qtbot.waitUntil(seed.hasFocus, timeout=2000)
    wheel(seed, up=False)
    assert seen and seed.value() != "adam"


def test_a_slider_of_a_rebuilding_knob_applies_on_release(qtbot):
    gain = editor_for("init.gain", field_knob("init.gain"))
    qtbot.addWidget(gain)
    assert field_knob("init.gain").rebuild and not gain.slider.hasTracking()
    lr = editor_for("optim.lr", field_knob("optim.lr"))
    qtbot.addWidget(lr)
    assert lr.slider.hasTracking()  # a live knob follows the drag


def test_field_form_emits_paths_names_editors_and_marks_refusals(qtbot):
    form = FieldForm([("g", ["optim.name", "data.batch_size"])])
    qtbot.addWidget(form)
    assert form.findChild(object, "data.batch_size") is form.editors["data.batch_size"]
    assert form.labels["data.batch_size"].text() == field_knob("data.batch_size").label
    seen = []
    form.changed.connect(lambda path, value: seen.append((path, value)))
    form.set_values({"optim.name": "adam", "data.batch_size": 32})
    assert seen == []  # showing values emits nothing
    type_into(qtbot, form.editors["data.batch_size"], "64")
    form.editors["optim.name"].setCurrentText("sgd")
    assert seen == [("data.batch_size", 64), ("optim.name", "sgd")]
    form.show_error("data.batch_size", "too big")
    assert form.error.text() == "too big" and form.editors["data.batch_size"].invalid
    assert form.invalid() == {"data.batch_size": "too big"}
    assert form.show_error(None, "") == "data.batch_size"
    assert not form.editors["data.batch_size"].invalid and form.invalid() == {}


def test_every_knob_has_a_plain_language_tooltip_with_its_range():
    for section in ("model", "init", "data", "optim", "train", "probes"):
        for name, value in ExperimentConfig().to_dict()[section].items():
            if isinstance(value, list | dict):
                continue
            tip = field_knob(f"{section}.{name}").tooltip
            assert "Allowed:" in tip and f"{section}.{name}" not in tip, (section, name)


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
    type_into(qtbot, editor.table.cellWidget(0, 0), "12")
    assert emitted[-1][0]["width"] == 12
    assert editor.table.isColumnHidden(6)  # pooling only for CNNs
