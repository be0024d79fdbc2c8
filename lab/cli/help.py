"""What every sub-command's help ends with: its examples and the exit codes."""

from __future__ import annotations

import argparse
from typing import Any

EXIT_CODES = """exit codes:
  0    done
  1    an unexpected error (a bug: please report the traceback)
  2    invalid input: a config field, a file, a folder (the message names it)
  3    training stopped early: it diverged (the message names the layer)
  4    a recipe's verdict failed (its checks say which claim and with what numbers)
  130  interrupted (Ctrl-C); knoblab run saves what was trained first"""


def command(sub: Any, name: str, help: str, examples: str) -> argparse.ArgumentParser:  # noqa: A002
    return sub.add_parser(
        name,
        help=help,
        description=help[:1].upper() + help[1:] + ".",
        epilog=f"examples:\n{examples}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
