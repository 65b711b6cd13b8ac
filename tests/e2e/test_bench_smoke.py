"""The benchmark suite in quick mode: it runs, and its table and JSON are complete and well-formed.

Nothing here is timed: the figures are only checked to be there and to be numbers.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from typing import Any

import pytest
from support import ROOT

ROWS = {"1", "2", "3", "4", "5", "6", "7", "8"}
PEER_ROWS = {"1", "3", "4", "7"}  # rows whose peer is RQ


def rq_installed() -> bool:
    try:
        metadata.version("rq")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    doc = json.loads(out.read_text()) if out.exists() else None
    return proc, doc


def table_rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells, f"no table in:\n{stdout}"
    header, rule, *body = cells
    assert header[:6] == ["#", "measure", "ours", "peer or limit", "theirs", "ours / theirs"]
    assert all(set(c) == {"-"} for c in rule)
    assert all(len(r) == len(header) for r in body)
    return body


def number(text: str) -> float:
    """The median at the head of a cell such as ``7,850 (7,610-8,091)`` or ``4.06x``."""
    return float(text.split()[0].rstrip("x").replace(",", ""))


@pytest.mark.timeout(900)
def test_quick_mode_exits_cleanly_with_every_row(run: Any) -> None:
    proc, doc = run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not re.search(r"^row \d not measured:", proc.stdout, re.MULTILINE), proc.stdout
    body = table_rows(proc.stdout)
    assert {r[0] for r in body} == ROWS
    for r in body:
        assert math.isfinite(number(r[2])), r
        assert r[3] != "-", r  # every row names its peer or limit
        if r[0] in PEER_ROWS and not rq_installed():
            assert r[4] == "n/a" and "RQ not installed" in r[7], r
        else:
            assert math.isfinite(number(r[4])) and math.isfinite(number(r[5])), r
    assert doc is not None


@pytest.mark.timeout(900)
def test_quick_mode_json_holds_the_machine_the_versions_and_every_figure(run: Any) -> None:
    proc, doc = run
    assert doc is not None, proc.stderr[-3000:]
    assert doc["mode"] == "quick"
    datetime.fromisoformat(doc["date"])
    machine = doc["machine"]
    assert machine["cores"] >= 1 and machine["memory_gib"] > 0 and machine["cpu"]
    versions = doc["versions"]
    for key in ("python", "redis_server", "redis_py", "resqued"):
        assert versions[key], key
    assert (versions["rq"] is not None) == rq_installed()
    assert doc["not_measured"] == {}
    assert {r["row"] for r in doc["rows"]} == ROWS
    body = table_rows(proc.stdout)
    assert len(doc["rows"]) == len(body)
    for row in doc["rows"]:
        ours = row["ours"]
        assert len(ours["samples"]) == row["rounds"] >= 1
        assert ours["min"] <= ours["median"] <= ours["max"]
        assert all(math.isfinite(x) and x >= 0 for x in ours["samples"])
        assert row["better"] in ("higher", "lower")
        if row["peer"] is not None:
            assert row["ratio_ours_over_peer"] is not None
            assert all(math.isfinite(x) for x in row["ratio_ours_over_peer"]["samples"])
        else:
            assert row["row"] in PEER_ROWS and not rq_installed()


def test_a_bad_row_selection_is_a_one_line_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "9"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith("--only: rows are 1-8, got 9")
    assert "Traceback" not in proc.stderr
