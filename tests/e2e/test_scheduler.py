"""The scheduler end to end: the real ``resqued`` with its mover, real Redis, real signals.

Every delayed job must reach its queue exactly once: the mover killed mid-move,
two masters (one moves), the holder's host gone (the other takes over within
the lock's timeout), Redis killed and restarted in the middle of a move.
Recurring schedules follow a HUP; a bad schedule file is one line.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

from support.procs import descendants, ps, wait_for
from support.redis_server import ExtraRedis

import resqued as api
from resqued.version import __version__

LOCK = "resque:resque:resque_scheduler_master_lock"


@api.job("Record")
class Record:
    """The producer's side of tests/support/apps/demo_jobs.py's Record."""

    queue = "default"

    @staticmethod
    def perform(value, *rest):
        pass


def config(app_dir: Path, name: str = "conf.py", **settings: object) -> str:
    """A config: one worker on ``default``, and ``scheduler(...)`` with short intervals."""
    values = {"interval": 0.2, "lock_timeout": 60, **settings}
    args = ", ".join(f"{k}={v!r}" for k, v in values.items())
    (app_dir / name).write_text(f'worker_processes(1)\nqueue("default")\nscheduler({args})\n')
    return name


def start(resqued, app_dir, conf: str, url: str | None = None, *extra: str):
    args = ["-c", conf, "-r", "demo_jobs", "--interval", "1", *extra]
    if url:
        return resqued(*args, "--redis", url, cwd=app_dir, env={"REDIS_URL": url}, redis=False)
    return resqued(*args, cwd=app_dir)


def mover_of(master: int) -> int | None:
    found = [p for p, pp, t in descendants(master) if pp == master and " scheduler [" in t]
    return found[0] if found else None


def wait_mover(master: int, timeout: float = 30.0) -> int:
    return int(wait_for(lambda: mover_of(master), timeout, "the scheduler process"))  # type: ignore[arg-type]


def delay(r, epoch: int, queue: str, *args_list: list) -> list[bytes]:
    """Delayed jobs as Ruby's Resque.enqueue_at_with_queue writes them (raw commands)."""
    items = [
        json.dumps({"class": "Moved", "args": a, "queue": queue}, separators=(",", ":")).encode()
        for a in args_list
    ]
    pipe = r.pipeline(transaction=False)
    for item in items:
        pipe.rpush(f"resque:delayed:{epoch}", item)
        pipe.sadd(b"resque:timestamps:" + item, f"resque:delayed:{epoch}")
    pipe.zadd("resque:delayed_queue_schedule", {str(epoch): epoch})
    pipe.execute()
    return [
        json.dumps({"class": "Moved", "args": a}, separators=(",", ":")).encode() for a in args_list
    ]


def exactly_once(r, queue: str, expected: list[bytes]) -> None:
    found = Counter(r.lrange(f"resque:queue:{queue}", 0, -1))
    assert sum(found.values()) == len(expected)
    assert found == Counter(expected)
    assert r.zcard("resque:delayed_queue_schedule") == 0
    assert not r.keys("resque:delayed:1*") and not r.keys("resque:timestamps:*")


def test_enqueue_in_runs_on_our_worker_when_due(resqued, app_dir, r, redis_url):
    m = start(resqued, app_dir, config(app_dir))
    mover = wait_mover(m.pid)
    wait_for(lambda: r.get(LOCK), 15, "the mover to hold the lock")
    holder = r.get(LOCK).decode()
    assert holder.endswith(f":{mover}")
    title = f"resqued-{__version__} scheduler [master] holding the lock"
    wait_for(lambda: [t for p, _, t in ps() if p == mover] == [title], 10, "its title")

    api.connect(redis_url)
    asked = time.time()
    assert api.enqueue_in(5, Record, "later")
    [due] = api.scheduled_at(Record, "later")
    assert api.delayed_count() == 1  # what resque-web's Delayed tab shows meanwhile
    assert r.lrange(f"resque:delayed:{due}", 0, -1) == [
        b'{"class":"Record","args":["later"],"queue":"default"}'
    ]
    wait_for(lambda: r.llen("record"), 20, "the delayed job to run")
    ran = time.time()
    assert ran >= due and ran - asked < 5 + 5  # not early; about when asked
    assert api.delayed_count() == 0

    m.signal(signal.SIGQUIT)  # the mover stops with the master and lets the lock go
    assert m.wait(30) == 0
    assert r.get(LOCK) is None and mover not in [p for p, _, _ in ps()]


