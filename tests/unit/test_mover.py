"""The mover's turns, in process against a real Redis: who moves, what fires, and when."""

from __future__ import annotations

import time

import pytest

from resqued.resque import delayed
from resqued.resque.schedules import Schedules
from resqued.resque.store import Store
from resqued.scheduler.mover import Mover
from resqued.scheduler.spec import SchedulerSpec

LOCK = "resque:resque:resque_scheduler_master_lock"


@pytest.fixture
def store(redis_url, r):
    s = Store.connect(redis_url)
    yield s
    s.redis.close()


def mover(store, tmp_path, pid: int, schedule: str = "", **settings) -> Mover:
    path = None
    if schedule:
        path = tmp_path / f"schedule-{pid}.yml"
        path.write_text(schedule)
    spec = SchedulerSpec(schedule_file=str(path) if path else None, **settings)
    m = Mover(spec, store, pid=pid)
    m.read_file()
    return m


def push(r, epoch: int, *items: bytes) -> None:
    for item in items:
        r.rpush(f"resque:delayed:{epoch}", item)
        r.sadd(b"resque:timestamps:" + item, f"resque:delayed:{epoch}")
    r.zadd("resque:delayed_queue_schedule", {str(epoch): epoch})


EVERY = "tick:\n  every: 1h\n  class: Tick\n  queue: ticks\n"


def test_the_holder_moves_and_fires_the_standby_does_neither(store, r, tmp_path):
    a = mover(store, tmp_path, 1, EVERY, batch_size=3)
    b = mover(store, tmp_path, 2, EVERY, batch_size=3)
    now = int(time.time())
    items = [delayed.entry("Job", [i], "q") for i in range(10)]
    push(r, now - 1, *items)
    push(r, now + 3600, delayed.entry("Later", [], "q"))
    a.turn()
    b.turn()
    assert (a.master, b.master) == (True, False)
    assert r.get(LOCK) == a.lock.value.encode()
    assert r.lrange("resque:queue:q", 0, -1) == [
        b'{"class":"Job","args":[%d]}' % i for i in range(10)
    ]
    assert r.zrange("resque:delayed_queue_schedule", 0, -1) == [str(now + 3600).encode()]
    assert a.wake_at <= time.time() + a.spec.interval
    for m in (a, b):  # an hour passes for both
        m.recurring.next_at["tick"] = time.time() - 1
    a.turn()
    b.turn()
    assert r.lrange("resque:queue:ticks", 0, -1) == [b'{"class":"Tick","args":[]}']
    assert b.recurring.next_at["tick"] > time.time()  # the standby's time moved on


def test_a_holder_that_lost_the_lock_stops_moving(store, r, tmp_path):
    a = mover(store, tmp_path, 1, batch_size=2)
    a.turn()
    assert a.master
    r.set(LOCK, "web-1:4242")  # its lock expired and Ruby's scheduler took it
    push(r, int(time.time()) - 1, *[delayed.entry("Job", [i], "q") for i in range(5)])
    a.move_due()
    assert a.master is False and r.llen("resque:queue:q") == 0
    a.turn()
    assert a.master is False and r.get(LOCK) == b"web-1:4242"


def test_taking_the_lock_starts_the_schedule_afresh(store, r, tmp_path):
    b = mover(store, tmp_path, 2, EVERY)
    r.set(LOCK, "web-1:4242")
    b.turn()
    b.recurring.next_at["tick"] = time.time() - 7200  # runs missed while Ruby held the lock
    r.delete(LOCK)
    b.turn()
    assert b.master and r.llen("resque:queue:ticks") == 0  # not made up
    assert b.recurring.next_at["tick"] > time.time() + 3500


def test_dynamic_schedules_are_taken_by_the_holder(store, r, tmp_path):
    a = mover(store, tmp_path, 1, dynamic=True)
    Schedules(store).set_persistent("dyn", {"every": "1h", "queue": "d", "args": [1]})
    a.turn()
    assert "dyn" in a.recurring.entries and not r.exists("resque:schedules_changed")
    s = Schedules(store)
    s.set_persistent("dyn2", {"every": "2h", "class": "Two", "queue": "d"})
    s.remove_persistent("dyn")
    a.turn()
    assert sorted(a.recurring.entries) == ["dyn2"]
    assert a.recurring.entries["dyn2"].class_name == "Two"


def test_a_bad_file_on_hup_keeps_the_schedule(store, r, tmp_path):
    a = mover(store, tmp_path, 1, EVERY)
    a.turn()
    assert a.spec.schedule_file
    (tmp_path / "schedule-1.yml").write_text("tick: [\n")
    a.handle_hup()
    assert list(a.recurring.entries) == ["tick"]
    (tmp_path / "schedule-1.yml").write_text("tock:\n  every: 5m\n  queue: t\n")
    a.handle_hup()
    assert list(a.recurring.entries) == ["tock"]


def test_letting_go_releases_only_our_lock(store, r, tmp_path):
    a = mover(store, tmp_path, 1)
    a.turn()
    a.let_go()  # on a Redis error and at exit
    assert r.get(LOCK) is None
    r.set(LOCK, "web-1:4242")
    a.let_go()
    assert r.get(LOCK) == b"web-1:4242"
