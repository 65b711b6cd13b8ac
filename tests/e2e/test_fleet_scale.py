"""A fleet on one Redis: no keyspace scans, prunes that spare the living, two connections a
worker, bounded retries past maxclients, and simulated hosts on one machine (--hostname)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from support.conns import connections_of, own_connections_of
from support.jobs import push, strings
from support.procs import descendants, ps, wait_for

from resqued.process.proc import alive

UNRELATED_KEYS = 1_000_000


def master(resqued, app_dir, *args, env=None):
    return resqued(*args, "-r", "demo_jobs", "--interval", "1", cwd=app_dir, env=env)


def workers_of(m) -> list[int]:
    return [p for p, _, t in descendants(m.pid) if t.startswith("resque-") and "Waiting" in t]


def own_connections(r, pid: int) -> list[dict]:
    """The connections a worker opened itself (not those it inherited from its listener)."""
    return own_connections_of(r, pid, [pp for p, pp, _ in ps() if p == pid][0])


def registered(r, host: str = "") -> set[str]:
    return {w.decode() for w in r.smembers("resque:workers") if w.decode().startswith(host)}


def calls(r, command: str) -> int:
    return int(r.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def test_a_hup_with_a_million_unrelated_keys_scans_nothing_and_loses_nothing(resqued, app_dir, r):
    r.execute_command("DEBUG", "POPULATE", UNRELATED_KEYS, "app")  # the application's keys
    m = master(resqued, app_dir, "-n", "4", "--queue", "a", "--queue", "b", "--no-fork")
    wait_for(lambda: len(registered(r)) == 4 and len(workers_of(m)) == 4, 30, "4 workers")
    old = registered(r)
    wait_for(lambda: r.info("clients")["blocked_clients"] >= 4, 15, "idle waits")
    r.config_resetstat()
    done = threading.Event()

    def feed() -> None:  # a steady flow through the reload, on both queues
        for n in range(120):
            push(r, "ab"[n % 2], "Record", f"job{n}")
            time.sleep(0.02)
        done.set()

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        wait_for(lambda: r.llen("record") >= 20, 15, "jobs before the HUP")
        m.signal(signal.SIGHUP)
        wait_for(lambda: len(registered(r)) == 4 and not registered(r) & old, 60, "the new workers")
    finally:
        feeder.join(30)
    assert done.is_set()
    wait_for(lambda: r.llen("record") == 120, 30, "every job")
    ran = [x.split(":")[0] for x in strings(r, "record")]
    assert sorted(ran) == sorted(f"job{n}" for n in range(120))  # each once, none lost
    assert r.llen("resque:failed") == 0
    # Four workers exited and unregistered, the new listener pruned: not one SCAN or KEYS.
    assert calls(r, "scan") == 0 and calls(r, "keys") == 0
    assert r.smembers("resque:resqued:handovers") <= {w.encode() for w in registered(r)}
    for wid in old:
        assert not r.exists(f"resque:resqued:handovers:{wid}")
    m.signal(signal.SIGQUIT)
    m.wait(30)
    assert calls(r, "scan") == 0
    assert r.scard("resque:workers") == 0 and r.scard("resque:resqued:handovers") == 0
    left = [k for k in r.scan_iter(match="resque:resqued:*", count=10_000)]
    assert [k for k in left if b"inflight" in k or b"handovers" in k] == []


def test_a_worker_slow_to_record_and_unregister_on_a_slow_redis_is_neither_killed_nor_failed(
    resqued, app_dir, r
):
    (app_dir / "pruner.conf.py").write_text("prune_interval(1)\n")
    r.execute_command("DEBUG", "POPULATE", UNRELATED_KEYS, "app")
    a = master(
        resqued, app_dir, "-r", "stall_jobs", "-n", "1", "--queue", "slow",
        "--stuck-timeout", "2", "--hostname", "sim-a",
    )  # fmt: skip
    # another host on the same Redis prunes every second meanwhile
    b = master(resqued, app_dir, "-n", "1", "--queue", "other", "--hostname", "sim-b",
               "pruner.conf.py")  # fmt: skip
    wait_for(lambda: registered(r, "sim-a:") and registered(r, "sim-b:"), 30, "both hosts")
    [live] = registered(r, "sim-a:")
    # a long job; as it ends, Redis stalls for 4 s (longer than the stuck timeout): the
    # worker records the job and unregisters on a Redis that does not answer meanwhile
    push(r, "slow", "StallAtEnd", "long", 3, 4)
    wait_for(lambda: strings(r, "started"), 15, "the long job started")
    a.signal(signal.SIGHUP)  # the worker finishes its job, then exits
    seen: set[str] = set()

    def finished() -> bool:  # sampled at every poll until the job has ended
        seen.update(registered(r, "sim-a:"))
        return bool(strings(r, "finished"))

    wait_for(finished, 30, "the long job finished")
    assert live in seen  # registered all along: the other host's prunes spared it
    wait_for(lambda: live not in registered(r), 30, "the old worker gone")
    wait_for(lambda: len(registered(r, "sim-a:")) == 1, 30, "its replacement")
    assert strings(r, "finished") == ["long"]
    assert [s.split(":")[0] for s in strings(r, "started")] == ["long"]  # run once
    assert r.llen("resque:failed") == 0  # never recorded as failed (no DirtyExit, no prune)
    assert "stuck:" not in a.output(), a.output()  # the guard rail's line
    assert int(r.get("resque:stat:processed") or 0) == 1
    for m in (a, b):
        m.signal(signal.SIGQUIT)
        m.wait(30)


def blmove_calls(r) -> int:  # type: ignore[no-untyped-def]
    return int(r.info("commandstats").get("cmdstat_blmove", {}).get("calls", 0))


def test_every_worker_holds_at_most_two_connections(resqued, app_dir, r):
    m = master(resqued, app_dir, "-n", "3", "--queue", "a", "--queue", "b", "--queue", "c")
    wait_for(lambda: len(workers_of(m)) == 3 and len(registered(r)) == 3, 30, "3 workers")
    wait_for(lambda: r.info("clients")["blocked_clients"] == 3, 15, "3 idle waits")
    start = blmove_calls(r)

    def rotated() -> bool:  # checked at every poll while the waits go round the queues
        for pid in workers_of(m):
            assert len(own_connections(r, pid)) <= 2
        return blmove_calls(r) >= start + 3 * 3

    wait_for(rotated, 20, "every worker's idle waits to go round its three queues")
    # the whole tree: two a worker, one for the listener, one for the master
    tree = [m.pid, *(p for p, _, _ in descendants(m.pid))]
    ids = {c["id"] for pid in tree for c in connections_of(r, pid)}
    assert len(ids) <= 2 * 3 + 2, len(ids)
    push(r, "c", "Record", "c")
    wait_for(lambda: r.llen("record") == 1, 15, "a job")
    for pid in workers_of(m):
        assert len(own_connections(r, pid)) <= 2
    m.signal(signal.SIGQUIT)
    m.wait(30)


def test_four_workers_fit_in_room_for_two_connections_each(resqued, app_dir, r):
    before = r.config_get("maxclients")["maxclients"]
    clients = r.info("clients")["connected_clients"]
    stats = r.info("stats")["rejected_connections"]
    # 2 a worker, 1 for the listener, 1 for its prune, 1 for the master, and 2 for the
    # jobs' own clients: nothing spare (a worker needing one a queue would be refused)
    r.config_set("maxclients", clients + 2 * 4 + 3 + 2)
    try:
        m = master(resqued, app_dir, "-n", "4", "--queue", "a", "--queue", "b", "--no-fork")
        wait_for(lambda: len(registered(r)) == 4, 30, "4 workers")
        wait_for(lambda: r.info("clients")["blocked_clients"] == 4, 15, "4 idle waits")
        for q in "ab":
            push(r, q, "Record", q)
        wait_for(lambda: r.llen("record") == 2, 15, "a job on each queue")
        assert r.info("stats")["rejected_connections"] == stats  # no one was refused
        assert "unavailable" not in m.output(), m.output()
    finally:
        r.config_set("maxclients", before)
    m.signal(signal.SIGQUIT)
    m.wait(30)


def test_past_maxclients_workers_retry_with_backoff_and_log_a_line_now_and_then(
    resqued, app_dir, r
):
    before = r.config_get("maxclients")["maxclients"]
    clients = r.info("clients")["connected_clients"]
    # room for the master, the listener and about one worker: the others are refused
    r.config_set("maxclients", clients + 4)
    try:
        m = master(resqued, app_dir, "-n", "4", "--queue", "a", "--no-fork")
        wait_for(lambda: r.info("stats")["rejected_connections"] > 0, 20, "refusals")
        # once each refused worker has tried a few times (0.1 s doubling, times 0.5..1.5),
        # six more refusals need one worker to try twice more: at least 0.8 s, where
        # retries without backoff made hundreds a second
        first = r.info("stats")["rejected_connections"]
        wait_for(lambda: r.info("stats")["rejected_connections"] >= first + 15, 30, "backoff")
        rejected = r.info("stats")["rejected_connections"]
        began = time.monotonic()
        wait_for(lambda: r.info("stats")["rejected_connections"] >= rejected + 6, 60, "6 more")
        assert time.monotonic() - began >= 0.5
        lines = [x for x in m.output().splitlines() if "unavailable" in x or "is back" in x]
        assert 0 < len(lines) <= 2 * 4, lines  # a line or two per worker, not one per try
    finally:
        r.config_set("maxclients", before)
    wait_for(lambda: len(registered(r)) == 4, 30, "every worker once Redis has room")
    push(r, "a", "Record", "x")
    wait_for(lambda: r.llen("record") == 1, 15, "a job")
    m.signal(signal.SIGQUIT)
    m.wait(30)


def test_two_simulated_hosts_on_one_machine(resqued, app_dir, r, redis_url, tmp_path):
    from support.cli import cli

    (app_dir / "pruner.conf.py").write_text("prune_interval(1)\n")
    a = master(resqued, app_dir, "-n", "2", "--queue", "a", "--hostname", "sim-a",
               "pruner.conf.py")  # fmt: skip
    b = master(resqued, app_dir, "-n", "2", "--queue", "b", "pruner.conf.py",
               env={"RESQUED_HOSTNAME": "sim-b"})  # fmt: skip
    wait_for(lambda: len(registered(r, "sim-a:")) == 2, 30, "sim-a's workers")
    wait_for(lambda: len(registered(r, "sim-b:")) == 2, 30, "sim-b's workers")
    a_ids, b_ids = registered(r, "sim-a:"), registered(r, "sim-b:")
    assert {w.split(":")[1] for w in a_ids} == {str(p) for p in workers_of(a)}
    # a dead worker "of sim-a" (no such pid here): sim-a's prune takes it, sim-b's never does
    r.sadd("resque:workers", "sim-a:999999:a", "sim-c:999999:c")
    wait_for(lambda: not r.sismember("resque:workers", "sim-a:999999:a"), 15, "sim-a's prune")
    # later prunes on both hosts (each takes its own dead worker) leave the live ones alone
    r.sadd("resque:workers", "sim-a:999998:a", "sim-b:999998:b")
    wait_for(lambda: not r.sismember("resque:workers", "sim-a:999998:a"), 15, "sim-a's prune")
    wait_for(lambda: not r.sismember("resque:workers", "sim-b:999998:b"), 15, "sim-b's prune")
    assert registered(r, "sim-a:") == a_ids and registered(r, "sim-b:") == b_ids
    assert r.sismember("resque:workers", "sim-c:999999:c")  # nobody's by pid
    # status: one host each, their masters and workers under them
    out = cli(redis_url, "status", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    hosts = {mm["host"]: mm for mm in doc["masters"]}
    assert set(hosts) == {"sim-a", "sim-b"}
    assert hosts["sim-a"]["id"] == f"sim-a:{a.pid}" and hosts["sim-b"]["pid"] == b.pid
    assert sorted(hosts["sim-a"]["worker_ids"]) == sorted(a_ids)
    beats = {h["name"]: h for h in doc["hosts"]}
    assert not beats["sim-a"]["unreachable"] and beats["sim-a"]["every"] == 10
    text = cli(redis_url, "status").stdout
    assert "host sim-a\n" in text and "host sim-b\n" in text
    # pause by pidfile-free id works per simulated host
    assert cli(redis_url, "pause", "--master", f"sim-b:{b.pid}").returncode == 0
    assert r.exists(f"resque:resqued:pause:sim-b:{b.pid}")
    # sim-b stops beating (its master and listener killed): status calls it unreachable
    for p, _, _ in descendants(b.pid):
        os.kill(p, signal.SIGKILL)
    b.kill()
    wait_for(lambda: not any(alive(int(w.split(":")[1])) for w in b_ids), 10, "sim-b gone")
    r.set(
        "resque:resqued:host:sim-b",
        json.dumps({"beat_at": float(r.time()[0]) - 31, "every": 10.0}),
    )  # as it stands 31 s after its last beat
    text = cli(redis_url, "status").stdout
    assert "host sim-b  UNREACHABLE: no beat for 3" in text, text
    a.signal(signal.SIGQUIT)
    a.wait(30)


@pytest.mark.parametrize("name", ["a:b", "", "two words"])
def test_a_bad_host_name_is_one_line(resqued, app_dir, name):
    m = master(resqued, app_dir, "-n", "1", "--hostname", name)
    assert m.wait(30) == 1
    out = m.output().strip().splitlines()
    assert len(out) == 1 and out[0].startswith("resqued: --hostname"), out