def test_a_job_ruby_delayed_is_moved_and_runs(resqued, app_dir, r):
    start(resqued, app_dir, config(app_dir))
    item = b'{"class":"Record","args":["from ruby"],"queue":"default"}'
    epoch = int(time.time()) - 1
    r.rpush(f"resque:delayed:{epoch}", item)
    r.sadd(b"resque:timestamps:" + item, f"resque:delayed:{epoch}")
    r.zadd("resque:delayed_queue_schedule", {str(epoch): epoch})
    wait_for(lambda: r.llen("record"), 30, "Ruby's delayed job to run here")
    assert r.lindex("record", 0).startswith(b"from ruby:")


def test_the_mover_killed_mid_move_moves_every_job_once(resqued, app_dir, r):
    n = 10_000
    expected = delay(r, int(time.time()) - 5, "moved", *([i] for i in range(n)))
    m = start(resqued, app_dir, config(app_dir, batch_size=1))
    first = wait_mover(m.pid)
    wait_for(lambda: r.llen("resque:queue:moved") >= 500, 30, "the move to be under way")
    os.kill(first, signal.SIGKILL)
    at_kill = r.llen("resque:queue:moved")
    assert 0 < at_kill < n
    second = wait_mover(m.pid)
    assert second != first
    # lock_timeout is 60: the replacement finishes only because it freed the dead one's lock
    wait_for(lambda: r.zcard("resque:delayed_queue_schedule") == 0, 40, "the rest to be moved")
    exactly_once(r, "moved", expected)
    assert r.get(LOCK).decode().endswith(f":{second}")


