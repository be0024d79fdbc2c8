"""Build the C kernels for a bundle (``make bundle`` runs this first):
``<stem>-native.so`` for the build machine's CPU, ``<stem>-portable.so`` for
any CPU of its architecture, and ``cpu.txt`` naming the CPU the native ones
are for. The bundle loads the native kernel on the same CPU, else the
portable one, else torch's path (``lab.native.build.prebuilt``).

    python packaging/prebuild_kernels.py OUT_DIR
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.native import build as native  # noqa: E402
from lab.native.fused_mlp import SOURCE as FUSED  # noqa: E402
from lab.native.probe_kernels import SOURCE as PROBES  # noqa: E402


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    built = []
    for source in (FUSED, PROBES):
        for kind, flags in (("native", native.FLAGS), ("portable", native.PORTABLE_FLAGS)):
            with tempfile.TemporaryDirectory() as scratch:
                library = native.build(source, Path(scratch), flags)
                if library is None:
                    print(f"prebuild: {source.name} ({kind}) did not build: torch's path serves")
                    continue
                target = out / f"{source.stem}-{kind}.so"
                shutil.copyfile(library, target)
                built.append(target.name)
    (out / native.CPU_FILE).write_bytes(native._cpu_identity())  # noqa: SLF001
    print(f"prebuild: {', '.join(built) or 'nothing'} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/kernels")))
