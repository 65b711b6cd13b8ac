"""The fleet read model: masters, their workers, Ruby and pyres workers, text and JSON forms."""

from __future__ import annotations

import json
import re
import time

import pytest
from support.fleet import (
    push_failures,
    pyres_failure,
    register_master,
    register_worker,
    ruby_failure,
)

from resqued.fleet import fleet_dict, read_fleet, render_text, to_json
from resqued.fleet.parse import parse_time, split_worker_id
from resqued.fleet.rates import RateSampler, Sample
from resqued.resque.store import Store

EPOCH = 1704110400.0  # 2024-01-01 12:00:00 UTC


@pytest.fixture
def store(r):
    return Store(r)


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01T12:00:00Z",
        "2024-01-01T12:00:00+00:00",
        "2024-01-01 12:00:00 +0000",
        "2024-01-01 13:00:00 +0100",
        "2024/01/01 12:00:00 UTC",
        "2024/01/01 12:00:00",
        "1704110400",
        b"1704110400",
        1704110400,
        "1704110400.0",
    ],
)
def test_times_written_by_ruby_pyres_and_us(value):
    assert parse_time(value) == EPOCH


@pytest.mark.parametrize("value", [None, "", "yesterday", "2024/01/01 12:00:00 CET", True, [1]])
def test_unreadable_times_are_none(value):
    assert parse_time(value) is None


def test_worker_ids():
    assert split_worker_id("web-1:42:high,low") == ("web-1", 42, ["high", "low"], None)
    assert split_worker_id("web-1:42:high,*#3") == ("web-1", 42, ["high", "*"], 3)
    assert split_worker_id("web-1:42:ns:queue") == ("web-1", 42, ["ns:queue"], None)
    assert split_worker_id("garbage") == ("garbage", None, [], None)


def two_masters(r):
    now = time.time()
    register_master(
        r,
        "web-1",
        100,
        generation=3,
        workers={"configured": 3, "running": 3, "pids": [101, 102, 103]},
        last_reload={"at": now - 300, "outcome": "ok", "error": None},
        replacements={"crashed": 2, "memory": 1},
    )
    register_master(
        r,
        "web-2",
        200,
        state="stopping",
        listener={"pid": 201, "number": 4, "state": "failed", "error": "ImportError: app"},
        workers={"configured": 1, "running": 1, "pids": [202]},
    )
    r.set("resque:resqued:pause:web-1:100", "true")
    register_worker(
        r,
        "web-1:101:high,*",
        job={"class": "Archive", "args": [35, "tar"]},
        run_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 12)),
        processed=100,
        failed=2,
    )
    register_worker(r, "web-1:102:high,*")
    register_worker(r, "web-1:102:high,*#1")
    register_worker(r, "web-2:202:low", job={"class": "Slow", "args": []}, queue="low")
    # Ruby Resque and pyres workers on other hosts, in their own formats.
    register_worker(r, "rubyhost:77:default", processed=5)
    register_worker(
        r,
        "pyhost:88:mail",
        started=int(now - 60),
        run_at=str(int(now - 30)),
        job={"class": "jobs.Mailer", "args": [1], "enqueue_timestamp": now - 40},
        queue="mail",
        heartbeat=None,
    )
    for q, n in (("high", 3), ("low", 0), ("mail", 1)):
        r.sadd("resque:queues", q)
        for i in range(n):
            r.rpush(f"resque:queue:{q}", i)
    r.set("resque:stat:processed", 120)
    r.set("resque:stat:failed", 3)
    push_failures(r, ruby_failure(), pyres_failure())


