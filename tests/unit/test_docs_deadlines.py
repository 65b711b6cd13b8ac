"""The deadlines the docs state are the code's (issue 23, defect 8: the USR2 preflight)."""

from __future__ import annotations

import re

from support import ROOT

from resqued.config import probe
from resqued.master import upgrade

DOCS = ROOT / "docs"


def row(path: str, starts: str) -> str:
    [line] = [x for x in (DOCS / path).read_text().splitlines() if x.startswith(starts)]
    return line


def test_the_usr2_preflight_deadline_is_the_one_the_docs_give():
    default = probe.DEFAULT_TIMEOUT
    assert upgrade.check_deadline(["-c", "conf.py"]) == default
    assert upgrade.check_deadline(["--boot-timeout", "300"]) == 300
    assert upgrade.check_deadline(["--boot-timeout=7"]) == 7
    stated = f"{default:g} s"
    usr2 = row("signals.md", "| `USR2` | Hot re-exec of the master")
    assert re.findall(r"preflight still running after (\d+ s)", usr2) == [stated], usr2
    assert "`--boot-timeout`" in usr2
    hook = row("configuration.md", "| config `before_exec` (preflight) |")
    assert hook.endswith(f"| {stated} (`--boot-timeout`) |"), hook
    flag = row("configuration.md", "| `--boot-timeout S` |")
    assert f"the `USR2` preflight after S seconds (default {default:g})" in flag
    steps = (DOCS / "processes.md").read_text()
    assert f"still running after {default:g} s (or\n   `--boot-timeout`)" in steps
