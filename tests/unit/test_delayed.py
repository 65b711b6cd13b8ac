"""resque-scheduler's delayed queue, key for key, against a real Redis: producers, the move, the lock.

The expected bytes are read off resque-scheduler's sources (v5:
lib/resque/scheduler/delaying_extensions.rb, locking.rb, lock/resilient.rb) and
Resque's JSON encoding; a Ruby producer's writes are replayed here as the raw
commands it sends, so what we write is what Ruby writes and what Ruby wrote moves.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

import resqued
from resqued.resque import delayed, times
from resqued.resque.delayed import CHANGED, NOT_OURS, Delayed
from resqued.resque.keys import Keys
from resqued.resque.scheduler_lock import SchedulerLock
from resqued.resque.schedules import Schedules


@resqued.job("Archive")
class Archive:
    queue = "file_serve"

    @staticmethod
    def perform(repo_id, branch="master"):
        pass


class Vetoed:
    queue = "low"
    calls: list[str] = []

    @staticmethod
    def perform():
        pass

    @classmethod
    def before_schedule_check(cls, *args):
        cls.calls.append("before")
        return False


ENTRY = b'{"class":"Archive","args":[35,"tar"],"queue":"file_serve"}'


@pytest.fixture
def store(redis_url, r):
    s = resqued.connect(redis_url)
    yield s
    s.redis.close()


# -- the bytes, as resque-scheduler writes them ---------------------------------------


def test_the_keys_are_resque_schedulers():
    k = Keys("resque")
    assert k.delayed_schedule == "resque:delayed_queue_schedule"
    assert k.delayed(1700000000) == "resque:delayed:1700000000"
    assert k.timestamps(ENTRY) == b"resque:timestamps:" + ENTRY
    assert k.last_enqueued_at == "resque:delayed:last_enqueued_at"
    assert k.persistent_schedules == "resque:persistent_schedules"
    assert k.schedules_changed == "resque:schedules_changed"
    # locking.rb builds "#{namespace}:resque_scheduler_master_lock" and redis-namespace
    # prefixes it once more (checked with redis-namespace: the key Ruby really writes).
    assert k.scheduler_lock() == "resque:resque:resque_scheduler_master_lock"
    assert k.scheduler_lock("MyApp") == "resque:resque:MyApp:resque_scheduler_master_lock"
    assert Keys("app").scheduler_lock() == "app:app:resque_scheduler_master_lock"


def test_an_entry_is_class_args_queue_in_resques_json():
    assert delayed.entry("Archive", (35, "tar"), "file_serve") == ENTRY
    assert delayed.entry("A::B", ["é", 1.5, None, {"k": "</x>"}], "q") == (
        '{"class":"A::B","args":["é",1.5,null,{"k":"</x>"}],"queue":"q"}'.encode()
    )


def test_last_enqueued_at_is_rubys_local_time_to_s(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        assert times.local_to_s(1704110400) == "2024-01-01 13:00:00 +0100"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_enqueue_at_writes_what_ruby_writes(store, r):
    when = datetime(2100, 1, 1, tzinfo=UTC)
    epoch = int(when.timestamp())
    assert resqued.enqueue_at(when, Archive, 35, "tar") is True
    assert r.zrange("resque:delayed_queue_schedule", 0, -1, withscores=True) == [
        (str(epoch).encode(), float(epoch))
    ]
    assert r.lrange(f"resque:delayed:{epoch}", 0, -1) == [ENTRY]
    assert r.smembers(b"resque:timestamps:" + ENTRY) == {f"resque:delayed:{epoch}".encode()}
    assert resqued.scheduled_at(Archive, 35, "tar") == [epoch]
    assert resqued.delayed_count() == 1


def test_what_ruby_wrote_is_seen_counted_and_removed(store, r):
    # Resque.enqueue_in(3600, Archive, 35, 'tar') as the Ruby client sends it
    epoch = int(time.time()) + 3600
    for at in (epoch, epoch + 60):
        r.rpush(f"resque:delayed:{at}", ENTRY)
        r.sadd(b"resque:timestamps:" + ENTRY, f"resque:delayed:{at}")
        r.zadd("resque:delayed_queue_schedule", {str(at): at})
    assert resqued.scheduled_at(Archive, 35, "tar") == [epoch, epoch + 60]
    assert resqued.delayed_count() == 2
    assert resqued.remove_delayed(Archive, 35, "other") == 0
    assert resqued.remove_delayed(Archive, 35, "tar") == 2
    assert resqued.delayed_count() == 0
    assert not r.exists(b"resque:timestamps:" + ENTRY)


def test_enqueue_in_and_the_queue_forms(store, r):
    before = int(time.time())
    resqued.enqueue_in(timedelta(minutes=5), Archive, 1)
    resqued.enqueue_in_with_queue("other", 300, "Ruby::Job", {"a": 1})
    resqued.enqueue_at_to("other", datetime.now(UTC) + timedelta(seconds=60), "Ruby::Job", 2)
    [at] = resqued.scheduled_at(Archive, 1)
    assert before + 300 <= at <= int(time.time()) + 300
    assert resqued.scheduled_at(Archive, 1, queue="other") == []
    assert resqued.remove_delayed_in_queue("Ruby::Job", "other", {"a": 1}) == 1
    assert resqued.delayed_count() == 2


def test_a_time_already_past_queues_now(store, r):
    resqued.enqueue_at(datetime(2001, 1, 1, tzinfo=UTC), Archive, 7)
    resqued.enqueue_in(0, Archive, 8)
    assert r.lrange("resque:queue:file_serve", 0, -1) == [
        b'{"class":"Archive","args":[7]}',
        b'{"class":"Archive","args":[8]}',
    ]
    assert resqued.delayed_count() == 0


def test_a_before_schedule_hook_can_say_no(store, r):
    Vetoed.calls.clear()
    assert resqued.enqueue_in(60, Vetoed) is False
    assert Vetoed.calls == ["before"] and resqued.delayed_count() == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: resqued.enqueue_at(datetime(2100, 1, 1), Archive), "has no time zone"),
        (
            lambda: resqued.enqueue_at(datetime(1969, 12, 31, tzinfo=UTC), Archive),
            "before 1970",
        ),
        (lambda: resqued.enqueue_at(1700000000, Archive), "datetime with a time zone"),
        (lambda: resqued.enqueue_in("5", Archive), "number of seconds or a timedelta"),
        (lambda: resqued.enqueue_in(float("nan"), Archive), "finite"),
        (lambda: resqued.enqueue_in(-1e12, Archive), "before 1970"),
        (lambda: resqued.enqueue_in(5, dict), "dict has no 'queue'"),
        (lambda: resqued.enqueue_in_to("q", 5, dict), "not a job class"),
        (lambda: resqued.enqueue_in_to("q", 5, ""), "must not be empty"),
        (lambda: resqued.enqueue_in_to("", 5, Archive), "non-empty string"),
        (lambda: resqued.enqueue_in(5, Archive, object()), "JSON values"),
    ],
)
def test_bad_input_is_one_clear_error(store, call, message):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_class_no_worker_could_load_is_refused(store):
    def local():
        class Job:
            queue = "q"

            @staticmethod
            def perform():
                pass

        return Job

    with pytest.raises(ValueError, match="where no worker can find it"):
        resqued.enqueue_in(5, local())


# -- the move -------------------------------------------------------------------------


def push(r, epoch: int, *entries: bytes) -> None:
    for item in entries:
        r.rpush(f"resque:delayed:{epoch}", item)
        r.sadd(b"resque:timestamps:" + item, f"resque:delayed:{epoch}")
    r.zadd("resque:delayed_queue_schedule", {str(epoch): epoch})


def test_a_due_epoch_moves_in_chunks_as_rubys_mover_enqueues(store, r):
    d = Delayed(store)
    items = [delayed.entry("Archive", [i], "file_serve") for i in range(250)]
    push(r, 100, *items)
    assert d.next_due(99) is None and d.next_due(100) == 100
    assert d.move(100, 100, "me") == 100
    assert r.llen("resque:delayed:100") == 150 and r.llen("resque:queue:file_serve") == 100
    assert d.move(100, 100, "me") == 100
    assert d.move(100, 100, "me") == 50
    assert not r.exists("resque:delayed:100") and r.zcard("resque:delayed_queue_schedule") == 0
    assert r.lrange("resque:queue:file_serve", 0, 1) == [
        b'{"class":"Archive","args":[0]}',
        b'{"class":"Archive","args":[1]}',
    ]
    assert r.smembers("resque:queues") == {b"file_serve"}
    assert not r.keys("resque:timestamps:*")


def test_an_emptied_epoch_is_cleaned_up(store, r):
    d = Delayed(store)
    push(r, 100, ENTRY)
    store.redis.lrem("resque:delayed:100", 0, ENTRY)  # remove_delayed leaves the epoch
    assert d.next_due(200) == 100
    assert d.move(100, 100, "me") == 0
    assert d.next_due(200) is None


def test_an_epoch_read_empty_that_gets_a_job_is_read_again(store, r, monkeypatch):
    d = Delayed(store)
    r.zadd("resque:delayed_queue_schedule", {"100": 100})
    real = d.redis.lrange

    def read_then_a_producer_pushes(key, start, end):
        found = real(key, start, end)
        store.redis.rpush(key, ENTRY)
        return found

    monkeypatch.setattr(d.redis, "lrange", read_then_a_producer_pushes)
    assert d.move(100, 100, "me") == CHANGED
    assert d.next_due(200) == 100 and r.llen("resque:delayed:100") == 1


def test_args_become_a_list_and_a_job_without_a_queue_is_failed_not_lost(store, r):
    d = Delayed(store)
    push(
        r,
        100,
        b'{"class":"H","args":{"a":1},"queue":"q"}',
        b'{"class":"N","args":null,"queue":"q"}',
    )
    push(r, 100, b'{"class":"Old","args":[1]}', b"not json")
    assert d.move(100, 100, "host:1:resqued-scheduler") == 4
    assert r.lrange("resque:queue:q", 0, -1) == [
        b'{"class":"H","args":[{"a":1}]}',
        b'{"class":"N","args":[]}',
    ]
    failed = [json.loads(f) for f in r.lrange("resque:failed", 0, -1)]
    assert [f["exception"] for f in failed] == [delayed.NO_QUEUE, delayed.MALFORMED]
    assert failed[0]["payload"] == {"class": "Old", "args": [1]}
    assert failed[1]["payload"]["args"] == ["not json"]
    assert failed[0]["worker"] == "host:1:resqued-scheduler"


def test_a_chunk_read_before_a_change_is_not_moved(store, r, monkeypatch):
    """A remove_delayed (or another mover) between our read and our move: nothing moves twice."""
    d = Delayed(store)
    items = [delayed.entry("A", [i], "q") for i in range(3)]
    push(r, 100, *items)
    real = d.redis.lrange

    def read_then_someone_moves(key, start, end):
        found = real(key, start, end)
        store.redis.lpop(key)  # someone else took the head meanwhile
        return found

    monkeypatch.setattr(d.redis, "lrange", read_then_someone_moves)
    assert d.move(100, 100, "me") == CHANGED
    monkeypatch.setattr(d.redis, "lrange", real)
    assert r.llen("resque:queue:q") == 0
    assert d.move(100, 100, "me") == 2


def test_only_the_locks_holder_moves(store, r):
    d = Delayed(store)
    lock = SchedulerLock(store, 60, pid=1111)
    push(r, 100, ENTRY)
    assert d.move(100, 100, "me", lock.key, lock.value, 60) == NOT_OURS
    assert lock.master()
    r.expire(lock.key, 5)
    assert d.move(100, 100, "me", lock.key, lock.value, 60) == 1
    assert r.ttl(lock.key) > 5  # the move renewed it


# -- the lock -------------------------------------------------------------------------


def test_the_lock_as_resque_scheduler_holds_it(store, r):
    ours = SchedulerLock(store, 180, pid=1111)
    theirs = SchedulerLock(store, 180, pid=2222)
    assert ours.value == f"{ours.host}:1111"
    assert ours.master() and not theirs.master()
    assert r.get("resque:resque:resque_scheduler_master_lock") == ours.value.encode()
    assert 170 < r.ttl(ours.key) <= 180
    r.expire(ours.key, 10)
    assert ours.renew() and r.ttl(ours.key) > 10
    assert not theirs.release() and ours.holder() == ours.value
    assert ours.release() and ours.holder() is None
    assert theirs.master()


def test_a_ruby_holder_keeps_us_out_until_its_lock_expires(store, r):
    r.set("resque:resque:resque_scheduler_master_lock", "web-1.example.com:4242", ex=1)
    lock = SchedulerLock(store, 180)
    assert not lock.master()
    r.delete(lock.key)  # expired
    assert lock.master()


def test_a_dead_movers_lock_is_freed_for_this_host_only(store, r):
    lock = SchedulerLock(store, 180, pid=3333)
    r.set(lock.key, f"{lock.host}:4444")
    assert not lock.release_for(5555)
    assert lock.release_for(4444) and lock.master()


def test_a_recurring_fire_is_fenced_by_the_lock(store, r):
    s = Schedules(store)
    lock = SchedulerLock(store, 180, pid=1)
    job = b'{"class":"Tick","args":[]}'
    assert not s.fire(lock.key, lock.value, "tick", "q", job, 1704110400)
    assert lock.master()
    assert s.fire(lock.key, lock.value, "tick", "q", job, 1704110400)
    assert r.lrange("resque:queue:q", 0, -1) == [job]
    assert s.last_enqueued_at("tick") == times.local_to_s(1704110400)


def test_dynamic_schedules_as_set_schedule_writes_them(store, r):
    s = Schedules(store)
    s.set_persistent("tick", {"class": "Tick", "every": "1m", "queue": "q"})
    assert r.hget("resque:persistent_schedules", "tick") == (
        b'{"class":"Tick","every":"1m","queue":"q"}'
    )
    assert s.changed() == ["tick"] and s.changed() == []
    s.remove_persistent("tick")
    assert s.persistent() == {} and s.changed() == ["tick"]
