"""A worker's Redis state as Ruby Resque keeps it: registration, heartbeats, in-flight jobs, prunes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from support.jobs import (
    PREFIX,
    failures,
    idle,
    push,
    strings,
    wait_reserves,
    work,
    worker_id,
)
from support.procs import dead_pid, wait_for
from support.worker import quit_, started_pid


def test_registry_keys_while_running_and_after_exit(resqued, app_dir, r):
    t0 = int(time.time())
    w = work(resqued, app_dir, "-q", "default")
    wid = worker_id(r)
    host, pid, queues = wid.split(":")
    assert (host, pid, queues) == (__import__("socket").gethostname(), str(w.pid), "default")
    started = r.get(f"resque:worker:{wid}:started").decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", started)
    assert (
        abs(time.mktime(time.strptime(started, "%Y-%m-%d %H:%M:%S +0000")) - time.timezone - t0)
        <= 5
    )
    beat = r.hget("resque:workers:heartbeat", wid).decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", beat)
    assert not r.exists(f"resque:worker:{wid}")  # only while a job runs

    raw = push(r, "default", "Sleep", "s", 1.5, enqueue_timestamp=1)
    started_pid(r)
    doing = r.get(f"resque:worker:{wid}")
    assert doing.startswith(b'{"queue":"default","run_at":"')
    assert doing.endswith(b',"payload":' + raw + b"}")  # the payload exactly as queued
    run_at = json.loads(doing)["run_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", run_at)
    wait_for(lambda: r.llen("finished") == 1, 10, "job finished")
    wait_for(lambda: not r.exists(f"resque:worker:{wid}"), 10, "worker:<id> cleared")
    assert r.get("resque:stat:processed") == b"1"
    assert r.get(f"resque:stat:processed:{wid}") == b"1"

    push(r, "default", "Fail", "nope")
    wait_for(lambda: r.get("resque:stat:failed") == b"1", 10, "failure counted")
    wait_for(lambda: r.get("resque:stat:processed") == b"2", 10, "failed job counted processed")
    assert r.get(f"resque:stat:failed:{wid}") == b"1"
    assert r.get(f"resque:stat:processed:{wid}") == b"2"

    quit_(w)
    app_keys = {b"record", b"started", b"finished"}
    assert set(r.keys("*")) - app_keys == {
        b"resque:queues",
        b"resque:failed",
        b"resque:stat:processed",
        b"resque:stat:failed",
    }
    assert r.get("resque:stat:processed") == b"2" and r.get("resque:stat:failed") == b"1"


def test_heartbeat_is_taken_from_the_redis_clock(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    wid = worker_id(r)
    from datetime import datetime

    beat = datetime.fromisoformat(r.hget("resque:workers:heartbeat", wid).decode()).timestamp()
    sec, _ = r.time()
    assert abs(beat - sec) <= 5
    quit_(w)


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_sigkill_of_the_worker_loses_nothing(resqued, app_dir, r, mode):
    w = work(resqued, app_dir, "-q", "default", mode)
    dead_id = worker_id(r)
    raw = push(r, "default", "Sleep", "lost?", 30, enqueue_timestamp=7)
    push(r, "default", "Record", "waiting")
    job_pid = started_pid(r)
    w.signal(signal.SIGKILL)
    w.wait(10)
    if job_pid != w.pid:  # an orphaned job child: gone with its worker for this test
        os.kill(job_pid, signal.SIGKILL)
    assert r.sismember("resque:workers", dead_id)
    # The next worker on this host prunes the dead one: the job lands in failed.
    nxt = work(resqued, app_dir, "-q", "other", "--no-fork")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "job failed by prune")
    record = r.lindex("resque:failed", 0)
    rec = json.loads(record)
    assert rec["exception"] == "Resque::DirtyExit" and rec["worker"] == dead_id
    assert b'"payload":' + raw in record
    assert r.llen("resque:queue:default") == 1  # the job behind it is untouched
    wait_for(lambda: not r.sismember("resque:workers", dead_id), 10, "dead worker gone")
    assert not r.exists(f"resque:worker:{dead_id}", f"resque:worker:{dead_id}:started")
    assert r.hget("resque:workers:heartbeat", dead_id) is None
    quit_(nxt)


def test_a_cleared_per_worker_count_does_not_replay_the_job(resqued, app_dir, r):
    """Resque::Stat.clear (or a Redis restarted empty) must not make the worker loop on a job."""
    w = work(resqued, app_dir, "-q", "default", "--no-fork", "-i", "0.2")
    wid = worker_id(r)
    push(r, "default", "Record", "a")
    wait_for(lambda: r.get(f"resque:stat:processed:{wid}") == b"1", 15, "first job counted")
    r.delete(f"resque:stat:processed:{wid}")
    push(r, "default", "Record", "b")
    wait_for(lambda: r.llen("record") == 2, 15, "second job")
    wait_for(lambda: not r.exists(f"resque:worker:{wid}"), 10, "second job finished")
    wait_reserves(r, 2)
    assert [x.split(":")[0] for x in strings(r, "record")] == ["a", "b"]
    assert r.get("resque:stat:processed") == b"2"
    quit_(w)


def test_prune_survives_garbage_left_by_dead_workers(resqued, app_dir, r):
    host = socket.gethostname()
    garbage = {
        f"{host}:{dead_pid()}:a": b'"just a string"',
        f"{host}:{dead_pid()}:b": b'{"queue":"b","payload":[1,2]}',
        f"{host}:{dead_pid()}:c": b"\xff not json",
        f"{host}:{dead_pid()}:d": b'{"queue":7,"payload":{"class":"Record","args":"x"}}',
    }
    for wid, value in garbage.items():
        r.sadd("resque:workers", wid)
        r.set(f"resque:worker:{wid}", value)
    r.sadd("resque:workers", "no-colons-at-all", f"{host}:notapid:q", f"{host}::")
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    idle(w)
    assert r.llen("resque:failed") == len(garbage)
    for rec in failures(r):
        assert rec["exception"] == "Resque::DirtyExit" and rec["worker"] in garbage
    assert not any(r.exists(f"resque:worker:{wid}") for wid in garbage)
    assert {x.decode() for x in r.smembers("resque:workers")} & set(garbage) == set()
    push(r, "default", "Record", "still working")
    wait_for(lambda: r.llen("record") == 1, 10, "job")
    assert "Traceback" not in w.output()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()[0]


def test_a_zombie_worker_is_pruned_and_its_job_failed(resqued, app_dir, r):
    """A worker killed but not reaped yet (<defunct>) is dead: its job must not stay in limbo."""
    title = f"{PREFIX}: Processing default since 1700000000 [Sleep]"
    zombie = subprocess.Popen(
        [sys.executable, "-c", f"import setproctitle; setproctitle.setproctitle({title!r})"]
    )
    try:
        wait_for(lambda: _state(zombie.pid) == "Z", 15, "an exited, unreaped worker")
        dead = f"{socket.gethostname()}:{zombie.pid}:default"
        r.sadd("resque:workers", dead)
        r.set(
            f"resque:worker:{dead}",
            json.dumps(
                {"queue": "default", "run_at": "x", "payload": {"class": "Sleep", "args": []}}
            ),
        )
        w = work(resqued, app_dir, "-q", "other", "--no-fork")  # prunes at start
        wait_for(lambda: not r.sismember("resque:workers", dead), 15, "the zombie pruned")
        [rec] = failures(r)
        assert rec["exception"] == "Resque::DirtyExit" and rec["worker"] == dead
        assert rec["payload"] == {"class": "Sleep", "args": []}
        assert not r.exists(f"resque:worker:{dead}")
        quit_(w)
    finally:
        zombie.wait()
