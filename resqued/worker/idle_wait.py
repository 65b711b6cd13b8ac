"""An idle worker's wait: BLMOVE hand-overs, so one new job wakes exactly one worker.

Each wait is ``BLMOVE queue:<q> resqued:inflight:<id>:<q>`` on a connection of
its own (``Store.dedicated_connection``): a new job wakes one idle worker and
lands in its hand-over list, where the next reserve takes it.  Waits are ended
with ``CLIENT UNBLOCK`` and their replies read, so the worker always knows
whether a job was handed over.  A worker that waits on several queues keeps
one job a wait: when jobs came on two queues at once, the one of its first
queue is kept and the others go back to the head of their queue for another
worker.  Queues past MAX_WAIT_QUEUES, and patterns
matching no queue yet, are looked at every PATTERN_POLL seconds.
"""

from __future__ import annotations

from typing import Any

import redis

from resqued.resque import connection, outage
from resqued.resque.store import Store
from resqued.worker.control import Control
from resqued.worker.retry import REDIS_DOWN, RedisRetry

MAX_WAIT_QUEUES = 4  # idle workers block on at most this many queues at once
PATTERN_POLL = 0.5  # how often queues nobody can block on are looked at
MIN_POLL = 0.1  # shortest idle or paused poll: INTERVAL=0 must not spin on Redis


def socket_fileno(conn: Any) -> int:
    """The file descriptor of a connected redis-py ``Connection``, to wait on with select."""
    return int(connection.socket_of(conn).fileno())


class IdleWait:
    def __init__(
        self, store: Store, worker_id: str, control: Control, retry: RedisRetry, interval: float
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.control = control
        self.retry = retry
        self.interval = interval
        self.handover: list[str] = []  # queues whose hand-over list may hold a job for us
        self._conns: dict[str, tuple[Any, int]] = {}  # queue -> (connection, client id)

    def wait(self, queues: list[str]) -> None:
        """Block until one of the first queues has a job, a control call, or ``interval`` ends."""
        watched = queues[:MAX_WAIT_QUEUES]
        if not watched or len(queues) > MAX_WAIT_QUEUES:  # patterns may match new queues
            timeout = max(min(PATTERN_POLL, self.interval), MIN_POLL)
        else:
            timeout = max(self.interval, MIN_POLL)
        if not watched:
            self.control.sleep(timeout)
            return
        self.handover += [q for q in watched if q not in self.handover]
        keys = self.store.keys
        waits: list[tuple[Any, int]] = []
        try:
            for q in watched:
                conn, cid = self._connection(q)
                command = ("BLMOVE", keys.queue(q), keys.inflight(self.worker_id, q))
                conn.send_packed_command(conn.pack_commands([(*command, "LEFT", "LEFT", timeout)]))
                waits.append((conn, cid))
            self.control.sleep(timeout + 1.0, *(socket_fileno(conn) for conn, _ in waits))
            ended = [self._end(conn, cid) for conn, cid in waits]
            taken = [q for q, took in zip(watched, ended, strict=True) if took is True]
            for q in taken[1:]:  # one job a wait: the others go back to the head of their queue
                self._give_back(q)
        except REDIS_DOWN as exc:
            self.close()
            self.retry.pause_after_failure(exc)
            return
        refused = [e for e in ended if isinstance(e, redis.RedisError)]
        if refused:
            self.retry.wait_refused(refused[0], timeout)  # poll: the reserve still works
        else:
            self.retry.wait_taken()

    def _give_back(self, queue: str) -> None:
        """Put a job a wait took back at the head of its queue; if Redis refuses, keep it
        in the hand-over list, where this worker's next reserve takes it."""
        try:
            self.store.requeue_handover(self.worker_id, queue)
        except redis.ResponseError as exc:
            if not outage.refused_write(exc):
                raise

    def close(self) -> None:
        for conn, _ in self._conns.values():
            conn.disconnect()
        self._conns.clear()

    def _connection(self, queue: str) -> tuple[Any, int]:
        """A connection kept for waiting on ``queue``, with its Redis client id."""
        if queue not in self._conns:
            conn = self.store.dedicated_connection()
            conn.send_command("CLIENT", "ID")
            self._conns[queue] = (conn, int(conn.read_response()))
        return self._conns[queue]

    def _end(self, conn: Any, cid: int) -> bool | redis.RedisError:
        """Unblock a wait (if it still waits) and read its reply: whether it took a job,
        or the refusal Redis answered instead (the connection stays usable)."""
        while not conn.can_read(timeout=0):
            self.store.redis.client_unblock(cid)
            if conn.can_read(timeout=0.05):
                break
        try:
            return conn.read_response() is not None
        except redis.ResponseError as exc:
            if not outage.refused_write(exc):
                raise
            return exc
