"""The benchmark suite in quick mode: it runs, and its table and JSON are complete and well-formed.

Nothing here is timed: the figures are only checked to be there and to be numbers.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from support import ROOT
from support.procs import descendants, ps, wait_for

ROWS = {"1", "2", "3", "4", "5", "6", "7", "8", "9"}  # --quick leaves out 10 (the scale row)
PEER_ROWS = {"1", "3", "4", "7", "9"}  # rows whose peer is RQ


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
        [sys.executable, "-m", "bench", "--only", "11"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith("--only: rows are 1-10, got 11")
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def scale_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path_factory.mktemp("bench") / "scale.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--scale", "--scale-size", "2x2"]
        + ["--scale-failed", "1k", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    doc = json.loads(out.read_text()) if out.exists() else None
    return proc, doc


@pytest.mark.timeout(600)
def test_the_scale_row_runs_at_a_tiny_size_and_reports_every_figure(scale_run: Any) -> None:
    proc, doc = scale_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    body = table_rows(proc.stdout.split("\n## ", 1)[0])  # the main table, not the views'
    assert {r[0] for r in body} == {"10"}
    measures = " ".join(r[1] for r in body)
    for what in ("idle Redis CPU", "commands per worker per minute", "connections per worker"):
        assert measures.count(what) == 2, what  # in process and fork per job
    for what in ("enqueue-to-start p99", "drain of no-op jobs", "Redis CPU per job"):
        assert measures.count(what) == 2, what
    assert measures.count("HUP of every master at once") == 2  # without and with other keys
    assert measures.count("USR2 of every master at once") == 2
    for r in body:
        assert math.isfinite(number(r[2])) and math.isfinite(number(r[4])), r
    assert doc is not None and doc["not_measured"] == {}
    extra = doc["rows"][0]["extra"]
    assert set(extra["fleets"]) == {
        "ref in process",
        "big in process",
        "ref fork per job",
        "big fork per job",
    }
    for storm in extra["storms"].values():
        assert isinstance(storm["lost"], int) and storm["lost"] >= 0, storm  # counted
        assert {"steady", "HUP one", "HUP", "USR2"} <= set(storm["gaps_ms"])
    views = extra["views"]
    names = {v["view"] for v in views}
    for page in ("status", "status --json", "queues", "dashboard /failed", "metrics scrape"):
        assert page in names, page
    assert {v["unrelated_keys"] for v in views} == {0, 10_000}
    for v in views:
        assert v["ok"], v
        assert v["commands"] >= 0 and v["cpu_ms"] >= 0 and v["wall_ms"] > 0, v


@pytest.mark.timeout(600)
def test_the_scale_row_prints_its_views_table(scale_run: Any) -> None:
    proc, _ = scale_run
    assert "## Scale row: operator views" in proc.stdout
    section = proc.stdout.split("## Scale row: operator views", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("| status ")]
    assert lines, section
    cells = [c.strip() for c in lines[0].strip("|").split("|")]
    assert cells[1] == "1,000"
    assert all(math.isfinite(number(c)) for c in cells[2:5]), cells


def test_a_bad_scale_size_is_a_one_line_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "--scale-size", "32by32"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("argument --scale-size: '32by32' is not MASTERSxWORKERS (e.g. 32x32)")
    )
    assert "Traceback" not in proc.stderr


def _started_at(pid: int) -> int:
    """A process's start time in clock ticks (with the pid, its identity); 0 once gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except OSError:
        return 0


@pytest.mark.timeout(300)
def test_the_scale_row_stops_every_process_it_started_on_sigterm(tmp_path: Path) -> None:
    err = tmp_path / "stderr"
    with err.open("w") as stderr:
        bench = subprocess.Popen(
            [sys.executable, "-m", "bench", "--quick", "--scale", "--scale-size", "2x2"]
            + ["--json", str(tmp_path / "out.json")],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        # the big fleet (2 masters, their listeners and 4 workers) is up and registered
        wait_for(lambda: "big-inproc: 4 workers registered" in err.read_text(), 120, "the fleet")
        below = descendants(bench.pid)
        masters = [p for p, _, t in below if " master " in t]
        workers = [p for p, _, t in below if t.startswith("resque-")]
        assert len(masters) == 2 and len(workers) >= 4, below
        started = {pid: _started_at(pid) for pid, _, _ in below}
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(120) == 130
    finally:
        if bench.poll() is None:  # the test failed before its SIGTERM: still let it clean up
            bench.send_signal(signal.SIGTERM)
            try:
                bench.wait(120)
            except subprocess.TimeoutExpired:
                bench.kill()
                bench.wait()
    left = [pid for pid, born in started.items() if born and _started_at(pid) == born]
    assert not left, [t for p, _, t in ps() if p in left]
    assert err.read_text().strip().splitlines()[-1] == (
        "benchmark: interrupted; every process it started is stopped"
    )
    assert "Traceback" not in err.read_text()


@pytest.mark.timeout(300)
def test_the_hup_timeline_profiles_a_tiny_fleet() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.hup_timeline", "2x2", "--rate", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    heads = [line for line in proc.stdout.splitlines() if line.startswith("# HUP of ")]
    assert [h.split(":")[0] for h in heads] == ["# HUP of one master", "# HUP of every master"]
    for head in heads:
        gap = re.search(r"longest gap (\d+) ms", head)
        assert gap is not None, head
    assert "new workers forked (forks 2:" in proc.stdout  # one master's 2 workers replaced
    assert "new workers forked (forks 4:" in proc.stdout  # then every master's
