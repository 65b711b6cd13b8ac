"""``resqued schedule`` (schedules, delayed seconds, show, enqueue now, remove, run) and the
mover in ``resqued status``: the real commands against a real Redis."""

from __future__ import annotations

import json

from support.cli import cli

from resqued.resque.delayed import Delayed, entry
from resqued.resque.store import Store

FUTURE = 2_000_000_000
A = entry("Archive", [35, "tar"], "file_serve")
B = entry("Archive", [36], "file_serve")


def delayed(redis_url) -> None:
    d = Delayed(Store.connect(redis_url))
    d.push(FUTURE, A)
    d.push(FUTURE, B)
    d.push(FUTURE + 60, A)


def test_delayed_seconds_show_remove_and_enqueue_now(r, redis_url):
    delayed(redis_url)
    out = cli(redis_url, "schedule", "delayed")
    assert out.returncode == 0 and out.stdout == (
        "delayed: 2 timestamps\n"
        f"  {FUTURE}  2033-05-18 03:33:20 UTC       2 jobs\n"
        f"  {FUTURE + 60}  2033-05-18 03:34:20 UTC       1 job\n"
    )
    doc = json.loads(cli(redis_url, "schedule", "delayed", "--json").stdout)
    assert doc["timestamps"] == 2 and doc["seconds"][0] == {"epoch": FUTURE, "jobs": 2}
    shown = cli(redis_url, "schedule", "show", str(FUTURE)).stdout
    assert f"  #1  {B.decode()}\n" in shown
    refused = cli(redis_url, "schedule", "remove", str(FUTURE), "1")  # no terminal, no --yes
    assert refused.returncode == 1 and "without --yes" in refused.stderr
    gone = cli(redis_url, "schedule", "remove", str(FUTURE), "1", "--yes")
    assert gone.stdout == "resqued: removed 1 delayed job\n"
    assert r.lrange(f"resque:delayed:{FUTURE}", 0, -1) == [A]
    now = cli(redis_url, "schedule", "enqueue", str(FUTURE + 60), "--yes")
    assert now.stdout == f"resqued: queued 1 job due at {FUTURE + 60}\n"
    assert r.lrange("resque:queue:file_serve", 0, -1) == [b'{"class":"Archive","args":[35,"tar"]}']
    assert r.zrange("resque:delayed_queue_schedule", 0, -1) == [str(FUTURE).encode()]
    missing = cli(redis_url, "schedule", "remove", str(FUTURE), "7", "--yes")
    assert missing.returncode == 1
    assert (
        missing.stderr == f"resqued: no delayed job #7 at {FUTURE} (see resqued schedule delayed)\n"
    )


def test_schedules_with_last_and_next_run_and_run_now(r, redis_url, tmp_path):
    path = tmp_path / "schedule.yml"
    path.write_text("tick:\n  every: 1m\n  class: Tick\n  queue: default\n")
    r.hset("resque:delayed:last_enqueued_at", "tick", "2030-01-01 12:00:00 +0000")
    r.hset("resque:delayed:last_enqueued_at", "gone", "2020-01-01 12:00:00 +0000")
    out = cli(redis_url, "schedule", "--schedule", str(path))
    assert out.returncode == 0, out.stderr
    assert "scheduler: NO MOVER holds the lock; 0 jobs delayed in 0 timestamps" in out.stdout
    assert "  tick  every 1m  Tick on default\n" in out.stdout
    assert "      last 2030-01-01 12:00:00 +0000; next 2030-01-01 12:01:00 UTC\n" in out.stdout
    assert "  gone  (not in the file or the dynamic ones)" in out.stdout
    doc = json.loads(cli(redis_url, "schedule", "list", "--json", "--schedule", str(path)).stdout)
    tick = next(s for s in doc["schedules"] if s["name"] == "tick")
    assert tick["every"] == "1m" and tick["next_at"] == 1893499260.0 and tick["source"] == "file"
    ran = cli(redis_url, "schedule", "run", "tick", "--schedule", str(path))
    assert ran.stdout == "resqued: queued Tick on default (tick)\n"
    assert r.lrange("resque:queue:default", 0, -1) == [b'{"class":"Tick","args":[]}']
    path.write_text("tick: [")
    bad = cli(redis_url, "schedule", "--schedule", str(path))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not valid YAML" in bad.stderr
    word = cli(redis_url, "schedule", "nonsense")
    assert word.returncode == 1 and word.stderr.count("\n") == 1


def test_status_shows_the_lock_holder_the_delayed_count_and_the_lag(r, redis_url):
    delayed(redis_url)
    d = Delayed(Store.connect(redis_url))
    d.push(1_700_000_000, B)  # long overdue: no mover moved it
    r.set("resque:resque:resque_scheduler_master_lock", "web1:42", ex=100)
    doc = json.loads(cli(redis_url, "status", "--json").stdout)["scheduler"]
    assert doc["lock_holder"] == "web1:42" and 90 < doc["lock_ttl"] <= 100
    assert doc["delayed"] == 4 and doc["delayed_exact"] and doc["timestamps"] == 3
    assert doc["due"] == 1 and doc["earliest"] == 1_700_000_000 and doc["lag"] > 10_000_000
    text = cli(redis_url, "status").stdout
    assert "scheduler: lock held by web1:42 (" in text
    assert "4 jobs delayed in 3 timestamps, 1 due, lag " in text
