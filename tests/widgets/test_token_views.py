"""The Transformer's views fed with fake arrays: attention maps, the entropy
per head, the model's samples and the data panel's token sequences."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from lab.core import protocol as p
from lab.core import wire
from lab.core.metrics import MetricStore
from widgets.attention_view import AttentionView, token_ticks, uniform_entropy
from widgets.samples_view import SamplesView
from widgets.tokens import TokenExamples, TokenInput, joined

TOKENS = ("3", "1", "4", "|", "3")


def causal_maps(layers: int = 2, heads: int = 2, length: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    raw = np.tril(rng.random((layers, heads, length, length)) + 0.01)
    return raw / raw.sum(axis=-1, keepdims=True)


def entropy_store(steps: int = 30) -> MetricStore:
    store = MetricStore()
    columns = ("block1.h1", "block1.h2", "block2.h1", "block2.h2")
    for step in range(1, steps + 1):
        store.append(wire.PROBE_ATTN_ENTROPY, step, np.arange(4) / step, columns)
    return store


@pytest.fixture
def attention(qtbot):
    view = AttentionView()
    qtbot.addWidget(view)
    view.resize(800, 700)
    view.show()
    view.set_store(entropy_store())
    view.set_maps(12, TOKENS, causal_maps())
    view.refresh()
    return view


def click(qtbot, view: AttentionView, plot) -> None:
    centre = view.canvas.mapFromScene(plot.sceneBoundingRect().center())
    QTest.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(centre))
    qtbot.wait(50)


def test_every_head_gets_its_map_with_nothing_above_the_diagonal(attention):
    maps = causal_maps()
    assert sorted(attention.images) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    drawn = attention.images[(1, 0)].image.T  # ImageItem holds x (keys) first
    lower = np.tril(np.ones((5, 5), bool))
    np.testing.assert_allclose(drawn[lower], maps[1, 0][lower])
    assert np.isnan(drawn[~lower]).all()  # the future is blank, not a zero weight
    assert "Step 12" in attention.caption.text() and "5 tokens" in attention.caption.text()


def test_a_click_enlarges_a_map_with_its_tokens_and_another_goes_back(qtbot, attention):
    click(qtbot, attention, attention.plots[(1, 1)])
    assert list(attention.images) == [(1, 1)]
    plot = attention.plots[(1, 1)]
    ticks = plot.getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == list(TOKENS)
    click(qtbot, attention, plot)
    assert len(attention.images) == 4


def test_token_ticks_thin_out_on_long_sequences():
    ticks = token_ticks([str(i % 10) for i in range(100)])[0]
    assert len(ticks) <= 40 and ticks[0] == (0.5, "0")


def test_the_entropy_plot_draws_each_head_from_the_store(attention):
    curves = [item for item in attention.entropy_plot.listDataItems()]
    assert len(curves) == 4
    x, y = curves[3].getData()
    np.testing.assert_allclose(y, 3 / np.arange(1, 31))  # block2.h2's column
    assert uniform_entropy(3) == pytest.approx(np.mean(np.log([1, 2, 3])))


def test_attention_csv_has_every_causal_weight(attention, tmp_path):
    header, rows = attention.csv_table()
    assert len(rows) == 2 * 2 * (5 * 6 // 2)
    row = next(r for r in rows if r[1:4] == (2, 1, 4))  # block 2, head 1, query 4
    weights = [r[-1] for r in rows if r[1:4] == (2, 1, 4)]
    np.testing.assert_allclose(weights, causal_maps()[1, 0, 3, :4])
    assert row[4] == "|" and header[-1] == "weight"


def test_samples_mark_wrong_tokens_and_count_the_right_ones(qtbot):
    view = SamplesView()
    qtbot.addWidget(view)
    rows = (
        p.SampleRow(("1", "2", "3", "|"), ("1", "2", "3"), ("1", "2", "3")),
        p.SampleRow(("4", "5", "6", "|"), ("4", "5", "6"), ("4", "7", "6")),
    )
    view.set_samples(p.Samples(40, rows), text=False)
    view.refresh()
    html = view.table.text()
    assert html.count("text-decoration:underline") == 1  # the 7
    assert "3/3" in html and "2/3" in html
    assert "5 of 6 answer tokens right" in view.caption.text()
    header, table = view.csv_table()
    assert table[1] == (40, "4 5 6 |", "4 5 6", "4 7 6", 2)


def test_samples_of_text_read_as_text(qtbot):
    view = SamplesView()
    qtbot.addWidget(view)
    row = p.SampleRow(tuple("the "), tuple("cat"), tuple("cab"))
    view.set_samples(p.Samples(5, (row,)), text=True)
    view.refresh()
    assert "the " in view.table.text() and "text goes on" in view.table.text()
    typed = p.SampleRow(tuple("hi\n"), (), tuple("there"))
    view.set_samples(p.Samples(6, (typed,)), text=True)
    view.refresh()
    assert "hi⏎" in view.table.text() and "continues your input" in view.caption.text()


def test_token_examples_show_the_scored_answer_apart_from_the_prompt(qtbot):
    examples = TokenExamples()
    qtbot.addWidget(examples)
    names = ["0", "1", "2", "|"]
    x = np.array([[1, 2, 3, 1]])  # 1 2 | 1 (2)
    y = np.array([[wire.IGNORED_TARGET, wire.IGNORED_TARGET, 1, 2]])
    examples.set_data(x, y, names, text=False)
    html = examples.text()
    assert html.count("<b") == 2  # the answer "1 2" is scored, the prompt is not
    examples.set_data(np.array([[0, 1]]), np.array([[1, 2]]), ["a", " ", "b"], text=True)
    assert "a b" in examples.text()
    assert joined(("a", " ", "\n"), text=False) == "a ␣ ⏎"


def test_the_token_input_sends_text_on_enter_and_example_on_change(qtbot):
    box = TokenInput()
    qtbot.addWidget(box)
    with qtbot.waitSignal(box.changed) as signal:
        box.example.setValue(3)
    assert signal.args == ["", 3]
    box.text.setText("1 2")
    with qtbot.waitSignal(box.changed) as signal:
        QTest.keyClick(box.text, Qt.Key.Key_Return)
    assert signal.args == ["1 2", 3]


def test_an_induction_head_is_named_with_its_score(qtbot):
    """On a repeated sequence the view scores every head: the one that looks
    from each repeated token at the token after its first occurrence is named,
    with its score against a count by hand."""
    half, tokens = 5, tuple("31415") + tuple("3141")  # the induction task's input: 2n - 1
    length = len(tokens)
    maps = causal_maps(2, 2, length)
    stripe = np.zeros((length, length))
    for query in range(length):  # block 2, head 1: query i -> key i - half + 1
        stripe[query, query - half + 1 if query >= half else 0] = 1.0
    maps[1, 0] = stripe
    view = AttentionView()
    qtbot.addWidget(view)
    view.set_maps(3, tokens, maps)
    view.refresh()
    by_hand = np.mean([maps[0, 1, q, q - half + 1] for q in range(half, 2 * half - 1)])
    assert "ind. 1.00" in view.plots[(1, 0)].titleLabel.text
    assert f"ind. {by_hand:.2f}" in view.plots[(0, 1)].titleLabel.text
    assert "Highest: block 2 head 1, 1.00 — an induction head" in view.caption.text()
    view.set_maps(3, tuple("314159265"), maps)  # no repeat: no score
    view.refresh()
    assert (
        "ind." not in view.plots[(1, 0)].titleLabel.text and "Induction" not in view.caption.text()
    )


def test_a_typed_prompt_shows_where_the_answer_ends(qtbot):
    view = SamplesView()
    qtbot.addWidget(view)
    row = p.SampleRow(tuple("3141") + ("|",), (), tuple("3141"))
    view.set_samples(p.Samples(9, (row,), answer_length=4), False)
    view.refresh()
    assert "⏹" in view.table.text() and "4 answer tokens" in view.caption.text()


def test_long_samples_stack_and_are_never_cut_off(qtbot):
    """The induction task's rows (16 + 15 + 15 tokens) were wider than the
    view and cut off at the right: they stack, and the table keeps its width."""
    view = SamplesView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    prompt = tuple("0123456789abcdef") + ("0",)
    rows = tuple(
        p.SampleRow(prompt, tuple("123456789abcdef"), tuple("123456789abcdeX")) for _ in range(3)
    )
    view.set_samples(p.Samples(9, rows, answer_length=15), False)
    view.show()
    view.refresh()
    text = view.table.text()
    assert text.count(">right answer<") == 3 and "<th" not in text  # one block per example
    assert view.table.minimumWidth() >= view.table.sizeHint().width() > 0
    assert "14/15" in text
