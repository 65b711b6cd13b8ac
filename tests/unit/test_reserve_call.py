"""The RESERVE hot path: its own connection, NOSCRIPT, lost replies, forks, and the stored values."""

from __future__ import annotations

import json
import os
import socket
import struct

import pytest
import redis

import resqued
from resqued.resque import connection, registry
from resqued.resque.queues import QueueList
from resqued.worker.reserve import Reserver


@pytest.fixture
def store(r, redis_url):
    return resqued.connect(redis_url)


def reserver_for(store, wid, queues="q", pause_key="", handover=None):
    registry.register(store, wid)
    return Reserver(store, QueueList.parse(queues), wid, pause_key, handover or [])


def test_the_reserved_job_is_recorded_as_resque_writes_it(store, r):
    wid = registry.worker_id("q", 5001)
    reserver = reserver_for(store, wid)
    job = b'{"class":"A","args":[1,"\xc3\xa9"]}'
    r.rpush("resque:queue:q", job)
    assert reserver.call() == [b"job", b"q", job]
    record = json.loads(r.get(f"resque:worker:{wid}"))
    assert record["queue"] == "q"
    assert record["payload"] == {"class": "A", "args": [1, "é"]}
    reserver.pending = b""
    assert reserver.call()[0] == b"empty"
    assert r.get(f"resque:worker:{wid}") is None
    assert r.get("resque:stat:processed") == b"1"
    assert r.get(f"resque:stat:processed:{wid}") == b"1"


def test_a_failure_is_recorded_once_even_when_the_call_is_sent_twice(store, r):
    wid = registry.worker_id("q", 5002)
    reserver = reserver_for(store, wid)
    r.rpush("resque:queue:q", b'{"class":"A","args":[1]}', b'{"class":"A","args":[2]}')
    assert reserver.call()[0] == b"job"
    reserver.pending = b'{"failed_at":"x"}'
    # The reply of this call is lost: the same call goes out again (what a retry sends).
    pending, finished = reserver.pending, reserver.finished
    first = reserver.call()
    reserver.pending, reserver.finished = pending, finished
    again = reserver.call()
    assert first == [b"job", b"q", b'{"class":"A","args":[2]}']
    assert again[0] == b"resume"  # the second job is ours already, not taken twice
    assert json.loads(again[1])["payload"] == {"class": "A", "args": [2]}
    assert r.lrange("resque:failed", 0, -1) == [b'{"failed_at":"x"}']
    assert r.get("resque:stat:failed") == b"1"
    assert r.get("resque:stat:processed") == b"1"
    assert r.llen("resque:queue:q") == 0


def test_a_worker_pause_key_and_pause_all_workers_both_pause(store, r):
    wid = registry.worker_id("q", 5003)
    mine = "resque:resqued:pause:host:1"
    reserver = reserver_for(store, wid, pause_key=mine)
    r.rpush("resque:queue:q", b'{"class":"A","args":[]}')
    r.set(mine, "")  # present, whatever its value
    assert reserver.call() == [b"paused"]
    r.delete(mine)
    r.set("resque:pause-all-workers", " TRUE ")
    assert reserver.call() == [b"paused"]
    r.set("resque:pause-all-workers", "false")
    assert reserver.call()[0] == b"job"


def test_a_script_redis_forgot_is_loaded_again(store, r):
    wid = registry.worker_id("q", 5004)
    reserver = reserver_for(store, wid)
    r.rpush("resque:queue:q", b'{"class":"A","args":[]}')
    r.script_flush()
    assert reserver.call()[0] == b"job"


def test_a_connection_redis_closed_is_opened_again(store, r):
    wid = registry.worker_id("q", 5005)
    reserver = reserver_for(store, wid)
    assert reserver.call()[0] == b"empty"
    r.client_kill_filter(_type="normal", skipme=True)
    r.rpush("resque:queue:q", b'{"class":"A","args":[]}')
    assert reserver.call()[0] == b"job"


def test_a_forked_child_uses_a_connection_of_its_own(store, r):
    wid = registry.worker_id("q", 5006)
    reserver = reserver_for(store, wid)
    assert reserver.call()[0] == b"empty"
    sock = connection.socket_of(reserver.script._conn)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: record an outcome, as a job child whose worker died does
        try:
            reserver.pending = b""
            os.write(write, reserver.finish_only()[0])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 100) == b"finished"
    assert reserver.call()[0] == b"empty"
    assert connection.socket_of(reserver.script._conn) is sock  # not shut down by the child


def test_plain_sockets_are_timed_by_the_kernel(store, r):
    conn = store.dedicated_connection()
    try:
        connection.kernel_timeouts(conn)
        sock = connection.socket_of(conn)
        assert sock.gettimeout() is None
        sec, usec = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
        assert sec + usec / 1e6 > 0
    finally:
        conn.disconnect()


def test_a_reply_that_does_not_come_is_a_redis_error_the_retry_handles(r, redis_url):
    store = resqued.connect(redis_url + "?socket_timeout=0.3")
    wid = registry.worker_id("q", 5007)
    reserver = reserver_for(store, wid)
    assert reserver.call()[0] == b"empty"
    r.client_pause(1500, all=True)  # Redis answers nobody for 1.5 s
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        reserver.call()
    r.client_unpause()
    assert reserver.call()[0] == b"empty"  # and the next call works again


class PublicOnly:
    """A redis-py connection that records every private attribute read through it."""

    def __init__(self, conn):
        self.conn = conn
        self.private: list[str] = []

    def __getattr__(self, name):
        if name.startswith("_"):
            self.private.append(name)
        return getattr(self.conn, name)


def test_the_hot_path_reads_no_private_redis_py_attribute(store, r, monkeypatch):
    """One reserve a job uses redis-py's public API only (pyproject.toml's whole redis range),
    on calls that succeed, on NOSCRIPT, and on a connection Redis closed."""
    made: list[PublicOnly] = []
    real = store.dedicated_connection

    def watched():
        made.append(PublicOnly(real()))
        return made[-1]

    monkeypatch.setattr(store, "dedicated_connection", watched)
    wid = registry.worker_id("q", 5008)
    reserver = reserver_for(store, wid)
    assert reserver.call()[0] == b"empty"  # connects (and sets kernel timeouts) here
    made[0].private.clear()
    r.rpush("resque:queue:q", b'{"class":"A","args":[]}')
    assert reserver.call()[0] == b"job"
    r.script_flush()
    reserver.pending = b""
    assert reserver.call()[0] == b"empty"
    r.client_kill_filter(_type="normal", skipme=True)
    assert reserver.call()[0] == b"empty"
    assert len(made) == 1 and made[0].private == []
