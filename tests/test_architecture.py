"""The package's shape, read from the source with ``ast``: the import graph has no cycles and
runs only downwards through the floors, and no function outside the CLI is longer than 80 lines.

Floors, lowest first (a module may import its own floor and the ones below):

* base: ``errors``, ``units``, ``vocabulary``, ``plugins``, ``compat`` and the package root;
* platform: ``nn``, ``models``, ``data``, ``artifacts``, ``parallel``, ``report``, ``suites``,
  ``runs`` (task-neutral: they name no task);
* tasks: the adversarial task (``adversarial`` with its parts ``attacks``, ``evaluate``,
  ``train`` and ``zoo``), ``gan``, ``nas``, ``style``; a task imports no other task;
* CLI: ``cli`` and every task's ``cli.py``, and ``__main__``.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING``, and
``import_module("robust_sabn....")`` with a literal name. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``. Importing ``a.b.c`` also runs ``a.b``'s
``__init__``; that implicit edge is not counted (it is how every package with an ``__init__``
that re-exports works), the explicit ``from a.b import x`` is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "robust_sabn"
BASE = {"", "errors", "units", "vocabulary", "plugins", "compat"}
PLATFORM = {"nn", "models", "data", "artifacts", "parallel", "report", "suites", "runs"}
TASKS = {"adversarial": {"adversarial", "attacks", "evaluate", "train", "zoo"},
         "gan": {"gan"}, "nas": {"nas"}, "style": {"style"}}
FLOOR = {**dict.fromkeys(BASE, 0), **dict.fromkeys(PLATFORM, 1),
         **{part: 2 for parts in TASKS.values() for part in parts}, "cli": 3, "__main__": 3}
PENDING_EDGES = {
    # The RobustBench start-up hook (compat/, helper "users") registers zoo exports on first
    # use: it belongs with zoo/, and the .pth that names it with it.
    ("robust_sabn.compat.robustbench_models", "robust_sabn.zoo.register"),
}
"""Edges that break the floors today, each with who removes it; nothing else may."""
MAX_LINES = 80


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The module of ours that ``name`` (a module or a module's attribute) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, tree: ast.AST) -> Iterator[str]:
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr",
              getattr(node.func, "id", None)) == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.args[0].value


@cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def import_graph() -> dict[str, set[str]]:
    """Our module -> our modules it imports (a new dict each call)."""
    graph = {}
    for module, path in MODULES.items():
        targets = {_resolve(name) for name in _imported(module, _parsed(path))}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def floor_of(module: str) -> tuple[int, str | None]:
    """(floor, task) of a module; a task's ``cli`` module is on the CLI floor."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if len(parts) > 2 and parts[2] == "cli" and top in FLOOR and FLOOR[top] == 2:
        return 3, None
    task = next((name for name, members in TASKS.items() if top in members), None)
    return FLOOR[top], task


def upward_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Imports of a higher floor, or of another task."""
    bad = set()
    for source, targets in graph.items():
        floor, task = floor_of(source)
        for target in targets:
            target_floor, target_task = floor_of(target)
            if target_floor > floor or (floor == target_floor == 2 and target_task != task):
                bad.add((source, target))
    return bad


def test_every_package_is_on_a_floor() -> None:
    tops = {m.split(".")[1] for m in MODULES if "." in m}
    assert tops <= set(FLOOR), f"put {tops - set(FLOOR)} on a floor in this test's docstring"


def test_the_import_graph_has_no_cycles() -> None:
    assert cycles(import_graph()) == []


def test_imports_run_down_the_floors_and_tasks_do_not_import_each_other() -> None:
    assert upward_edges(import_graph()) <= PENDING_EDGES


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    graph = import_graph()
    graph["robust_sabn.artifacts.result"] |= {"robust_sabn.adversarial.record"}
    assert frozenset({"robust_sabn.artifacts.result", "robust_sabn.adversarial.record"}) in [
        c for c in cycles(graph) if len(c) == 2]
    assert ("robust_sabn.artifacts.result", "robust_sabn.adversarial.record") in upward_edges(
        graph)
    graph["robust_sabn.gan.plan"] |= {"robust_sabn.nas.plan"}
    assert ("robust_sabn.gan.plan", "robust_sabn.nas.plan") in upward_edges(graph)


def test_function_imports_and_relative_imports_are_edges(tmp_path: Path) -> None:
    source = ("def f():\n    from robust_sabn.train import loop\n    from . import plan\n"
              "    import_module('robust_sabn.nas.search')\n")
    names = set(_imported("robust_sabn.gan.report", ast.parse(source)))
    assert names == {"robust_sabn.train.loop", "robust_sabn.gan.plan", "robust_sabn.nas.search"}


def long_functions() -> set[tuple[str, str, int]]:
    """(file under robust_sabn/, function, lines) of functions longer than MAX_LINES, the CLI's
    command functions aside (their option declarations are long by nature)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("cli/") or path.name == "cli.py":
            continue
        for node in ast.walk(_parsed(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_LINES:
                    found.add((relative, node.name, length))
    return found


def test_no_function_outside_the_cli_is_longer_than_80_lines() -> None:
    assert long_functions() == set()


@pytest.mark.parametrize("edge", sorted(PENDING_EDGES))
def test_each_pending_edge_still_exists(edge: tuple[str, str]) -> None:
    """An allowance whose edge is gone must be deleted, so the list only shrinks."""
    assert edge[1] in import_graph()[edge[0]]


def test_the_lower_floors_name_no_task_module() -> None:
    """Not even as a string to import later: a task registers itself (robust_sabn.plugins)."""
    task_prefixes = tuple(f"robust_sabn.{part}" for parts in TASKS.values() for part in parts)
    named = set()
    for module, path in MODULES.items():
        if floor_of(module)[0] > 1 or module in {source for source, _ in PENDING_EDGES}:
            continue
        for node in ast.walk(_parsed(path)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named |= {(module, w) for w in node.value.split() if w.startswith(task_prefixes)}
    assert not {(m, w) for m, w in named if "." in w.removeprefix("robust_sabn.")
                and not w.endswith((".", ","))}
