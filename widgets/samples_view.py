"""What the model answers: its greedy continuation of test prompts beside the
right answers, each wrong token marked, with the share it got right; or its
continuation of text typed by hand."""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QScrollArea

from lab.core import protocol as p
from widgets.base import ViewPanel
from widgets.tokens import TokenInput, joined, shown

RIGHT, WRONG, PROMPT = "#009E73", "#D55E00", "#555555"
END = "⏹"  # where a symbol task's answer ends
STACKED_TOKENS = 26  # longer rows (induction's) stack prompt, answer and model's answer


def marked(got: Sequence[str], expected: Sequence[str], text: bool) -> str:
    """The model's tokens as HTML, each one that differs from the answer in
    the warning colour, underlined (colour is not the only cue)."""
    parts = []
    for i, token in enumerate(got):
        right = i < len(expected) and token == expected[i]
        colour = RIGHT if right else WRONG
        style = f"color:{colour};" + ("" if right else "text-decoration:underline;")
        parts.append(f'<span style="{style}">{html.escape(shown(token, text))}</span>')
    return ("" if text else " ").join(parts)


def text_block(row: p.SampleRow) -> str:
    """A sample of running text: the prompt, then the model's continuation
    marked; below it the text's own continuation."""
    pre = 'style="white-space: pre-wrap; font-family: monospace; font-size: 11pt;"'
    prompt = html.escape(joined(row.prompt, True))
    lines = [f'<p {pre}><span style="color:{PROMPT}">{prompt}</span>']
    if row.expected:
        lines.append(marked(row.got, row.expected, True))
        right = html.escape(joined(row.expected, True))
        lines.append(f'<br><span style="color:{PROMPT}">text goes on: </span>{right}')
    else:
        lines.append(f"<b>{html.escape(joined(row.got, True))}</b>")
    return "".join(lines) + "</p>"


def correct(row: p.SampleRow) -> int:
    return sum(g == e for g, e in zip(row.got, row.expected, strict=False))


