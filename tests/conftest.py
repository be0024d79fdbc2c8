"""For every test: Qt offscreen, and the user's own folders out of reach.
The data, config and cache folders (XDG, which platformdirs, QSettings and
the engine's children all read) point at a temporary folder of this run, so
that no test, engine process or subprocess can write a person's autosave,
settings or caches."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_HOME = tempfile.mkdtemp(prefix="knoblab-tests-")
for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
    os.environ[variable] = os.path.join(_HOME, variable.split("_")[1].lower())