def test_two_masters_move_every_job_once_and_fire_each_schedule_once(resqued, app_dir, r):
    (app_dir / "schedule.yml").write_text(
        "tick:\n  cron: '* * * * * * UTC'\n  class: Tick\n  queue: ticks\n"
    )
    now = int(time.time())
    expected = []
    for k in range(20):
        expected += delay(r, now - 2 + k // 4, "moved", *([k, i] for i in range(100)))
    conf_a = config(app_dir, "a.py", schedule="schedule.yml", batch_size=7, interval=0.1)
    conf_b = config(app_dir, "b.py", schedule="schedule.yml", batch_size=7, interval=0.1)
    a = start(resqued, app_dir, conf_a)
    b = start(resqued, app_dir, conf_b)
    movers = {wait_mover(a.pid), wait_mover(b.pid)}
    wait_for(lambda: r.zcard("resque:delayed_queue_schedule") == 0, 40, "every job moved")
    exactly_once(r, "moved", expected)
    holder = int(r.get(LOCK).decode().rpartition(":")[2])
    assert holder in movers
    roles = sorted(t.split()[2] for p, _, t in ps() if p in movers)
    assert roles == ["[master]", "[standby]"]
    ticks_at = r.llen("resque:queue:ticks")
    started = time.time()
    wait_for(lambda: r.llen("resque:queue:ticks") >= ticks_at + 4, 20, "four more ticks")
    ticks = r.llen("resque:queue:ticks") - ticks_at
    assert ticks <= time.time() - started + 2  # one a second: never both movers
    assert r.hget("resque:delayed:last_enqueued_at", "tick")


def test_takeover_after_the_holders_host_dies(resqued, app_dir, r):
    a = start(resqued, app_dir, config(app_dir, "a.py", lock_timeout=3))
    b = start(resqued, app_dir, config(app_dir, "b.py", lock_timeout=3))
    movers = {wait_mover(a.pid): a, wait_mover(b.pid): b}
    wait_for(lambda: r.get(LOCK), 15, "a holder")
    holder = int(r.get(LOCK).decode().rpartition(":")[2])
    dead, alive = (a, b) if movers[holder] is a else (b, a)
    os.killpg(dead.pid, signal.SIGKILL)  # master, listener, worker and mover: a host gone
    gone = time.monotonic()
    expected = delay(r, int(time.time()), "moved", [1], [2])
    wait_for(lambda: r.llen("resque:queue:moved") == 2, 15, "the other mover to take over")
    assert time.monotonic() - gone < 3 + 5  # within the lock's timeout (and a poll)
    exactly_once(r, "moved", expected)
    assert r.get(LOCK).decode().endswith(f":{mover_of(alive.pid)}")


def test_hup_with_a_new_schedule_usr2_and_a_bad_schedule(resqued, app_dir, r):
    schedule = app_dir / "schedule.yml"
    schedule.write_text("a:\n  every: 0.3s\n  class: A\n  queue: qa\n")
    m = start(resqued, app_dir, config(app_dir, schedule="schedule.yml"))
    mover = wait_mover(m.pid)
    wait_for(lambda: r.llen("resque:queue:qa") >= 2, 20, "schedule a to run")

    schedule.write_text("b:\n  every: 0.3s\n  class: B\n  queue: qb\n  args: [1, {x: 2}]\n")
    m.signal(signal.SIGHUP)
    wait_for(lambda: r.llen("resque:queue:qb") >= 1, 20, "schedule b to run after HUP")
    stopped = r.llen("resque:queue:qa")
    wait_for(lambda: r.llen("resque:queue:qb") >= 4, 20, "schedule b to go on")
    assert r.llen("resque:queue:qa") == stopped  # a is gone
    assert r.lindex("resque:queue:qb", 0) == b'{"class":"B","args":[1,{"x":2}]}'
    assert mover_of(m.pid) == mover  # the same mover read its file again

    m.signal(signal.SIGUSR2)
    wait_for(lambda: "took over" in m.output(), 60, "the re-exec")
    assert mover_of(m.pid) == mover  # kept across USR2

    schedule.write_text("b: [\n")
    m.signal(signal.SIGHUP)
    wait_for(lambda: "the schedule in use stays" in m.output(), 20, "the bad file's line")
    [line] = [ln for ln in m.output().splitlines() if "the schedule in use stays" in ln]
    assert "schedule.yml:2: schedule file is not valid YAML" in line
    after = r.llen("resque:queue:qb")
    wait_for(lambda: r.llen("resque:queue:qb") >= after + 3, 20, "the old schedule to go on")
    assert "Traceback" not in m.output()


def test_a_bad_schedule_file_at_start_is_one_line(resqued, app_dir, r):
    (app_dir / "bad.yml").write_text("a:\n  every: 1m\n")
    m = resqued("-r", "demo_jobs", "--schedule", "bad.yml", cwd=app_dir)
    assert m.wait(60) == 1
    out = m.output().strip().splitlines()
    assert "bad.yml: schedule 'a': give its queue" in out[-1]
    assert "Traceback" not in m.output()


class DurableRedis(ExtraRedis):
    """A server that fsyncs every write to its append-only file, so a kill loses nothing."""

    def command(self) -> list[str]:
        return [*super().command(), "--appendonly", "yes", "--appendfsync", "always"]


def test_redis_killed_and_restarted_during_a_move(resqued, app_dir, tmp_path):
    server = DurableRedis(tmp_path)
    server.start()
    client = server.client()
    try:
        n = 6_000
        expected = delay(client, int(time.time()) - 5, "moved", *([i] for i in range(n)))
        m = start(resqued, app_dir, config(app_dir, batch_size=1), server.url)
        wait_for(lambda: client.llen("resque:queue:moved") >= 300, 30, "the move under way")
        assert server.proc is not None
        assert client.llen("resque:queue:moved") < n
        server.proc.kill()  # SIGKILL: no shutdown, no save
        server.proc.wait(10)
        server.start()
        client = server.client()
        wait_for(lambda: client.zcard("resque:delayed_queue_schedule") == 0, 60, "the rest moved")
        exactly_once(client, "moved", expected)
        assert "scheduler: ConnectionError" in m.output() and "Traceback" not in m.output()
    finally:
        server.stop()