class SamplesView(ViewPanel):
    inputChanged = Signal(str, int)  # noqa: N815 - typed text, test example

    def __init__(self) -> None:
        super().__init__("Samples")
        self.input = TokenInput()
        self.input.changed.connect(self.inputChanged)
        self.layout().insertWidget(1, self.input)
        self.table = QLabel("")
        self.table.setTextFormat(Qt.TextFormat.RichText)
        self.table.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.table.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table.setStyleSheet("background: white; padding: 6px;")
        scroll = QScrollArea()
        scroll.setWidget(self.table)
        scroll.setWidgetResizable(True)
        self.canvas.hide()  # a table of text, not a plot
        self.layout().replaceWidget(self.canvas, scroll)
        self.scroll = scroll
        self.samples: p.Samples | None = None
        self.text = False  # the chars task: tokens are characters, side by side
        self.caption.setText("The model's answers appear here for a Transformer on a token task.")

    def set_samples(self, samples: p.Samples, text: bool) -> None:
        self.samples, self.text = samples, text
        self.dirty = True

    def clear(self) -> None:
        self.samples = None
        self.dirty = True

    def draw(self) -> None:
        samples = self.samples
        if samples is None:
            self.table.setText("")
            return
        typed = all(not row.expected for row in samples.rows)
        self.table.setMinimumWidth(0)
        if self.text:
            self.table.setText("<hr>".join(text_block(row) for row in samples.rows))
        else:
            self.table.setText(self.symbol_table(samples, typed))
        right = sum(correct(row) for row in samples.rows)
        total = sum(len(row.expected) for row in samples.rows)
        # never narrower than the table: a wide one scrolls instead of being cut off
        self.table.setMinimumWidth(self.table.sizeHint().width())
        if typed:
            ends = (
                f" for the task's {samples.answer_length} answer tokens ({END} marks where the"
                " answer ends)"
                if samples.answer_length
                else ""
            )
            self.caption.setText(
                f"Step {samples.step:,}: the model continues your input{ends}, always taking"
                " its most likely next token (greedy decoding)."
            )
        else:
            self.caption.setText(
                f"Step {samples.step:,}: the model answers test examples greedily, one token"
                f" at a time from its own previous tokens; {right} of {total} answer tokens"
                " right here (wrong ones underlined in orange)."
            )

    def symbol_table(self, samples: p.Samples, typed: bool) -> str:
        """Symbol tasks: prompt, right answer and the model's, in columns; long
        rows (the induction task's) one under another, so that they fit."""
        longest = max(
            (len(r.prompt) + len(r.expected) + len(r.got) for r in samples.rows), default=0
        )
        if longest > STACKED_TOKENS:
            return self.stacked_table(samples, typed)
        cell = 'style="padding:3px 10px; font-family:monospace; font-size:11pt;"'
        head = "<th align=left>{}</th>"
        lines = ['<table cellspacing="0">']
        columns = ("prompt", "continuation") if typed else ("prompt", "right answer", "model", "")
        lines.append("<tr>" + "".join(head.format(c) for c in columns) + "</tr>")
        for row in samples.rows:
            prompt = html.escape(joined(row.prompt, self.text))
            cells = [f'<td {cell}><span style="color:{PROMPT}">{prompt}</span></td>']
            if typed:
                cells.append(f"<td {cell}>{self.continuation(row, samples)}</td>")
            else:
                hits = correct(row)
                cells += [
                    f"<td {cell}>{html.escape(joined(row.expected, self.text))}</td>",
                    f"<td {cell}>{marked(row.got, row.expected, self.text)}</td>",
                    f"<td {cell}>{hits}/{len(row.expected)}</td>",
                ]
            lines.append("<tr>" + "".join(cells) + "</tr>")
        lines.append("</table>")
        return "".join(lines)

    def continuation(self, row: p.SampleRow, samples: p.Samples) -> str:
        """A typed prompt's continuation, bold, and where the answer ends."""
        got = f"<b>{html.escape(joined(row.got, self.text))}</b>"
        if samples.answer_length and len(row.got) == samples.answer_length:
            got += f' <span style="color:{PROMPT}" title="the answer ends here">{END}</span>'
        return got

    def stacked_table(self, samples: p.Samples, typed: bool) -> str:
        """Each example as lines: its prompt, the right answer, the model's."""
        cell = 'style="padding:1px 8px; font-family:monospace; font-size:11pt;"'
        label = f'style="padding:1px 8px; color:{PROMPT};"'
        lines = ['<table cellspacing="0">']
        for index, row in enumerate(samples.rows):
            if index:
                lines.append('<tr><td colspan="2"><hr></td></tr>')
            prompt = html.escape(joined(row.prompt, self.text))
            parts = [("prompt", f'<span style="color:{PROMPT}">{prompt}</span>')]
            if typed:
                parts.append(("model", self.continuation(row, samples)))
            else:
                right = html.escape(joined(row.expected, self.text))
                mine = f"{marked(row.got, row.expected, self.text)}"
                parts += [
                    ("right answer", right),
                    ("model", f"{mine} &nbsp; {correct(row)}/{len(row.expected)}"),
                ]
            lines += [f"<tr><td {label}>{k}</td><td {cell}>{v}</td></tr>" for k, v in parts]
        lines.append("</table>")
        return "".join(lines)

    def export_png(self, path: str) -> None:
        self.draw()
        self.scroll.grab().save(path)
        self.exported.emit(path)

    def csv_table(self) -> tuple[Sequence[str], Sequence[Sequence[object]]]:
        header = ["step", "prompt", "right_answer", "model", "right_tokens"]
        if self.samples is None:
            return header, []
        step = self.samples.step
        rows = [
            (
                step,
                joined(row.prompt, self.text),
                joined(row.expected, self.text),
                joined(row.got, self.text),
                correct(row) if row.expected else "",
            )
            for row in self.samples.rows
        ]
        return header, rows
