"""What a worker takes and when: queue order, patterns, idle waits, hand-overs, pause flags."""

from __future__ import annotations

import signal
import time

import pytest
from support.conns import connections_of
from support.jobs import (
    PREFIX,
    idle,
    push,
    reserves,
    strings,
    wait_reserves,
    work,
    worker_id,
)
from support.procs import descendants, titles, wait_for
from support.worker import quit_


def test_queue_env_var_names_the_queues(resqued, app_dir, r):
    push(r, "b", "Record", "b")
    push(r, "a", "Record", "a")
    w = resqued(
        "work", "-r", "demo_jobs", "-i", "1", "--no-fork", cwd=app_dir, env={"QUEUES": "a,b"}
    )
    wait_for(lambda: r.llen("record") == 2, 15, "jobs")
    assert worker_id(r).endswith(":a,b")
    assert [x.split(":")[0] for x in strings(r, "record")] == ["a", "b"]
    quit_(w)


def test_queue_order_is_priority(resqued, app_dir, r):
    for n in range(4):
        push(r, "low", "Record", f"low{n}")
        push(r, "high", "Record", f"high{n}")
    w = work(resqued, app_dir, "-q", "high", "-q", "low", "--no-fork")
    wait_for(lambda: r.llen("record") == 8, 15, "all jobs")
    assert [x.split(":")[0] for x in strings(r, "record")] == [
        "high0",
        "high1",
        "high2",
        "high3",
        "low0",
        "low1",
        "low2",
        "low3",
    ]
    assert worker_id(r).endswith(":high,low")
    quit_(w)


def test_patterns_are_expanded_on_every_reserve(resqued, app_dir, r):
    push(r, "b", "Record", "b")
    push(r, "a", "Record", "a")
    push(r, "low", "Record", "low")
    w = work(resqued, app_dir, "-q", "*", "-q", "!low", "--no-fork", "-i", "0.2")
    wait_for(lambda: r.llen("record") == 2, 15, "a and b")
    assert [x.split(":")[0] for x in strings(r, "record")] == ["a", "b"]  # * is A-Z
    idle(w, "*,!low")
    push(r, "fresh", "Record", "fresh")  # a queue created after the worker started
    wait_for(lambda: r.llen("record") == 3, 10, "job on a new queue")
    push(r, "low", "Record", "low2")
    wait_reserves(r, 2)
    assert r.llen("resque:queue:low") == 2  # excluded, still there
    quit_(w)


def test_a_prefix_pattern_with_an_exclusion_takes_only_matching_new_queues(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "mail_*,!mail_spam", "--no-fork")
    wait_for(lambda: r.scard("resque:workers") == 1, 15, "registered")
    push(r, "mail_new", "Record", "new")  # a queue that did not exist at start
    push(r, "mail_spam", "Record", "spam")
    push(r, "other", "Record", "other")
    wait_for(lambda: r.llen("record") == 1, 15, "mail_new job")
    assert strings(r, "record")[0].startswith("new:")
    wait_reserves(r, 2)
    assert r.llen("resque:queue:mail_spam") == 1 and r.llen("resque:queue:other") == 1
    assert r.llen("record") == 1
    quit_(w)


def test_idle_worker_wakes_promptly(resqued, app_dir, r):
    w = resqued(
        "work", "-r", "demo_jobs", "-q", "default", "--no-fork", cwd=app_dir, env={"INTERVAL": "30"}
    )
    idle(w)
    push(r, "default", "Record", "x")
    wait_for(lambda: r.llen("record") == 1, 5, "job picked up long before INTERVAL=30")
    push(r, "default", "Record", "y")  # and again, after the first wake-up
    wait_for(lambda: r.llen("record") == 2, 5, "second job picked up promptly")


def test_wildcard_worker_notices_a_new_queue_promptly(resqued, app_dir, r):
    w = resqued(
        "work", "-r", "demo_jobs", "-q", "*", "--no-fork", cwd=app_dir, env={"INTERVAL": "30"}
    )
    idle(w, "*")
    push(r, "brand_new", "Record", "x")
    wait_for(lambda: r.llen("record") == 1, 5, "job on a queue created while idle")


def test_one_job_wakes_one_idle_worker(resqued, app_dir, r):
    """No thundering herd: idle workers wait with BLMOVE into their own hand-over list."""
    m = resqued("-n", "6", "-r", "demo_jobs", "--interval", "60", "--no-fork", cwd=app_dir)
    wait_for(lambda: r.scard("resque:workers") == 6, 20, "6 workers")
    wait_for(
        lambda: sum(1 for _, _, t in descendants(m.pid) if "Waiting for *" in t) == 6,
        10,
        "all idle",
    )
    push(r, "default", "Record", "warm-up")  # creates the queue, so every worker watches it
    wait_for(lambda: r.llen("record") == 1, 10, "first job")
    wait_for(lambda: r.info("clients")["blocked_clients"] >= 6, 10, "all blocked on default")
    r.config_resetstat()
    push(r, "default", "Record", "one")
    wait_for(lambda: r.llen("record") == 2, 10, "job done")
    wait_for(lambda: r.info("clients")["blocked_clients"] >= 6, 10, "blocked again")
    evals = sum(
        v["calls"] for k, v in r.info("commandstats").items() if k.startswith("cmdstat_eval")
    )
    assert evals <= 3, f"{evals} reserve calls for one job: idle workers stampeded"


