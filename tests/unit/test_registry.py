"""The worker registry and the store: register, unregister, prune, pause flags, URLs."""

from __future__ import annotations

import json
import re

import pytest

import resqued
from resqued.resque import prune, registry, times
from resqued.resque.connection import redact
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.worker.loop import Reserver


@pytest.fixture
def store(r, redis_url):
    s = resqued.connect(redis_url)
    yield s


def test_register_and_unregister_write_exactly_the_resque_keys(store, r):
    wid = registry.worker_id("high,low", 4242)
    registry.register(store, wid)
    assert r.smembers("resque:workers") == {wid.encode()}
    assert re.fullmatch(
        rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", r.get(f"resque:worker:{wid}:started")
    )
    beat = r.hget("resque:workers:heartbeat", wid)
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", beat)
    r.set(f"resque:stat:processed:{wid}", 3)
    r.set(
        f"resque:worker:{wid}",
        json.dumps({"queue": "high", "run_at": "x", "payload": {"class": "A", "args": [1]}}),
    )
    registry.unregister(store, wid)
    assert not r.exists(
        f"resque:worker:{wid}",
        f"resque:worker:{wid}:started",
        f"resque:stat:processed:{wid}",
        f"resque:stat:failed:{wid}",
    )
    assert r.scard("resque:workers") == 0 and r.hlen("resque:workers:heartbeat") == 0
    [rec] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert rec["exception"] == "Resque::DirtyExit" and rec["worker"] == wid
    assert rec["payload"] == {"class": "A", "args": [1]} and rec["queue"] == "high"
    assert r.get("resque:stat:failed") == b"1"


def test_prune_removes_expired_and_dead_local_workers_only(store, r):
    me = registry.worker_id("q", 1)
    dead_local = registry.worker_id("q", 999_999)  # no such pid on this host
    remote_alive = "elsewhere:123:q"
    remote_expired = "elsewhere:456:q"
    for wid in (dead_local, remote_alive, remote_expired):
        r.sadd("resque:workers", wid)
    r.hset("resque:workers:heartbeat", remote_alive, times.heartbeat(store.server_time()))
    r.hset("resque:workers:heartbeat", remote_expired, times.heartbeat(store.server_time() - 400))
    r.set(
        f"resque:worker:{remote_expired}",
        json.dumps({"queue": "q", "run_at": "x", "payload": {"class": "A", "args": []}}),
    )
    pruned = prune.prune_dead_workers(store, me)
    assert sorted(pruned) == sorted([dead_local, remote_expired])
    assert r.smembers("resque:workers") == {remote_alive.encode()}
    [rec] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert rec["exception"] == "Resque::PruneDeadWorkerDirtyExit"


def test_prune_honours_the_lock(store, r):
    r.sadd("resque:workers", registry.worker_id("q", 999_999))
    r.set("resque:pruning_dead_workers_in_progress", "someone", ex=60)
    assert prune.prune_dead_workers(store, "me") == []
    assert r.scard("resque:workers") == 1


def test_prune_requeues_jobs_handed_to_unregistered_workers(store, r):
    gone = "elsewhere:77:*"  # a pattern: only its record says where it waited
    store.record_handover(gone, "low")
    r.rpush(f"resque:resqued:inflight:{gone}:low", b'{"class":"A","args":[1]}')
    r.rpush("resque:queue:low", b'{"class":"B","args":[]}')
    live = registry.worker_id("high", 5)
    registry.register(store, live)
    store.record_handover(live, "high")
    r.rpush(f"resque:resqued:inflight:{live}:high", b'{"class":"C","args":[]}')
    prune.prune_dead_workers(store, live)
    # back at the head of its queue, and a live worker's hand-over is left alone
    assert r.lrange("resque:queue:low", 0, -1) == [
        b'{"class":"A","args":[1]}',
        b'{"class":"B","args":[]}',
    ]
    assert r.llen(f"resque:resqued:inflight:{live}:high") == 1
    # the gone worker's record is forgotten; the live one's stays
    assert r.smembers("resque:resqued:handovers") == {live.encode()}
    assert not r.exists(f"resque:resqued:handovers:{gone}")


def scans(r) -> int:
    return int(r.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))


def test_an_exit_and_a_prune_find_hand_overs_without_scanning(store, r):
    r.execute_command("DEBUG", "POPULATE", 5000, "unrelated")
    wid = registry.worker_id("*", 4244)
    registry.register(store, wid)
    store.record_handover(wid, "mail")
    r.rpush(f"resque:resqued:inflight:{wid}:mail", b'{"class":"A","args":[]}')
    dead = "elsewhere:9:mail"  # registered, expired, its hand-over recorded
    r.sadd("resque:workers", dead)
    r.hset("resque:workers:heartbeat", dead, times.heartbeat(store.server_time() - 400))
    store.record_handover(dead, "mail")
    r.rpush(f"resque:resqued:inflight:{dead}:mail", b'{"class":"B","args":[]}')
    before = scans(r)
    registry.unregister(store, wid)
    assert prune.prune_dead_workers(store, "me") == [dead]
    assert scans(r) == before
    assert sorted(r.lrange("resque:queue:mail", 0, -1)) == [
        b'{"class":"A","args":[]}',
        b'{"class":"B","args":[]}',
    ]
    assert not r.keys("resque:resqued:*")


