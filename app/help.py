"""The Help menu: the README inside the window, every keyboard shortcut the
window has (read off its actions, so the list cannot go stale), and what
Knoblab this is."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMainWindow,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from lab.core.assets import readme
from lab.core.version import version_text

README_SIZE = (900, 760)
NO_README = (
    "This Knoblab has no README beside it. Its README is on the project's page; every knob's"
    " tooltip says what it does and what it takes."
)
MOUSE = [
    ("Mouse wheel over a knob", "changes it only once you clicked into it (scrolling the"
     " panels never changes a value)"),
    ("Click an attention map", "enlarges it, with the tokens on its axes"),
    ("Drag in a plot", "pans; the wheel zooms; right-click for the plot's menu"),
]  # fmt: skip


def text_dialog(parent: QWidget, title: str, *, markdown: str = "", html: str = "") -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    browser = QTextBrowser()
    browser.setOpenExternalLinks(True)
    if markdown:
        browser.setMarkdown(markdown)
    elif html:
        browser.setHtml(html)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(browser)
    layout.addWidget(buttons)
    dialog.browser = browser  # type: ignore[attr-defined]
    return dialog


def readme_dialog(parent: QWidget) -> QDialog:
    path = readme()
    if path is None:
        dialog = text_dialog(parent, "Knoblab — Read me", html=f"<p>{NO_README}</p>")
    else:
        dialog = text_dialog(parent, "Knoblab — Read me", html=" ")
        dialog.browser.setSearchPaths([str(path.parent)])  # type: ignore[attr-defined]
        dialog.browser.setMarkdown(path.read_text(encoding="utf-8"))  # its images found there
    dialog.resize(*README_SIZE)
    return dialog


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str]]:
    """(keys, what) of every action of the window that has a shortcut."""
    rows = {}
    for made in window.findChildren(QAction):
        keys = made.shortcut().toString()
        if keys and made.text():
            rows[keys] = made.text().replace("&", "").rstrip("…")
    return sorted(rows.items(), key=lambda row: row[1].lower())


def shortcuts_dialog(window: QMainWindow) -> QDialog:
    cells = "".join(
        f"<tr><td><b>{keys}</b></td><td>{what}</td></tr>"
        for keys, what in [*shortcut_rows(window), *MOUSE]
    )
    html = f"<table cellpadding='4'>{cells}</table>"
    dialog = text_dialog(window, "Knoblab — Keyboard and mouse", html=html)
    dialog.resize(560, 520)
    return dialog


def about(parent: QWidget) -> None:
    QMessageBox.about(
        parent,
        "About Knoblab",
        f"<b>Knoblab</b>: a desktop lab for learning and debugging deep learning by hand."
        f"<br><br>{version_text()}",
    )
