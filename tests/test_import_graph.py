"""The package's import graph: every layer imports only from the layers below it, and the
library's modules import each other without cycles.

Read with `ast` from the files of the installed package (imports inside functions count:
a lazy import is still a dependency), so it holds for the wheel as for a checkout. Layers,
lowest first:

- base: settings, errors, the call history's kinds and formats, and pure helpers every stage
  uses;
- stages: the library (client, archive, parsing, the warehouse, reports, the webhook
  receiver, the emulator, ...): given their settings as arguments, never looking them up;
- surfaces: the command line, the Prefect flows and every ``__main__`` module (a process's
  entry point, such as ``python -m vats_etl.emulator``), which read the environment and wire
  the stages together.

``python -m tests.test_import_graph`` prints the graph (for docs/architecture.md).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "vats_etl"
# Subpackages the build maps from other folders of the checkout (flows/, sql/):
# in an editable install they are not under vats_etl/, so they are looked up by name.
MAPPED = ("vats_etl.flows", "vats_etl.sql")
BASE = {f"{PACKAGE}.{name}" for name in ("errors", "config", "periods", "spellings", "history")}
SURFACES = (f"{PACKAGE}.cli", f"{PACKAGE}.flows")


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    if module.endswith(".__main__") or any(
        module == s or module.startswith(f"{s}.") for s in SURFACES
    ):
        return "surfaces"
    return "stages"


def module_files() -> dict[str, Path]:
    """Every module of the installed package, by name."""
    found: dict[str, Path] = {}
    for root in (PACKAGE, *MAPPED):
        spec = importlib.util.find_spec(root)
        assert spec is not None and spec.submodule_search_locations, root
        for location in spec.submodule_search_locations:
            for path in sorted(Path(location).rglob("*.py")):
                parts = path.relative_to(location).with_suffix("").parts
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found.setdefault(".".join((root, *parts)), path)
    return found


def _imported(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[str, str]]:
    """(name, imported-as) for every import statement, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                yield base, f"{base}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports. ``from a import b`` counts as an
    import of module a.b when there is one, else of a; the parents a package import runs
    implicitly are not counted (they are not what the code asked for)."""
    files = module_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        targets: set[str] = set()
        for base, member in _imported(tree, module, path.name == "__init__.py"):
            if member in files:
                targets.add(member)
            elif base in files:
                targets.add(base)
        graph[module] = targets - {module}
    return graph


def top_level_imports() -> dict[str, set[str]]:
    """Every module imported by the package's files that is not part of it (top-level names)."""
    files = module_files()
    outside: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for base, _ in _imported(tree, module, path.name == "__init__.py"):
            top = base.split(".")[0]
            if top and top != PACKAGE:
                outside.setdefault(top, set()).add(module)
    return outside


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_holds_the_flows_and_the_sql() -> None:
    graph = import_graph()
    assert {"vats_etl.flows.daily", "vats_etl.flows.runtime", "vats_etl.sql"} <= graph.keys()
    assert "vats_etl.runtime" not in graph  # a flow run's state belongs to the flows
    # nothing imports the checkout's folders by their own names (in a wheel they do not exist)
    assert not {"flows", "sql", "tests", "bench"} & top_level_imports().keys()


@pytest.mark.parametrize("lower", ["base", "stages"])
def test_lower_layers_import_nothing_above_them(lower: str) -> None:
    allowed = {"base": {"base"}, "stages": {"base", "stages"}}[lower]
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target} ({layer(target)})"
        for module, targets in graph.items()
        if layer(module) == lower
        for target in targets
        if layer(target) not in allowed
    )
    assert wrong == []


def test_the_library_has_no_import_cycles() -> None:
    graph = import_graph()
    library = {
        module: {t for t in targets if layer(t) != "surfaces"}
        for module, targets in graph.items()
        if layer(module) != "surfaces"
    }
    assert cycles(library) == []


def test_the_checks_see_a_cycle_and_a_lazy_import_upwards(tmp_path: Path) -> None:
    """The checks themselves: a lazy import inside a function is an edge, a cycle is found."""
    source = "def connect():\n    from vats_etl.flows import runtime\n    return runtime\n"
    tree = ast.parse(source)
    assert [member for _, member in _imported(tree, "vats_etl.warehouse.connection", False)] == [
        "vats_etl.flows.runtime"
    ]
    assert layer("vats_etl.flows.runtime") == "surfaces" != layer("vats_etl.warehouse.connection")
    relative = ast.parse("from . import schema\nfrom ..config import Settings\n")
    assert [m for _, m in _imported(relative, "vats_etl.warehouse.connection", False)] == [
        "vats_etl.warehouse.schema",
        "vats_etl.config.Settings",
    ]
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def render(graph: dict[str, set[str]] | None = None) -> str:
    """The graph by layer, module by module (``vats_etl.`` left out), then folded to the
    package's top-level modules and subpackages: text for docs/architecture.md."""
    graph = import_graph() if graph is None else graph

    def short(name: str) -> str:
        return name.removeprefix(f"{PACKAGE}.") if name != PACKAGE else PACKAGE

    def folded(name: str) -> str:
        parts = short(name).split(".")
        return parts[0] if parts[0] != "flows" else "flows"

    lines: list[str] = []
    for title in ("surfaces", "stages", "base"):
        lines.append(f"{title}:")
        for module in sorted(m for m in graph if layer(m) == title):
            targets = ", ".join(sorted(short(t) for t in graph[module]))
            lines.append(f"  {short(module)} -> {targets}" if targets else f"  {short(module)}")
    lines += ["", "folded to top-level modules and subpackages:"]
    folds: dict[str, set[str]] = {}
    for module, targets in graph.items():
        own = folded(module)
        folds.setdefault(own, set()).update(folded(t) for t in targets if folded(t) != own)
    for title in ("surfaces", "stages", "base"):
        members = sorted(m for m in folds if layer(f"{PACKAGE}.{m}") == title)
        lines.append(f"{title}:")
        for module in members:
            targets = ", ".join(sorted(folds[module]))
            lines.append(f"  {module} -> {targets}" if targets else f"  {module}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
