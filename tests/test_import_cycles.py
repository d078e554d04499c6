"""No import cycle between our modules: each module can be read knowing only the ones it imports.
Runtime imports count, those inside functions too; an ``if TYPE_CHECKING:`` block does not (it is
never run). The layers (tests/test_layers.py) keep packages in order; this keeps modules."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .conftest import ROOT
from .test_layers import LAYERS


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for other in node.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(path: Path, root: Path, known: set[str]) -> set[str]:
    """The modules among ``known`` that ``path`` imports when it runs."""
    own = module_name(path, root)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # from . import x: a module
    return {name for name in found if name in known and name != own}


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    files = [f for pkg in packages for f in sorted((root / pkg).rglob("*.py"))]
    known = {module_name(f, root) for f in files}
    return {module_name(f, root): imports_of(f, root, known) for f in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_no_import_cycle_between_our_modules() -> None:
    graph = import_graph(ROOT, tuple(LAYERS))
    assert len(graph) > 100 and sum(len(v) for v in graph.values()) > 200
    assert cycles(graph) == []


def test_the_check_finds_a_cycle_through_a_function_and_a_relative_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n")
    (pkg / "e.py").write_text("from . import d\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.d"] == set() and graph["pkg.e"] == {"pkg", "pkg.d"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
