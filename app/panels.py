"""The Model, Data and Knobs panels: forms over the experiment config."""

from __future__ import annotations

import html
import textwrap

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lab.core.config import (
    OPTIMIZER_FIELDS,
    SCHEDULE_FIELDS,
    ExperimentConfig,
    field_knob,
    flatten,
)
from lab.core.schedule import lr_curve
from widgets.forms import FieldForm
from widgets.layer_editor import LayerEditor
from widgets.preset_box import PresetBox
from widgets.small_plots import SchedulePreview

SUMMARY_WHAT = 20  # characters of a layer's description on one line of the summary
TRANSFORMER_FIELDS = [
    "layers",
    "d_model",
    "heads",
    "kv_heads",
    "context",
    "positional",
    "norm",
    "ffn",
    "ffn_mult",
    "dropout",
    "tie_embeddings",
    "scale_attention",
    "scale_residual_init",
]


class ModelPanel(QWidget):
    presetChosen = Signal(str)  # noqa: N815
    changed = Signal(str, object)
    openModel = Signal()  # noqa: N815 - Open model…

    def __init__(self) -> None:
        super().__init__()
        self.preset = PresetBox()
        self.preset.activated.connect(
            lambda index: self.presetChosen.emit(self.preset.itemData(index) or "")
        )
        self.form = FieldForm(
            [
                ("Your model", ["model.source"]),
                ("Transformer", [f"model.transformer.{name}" for name in TRANSFORMER_FIELDS]),
                ("Residual blocks", ["model.residual_scale", "model.norm_position"]),
            ]
        )
        self.form.changed.connect(self.changed)
        self.open_model = QPushButton("Open model…")
        self.open_model.setObjectName("model.open")
        self.open_model.setToolTip(
            "Train your own model: a Python file with a function of (input_shape, n_outputs)"
            " that returns an nn.Module. Knoblab runs the file."
        )
        self.open_model.clicked.connect(self.openModel)
        self.layers_title = QLabel("<b>Hidden layers</b> (input → … → head)")
        self.layers = LayerEditor()
        self.layers.layersChanged.connect(lambda layers: self.changed.emit("model.layers", layers))
        self.notes = QLabel("")  # what the probes cannot see in a model of one's own
        self.notes.setObjectName("model.notes")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #8a5a00;")
        self.notes.hide()
        self.summary = QLabel("")
        self.summary.setStyleSheet("font-family: monospace; font-size: 8pt;")
        self.summary.setWordWrap(False)
        # a wide table (a CNN's layer names) scrolls sideways instead of widening the panel
        self.summary_area = QScrollArea()
        self.summary_area.setWidget(self.summary)
        self.summary_area.setWidgetResizable(True)
        self.summary_area.setFrameShape(QFrame.Shape.NoFrame)
        self.summary_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        head = QFormLayout()
        head.addRow("Preset", self.preset)
        head.addRow("", self.open_model)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.layers_title)
        layout.addWidget(self.layers, 1)
        layout.addWidget(self.form)
        layout.addWidget(self.notes)
        layout.addWidget(self.summary_area)

    def set_config(self, config: ExperimentConfig) -> None:
        data = config.to_dict()
        transformer = config.model.kind == "transformer"
        own = config.model.kind == "custom"  # a model of the person's own: its file says it all
        # a Transformer is its blocks' settings; an MLP or CNN its layer table
        self.layers_title.setVisible(not transformer and not own)
        self.layers.setVisible(not transformer and not own)
        self.form.groups["Transformer"].setVisible(transformer)
        self.form.groups["Your model"].setVisible(own)
        self.form.groups["Residual blocks"].setVisible(not own)
        self.form.show_rows({"model.residual_scale": not transformer})
        self.form.groups["Residual blocks"].setTitle("Blocks" if transformer else "Residual blocks")
        if not transformer and not own:
            self.layers.set_layers(data["model"]["layers"], config.model.kind == "cnn")
        self.form.set_values(flatten(data))
        self.preset.show_config(config)

    def set_notes(self, notes: tuple[str, ...]) -> None:
        """What the probes cannot see in the model, in words (none: hidden)."""
        self.notes.setText("\n".join(f"Not measured: {note}." for note in notes))
        self.notes.setVisible(bool(notes))

    def set_summary(self, rows: list[tuple[str, str, tuple[int, ...], int]], n_params: int) -> None:
        # columns as wide as their longest entry (a fixed 29 characters cut CNN
        # rows to "Conv2d-BatchNorm2d-ReLU-MaxPo"), up to SUMMARY_WHAT; longer
        # descriptions (a Transformer block's) go on over more lines
        whats = [
            textwrap.wrap(what, SUMMARY_WHAT, break_long_words=False, break_on_hyphens=False)
            or [""]
            for _, what, _, _ in rows
        ]
        what_w = max([len("what"), *(len(line) for lines in whats for line in lines)]) + 2
        shape_w = max([len("output"), *(len(str(shape)) for _, _, shape, _ in rows)]) + 2
        lines = [f"{'layer':<7}{'what':<{what_w}}{'output':<{shape_w}}{'params':>9}"]
        for (name, _, shape, params), what in zip(rows, whats, strict=True):
            lines.append(f"{name:<7}{what[0]:<{what_w}}{str(shape):<{shape_w}}{params:>9,}")
            lines += [f"{'':<7}{more}" for more in what[1:]]
        lines.append(f"{'total':<{7 + what_w + shape_w}}{n_params:>9,}")
        self.summary.setText("<pre>" + html.escape("\n".join(lines)) + "</pre>")
        bar = self.summary_area.horizontalScrollBar().sizeHint().height()
        self.summary_area.setFixedHeight(self.summary.sizeHint().height() + bar)


KNOB_GROUPS = [
    ("Initialisation", ["init.scheme", "init.gain", "init.std", "init.bias"]),
    (
        "Optimiser",
        [
            "optim.name",
            "optim.lr",
            "optim.momentum",
            "optim.nesterov",
            "optim.beta1",
            "optim.beta2",
            "optim.eps",
            "optim.alpha",
            "optim.weight_decay",
        ],
    ),
    (
        "Schedule",
        [
            "optim.schedule",
            "optim.warmup_steps",
            "optim.min_lr_ratio",
            "optim.step_size",
            "optim.gamma",
            "train.steps",
        ],
    ),
    (
        "Regularisation and precision",
        [
            "optim.clip",
            "optim.clip_value",
            "optim.accumulation",
            "train.label_smoothing",
            "train.precision",
            "train.seed",
        ],
    ),
    ("Probes", ["probes.every", "probes.dead_window", "probes.hist_range", "probes.saturation"]),
]


class KnobsPanel(QWidget):
    changed = Signal(str, object)

    def __init__(self) -> None:
        super().__init__()
        self.form = FieldForm(KNOB_GROUPS, collapsible=True)
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
            knob = field_knob(path)
            editor.setToolTip(knob.tooltip if on else f"{knob.label}: {why}")
