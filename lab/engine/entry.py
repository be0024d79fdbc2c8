"""Entry point of the engine process. Importing this module loads no torch, so
the GUI process can name it as a spawn target; torch loads in the child."""

from __future__ import annotations

from typing import Any


def main(conn: Any) -> None:
    from lab.engine.loop import serve

    serve(conn)