def test_a_worker_of_an_older_version_without_a_record_is_found_by_the_queues_it_names(store, r):
    wid = "elsewhere:10:high,low#2"
    r.sadd("resque:workers", wid)
    r.rpush(f"resque:resqued:inflight:{wid}:low", b'{"class":"A","args":[]}')
    registry.unregister(store, wid)
    assert r.lrange("resque:queue:low", 0, -1) == [b'{"class":"A","args":[]}']


def test_named_queues_of_a_worker_id():
    assert registry.named_queues("h:1:high,low") == ["high", "low"]
    assert registry.named_queues("h:1:high,mail_*,!low#3") == ["high"]
    assert registry.named_queues("h:1:a:b,c") == ["a:b", "c"]
    assert registry.named_queues("h:1") == []


def test_unregister_requeues_hand_overs_even_with_glob_characters_in_the_id(store, r):
    wid = registry.worker_id("*", 4242)
    registry.register(store, wid)
    store.record_handover(wid, "mail")
    r.rpush(f"resque:resqued:inflight:{wid}:mail", b'{"class":"A","args":[]}')
    r.rpush(f"resque:resqued:inflight:{registry.worker_id('x', 4242)}:mail", b"not mine")
    registry.unregister(store, wid)
    assert r.lrange("resque:queue:mail", 0, -1) == [b'{"class":"A","args":[]}']
    assert r.llen("resque:failed") == 0


def test_paused_flag_is_trimmed_and_case_insensitive(store, r):
    assert not store.paused()
    r.set("resque:pause-all-workers", "  TRUE \n")
    assert store.paused()
    r.set("resque:pause-all-workers", "false")
    assert not store.paused()


def test_store_rejects_bad_urls():
    for url, why in [
        ("http://x", "scheme"),
        ("redis://host:port/0", "port"),
        ("redis://h:6379/abc", "not a number"),
        ("unix://", "no socket path"),
    ]:
        with pytest.raises(resqued.errors.ResquedError, match=why):
            Store.connect(url)


