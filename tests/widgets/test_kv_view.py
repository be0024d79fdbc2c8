"""The KV view: the accounting it shows equals lab.core.kv's, its knobs
redraw at once, a measured decode is drawn as given."""

import numpy as np

from lab.core import protocol as p
from lab.core.kv import GIB, MODEL_SHAPES, breakdown, lab_shape
from lab.core.presets import PRESETS
from tests.qt_helpers import type_into
from widgets.kv_view import KVView


def view(qtbot) -> KVView:
    kv = KVView()
    qtbot.addWidget(kv)
    kv.resize(900, 700)
    kv.show()
    kv.refresh()  # the window's timer does this for the view on screen
    return kv


def fake_decode(layers: int = 2) -> p.KVDecode:
    n = 6
    lengths = np.arange(5, 5 + n)
    held = np.tile(np.arange(1, layers + 1) * 1000, (n, 1))
    return p.KVDecode(
        "paged", "fp16", 2, "cpu", 16, lengths, held, lengths * 100, np.full(n, 8),
        np.full(n, 1e-3), np.linspace(1e-3, 3e-3, n), 1e-3,
        layouts=(p.LayoutHolding("static", 4096, 1024), p.LayoutHolding("paged", 2048, 1024, 4)),
        mixed=(2, 4, 8, 16),
    )  # fmt: skip


def test_a_real_shape_shows_its_accounting_and_fits_the_budget(qtbot):
    kv = view(qtbot)
    kv.editors["model"].setCurrentText("llama-3-8b")
    assert kv.editors["layers"].value() == 32 and kv.kv_heads.currentText() == "8"
    assert [kv.kv_heads.itemText(i) for i in range(kv.kv_heads.count())] == [
        "1", "2", "4", "8", "16", "32"
    ]  # fmt: skip
    report = breakdown(MODEL_SHAPES["llama-3-8b"], 1, 8192, "fp16", "bf16", 24 * GIB)
    text = kv.caption.text()
    assert f"{report.fits_tokens:,} tokens per sequence" in text  # 74,075
    assert "1.00 GiB (MHA 4.00 GiB, MQA 128.00 MiB)" in text


def test_knobs_redraw_the_accounting_at_once(qtbot):
    kv = view(qtbot)
    kv.editors["model"].setCurrentText("llama-2-7b")
    kv.kv_heads.setCurrentText("1")  # what if Llama-2 were MQA
    assert "MQA" in kv.caption.text() and "16.00 KiB a token" in kv.caption.text()
    type_into(qtbot, kv.editors["batch"].box, "4")
    assert "4 x 4,096 tokens" in kv.caption.text()
    header, rows = kv.csv_table()
    assert header[1] == "cache_bytes" and rows[-1][1] == 4 * 4096 * 16 * 1024


def test_the_run_s_transformer_is_the_default_shape_and_decodes(qtbot):
    kv = view(qtbot)
    config = PRESETS["copy-transformer"]
    kv.set_lab_model(config, 11)
    assert kv.editors["model"].value() == "lab model"
    assert kv.shape() == lab_shape(config, 11) and kv.decode.isEnabled()
    with qtbot.waitSignal(kv.decodeRequested) as request:
        kv.decode.click()
    assert request.args == ["static", "fp16", 1, 16]
    kv.set_lab_model(PRESETS["spirals-mlp"], 2)
    assert not kv.decode.isEnabled()


def test_a_measured_decode_is_drawn_as_given(qtbot, tmp_path):
    kv = view(qtbot)
    kv.set_decode(fake_decode())
    kv.refresh()
    curves = kv.measured_plot.listDataItems()
    stacked = [c.getData()[1] for c in curves[:2]]  # the tallest first: all layers, then layer 1
    unit = 2**10  # KiB: the largest value is 3,000 bytes
    np.testing.assert_allclose(stacked[0], 3000 / unit)
    np.testing.assert_allclose(stacked[1], 1000 / unit)
    formula = curves[2].getData()[1]
    np.testing.assert_allclose(formula, np.arange(5, 11) * 100 / unit)
    speeds = kv.speed_plot.listDataItems()
    np.testing.assert_allclose(speeds[0].getData()[1], 2 / 1e-3)  # batch 2, 1 ms a step
    header, rows = kv.csv_table()
    assert header[:3] == ["tokens", "held_block1", "held_block2"] and rows[0][:3] == (5, 1000, 2000)
    kv.export_png(str(tmp_path / "kv.png"))
    assert (tmp_path / "kv.png").stat().st_size > 1000
