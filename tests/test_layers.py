"""The import layers, which only go down: the kernel imports nothing of ours; the backends
(``speech``, ``perception``, ``dialogue``) import the kernel and each other, never the runtime
and app above them (``assistant``, ``kiosk``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

OURS = {"kernel", "assistant", "speech", "perception", "dialogue", "kiosk"}


def imported_packages(path: Path) -> set[str]:
    """Our top-level packages that ``path`` imports, absolute or relative (relative ones resolve
    to the module's own package)."""
    found: set[str] = set()
    own = path.parent.name
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(own if node.level else (node.module or "").split(".")[0])
    return found & OURS


def test_the_kernel_imports_nothing_of_ours() -> None:
    modules = sorted((ROOT / "kernel").glob("*.py"))
    assert len(modules) >= 8
    wrong = {m.name: imported_packages(m) - {"kernel"} for m in modules}
    assert {name: pkgs for name, pkgs in wrong.items() if pkgs} == {}


def test_the_backends_never_import_the_runtime_or_the_app() -> None:
    modules = [m for pkg in ("speech", "perception", "dialogue") for m in sorted((ROOT / pkg).glob("*.py"))]
    assert len(modules) > 30
    upward = {f"{m.parent.name}/{m.name}": imported_packages(m) & {"assistant", "kiosk"} for m in modules}
    assert {name: pkgs for name, pkgs in upward.items() if pkgs} == {}


def test_dialogue_and_perception_never_import_each_other() -> None:
    """Sibling backends: the prompt reads the scene through dialogue's own ``Observation`` types,
    which perception's descriptions satisfy, so neither needs the other's internals."""
    crossed = {
        f"{m.parent.name}/{m.name}": imported_packages(m) & ({"perception", "dialogue"} - {pkg})
        for pkg in ("dialogue", "perception")
        for m in sorted((ROOT / pkg).glob("*.py"))
    }
    assert len(crossed) > 20
    assert {name: pkgs for name, pkgs in crossed.items() if pkgs} == {}


def test_importing_dialogue_loads_no_heavy_backend() -> None:
    code = "import sys, dialogue; print(sorted({'openai', 'llama_cpp', 'perception'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "kernel" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("from assistant.config import Settings\nfrom .events import Event\nimport speech.vad\n")
    assert imported_packages(bad) == {"assistant", "kernel", "speech"}


PACKAGES = ("kernel", "assistant", "speech", "perception", "dialogue", "kiosk")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_no_module_over_400_lines_nor_function_over_60() -> None:
    """Small pieces with one job each: a module past 400 lines or a function past 60 gets split."""
    modules = [m for pkg in PACKAGES for m in sorted((ROOT / pkg).glob("*.py"))]
    long_modules = {str(m.relative_to(ROOT)): n for m in modules
                    if (n := len(m.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    long_functions = {
        f"{m.relative_to(ROOT)}:{node.lineno} {node.name}": node.end_lineno - node.lineno + 1
        for m in modules
        for node in ast.walk(ast.parse(m.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert long_modules == {} and long_functions == {}