def test_passwords_are_redacted():
    assert redact("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact("rediss://user:s3cret@h/0") == "rediss://user:***@h/0"
    assert (
        redact("unix:///tmp/r.sock?password=s3cret&db=1") == "unix:///tmp/r.sock?password=***&db=1"
    )


def fake_proc(root, pid: str, state: str, cmdline: bytes, comm: str = "python3") -> None:
    d = root / pid
    d.mkdir()
    (d / "stat").write_text(f"{pid} ({comm}) {state} 1 1 1 0 -1 4194560 0 0 0 0")
    (d / "cmdline").write_bytes(cmdline)


def test_live_workers_are_read_from_proc_and_zombies_are_dead(tmp_path):
    fake_proc(tmp_path, "10", "S", b"resque-0.1.0: Waiting for high\0\0\0")
    fake_proc(tmp_path, "11", "R", b"resque-2.6.0: Processing high since 1700000000 [X]\0")
    fake_proc(tmp_path, "12", "S", b"ruby\0/app/bin/rake\0resque:work\0")  # Ruby's rake task
    fake_proc(tmp_path, "13", "Z", b"", comm="resque-0.1.0: W")  # what ps shows as <defunct>
    fake_proc(tmp_path, "14", "S", b"python3\0-m\0resqued.cli\0")  # not a worker (yet)
    fake_proc(tmp_path, "15", "S", b"resqued-0.1.0 listener #1 2/2/2 running\0")
    fake_proc(tmp_path, "16", "S", b"resque-0.1.0: Paused\0", comm="x) Z (y")  # odd comm
    (tmp_path / "self").mkdir()
    (tmp_path / "17").mkdir()  # vanished between listing and reading
    assert prune.live_resque_pids(str(tmp_path)) == {"10", "11", "12", "16"}


def test_without_proc_nothing_is_pruned_by_pid(store, r, tmp_path, monkeypatch):
    monkeypatch.setattr(prune, "live_resque_pids", lambda: None)
    gone = registry.worker_id("q", 999_999)
    r.sadd("resque:workers", gone)
    assert prune.prune_dead_workers(store, "me") == []
    assert r.sismember("resque:workers", gone)


def test_a_worker_missing_from_the_registry_is_told_and_registers_again(store, r):
    wid = registry.worker_id("q", 4242)
    started = registry.register(store, wid)
    r.set(f"resque:stat:processed:{wid}", 7)
    r.rpush("resque:queue:q", b'{"class":"A","args":[]}')
    r.srem("resque:workers", wid)
    r.delete(f"resque:worker:{wid}:started")
    r.hdel("resque:workers:heartbeat", wid)
    reserver = Reserver(store, QueueList.parse("q"), wid, pause_key="", handover=[])
    assert reserver.call() == [b"unregistered"]
    assert r.llen("resque:queue:q") == 1  # nothing taken
    registry.reregister(store, wid, started)
    assert r.smembers("resque:workers") == {wid.encode()}
    assert r.get(f"resque:worker:{wid}:started") == started.encode()
    assert r.hget("resque:workers:heartbeat", wid)
    assert r.get(f"resque:stat:processed:{wid}") == b"7"  # its counts stay
    assert reserver.call() == [b"job", b"q", b'{"class":"A","args":[]}']


def test_under_load_a_worker_notices_an_empty_restart_after_recording_its_job(store, r):
    wid = registry.worker_id("q", 4243)
    registry.register(store, wid)
    reserver = Reserver(store, QueueList.parse("q"), wid, pause_key="", handover=[])
    r.rpush("resque:queue:q", b'{"class":"A","args":[1]}', b'{"class":"A","args":[2]}')
    assert reserver.call()[0] == b"job"
    reserver.pending = b""  # job 1 done
    assert reserver.call()[0] == b"job"  # its count is there: no registry check needed
    assert r.get(f"resque:stat:processed:{wid}") == b"1"
    r.flushall()  # Redis restarted empty while job 2 ran; the worker:<id> record is gone too
    r.rpush("resque:queue:q", b'{"class":"A","args":[3]}')
    reserver.pending = b""  # job 2 done
    assert reserver.call() == [b"unregistered"]
    assert r.llen("resque:queue:q") == 1  # nothing taken before it registers again


def test_the_prune_lock_is_released_only_by_its_owner(store, r, monkeypatch):
    r.sadd("resque:workers", "elsewhere:1:q")
    r.hset("resque:workers:heartbeat", "elsewhere:1:q", times.heartbeat(store.server_time() - 400))

    def slow_unregister(st, wid, *args, **kwargs):
        # the prune outlived its lock: another prune took it meanwhile
        r.set("resque:pruning_dead_workers_in_progress", "another prune", ex=60)
        return real(st, wid, *args, **kwargs)

    real = registry.unregister
    monkeypatch.setattr(registry, "unregister", slow_unregister)
    assert prune.prune_dead_workers(store, "me") == ["elsewhere:1:q"]
    assert r.get("resque:pruning_dead_workers_in_progress") == b"another prune"
    monkeypatch.setattr(registry, "unregister", real)
    r.delete("resque:pruning_dead_workers_in_progress")
    assert prune.prune_dead_workers(store, "me") == []
    assert not r.exists("resque:pruning_dead_workers_in_progress")  # its own: released


def test_a_worker_that_beat_since_the_prune_read_its_heartbeat_is_left_alone(store, r, monkeypatch):
    early, late = "elsewhere:2:q", "elsewhere:3:q"
    old = times.heartbeat(store.server_time() - 400)
    for wid in (early, late):
        r.sadd("resque:workers", wid)
        r.hset("resque:workers:heartbeat", wid, old)
    real = registry.unregister

    def slow_unregister(st, wid, *args, **kwargs):
        # while the prune works on the first, the second one's listener beats again
        r.hset("resque:workers:heartbeat", late, times.heartbeat(store.server_time()))
        return real(st, wid, *args, **kwargs)

    monkeypatch.setattr(registry, "unregister", slow_unregister)
    assert prune.prune_dead_workers(store, "me") == [early]
    assert r.smembers("resque:workers") == {late.encode()}
    check = r.register_script(prune.STILL_SILENT)
    fresh = r.hget("resque:workers:heartbeat", late).decode()
    assert check(keys=["resque:workers", "resque:workers:heartbeat"], args=[late, fresh]) == 1
    assert check(keys=["resque:workers", "resque:workers:heartbeat"], args=[early, ""]) == 0


def test_the_prune_uses_the_host_name_override(store, r, monkeypatch):
    monkeypatch.setenv("RESQUED_HOSTNAME", "sim-1")
    mine, other = "sim-1:999999:q", "sim-2:999999:q"  # neither pid lives here
    r.sadd("resque:workers", mine, other)
    assert prune.prune_dead_workers(store, "sim-1:1:listener") == [mine]
    assert r.smembers("resque:workers") == {other.encode()}


def test_a_listener_s_prune_leaves_its_own_dead_workers_to_the_listener(store, r):
    # killed a moment ago: its listener will reap it and record why (a guard rail's reason)
    mine, other = registry.worker_id("q", 999_998), registry.worker_id("q", 999_999)
    r.sadd("resque:workers", mine, other)
    assert prune.prune_dead_workers(store, "me", spare=frozenset({999_998})) == [other]
    assert r.smembers("resque:workers") == {mine.encode()}
