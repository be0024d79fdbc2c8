"""The shape of the house (docs/ARCHITECTURE.md), enforced: which package may
import which, one rule per line, checked over every import statement in the
tree (lazy imports inside functions included), and the torch-free core
checked by importing it with torch made unimportable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "pyqtgraph", "superqt", "shiboken6")
TORCH = ("torch", "functorch", "onnx", "onnxruntime", "onnxscript")

# (importer, imported): modules under the first may not import modules under the second.
FORBIDDEN = [
    *(("lab", gui) for gui in ("app", "widgets", "knoblab", *QT)),  # the engine never draws
    *(("app", heavy) for heavy in TORCH),  # the window's process never loads torch
    *(("widgets", heavy) for heavy in TORCH),
    *(("lab.core", heavy) for heavy in TORCH),  # what the GUI imports is torch-free
    ("widgets", "app"),  # views are reusable: they know no window
]
# The GUI's only way into the engine side is lab.core ...
GUI_MAY_IMPORT_FROM_LAB = ("lab.core",)
# ... and the engine process's entry, which it names as the spawn target (loads no torch).
GUI_EXCEPTIONS = [("app.engine_client", "lab.engine.entry")]
# lab's packages in layers, top to bottom: a package imports only from lower layers
# (packages of one layer are independent of each other), so there is no cycle.
LAB_LAYERS = [
    ("lab.cli",),
    ("lab.engine",),
    ("lab.recipes",),
    ("lab.landscape", "lab.train", "lab.generate"),
    ("lab.probes",),
    ("lab.models", "lab.data"),
    ("lab.native", "lab.jobs"),
    ("lab.core",),
]


def module_name(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imports(root: Path, packages: tuple[str, ...]) -> list[tuple[str, str]]:
    """(importing module, imported module) for every import statement under
    ``packages``; relative imports resolved."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            importer = module_name(path, root)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found += [(importer, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:  # relative: from the importer's package
                        parts = importer.split(".")
                        keep = len(parts) - node.level + (path.name == "__init__.py")
                        base = ".".join([*parts[:keep], *([base] if base else [])])
                    found += [
                        (importer, f"{base}.{a.name}" if base else a.name) for a in node.names
                    ]
    return found


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int | None:
    for index, layer in enumerate(LAB_LAYERS):
        if any(under(module, package) for package in layer):
            return index
    return None


def violations(root: Path = ROOT) -> list[str]:
    """Every import that breaks a rule, as 'importer -> imported: rule'."""
    found = []
    for importer, imported in imports(root, ("lab", "app", "widgets", "knoblab")):
        for source, target in FORBIDDEN:
            if under(importer, source) and under(imported, target):
                found.append(f"{importer} -> {imported}: {source} never imports {target}")
        gui = under(importer, "app") or under(importer, "widgets")
        allowed = any(under(imported, ok) for ok in GUI_MAY_IMPORT_FROM_LAB)
        exception = any(under(importer, a) and under(imported, b) for a, b in GUI_EXCEPTIONS)
        if gui and under(imported, "lab") and imported != "lab" and not (allowed or exception):
            found.append(f"{importer} -> {imported}: the GUI imports only lab.core")
        mine, theirs = layer_of(importer), layer_of(imported)
        same_package = any(
            under(importer, p) and under(imported, p) for layer in LAB_LAYERS for p in layer
        )
        if mine is not None and theirs is not None and not same_package and theirs <= mine:
            found.append(f"{importer} -> {imported}: lab's layers import downwards only")
    return found


def cycles(root: Path = ROOT, package: str = "app") -> list[list[str]]:
    """Import cycles among the modules of ``package`` (every import
    statement, lazy and TYPE_CHECKING ones included), each as the modules
    around it: the window's parts take a session, never the window."""
    modules = {module_name(path, root) for path in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for importer, imported in imports(root, (package,)):
        target = next(
            (m for m in sorted(modules, key=len, reverse=True) if under(imported, m)), None
        )
        if target is not None and target != importer and target != package:
            graph[importer].add(target)
    found, done, path = [], set(), []

    def visit(module: str) -> None:
        if module in path:
            found.append(path[path.index(module) :] + [module])
            return
        if module in done:
            return
        path.append(module)
        for other in sorted(graph[module]):
            visit(other)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    return found


def test_the_tree_keeps_every_import_rule():
    assert violations() == []


def test_the_window_has_no_import_cycle():
    assert cycles() == []


def test_a_planted_import_cycle_is_found(tmp_path):
    """The cycle check can fail: a part that reaches back into the window."""
    files = {
        "app/__init__.py": "",
        "app/main_window.py": "from app.autosave import Autosave\n",
        "app/autosave.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from app.main_window import MainWindow\n",
        "app/session.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cycles(tmp_path) == [["app.autosave", "app.main_window", "app.autosave"]]


def test_every_lab_package_has_a_layer():
    packages = {p.name for p in (ROOT / "lab").iterdir() if p.is_dir() and p.name[0] != "_"}
    modules = {p.stem for p in (ROOT / "lab").glob("*.py") if p.stem != "__init__"}
    for name in packages | modules:
        assert layer_of(f"lab.{name}") is not None, f"lab.{name} is in no layer"


def test_planted_violations_are_found(tmp_path):
    """The checker can fail: each kind of rule is broken once in a small tree."""
    files = {
        "lab/__init__.py": "",
        "lab/core/__init__.py": "",
        "lab/core/config.py": "import torch\n",  # core loads torch
        "lab/models/__init__.py": "from lab.train import trainer\n",  # upwards
        "lab/train/__init__.py": "",
        "lab/train/trainer.py": "def f():\n    from app import main_window\n",  # lazy, lab -> app
        "lab/data/__init__.py": "from ..models import x\n",  # sideways within a layer
        "app/__init__.py": "",
        "app/window.py": "from lab.train.trainer import Trainer\n",  # GUI past lab.core
        "widgets/__init__.py": "",
        "widgets/view.py": "import torch.nn\n",
        "knoblab/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path)
    expected = [
        "lab.core.config -> torch",
        "lab.models -> lab.train.trainer",
        "lab.train.trainer -> app.main_window",
        "lab.data -> lab.models.x",
        "app.window -> lab.train.trainer.Trainer",
        "widgets.view -> torch.nn",
    ]
    for pair in expected:
        assert any(line.startswith(pair) for line in found), (pair, found)


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


BLOCK_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "functorch"}:
            raise ImportError(f"torch is blocked in this test ({name})")
sys.meta_path.insert(0, Block())
"""


def test_the_core_and_the_entry_points_load_without_torch():
    core = sorted(module_name(p, ROOT) for p in (ROOT / "lab" / "core").rglob("*.py"))
    entries = ["lab.engine.entry", "lab.cli.main", "knoblab.main"]
    code = (
        BLOCK_TORCH
        + f"import importlib\nfor m in {core + entries!r}: importlib.import_module(m)\n"
        + """
from lab.core.config import ExperimentConfig
from lab.core.presets import PRESETS
from lab.core.schedule import lr_curve
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
    modules = sorted(module_name(p, ROOT) for p in (ROOT / "lab").rglob("*.py"))
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n" + (
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(QT)!r})\nprint(bad)"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
