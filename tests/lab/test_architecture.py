"""The process boundary of DESIGN.md, enforced: lab/ never imports Qt; app/ and
widgets/ never import torch; lab.config works with torch unimportable."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QT = {"PySide6", "pyqtgraph", "superqt", "shiboken6", "qtpy"}
TORCH = {"torch", "torchvision", "functorch", "onnxruntime", "onnx", "onnxscript"}

# Run in a child process so that modules imported by other tests do not count.
BLOCK_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "functorch"}:
            raise ImportError(f"torch is blocked in this test ({name})")
sys.meta_path.insert(0, Block())
"""


def imported_top_modules(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = {node.module.split(".")[0]}
            else:
                continue
            found.setdefault(str(path.relative_to(ROOT)), set()).update(names)
    return found


def test_lab_sources_never_import_qt():
    offenders = {f: n & QT for f, n in imported_top_modules("lab").items() if n & QT}
    assert offenders == {}


@pytest.mark.parametrize("folder", ["app", "widgets"])
def test_gui_sources_never_import_torch(folder):
    offenders = {f: n & TORCH for f, n in imported_top_modules(folder).items() if n & TORCH}
    assert offenders == {}


def test_the_scan_sees_imports_inside_functions(tmp_path, monkeypatch):
    # Guard against a scan that cannot fail: a lazy import must be found too.
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f():\n    import torch.nn\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert imported_top_modules("pkg") == {"pkg/m.py": {"torch"}}


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_config_protocol_modules_load_without_torch():
    code = (
        BLOCK_TORCH
        + """
import lab, lab.config, lab.schedule, lab.metrics, lab.presets, lab.cli, lab.fileio
from lab.config import ExperimentConfig
from lab.presets import PRESETS
from lab.schedule import lr_curve
c = ExperimentConfig.from_toml(PRESETS["shapes-cnn"].to_toml())
lr_curve(c.optim, c.train.steps)
assert "torch" not in sys.modules
print("ok")
"""
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_importing_every_lab_module_loads_no_qt():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "lab").rglob("*.py")
    )
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n" + (
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(QT)!r})\nprint(bad)"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
