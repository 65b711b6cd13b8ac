"""The import order of the package: no module imports one above it, and there is no circle.

Floors, lowest first (a room may import its own modules and any lower floor's,
never a room beside it or above it).  ``process/`` is what any of our
processes is made of; then the Resque wire; the user's API and the two seams;
the config; the worker, the listener and the master processes; the commands.
Every import counts: at module level, inside a function, and under
``TYPE_CHECKING`` (the circle check leaves those out: they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

from support import ROOT

PACKAGE = ROOT / "resqued"

FLOORS: list[set[str]] = [
    {"errors", "version"},
    {"process"},
    {"resque"},
    {"job_hooks", "scoreboard"},
    {"hooks"},
    {"jobs"},
    {"producer", "app", "reachable", "fleet", "scheduler"},
    {"config"},
    {"ipc"},  # the master <-> listener seam: carries config.view's MasterView
    {"worker"},
    {"listener"},
    {"master", "web"},
    {"cli"},
    {"__init__"},  # the package's face: ``import resqued`` gives the user's API
]
FLOOR = {room: n for n, rooms in enumerate(FLOORS) for room in rooms}

# What stays at the package root: the user's API and the two seams between processes.
ROOT_MODULES = {
    "__init__", "app", "errors", "hooks", "ipc", "job_hooks", "jobs", "producer",
    "reachable", "scoreboard", "version",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    """``resqued.master.loop`` -> ``master``; ``resqued.ipc`` -> ``ipc``; ``resqued`` -> face."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, runtime_only: bool = False) -> set[str]:
    """The resqued modules ``path`` imports (``from resqued import x`` names module ``x``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if runtime_only and _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "resqued")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "resqued":
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in MODULES else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def test_every_import_names_a_module_that_exists():
    """An import left behind by a move (often inside a function, where nothing runs it)."""
    face = (PACKAGE / "__init__.py").read_text()
    missing = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] != "resqued":
                    continue
                if node.module not in MODULES:
                    missing.append(f"{name}: {node.module}")
                elif node.module == "resqued":
                    gone = [a.name for a in node.names if f"resqued.{a.name}" not in MODULES]
                    missing += [f"{name}: resqued.{n}" for n in gone if f'"{n}"' not in face]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("resqued.") and alias.name not in MODULES:
                        missing.append(f"{name}: {alias.name}")
    assert missing == []


def test_every_room_has_a_floor():
    assert {room(m) for m in MODULES} <= set(FLOOR), "a new package needs a floor in FLOORS"


def test_the_root_keeps_only_the_users_api_and_the_seams():
    assert {p.stem for p in PACKAGE.glob("*.py")} == ROOT_MODULES


def test_no_module_imports_one_above_it_or_beside_it():
    wrong = []
    for name, path in MODULES.items():
        mine = room(name)
        for target in imports_of(path):
            theirs = room(target)
            if theirs != mine and FLOOR[theirs] >= FLOOR[mine]:
                wrong.append(f"{name} imports {target} (floor {FLOOR[theirs]} >= {FLOOR[mine]})")
    assert wrong == []


def test_no_circles():
    graph = {
        name: imports_of(path, runtime_only=True) & set(MODULES) for name, path in MODULES.items()
    }
    done: set[str] = set()
    circles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        if node in path:
            circles.append(path[path.index(node) :] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            if nxt != node and not _package_of(nxt, node):
                walk(nxt, [*path, node])
        done.add(node)

    for name in sorted(graph):
        walk(name, [])
    assert circles == []


def _package_of(package: str, module: str) -> bool:
    """Importing a module runs its package's ``__init__`` first: that is not an arrow back."""
    return module.startswith(package + ".")
