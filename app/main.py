"""Open the Knoblab window. The window paints before the engine (and torch)
has loaded: the engine starts in its own process after the first paint."""

from __future__ import annotations

import sys

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from lab.core.assets import asset


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setOrganizationName("Knoblab")
    app.setApplicationName("Knoblab")
    app.setWindowIcon(QIcon(str(asset("knoblab.png"))))
    window = MainWindow()
    window.show()
    app.processEvents()  # paint the window first ...
    window.start()  # ... then start the engine process
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
