"""``python -m knoblab``: the same as the ``knoblab`` command."""

import sys

from knoblab.main import main

sys.exit(main())
