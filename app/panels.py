"""The Model, Data and Knobs panels: forms over the experiment config."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from lab.core.config import (
    CLIP_MODES,
    DATASETS,
    INIT_SCHEMES,
    NORM_POSITIONS,
    OPTIMIZER_FIELDS,
    OPTIMIZERS,
    PRECISIONS,
    REGRESSION_DATASETS,
    RESIDUAL_SCALES,
    SCHEDULE_FIELDS,
    SCHEDULES,
    TWO_CLASS_DATASETS,
    ExperimentConfig,
    flatten,
)
from lab.core.presets import PRESETS
from lab.core.schedule import lr_curve
from widgets.forms import Field, FieldForm
from widgets.layer_editor import LayerEditor
from widgets.small_plots import DataThumbnail, SchedulePreview


class ModelPanel(QWidget):
    presetChosen = Signal(str)  # noqa: N815
    changed = Signal(str, object)

    def __init__(self) -> None:
        super().__init__()
        self.preset = QComboBox()
        self.preset.addItems(["(choose a preset)", *PRESETS])
        self.preset.activated.connect(self._preset)
        self.form = FieldForm(
            [
                (
                    "Residual blocks",
                    [
                        Field(
                            "model.residual_scale",
                            "branch scale",
                            "choice",
                            RESIDUAL_SCALES,
                            tip="none; 1/sqrt(2N) for N residual blocks; rezero: starts at 0",
                        ),
                        Field(
                            "model.norm_position",
                            "norm position",
                            "choice",
                            NORM_POSITIONS,
                            tip="post: after the weights; pre: pre-activation residual branch",
                        ),
                    ],
                )
            ]
        )
        self.form.changed.connect(self.changed)
        self.layers = LayerEditor()
        self.layers.layersChanged.connect(lambda layers: self.changed.emit("model.layers", layers))
        self.summary = QLabel("")
        self.summary.setStyleSheet("font-family: monospace;")
        self.summary.setWordWrap(False)
        head = QFormLayout()
        head.addRow("Preset", self.preset)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(QLabel("<b>Hidden layers</b> (input → … → head)"))
        layout.addWidget(self.layers, 1)
        layout.addWidget(self.form)
        layout.addWidget(self.summary)

    def _preset(self, index: int) -> None:
        if index > 0:
            self.presetChosen.emit(self.preset.itemText(index))
            self.preset.setCurrentIndex(0)

    def set_config(self, config: ExperimentConfig) -> None:
        data = config.to_dict()
        self.layers.set_layers(data["model"]["layers"], config.model.kind == "cnn")
        self.form.set_values(flatten(data))

    def set_summary(self, rows: list[tuple[str, str, tuple[int, ...], int]], n_params: int) -> None:
        # columns as wide as their longest entry: a fixed 29 characters cut
        # CNN rows to "Conv2d-BatchNorm2d-ReLU-MaxPo"
        what_w = max([len("what"), *(len(what) for _, what, _, _ in rows)]) + 2
        shape_w = max([len("output"), *(len(str(shape)) for _, _, shape, _ in rows)]) + 2
        lines = [f"{'layer':<7}{'what':<{what_w}}{'output':<{shape_w}}{'params':>9}"]
        lines += [
            f"{name:<7}{what:<{what_w}}{str(shape):<{shape_w}}{params:>9,}"
            for name, what, shape, params in rows
        ]
        lines.append(f"{'total':<{7 + what_w + shape_w}}{n_params:>9,}")
        self.summary.setText("<pre>" + "\n".join(lines) + "</pre>")


class DataPanel(QWidget):
    changed = Signal(str, object)

    def __init__(self) -> None:
        super().__init__()
        self.form = FieldForm(
            [
                (
                    "Dataset",
                    [
                        Field("data.name", "dataset", "choice", DATASETS),
                        Field(
                            "data.noise",
                            "noise",
                            "float",
                            low=0.0,
                            high=10.0,
                            decimals=3,
                            step=0.05,
                        ),
                        Field("data.n_samples", "samples", "int", low=20, high=1_000_000),
                        Field("data.n_classes", "classes", "int", low=2, high=10),
                        Field(
                            "data.test_fraction",
                            "test fraction",
                            "float",
                            low=0.01,
                            high=0.9,
                            decimals=2,
                            step=0.05,
                        ),
                        Field("data.batch_size", "batch size", "int", low=1, high=1_000_000),
                        Field("data.seed", "data seed", "int", low=0, high=2**31 - 1),
                    ],
                )
            ]
        )
        self.form.changed.connect(self.changed)
        self.thumbnail = DataThumbnail()
        layout = QVBoxLayout(self)
        layout.addWidget(self.thumbnail)
        layout.addWidget(self.form)

    def set_config(self, config: ExperimentConfig) -> None:
        self.form.set_values(flatten(config.to_dict()))
        # the class count is the dataset's own for these: nothing to choose
        name = config.data.name
        fixed = name in TWO_CLASS_DATASETS or name in REGRESSION_DATASETS
        classes = self.form.editors["data.n_classes"]
        classes.setEnabled(not fixed)
        classes.setToolTip(
            f"{name} has no classes to choose"
            if name in REGRESSION_DATASETS
            else f"{name} has two classes"
            if fixed
            else "data.n_classes"
        )


class KnobsPanel(QWidget):
    changed = Signal(str, object)

    def __init__(self) -> None:
        super().__init__()
        self.form = FieldForm(
            [
                (
                    "Initialisation",
                    [
                        Field("init.scheme", "scheme", "choice", INIT_SCHEMES),
                        Field(
                            "init.gain",
                            "gain",
                            "float",
                            low=0.0,
                            high=100.0,
                            decimals=3,
                            step=0.1,
                            tip="multiplies the scheme's standard deviation",
                        ),
                        Field(
                            "init.std",
                            "std (normal)",
                            "float",
                            low=0.0,
                            high=100.0,
                            decimals=4,
                            step=0.01,
                        ),
                        Field(
                            "init.bias",
                            "bias",
                            "float",
                            low=-100.0,
                            high=100.0,
                            decimals=3,
                            step=0.1,
                        ),
                    ],
                ),
                (
                    "Optimiser",
                    [
                        Field("optim.name", "optimiser", "choice", OPTIMIZERS),
                        Field(
                            "optim.lr",
                            "learning rate",
                            "log",
                            low=1e-5,
                            high=10.0,
                            tip="log slider; type a value in the box",
                        ),
                        Field(
                            "optim.momentum",
                            "momentum",
                            "float",
                            low=0.0,
                            high=0.999,
                            decimals=3,
                            step=0.05,
                        ),
                        Field("optim.nesterov", "Nesterov", "bool"),
                        Field(
                            "optim.beta1",
                            "beta1",
                            "float",
                            low=0.0,
                            high=0.999,
                            decimals=3,
                            step=0.01,
                        ),
                        Field(
                            "optim.beta2",
                            "beta2",
                            "float",
                            low=0.0,
                            high=0.9999,
                            decimals=4,
                            step=0.001,
                        ),
                        Field(
                            "optim.weight_decay",
                            "weight decay",
                            "float",
                            low=0.0,
                            high=10.0,
                            decimals=5,
                            step=1e-4,
                        ),
                    ],
                ),
                (
                    "Schedule",
                    [
                        Field("optim.schedule", "schedule", "choice", SCHEDULES),
                        Field("optim.warmup_steps", "warm-up steps", "int", low=0, high=10**7),
                        Field("optim.step_size", "step every", "int", low=1, high=10**7),
                        Field(
                            "optim.gamma",
                            "step factor",
                            "float",
                            low=0.001,
                            high=1.0,
                            decimals=3,
                            step=0.05,
                        ),
                        Field("train.steps", "total steps", "int", low=1, high=10**9),
                    ],
                ),
                (
                    "Regularisation and precision",
                    [
                        Field("optim.clip", "clip", "choice", CLIP_MODES),
                        Field(
                            "optim.clip_value",
                            "clip value",
                            "float",
                            low=1e-6,
                            high=1e6,
                            decimals=4,
                            step=0.1,
                        ),
                        Field("optim.accumulation", "accumulate", "int", low=1, high=1024),
                        Field(
                            "train.label_smoothing",
                            "label smoothing",
                            "float",
                            low=0.0,
                            high=0.99,
                            decimals=2,
                            step=0.05,
                        ),
                        Field("train.precision", "precision", "choice", PRECISIONS),
                        Field("train.seed", "seed", "int", low=0, high=2**31 - 1),
                    ],
                ),
                (
                    "Probes",
                    [
                        Field(
                            "probes.every",
                            "probe every",
                            "int",
                            low=1,
                            high=10**6,
                            tip="steps between probe collections (cost knob)",
                        ),
                        Field(
                            "probes.dead_window",
                            "dead window",
                            "int",
                            low=1,
                            high=1024,
                            tip="a unit counts as dead when it gave no positive output on"
                            " each of the last K probed batches",
                        ),
                        Field(
                            "probes.hist_range",
                            "histogram range",
                            "float",
                            low=0.01,
                            high=1e6,
                            decimals=2,
                            step=0.5,
                            tip="activation histograms span [0, r] after ReLU, [-r, r] after"
                            " other activations; sigmoid and tanh keep their output range",
                        ),
                        Field(
                            "probes.saturation",
                            "saturated beyond",
                            "float",
                            low=0.51,
                            high=0.9999,
                            decimals=4,
                            step=0.01,
                            tip="sigmoid outputs below 1-s or above s, tanh |a| above s,"
                            " count as saturated",
                        ),
                    ],
                ),
            ]
        )
        self.form.changed.connect(self.changed)
        self.schedule = SchedulePreview()
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(QLabel("learning rate over the run"))
        layout.addWidget(self.schedule)

    def set_config(self, config: ExperimentConfig) -> None:
        self.form.set_values(flatten(config.to_dict()))
        self.schedule.set_curve(*lr_curve(config.optim, config.train.steps))
        self.show_used(config)

    def show_used(self, config: ExperimentConfig) -> None:
        """Knobs the chosen init scheme, optimiser, schedule or clipping mode
        does not read are greyed out, saying so: a student dragging SGD's
        momentum under Adam saw nothing happen and no reason why."""
        optim, scheme = config.optim, config.init.scheme
        optimiser_fields = {f for fields in OPTIMIZER_FIELDS.values() for f in fields}
        schedule_fields = {f for fields in SCHEDULE_FIELDS.values() for f in fields}
        for path, editor in self.form.editors.items():
            section, _, name = path.partition(".")
            if path == "init.std":  # the spread of the plain normal scheme only
                on, why = scheme == "normal", f"{scheme} sets its own scale"
            elif path == "init.gain":
                on, why = scheme != "zeros", "zeros has no scale"
            elif section != "optim" or name == "lr":
                continue
            elif name in optimiser_fields:
                on = name in OPTIMIZER_FIELDS[optim.name]
                why = f"{optim.name} does not use it"
            elif name in schedule_fields:
                on = name in SCHEDULE_FIELDS[optim.schedule]
                why = f"the {optim.schedule} schedule does not use it"
            elif name == "clip_value":
                on, why = optim.clip != "none", "clipping is off"
            else:
                continue
            editor.setEnabled(on)
            spec = self.form.fields[path]
            editor.setToolTip((spec.tip or path) if on else f"{path}: {why}")
