"""The bundle's entry script: what ``knoblab`` does from a source install
(the window, a sub-command, or the engine child a frozen app starts)."""

import sys

from knoblab.main import main

if __name__ == "__main__":
    sys.exit(main())