def test_two_masters_their_workers_and_foreign_workers(r, store):
    two_masters(r)
    fleet = read_fleet(store)
    assert [m.id for m in fleet.masters] == ["web-1:100", "web-2:200"]
    m1, m2 = fleet.masters
    assert m1.paused and not m2.paused
    assert m1.worker_ids == ["web-1:101:high,*", "web-1:102:high,*", "web-1:102:high,*#1"]
    assert m2.worker_ids == ["web-2:202:low"]
    assert m1.replacements == {"crashed": 2, "memory": 1} and m1.generation == 3
    assert m2.listener and m2.listener.error == "ImportError: app"
    states = {w.id: w.state for w in fleet.workers}
    assert states == {
        "web-1:101:high,*": "working",  # paused master, but a job still running
        "web-1:102:high,*": "paused",
        "web-1:102:high,*#1": "paused",
        "web-2:202:low": "stopping",  # its master is stopping
        "rubyhost:77:default": "waiting",
        "pyhost:88:mail": "working",
    }
    w = fleet.worker("web-1:101:high,*")
    assert w and w.job and w.job.class_name == "Archive" and w.job.queue == "high"
    assert w.job.seconds is not None and 10 <= w.job.seconds < 120
    assert (w.processed, w.failed, w.master, w.started_at) == (100, 2, "web-1:100", EPOCH)
    py = fleet.worker("pyhost:88:mail")
    assert py and py.job and py.job.seconds is not None and 25 <= py.job.seconds < 120
    assert py.started_at is not None and py.heartbeat_at is None and py.master is None
    assert fleet.worker("web-1:102:high,*#1").thread == 1
    assert fleet.hosts() == ["pyhost", "rubyhost", "web-1", "web-2"]
    s = fleet.stats
    assert (s.processed, s.failed, s.failed_list, s.pending, s.workers, s.working) == (
        120,
        3,
        2,
        4,
        6,
        3,
    )
    assert [(f.index, f.exception) for f in fleet.failures] == [
        (1, "ValueError"),
        (0, "RuntimeError"),
    ]


def test_global_pause_shows_idle_workers_paused(r, store):
    register_worker(r, "rubyhost:77:default")
    r.set("resque:pause-all-workers", " TRUE ")
    fleet = read_fleet(store)
    assert fleet.paused_all and fleet.workers[0].state == "paused"
    assert "PAUSED: all workers" in render_text(fleet)


def test_dead_masters_are_skipped_and_forgotten(r, store):
    register_master(r, "web-1", 100)
    register_master(r, "web-9", 900)
    r.delete("resque:resqued:master:web-9:900")  # its registration expired
    r.set("resque:resqued:master:web-3:300", "not json")
    r.sadd("resque:resqued:masters", "web-3:300")
    fleet = read_fleet(store, forget_dead=False)
    assert [m.id for m in fleet.masters] == ["web-1:100"]
    assert r.sismember("resque:resqued:masters", "web-9:900")
    read_fleet(store)
    assert r.smembers("resque:resqued:masters") == {b"web-1:100", b"web-3:300"}


def test_text_groups_masters_by_host_then_queues_then_failures(r, store):
    two_masters(r)
    text = render_text(read_fleet(store))
    lines = text.splitlines()
    assert lines[1] == ("processed 120, failed 3 (failed list 2); pending 4; workers 6, 3 working")
    order = [
        "host pyhost",
        "host rubyhost",
        "host web-1",
        "  master 100  resqued 0.1.0  gen 3  running  up 1h00m  PAUSED",
        "host web-2",
        "queues (3)",
        "failures (newest 2 of 2; more: resqued failed list)",
    ]
    positions = [next(i for i, line in enumerate(lines) if line.startswith(o)) for o in order]
    assert positions == sorted(positions), text
    assert any(
        re.fullmatch(
            r"    listener #1 pid 101 running; workers 3 running of 3; last reload 5m0\ds ago ok",
            line,
        )
        for line in lines
    )
    assert "    replacements: crashed 2, memory 1" in lines
    assert (
        "    listener #4 pid 201 failed (ImportError: app); workers 1 running of 1; never reloaded"
        in lines
    )
    worker_line = next(line for line in lines if line.startswith("    101 "))
    assert "working" in worker_line and "Archive on high for" in worker_line
    assert worker_line.endswith("processed 100 failed 2")
    assert any(line.startswith("    102#1 ") and "paused" in line for line in lines)
    assert [line.split() for line in lines if line.startswith("  high ")] == [["high", "3"]]
    assert any(
        line.startswith("  #1 ") and "mail  jobs.Mailer  ValueError: type:" in line
        for line in lines
    )


