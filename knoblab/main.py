"""``knoblab``: no argument opens the window; a sub-command runs headless;
``--selftest`` checks the install (``knoblab.selftest``).

``multiprocessing.freeze_support()`` runs before anything else: a frozen
bundle starts its engine process by running this executable again with
``--multiprocessing-fork`` arguments, which must never reach the parser.
Nothing here loads torch: the window's process never does, and the
sub-commands load it when they run.
"""

from __future__ import annotations

import multiprocessing
import sys

from knoblab.display import has_display, missing_packages_text, missing_window_packages
from lab.core.presets import DEFAULT_PRESET


def open_window() -> int:
    if not has_display():
        print(
            "knoblab: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the"
            " window cannot open.\n"
            f"  Headless instead:  knoblab run --preset {DEFAULT_PRESET}\n"
            "  Or under a virtual display:  xvfb-run -a knoblab",
            file=sys.stderr,
        )
        return 2
    missing = missing_window_packages()
    if missing:  # say what to install, instead of Qt's raw plugin error and an abort
        print(missing_packages_text(missing), file=sys.stderr)
        return 2
    from app.main import main as app_main

    return app_main()


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # first: a frozen app's engine child starts here
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        return open_window()
    if argv[0] == "--selftest":
        from knoblab.selftest import main as selftest

        return selftest(argv[1:])
    from lab.cli.main import main as cli_main

    return cli_main(argv)
