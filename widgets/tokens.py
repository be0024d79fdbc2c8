"""Token sequences on screen: the input of the Attention and Samples views
(a test example by number, or tokens typed by hand: symbols by their names,
text as it is), and how a token is written (a space or line break visibly)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from lab.core import wire
from widgets.inputs import WheelGuard

ANSWER, PROMPT = "#0072B2", "#777777"  # what the loss scores, and what it does not
VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥"}


def shown(token: str, text: bool = False) -> str:
    """A token as it is drawn: whitespace as a visible sign (in running
    ``text`` a space stays a space, a line break shows as ⏎)."""
    if text and token == " ":
        return token
    return VISIBLE.get(token, token)


def joined(tokens: Sequence[str], text: bool) -> str:
    """Tokens as one string: characters side by side (``text``), symbols spaced."""
    return ("" if text else " ").join(shown(t, text) for t in tokens)


class ExampleBox(WheelGuard, QSpinBox):
    """A test example's number; the wheel turns it only once it has focus."""

    def __init__(self) -> None:
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a wheel over it does not focus it


class TokenInput(QWidget):
    changed = Signal(str, int)  # typed text ("" for a test example), example number

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.example = ExampleBox()
        self.example.setRange(0, 9999)
        self.example.setObjectName("tokens.example")
        self.example.setToolTip("Which test example to look at (used while no text is typed)")
        self.text = QLineEdit()
        self.text.setObjectName("tokens.text")
        self.text.setPlaceholderText("or type tokens, e.g. 3 1 4 1 5 | (Enter)")
        self.text.setToolTip(
            "Your own input: symbols by their names (spaces optional), or text for the"
            " chars task. Clear it to go back to the test examples."
        )
        clear = QPushButton("Test example")
        clear.setToolTip("Forget the typed input and show the test example again")
        clear.clicked.connect(lambda: self.set_input("", self.example.value(), emit=True))
        self.example.valueChanged.connect(lambda _: self._emit())
        self.text.returnPressed.connect(self._emit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("test example"))
        layout.addWidget(self.example)
        layout.addWidget(self.text, 1)
        layout.addWidget(clear)

    def value(self) -> tuple[str, int]:
        return self.text.text(), self.example.value()

    def set_input(self, text: str, example: int, emit: bool = False) -> None:
        for widget in (self.text, self.example):
            widget.blockSignals(True)
        self.text.setText(text)
        self.example.setValue(example)
        for widget in (self.text, self.example):
            widget.blockSignals(False)
        if emit:
            self._emit()

    def _emit(self) -> None:
        self.changed.emit(*self.value())


class TokenExamples(QLabel):
    """A few training sequences as text: the prompt grey, the tokens the
    model is scored on (its answer) bold and coloured."""

    ROWS = 6

    def __init__(self) -> None:
        super().__init__("")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setMinimumHeight(120)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setStyleSheet("background: white; padding: 4px; font-family: monospace;")
        self.setMinimumWidth(0)

    def set_data(
        self, x: np.ndarray, y: np.ndarray, class_names: Sequence[str], text: bool
    ) -> None:
        """Sequences ``x`` (N, T) and targets ``y`` (the next tokens; ignored
        where the loss leaves them out); ``text``: characters of a text."""
        lines = []
        for xs, ys in zip(x[: self.ROWS], y[: self.ROWS], strict=True):
            full = [int(t) for t in xs] + [int(ys[-1])]
            scored = [False] + [int(t) != wire.IGNORED_TARGET for t in ys]
            if text:  # a window of the corpus: every token is scored
                window = html.escape(joined([class_names[t] for t in full], True))
                lines.append(f'<span style="white-space: pre-wrap;">{window}</span>')
                continue
            parts = [
                f'<b style="color:{ANSWER}">{html.escape(shown(class_names[t]))}</b>'
                if on
                else f'<span style="color:{PROMPT}">{html.escape(shown(class_names[t]))}</span>'
                for t, on in zip(full, scored, strict=True)
            ]
            lines.append(" ".join(parts))
        self.setText(("<hr>" if text else "<br>").join(lines))
