"""No import circles among the suite's own modules (the core, the built-in plugins, the profilers).

The graph is read from the source (every ``import`` and ``from ... import``, including those
inside functions: a deferred import that closes a circle is still one), without importing
anything; packages map to their folders as pyproject.toml lays them out.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> dict[str, Path]:
    """Every module of the installed packages: dotted name -> file."""
    layout = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    modules = {}
    for package, folder in layout.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The suite's modules that module ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import sub` imports the module pkg.sub where there is one, else names of pkg
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    return _modules()


@pytest.fixture(scope="module")
def graph(modules) -> dict[str, set[str]]:
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def test_the_cycle_finder_finds_a_circle_and_nothing_else():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_and_absolute_imports(modules, graph):
    assert "dnn_suite_efficientdet.build" in graph["dnn_suite_efficientdet.plugin"]  # from .build import ...
    assert "dnn_suite.errors" in graph["dnn_suite.cli"]
    assert "dnn_suite_detection" in modules and "dnn_suite_profilers" in modules


def test_no_import_circles(graph):
    assert _cycles(graph) == []


def test_the_core_imports_no_plugin(graph):
    for name, imported in graph.items():
        if name.split(".")[0] == "dnn_suite":
            plugins = {m for m in imported if m.split(".")[0] != "dnn_suite"}
            assert not plugins, f"{name} imports {sorted(plugins)}"
