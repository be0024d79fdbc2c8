"""An ONNX export in the window: its progress in the status bar, and the
report when it is done — where the file went, what it holds, and how it
compares with PyTorch (parity and latency)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QStatusBar, QVBoxLayout, QWidget

from app.session import Session
from lab.core import protocol as p
from widgets.job_bar import JobBar, JobView


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


class ExportJobs(JobView):
    """Exports as jobs: a bar in the status bar while one runs (Cancel
    stops it), the report when it is done (not modal: training goes on)."""

    def __init__(self, session: Session, bar: QStatusBar, parent: QWidget) -> None:
        self.session, self.parent = session, parent
        self.job_bar = JobBar()
        self.job_bar.cancelRequested.connect(session.cancel_job)
        self.job_bar.hide()
        bar.addWidget(self.job_bar)
        self.dialog: ExportReportDialog | None = None
        session.show_jobs(p.JobKind.EXPORT, self)

    def export(self, path: str, legacy: bool = False) -> int:
        job = self.session.start_job(lambda job: p.ExportOnnx(job, path, legacy))
        self.job_bar.started(job, f"exporting to {path}…")
        self.job_bar.show()
        return job

    def job_progress(self, event: p.JobProgress) -> None:
        self.job_bar.show()
        super().job_progress(event)

    def show_result(self, result: Any, outcome: p.JobOutcome) -> None:
        if outcome != p.JobOutcome.DONE:
            return
        self.job_bar.hide()
        self.dialog = ExportReportDialog(result, self.parent)
        self.dialog.show()
        self.session.notice.emit(f"exported and verified: {result['path']}")
