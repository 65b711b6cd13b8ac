"""``resqued status`` (text, --json, --watch) on running masters, the real command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from support.cli import Terminal, cli, cli_env
from support.fleet import push_failures, pyres_failure, register_worker, ruby_failure
from support.jobs import push
from support.procs import wait_for
from support.redis_server import ExtraRedis

from resqued.fleet import read_fleet
from resqued.resque.registry import hostname
from resqued.resque.store import Store
from resqued.version import __version__


def start_master(resqued, app_dir, name: str, workers: int, queue: str):
    conf = app_dir / f"{name}.conf.py"
    conf.write_text(f"worker_processes({workers})\nqueue({queue!r})\n")
    pidfile = app_dir / f"{name}.pid"
    proc = resqued("-c", str(conf), "-r", "demo_jobs", "-p", str(pidfile), cwd=app_dir)
    return proc, pidfile, f"{hostname()}:{proc.pid}"


def mine(fleet, mid: str):
    return [w for w in fleet.workers if w.master == mid]


def wait_states(redis_url: str, mid: str, states: list[str], what: str):
    def reached():
        fleet = read_fleet(Store.connect(redis_url))
        return sorted(w.state for w in mine(fleet, mid)) == sorted(states) and fleet

    return wait_for(reached, 30, what)


def status_json(redis_url: str) -> dict:
    out = cli(redis_url, "status", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def status_text(redis_url: str) -> str:
    out = cli(redis_url, "status")
    assert out.returncode == 0 and not out.stderr, out.stderr
    return out.stdout


def worker_rows(text: str, mid: str) -> list[str]:
    """The worker lines printed under master ``mid``, up to the next master or host."""
    pid = mid.rpartition(":")[2]
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(f"  master {pid} "))
    rows = []
    for line in lines[start + 1 :]:
        if not line.startswith("    ") or line.startswith("    config "):
            if line.startswith("  master ") or not line.startswith("  "):
                break
            continue
        if not line.lstrip().startswith(("listener", "replacements")):
            rows.append(line.strip())
    return rows


def test_a_master_with_working_waiting_then_paused_workers(resqued, app_dir, r, redis_url):
    m, pidfile, mid = start_master(resqued, app_dir, "one", 3, "default")
    wait_states(redis_url, mid, ["waiting"] * 3, "3 waiting workers")
    push(r, "default", "Sleep", "slow", 60)
    wait_for(lambda: r.lrange("started", 0, -1), 20, "the job to start")
    beat = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())  # a live one: it beats
    register_worker(r, "rubyhost:77:mail,default", processed=12, heartbeat=beat)  # Ruby Resque
    register_worker(r, "pyhost:88:mail", started=int(time.time()), heartbeat=None)  # pyres
    wait_states(redis_url, mid, ["working", "waiting", "waiting"], "one working")

    doc = status_json(redis_url)
    assert doc["format"] == 1 and doc["namespace"] == "resque" and doc["paused_all"] is False
    assert doc["stats"]["workers"] == 5 and doc["stats"]["working"] == 1
    [master] = doc["masters"]
    assert master["id"] == mid and master["pid"] == m.pid and master["host"] == hostname()
    assert master["state"] == "running" and master["paused"] is False
    assert master["version"] == __version__ and master["generation"] == 1
    assert master["listener"]["state"] == "running" and master["listener"]["number"] == 1
    assert master["workers"]["configured"] == 3 and master["workers"]["running"] == 3
    ours = [w for w in doc["workers"] if w["master"] == mid]
    assert sorted(w["id"] for w in ours) == sorted(master["worker_ids"])
    [busy] = [w for w in ours if w["state"] == "working"]
    assert busy["job"]["class"] == "Sleep" and busy["job"]["queue"] == "default"
    assert busy["job"]["args"] == ["slow", 60] and 0 <= busy["job"]["seconds"] < 60
    assert busy["queues"] == ["default"] and busy["pid"] in master["workers"]["pids"]
    others = {w["id"]: w for w in doc["workers"] if w["master"] is None}
    assert others["rubyhost:77:mail,default"]["processed"] == 12
    assert others["rubyhost:77:mail,default"]["state"] == "waiting"
    assert others["pyhost:88:mail"]["heartbeat_at"] is None
    assert doc["queues"] == [{"name": "default", "depth": 0}]

    text = status_text(redis_url)
    lines = text.splitlines()
    assert lines[0].startswith(f"{redis_url} (namespace resque) at ")
    assert lines[1].startswith("processed 0, failed 0 (failed list 0); pending 0; workers 5, 1")
    assert f"host {hostname()}" in lines and "host rubyhost" in lines and "host pyhost" in lines
    assert any(
        x.startswith(f"  master {m.pid}  resqued {__version__}  gen 1  running") for x in lines
    )
    assert any(
        x.startswith("    listener #1 pid ") and "workers 3 running of 3" in x for x in lines
    )
    rows = worker_rows(text, mid)
    assert len(rows) == 3
    assert sum(" working " in x and "Sleep on default for " in x for x in rows) == 1
    assert sum(" waiting " in x for x in rows) == 2
    assert all(x.split()[1] == "default" and x.endswith("failed 0") for x in rows)
    assert "    77  mail,default  waiting" in text

    # resqued pause -p: the idle workers show paused, the busy one keeps working.
    paused = cli(redis_url, "pause", "-p", str(pidfile))
    assert paused.returncode == 0, paused.stderr
    wait_states(redis_url, mid, ["working", "paused", "paused"], "two paused")
    doc = status_json(redis_url)
    assert doc["masters"][0]["paused"] is True
    assert sorted(w["state"] for w in doc["workers"] if w["master"] == mid) == [
        "paused",
        "paused",
        "working",
    ]
    text = status_text(redis_url)
    assert f"  master {m.pid} " in text and "  PAUSED" in text
    rows = worker_rows(text, mid)
    assert sum(" paused " in x for x in rows) == 2 and sum(" working " in x for x in rows) == 1

    # QUIT: the master is stopping; its busy worker finishes its job first.
    m.signal(signal.SIGQUIT)
    wait_for(lambda: status_json(redis_url)["masters"][0]["state"] == "stopping", 20, "stopping")
    doc = status_json(redis_url)
    assert {w["state"] for w in doc["workers"] if w["master"] == mid} == {"stopping"}
    assert "  stopping  Sleep on default for " in status_text(redis_url)


def test_two_masters_on_one_redis(resqued, app_dir, r, redis_url):
    a, _, ida = start_master(resqued, app_dir, "a", 2, "alpha")
    b, _, idb = start_master(resqued, app_dir, "b", 2, "beta")
    wait_states(redis_url, ida, ["waiting"] * 2, "master a's workers")
    wait_states(redis_url, idb, ["waiting"] * 2, "master b's workers")
    assert cli(redis_url, "pause", "--master", idb).returncode == 0
    wait_states(redis_url, idb, ["paused"] * 2, "master b paused")

    doc = status_json(redis_url)
    assert [m["id"] for m in doc["masters"]] == sorted(
        [ida, idb], key=lambda i: int(i.split(":")[1])
    )
    by_id = {m["id"]: m for m in doc["masters"]}
    assert by_id[ida]["paused"] is False and by_id[idb]["paused"] is True
    for mid, queue, state in ((ida, "alpha", "waiting"), (idb, "beta", "paused")):
        ws = [w for w in doc["workers"] if w["master"] == mid]
        assert sorted(w["id"] for w in ws) == sorted(by_id[mid]["worker_ids"]) and len(ws) == 2
        assert {w["state"] for w in ws} == {state} and all(w["queues"] == [queue] for w in ws)
    assert not set(by_id[ida]["worker_ids"]) & set(by_id[idb]["worker_ids"])

    text = status_text(redis_url)
    assert text.count(f"host {hostname()}\n") == 1
    assert text.count("  master ") == 2
    assert all(x.split()[1:3] == ["alpha", "waiting"] for x in worker_rows(text, ida))
    assert all(x.split()[1:3] == ["beta", "paused"] for x in worker_rows(text, idb))
    assert len(worker_rows(text, ida)) == 2 and len(worker_rows(text, idb)) == 2


def watcher(redis_url: str, *args: str, out_path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "resqued.cli", "status", *args],
        stdout=open(out_path, "wb"),  # noqa: SIM115 (the child holds it)
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=cli_env(redis_url),
    )


def test_watch_without_a_terminal_prints_snapshot_after_snapshot(r, redis_url, tmp_path):
    out = tmp_path / "watch.out"
    proc = watcher(redis_url, "--watch", "0.2", out_path=out)
    try:
        wait_for(lambda: out.read_text().count("\nprocessed ") >= 2, 20, "two snapshots")
        r.incrby("resque:stat:processed", 7)
        wait_for(lambda: "processed 7, failed 0" in out.read_text(), 20, "a later snapshot")
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(20) == 0
    finally:
        proc.kill()
    text = out.read_text()
    assert "\x1b" not in text and "Traceback" not in text
    assert text.count(f"{redis_url} (namespace resque) at ") >= 3


def test_watch_json_is_one_document_per_line(r, redis_url, tmp_path):
    out = tmp_path / "watch.jsonl"
    proc = watcher(redis_url, "--json", "--watch", "0.2", out_path=out)
    try:
        wait_for(lambda: out.read_text().count("\n") >= 2, 20, "two snapshots")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(docs) >= 2 and all(d["format"] == 1 for d in docs)
    assert docs[0]["taken_at"] < docs[-1]["taken_at"]


def test_watch_on_a_terminal_redraws_in_place(r, redis_url):
    for n in range(60):  # more queues than the terminal has lines
        r.sadd("resque:queues", f"q{n:02d}")
    term = Terminal(redis_url, "status", "--watch", "0.2", rows=30, cols=100)
    try:
        term.read_until(b"\x1b[H", count=3)
        r.incrby("resque:stat:processed", 50)
        screen = term.read_until(b"jobs/s processed", count=3)
        term.interrupt()
        status, screen = term.finish()
    finally:
        term.close()
    assert status == 0
    frames = screen.split("\x1b[H")[1:]
    assert screen.startswith("\x1b[2J") and len(frames) >= 3
    for frame in frames:
        lines = frame.split("\n")
        assert len(lines) <= 30  # never scrolls
        assert all(len(x.replace("\x1b[K", "").replace("\x1b[J", "")) < 100 for x in lines)
    whole = frames[-2]  # Ctrl-C may have cut the last one short
    assert "more lines (a taller terminal shows them)" in whole
    assert whole.startswith("every 0.2s (Ctrl-C ends): ") and whole.endswith("\x1b[J")
    assert any("processed 50" in f for f in frames)
    assert "Traceback" not in screen


def test_watch_starts_only_when_redis_answers():
    out = cli("redis://127.0.0.1:1/0", "status", "--watch", "1")
    assert out.returncode == 1 and not out.stdout
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("resqued: ") and "127.0.0.1:1" in line


def test_watch_keeps_going_through_a_redis_restart(tmp_path):
    server = ExtraRedis(tmp_path)
    server.start()
    out = tmp_path / "watch.out"
    proc = watcher(server.url, "--watch", "0.2", out_path=out)
    try:
        wait_for(lambda: out.read_text().count("\nprocessed ") >= 1, 20, "a snapshot")
        server.stop()
        wait_for(lambda: "(retrying)" in out.read_text(), 20, "the error shown")
        server.start()
        server.client().set("resque:stat:processed", 3)
        wait_for(lambda: "processed 3, failed 0" in out.read_text(), 20, "snapshots again")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        server.stop()
    errors = [x for x in out.read_text().splitlines() if "(retrying)" in x]
    assert errors and all(x.startswith("resqued: redis: ") for x in errors)
    assert "Traceback" not in out.read_text()


def test_failures_shown_are_counted_by_the_flag(r, redis_url):
    push_failures(r, ruby_failure(), pyres_failure(), ruby_failure(cls="Other"))
    lines = status_text(redis_url).splitlines()
    assert lines[-4] == "failures (newest 3 of 3; more: resqued failed list)"
    one = cli(redis_url, "status", "--failures", "1").stdout.splitlines()
    assert one[-2:] == [
        "failures (newest 1 of 3; more: resqued failed list)",
        "  #2  2024/01/01 12:00:00 UTC  high  Other  RuntimeError: boom",
    ]
    assert cli(redis_url, "status", "--failures", "0").stdout.endswith(
        "\nfailures (3; see resqued failed list)\n"
    )
    assert (
        json.loads(cli(redis_url, "status", "--json", "--failures", "0").stdout)["failures"] == []
    )
    out = cli(redis_url, "status", "--failures", "-1")
    assert out.returncode == 2 and "'-1' is not a whole number >= 0" in out.stderr
