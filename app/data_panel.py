"""The Data panel: which data the experiment reads (a generated set, a real
set by name, or a file of the person's: Open data… or Image folder…), its
picture (points or images with their labels, or token sequences), a preview
(where it came from, a table's first rows with each column's role, a text's
opening, the class counts), and the form of the fields this data reads."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lab.core.config import (
    REGRESSION_DATASETS,
    SEQUENCE_DATASETS,
    TWO_CLASS_DATASETS,
    ExperimentConfig,
    field_knob,
    flatten,
)
from lab.core.config.choices import FILE_DATASET, REAL_DATASETS
from lab.core.datainfo import DataInfo
from widgets.data_preview import DataPreview
from widgets.forms import FieldForm
from widgets.job_bar import JobBar
from widgets.small_plots import DataThumbnail
from widgets.tokens import TokenExamples

DATA_FIELDS = [
    "data.name",
    "data.path",
    "data.target",
    "data.target_kind",
    "data.impute",
    "data.image_size",
    "data.colour",
    "data.standardize",
    "data.limit",
    "data.noise",
    "data.n_samples",
    "data.n_classes",
    "data.test_fraction",
    "data.seq_len",
    "data.vocab",
    "data.batch_size",
    "data.seed",
]


def shown_fields(config: ExperimentConfig) -> dict[str, bool]:
    """The fields ``config``'s data reads: a generated set its noise, size and
    classes; a file its path and what its kind takes (a table's target and
    missing values, an image folder's size and colour)."""
    data = config.data
    name, kind = data.name, data.file_kind
    real = name in REAL_DATASETS
    tokens = name in SEQUENCE_DATASETS or kind == "text"
    return {
        "data.path": name == FILE_DATASET,
        "data.target": kind == "table",
        "data.target_kind": kind in ("table", "arrays"),
        "data.impute": kind == "table",
        "data.image_size": kind == "images",
        "data.colour": kind == "images",
        "data.standardize": real and not tokens,
        "data.limit": real and not tokens,
        "data.noise": not real and not tokens,
        "data.n_samples": not real or tokens,  # a text file: windows drawn from it
        "data.n_classes": not real and not tokens,
        "data.seq_len": tokens,
        "data.vocab": tokens and not data.text,  # a text's own characters
    }


def thumbnail_axes(info: DataInfo | None, task: str) -> str:
    """What a table's thumbnail plots, in words (its first inputs; the model
    reads them all): "x alcohol, y malic acid; colour: the class"."""
    if info is None or not info.features:
        return ""
    names = info.features
    if task == "regression":
        return f"x {names[0]}, y the target ({len(names)} inputs in all)"
    if len(names) < 2:
        return f"x {names[0]}; colour: the class"
    more = f" (the first 2 of {len(names)} inputs)" if len(names) > 2 else ""
    return f"x {names[0]}, y {names[1]}; colour: the class{more}"


class DataPanel(QWidget):
    changed = Signal(str, object)
    openFile = Signal()  # noqa: N815 - Open data… (a file)
    openFolder = Signal()  # noqa: N815 - Image folder…

    def __init__(self) -> None:
        super().__init__()
        self.open_file = QPushButton("Open data…")
        self.open_file.setObjectName("data.open")
        self.open_file.setToolTip(
            "Train on your own file: a CSV/TSV table with a header, an NPZ/NPY array file or a"
            " UTF-8 text (or drop a file onto the window)"
        )
        self.open_file.clicked.connect(self.openFile)
        self.open_folder = QPushButton("Image folder…")
        self.open_folder.setToolTip(
            "Train on a folder of images: one subfolder per class, PNG or JPEG files in each"
        )
        self.open_folder.clicked.connect(self.openFolder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_file)
        buttons.addWidget(self.open_folder)
        buttons.addStretch(1)
        self.download = JobBar()  # a set fetched by name
        self.download.hide()
        self.form = FieldForm([("Dataset", DATA_FIELDS)])
        self.form.changed.connect(self._changed)
        self.thumbnail = DataThumbnail()
        self.axes = QLabel("")  # what a table's thumbnail plots
        self.axes.setObjectName("data.axes")
        self.axes.setWordWrap(True)
        self.axes.setStyleSheet("color: #555; font-size: 8pt;")
        self.sequences = TokenExamples()
        self.preview = DataPreview()
        self.text = False  # the data's tokens are characters of a text
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.download)
        layout.addWidget(self.thumbnail)
        layout.addWidget(self.axes)
        layout.addWidget(self.sequences)
        layout.addWidget(self.preview)
        layout.addWidget(self.form)
        self.sequences.hide()
        self._path = ""

    def _changed(self, path: str, value: object) -> None:
        if path == "data.name" and value == FILE_DATASET and not self._path:
            self.openFile.emit()  # a file is chosen by its path: ask for one
            return
        self.changed.emit(path, value)

    def set_data(
        self,
        x: np.ndarray,
        y: np.ndarray,
        task: str,
        class_names: tuple[str, ...],
        info: DataInfo | None = None,
    ) -> None:
        """The data as built: points or images in a plot, token sequences as
        text, and the preview of what it is."""
        tokens = task == "next_token"
        self.thumbnail.setVisible(not tokens and x.size > 0)
        self.sequences.setVisible(tokens)
        if tokens:
            self.sequences.set_data(x, y, class_names, self.text)
        elif x.size:
            self.thumbnail.set_data(x, y, task, class_names)
        self.preview.show_info(info if info is not None and info.kind != "generated" else None)
        self.axes.setText(thumbnail_axes(info, task))
        self.axes.setVisible(bool(self.axes.text()) and not tokens)

    def set_config(self, config: ExperimentConfig) -> None:
        self.form.set_values(flatten(config.to_dict()))
        name = config.data.name
        self._path = config.data.path
        self.text = config.data.text
        self.form.show_rows(shown_fields(config))
        # the class count is the dataset's own for these: nothing to choose
        fixed = name in TWO_CLASS_DATASETS or name in REGRESSION_DATASETS
        classes = self.form.editors["data.n_classes"]
        classes.setEnabled(not fixed)
        classes.setToolTip(
            f"{name} has no classes to choose"
            if name in REGRESSION_DATASETS
            else f"{name} has two classes"
            if fixed
            else field_knob("data.n_classes").tooltip
        )
