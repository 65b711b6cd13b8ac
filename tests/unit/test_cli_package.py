"""The command-line package: no import cycle, commands import only the shared module,
the entry point loads nothing heavy before the title is set, no abbreviations."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from resqued.cli import COMMANDS

CLI = ROOT / "resqued" / "cli"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {name for name in found if name.startswith("resqued.cli")}


# The dispatcher imports the command that runs (run by name, the rest through COMMANDS).
DISPATCH = {
    "__init__": {"resqued.cli.run", "resqued.cli.run.run_master"},
    "__main__": {"resqued.cli", "resqued.cli.main"},
}
# A command's own helper module beside it (not a command: COMMANDS does not name it).
HELPERS = {"work": "resqued.cli.work_pool"}


@pytest.mark.parametrize("module", sorted(p.stem for p in CLI.glob("*.py")))
def test_commands_import_only_the_shared_parts(module):
    used = imports_of(CLI / f"{module}.py")
    shared = ("resqued.cli.common", HELPERS.get(module, "resqued.cli.common"))
    others = {name for name in used if not name.startswith(shared)}
    assert others <= DISPATCH.get(module, set()), others
    if module == "common":
        assert used == set()


def test_every_command_word_has_its_module():
    for word, (module, function) in COMMANDS.items():
        assert (CLI / f"{module}.py").exists(), word
        assert f"def {function}(" in (CLI / f"{module}.py").read_text(), word


def test_importing_the_entry_point_loads_nothing_heavy():
    code = (
        "import sys, resqued, resqued.cli;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('resqued', 'redis', 'yaml')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['resqued', 'resqued.cli', 'resqued.version']"


def test_the_public_api_still_imports_on_first_use():
    code = "import resqued; print(resqued.enqueue.__module__, resqued.job.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["resqued.producer", "resqued.jobs"]


def test_parsers_never_match_prefixes():
    from resqued.cli.common import Parser

    p = Parser(prog="x")
    p.add_argument("--daemonize", action="store_true")
    with pytest.raises(SystemExit):
        p.parse_args(["--daemon"])
    assert p.parse_args(["--daemonize"]).daemonize
