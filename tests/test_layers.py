"""The import layers, which only go down (ARCHITECTURE.md): kernel < backends (``speech``,
``perception``, ``dialogue``) < runtime (``assistant``) < modes (``kiosk``, ``web``) < app (``omnilive``).
Each package imports only the ones below it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

OURS = {"kernel", "assistant", "speech", "perception", "dialogue", "kiosk", "web", "omnilive"}

# Each package and what it may import of ours (itself included).
LAYERS: dict[str, set[str]] = {
    "kernel": {"kernel"},
    "speech": {"kernel", "speech"},
    "perception": {"kernel", "perception"},
    "dialogue": {"kernel", "dialogue"},
    "assistant": {"kernel", "speech", "perception", "dialogue", "assistant"},
    "kiosk": {"kernel", "speech", "perception", "dialogue", "assistant", "kiosk"},
    "web": {"kernel", "speech", "perception", "dialogue", "assistant", "web"},
    "omnilive": OURS,
}


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


def test_every_import_goes_down_a_layer() -> None:
    modules = [m for pkg in LAYERS for m in sorted((ROOT / pkg).glob("*.py"))]
    assert set(OURS) == set(LAYERS) and len(modules) > 90
    upward = {f"{m.parent.name}/{m.name}": imported_packages(m) - LAYERS[m.parent.name] for m in modules}
    assert {name: pkgs for name, pkgs in upward.items() if pkgs} == {}


def test_the_runtime_never_imports_a_mode_or_the_app() -> None:
    """The runtime runs a session whatever mode asked for it: the kiosk and the command line
    (``omnilive``) hand it their settings, sources and subscribers; it never reaches up for them."""
    modules = sorted((ROOT / "assistant").glob("*.py"))
    assert len(modules) > 15
    upward = {m.name: imported_packages(m) & {"kiosk", "omnilive"} for m in modules}
    assert {name: pkgs for name, pkgs in upward.items() if pkgs} == {}


def test_every_package_is_a_layer() -> None:
    """A new top-level package must be given its place in ``LAYERS`` (and ARCHITECTURE.md)."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks", "scripts"}
    assert packages == set(LAYERS)


def test_importing_dialogue_loads_no_heavy_backend() -> None:
    code = "import sys, dialogue; print(sorted({'openai', 'llama_cpp', 'perception'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "kernel" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("from assistant.config import Settings\nfrom .events import Event\nimport speech.vad\n")
    assert imported_packages(bad) == {"assistant", "kernel", "speech"}


PACKAGES = tuple(LAYERS)
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