def test_json_form_field_names(r, store):
    two_masters(r)
    fleet = read_fleet(store)
    doc = json.loads(to_json(fleet))
    assert doc == fleet_dict(fleet)
    assert set(doc) == {
        "format",
        "taken_at",
        "redis",
        "namespace",
        "paused_all",
        "stats",
        "masters",
        "workers",
        "queues",
        "failures",
        "hosts",
        "scheduler",
    }
    assert set(doc["scheduler"]) == {
        "lock_holder",
        "lock_ttl",
        "delayed",
        "delayed_exact",
        "timestamps",
        "due",
        "earliest",
        "lag",
    }
    assert doc["format"] == 1
    assert {h["name"] for h in doc["hosts"]} == set(fleet.hosts())
    assert set(doc["hosts"][0]) == {"name", "beat_at", "every", "unreachable"}
    assert set(doc["stats"]) == {
        "processed",
        "failed",
        "failed_list",
        "pending",
        "workers",
        "working",
    }
    m = doc["masters"][0]
    assert set(m) == {
        "id", "host", "pid", "version", "generation", "config", "started_at", "heartbeat_at",
        "paused", "state", "listener", "workers", "last_reload", "replacements",
        "replaced_recently", "worker_ids",
    }  # fmt: skip
    assert m["listener"] == {"pid": 101, "number": 1, "state": "running", "error": None}
    assert m["workers"] == {"configured": 3, "running": 3, "pids": [101, 102, 103]}
    w = next(w for w in doc["workers"] if w["id"] == "web-1:101:high,*")
    assert set(w) == {
        "id", "host", "pid", "thread", "queues", "state", "job", "processed", "failed",
        "started_at", "heartbeat_at", "master",
    }  # fmt: skip
    assert set(w["job"]) == {"queue", "class", "args", "run_at", "seconds"}
    assert w["job"]["class"] == "Archive" and w["queues"] == ["high", "*"]
    assert doc["queues"] == [
        {"name": "high", "depth": 3},
        {"name": "low", "depth": 0},
        {"name": "mail", "depth": 1},
    ]
    f = doc["failures"][1]
    assert f == {
        "index": 0,
        "failed_at": EPOCH,
        "failed_at_text": "2024/01/01 12:00:00 UTC",
        "queue": "high",
        "class": "Archive",
        "exception": "RuntimeError",
        "error": "boom",
        "worker": "rubyhost:77:high",
        "retried_at": None,
    }


def test_unreadable_worker_records_do_not_break_status(r, store):
    r.sadd("resque:workers", "h:1:q")
    r.set("resque:worker:h:1:q", b"\xff not json")
    r.set("resque:worker:h:1:q:started", "sometime")
    r.set("resque:stat:processed:h:1:q", "many")
    register_master(r, "h", 5, workers={"configured": "x", "running": None, "pids": ["1", "no"]})
    fleet = read_fleet(store)
    w = fleet.workers[0]
    assert w.state == "working" and w.job and w.job.class_name == "(unreadable)"
    assert w.processed == 0 and w.started_at is None and w.master == "h:5"
    assert "(unreadable)" in render_text(fleet)


def test_rates_from_counter_samples():
    s = RateSampler(window=10)
    s.add(Sample(100.0, 0, 0))
    s.add(Sample(102.0, 10, 2))
    s.add(Sample(102.0, 99, 99))  # no time passed: ignored
    s.add(Sample(104.0, 30, 2))
    s.add(Sample(106.0, 4, 0))  # counters reset (Redis restarted empty)
    assert [(x.at, x.processed, x.failed) for x in s.rates()] == [
        (102.0, 5.0, 1.0),
        (104.0, 10.0, 0.0),
        (106.0, 2.0, 0.0),
    ]
    s.add(Sample(115.0, 4, 0))
    assert [x.at for x in s.rates()] == [115.0]  # samples older than the window are dropped


def test_rate_sampler_reads_redis(r, store):
    s = RateSampler()
    r.set("resque:stat:processed", 5)
    first = s.sample(store)
    assert (first.processed, first.failed) == (5, 0)


def test_a_host_whose_beats_stopped_is_unreachable_after_a_few(r, store):
    now = store.server_time()
    beat = {"every": 10.0}
    r.set("resque:resqued:host:alive", json.dumps({**beat, "beat_at": now - 5}))
    r.set("resque:resqued:host:silent", json.dumps({**beat, "beat_at": now - 31}))
    for host in ("alive", "silent"):
        register_worker(r, f"{host}:1:q", heartbeat=now - 31)
    # no record (Ruby's workers beat every 60 s): judged by their heartbeats, 3 missed
    register_worker(r, "ruby-ok:1:q", heartbeat=now - 170)
    register_worker(r, "ruby-gone:1:q", heartbeat=now - 190)
    register_worker(r, "pyres:1:q", heartbeat=None)  # writes none: never called unreachable
    fleet = read_fleet(store)
    late = {h for h in fleet.hosts() if fleet.unreachable(h)}
    assert late == {"silent", "ruby-gone"}
    text = render_text(fleet)
    assert re.search(r"host silent  UNREACHABLE: no beat for 3[12]s \(beats every 10s\)", text)
    assert "host alive\n" in text and "host pyres\n" in text
    doc = json.loads(to_json(fleet))
    assert {h["name"]: h["unreachable"] for h in doc["hosts"]} == {
        "alive": False,
        "pyres": False,
        "ruby-gone": True,
        "ruby-ok": False,
        "silent": True,
    }
