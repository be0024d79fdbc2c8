"""The report of an ONNX export: where the file went, what it holds, and how it
compares with PyTorch (parity and latency)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget


def report_html(report: dict[str, Any]) -> str:
    def shapes(entries: list[dict[str, Any]]) -> str:
        return ", ".join(
            f"{e['name']} [{', '.join(str(d) for d in e['shape'])}] {e['dtype']}" for e in entries
        )

    rows = [
        f"<b>File</b>: {report['path']} ({report['file_bytes']:,} bytes)",
        f"<b>Exporter</b>: {report['exporter']}, opset {report['opset']},"
        f" {report['export_seconds']:.2f} s",
        f"<b>Inputs</b>: {shapes(report['inputs'])}",
        f"<b>Outputs</b>: {shapes(report['outputs'])}",
        "<b>Parity with PyTorch</b> (onnxruntime, fresh random inputs):",
    ]
    rows += [
        f"&nbsp;&nbsp;batch {batch}: max abs {e['max_abs']:.2e}, max rel {e['max_rel']:.2e}"
        for batch, e in report["parity"].items()
    ]
    rows.append("<b>Latency</b> (p50):")
    rows += [
        f"&nbsp;&nbsp;batch {batch}: PyTorch {e['torch']:.3f} ms,"
        f" onnxruntime {e['onnxruntime']:.3f} ms ({e['torch'] / e['onnxruntime']:.1f}x)"
        for batch, e in report["latency_ms"].items()
    ]
    stem = report["path"].rsplit(".", 1)[0]
    rows.append(f"The full report is saved beside the model ({stem}.report.json).")
    return "<br>".join(rows)


class ExportReportDialog(QDialog):
    def __init__(self, report: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("ONNX export: verified")
        self.label = QLabel(report_html(report))
        self.label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(buttons)
