"""The GUI process never imports torch: the window opens and talks to the engine
with torch made unimportable (the engine, in its own process, loads it)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import importlib.abc, sys, time
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "functorch", "onnxruntime"}:
            raise ImportError(f"torch is blocked in the GUI process ({name})")

def main():
    # Only here, in the GUI process: the spawned engine re-imports this file
    # as __mp_main__ and must be able to load torch.
    sys.meta_path.insert(0, Block())
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from app.main_window import MainWindow
    from lab.core import protocol as p
    app = QApplication([])
    start = time.perf_counter()
    window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
    window.show()
    app.processEvents()
    painted = window.first_paint_at
    assert painted is not None, "no paint"
    events = []
    window.client.event.connect(events.append)
    window.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(isinstance(e, p.Built) for e in events):
        app.processEvents()
        time.sleep(0.01)
    assert any(isinstance(e, p.Ready) for e in events), "engine never answered"
    ready_at = time.perf_counter()
    assert "torch" not in sys.modules
    window.close()
    print(f"ok first_paint={painted - start:.3f}s engine_ready={ready_at - start:.3f}s")

if __name__ == "__main__":
    main()
"""


def test_window_opens_and_drives_the_engine_without_torch(tmp_path):
    script = tmp_path / "no_torch_gui.py"
    script.write_text(SCRIPT)
    env = {"QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "s.ini")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok"), result.stdout
    first_paint = float(result.stdout.split("first_paint=")[1].split("s")[0])
    engine_ready = float(result.stdout.split("engine_ready=")[1].split("s")[0])
    assert first_paint < engine_ready  # the window is up before torch has loaded