def test_a_job_handed_to_a_dead_worker_goes_back_to_its_queue(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork", env={"INTERVAL": "60"})
    wid = wait_for(lambda: [x.decode() for x in r.smembers("resque:workers")], 15, "registered")[0]
    wait_for(lambda: r.info("clients")["blocked_clients"] >= 1, 10, "idle wait")
    w.signal(signal.SIGSTOP)  # frozen: the wait below completes but the worker never claims
    try:
        push(r, "default", "Record", "handed-over")
        wait_for(lambda: r.llen(f"resque:resqued:inflight:{wid}:default") == 1, 10, "hand-over")
        assert r.llen("resque:queue:default") == 0
        w.signal(signal.SIGKILL)
        w.wait(10)
    finally:
        w.kill()
    work(resqued, app_dir, "-q", "other", "--no-fork")  # prunes the dead worker
    wait_for(lambda: r.llen("resque:queue:default") == 1, 15, "job back on its queue")
    assert r.llen("resque:failed") == 0  # it never started: requeued, not failed
    assert not r.exists(f"resque:resqued:inflight:{wid}:default")


@pytest.mark.parametrize("queues, pause, interval", [("*", False, "0.001"), ("default", True, "0")])
def test_a_tiny_interval_does_not_spin(resqued, app_dir, r, queues, pause, interval):
    """Polls of a tiny INTERVAL idle on patterns matching nothing, or of a paused worker in
    burst mode (INTERVAL=0: it exits once the queues are empty, not while paused), must not
    hammer Redis."""
    if pause:
        r.set("resque:pause-all-workers", "true")
    w = resqued(
        "work", "-r", "demo_jobs", "-q", queues, "--no-fork", cwd=app_dir,
        env={"INTERVAL": interval},
    )  # fmt: skip
    worker_id(r)
    wait_reserves(r, 1)
    start, t0 = reserves(r), time.monotonic()
    wait_for(
        lambda: time.monotonic() - t0 >= 1.0 or reserves(r) - start > 100,
        10,
        "a second, or a flood of reserves",
    )
    assert reserves(r) - start <= 40, "the worker spins on Redis"
    assert w.popen.poll() is None


def test_a_queue_name_that_is_not_utf8_does_not_crash_a_wildcard_worker(resqued, app_dir, r):
    r.sadd("resque:queues", b"bad\xff")
    r.rpush("resque:queue:bad\xff".encode("latin-1"), b'{"class":"Record","args":["odd"]}')
    w = work(resqued, app_dir, "-q", "*", "--no-fork")
    wait_for(lambda: r.llen("record") == 1, 15, "the job on the odd queue")
    idle(w, "*")
    push(r, "default", "Record", "normal")
    wait_for(lambda: r.llen("record") == 2, 10, "the next job")
    assert w.popen.poll() is None and "Traceback" not in w.output()


@pytest.mark.parametrize("value", ["true", " TRUE\n", "True"])
def test_pause_all_workers_stops_reserving_until_removed(resqued, app_dir, r, value):
    r.set("resque:pause-all-workers", value)
    w = work(resqued, app_dir, "-q", "default", "--no-fork", "-i", "0.2")
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 15, "paused title")
    push(r, "default", "Record", "x")
    wait_reserves(r, 2)
    assert r.llen("resque:queue:default") == 1 and r.llen("record") == 0
    r.delete("resque:pause-all-workers")
    wait_for(lambda: r.llen("record") == 1, 10, "resumed")


def test_pause_all_workers_is_honoured_by_an_idle_worker(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")  # idle waits of 1 s
    idle(w)
    r.set("resque:pause-all-workers", "true")
    push(r, "default", "Record", "x")  # arrives while the worker waits for work
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 10, "paused title")
    wait_reserves(r, 2)
    assert r.llen("record") == 0
    assert r.llen("resque:queue:default") == 1  # left on its queue for anyone
    r.set("resque:pause-all-workers", "false")
    wait_for(lambda: r.llen("record") == 1, 10, "resumed")


def test_a_pause_value_other_than_true_does_not_pause(resqued, app_dir, r):
    r.set("resque:pause-all-workers", "no")
    push(r, "default", "Record", "x")
    work(resqued, app_dir, "-q", "default", "--no-fork")
    wait_for(lambda: r.llen("record") == 1, 15, "job")


def blmove_calls(r) -> int:  # type: ignore[no-untyped-def]
    return int(r.info("commandstats").get("cmdstat_blmove", {}).get("calls", 0))


def test_a_wait_on_several_queues_blocks_one_connection_and_finds_a_job_on_any(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "a,b,c", "--no-fork", env={"INTERVAL": "60"})
    wid = worker_id(r)
    wait_for(lambda: r.info("clients")["blocked_clients"] == 1, 10, "a wait")
    # one connection for the reserve and the wait, one for the bookkeeping: never one a queue
    start = blmove_calls(r)

    def rotated() -> bool:  # the waits go round the queues on the same connection
        assert len(connections_of(r, w.pid)) <= 2
        return blmove_calls(r) >= start + 3

    wait_for(rotated, 10, "the idle wait to go round the three queues")
    for q in ("c", "b", "a", "b"):  # whichever queue it blocks on, a job on any is taken
        push(r, q, "Record", q)
    wait_for(lambda: r.llen("record") == 4, 10, "a job on every queue")
    assert sorted(x.split(":")[0] for x in strings(r, "record")) == ["a", "b", "b", "c"]
    assert r.smembers(f"resque:resqued:handovers:{wid}") <= {b"a", b"b", b"c"}
    assert len(connections_of(r, w.pid)) <= 2
    quit_(w)
    # its exit took its hand-over record along
    assert not r.exists(f"resque:resqued:handovers:{wid}")
    assert not r.sismember("resque:resqued:handovers", wid)
