"""An idle worker's wait: a BLMOVE hand-over on its own reserve connection, one queue a wait.

A wait is ``BLMOVE queue:<q> resqued:inflight:<id>:<q>`` sent on the
connection the worker reserves on (``ScriptCall.connection``), idle between
two reserves: a new job wakes exactly one waiting worker and lands in its
hand-over list, where the next reserve takes it; the job is never only in the
worker's memory.  The wait is ended early (a signal, a control call) with
``CLIENT UNBLOCK`` from the worker's other connection, and its reply is always
read, so the worker knows whether a job was handed over.

One connection blocks on one list: a worker with several queues waits on
them in turn, from a random first one, ``ROTATE`` seconds each, and the
reserve after every wait looks at all of them.  Idle workers of a fleet that
share a queue list thus block on all its queues between them (one new job
wakes one of them), and a lone worker finds a job on a queue it is not
blocked on within ``ROTATE``.  Queues past MAX_WAIT_QUEUES, and patterns
matching no queue yet, are looked at every PATTERN_POLL seconds.

Before its first wait on a queue the worker records it
(``Store.record_handover``), so its exit and a prune find its hand-over lists
without scanning the keyspace.
"""

from __future__ import annotations

import random
from typing import Any

from resqued.resque import connection
from resqued.resque.script_call import ScriptCall
from resqued.resque.store import Store
from resqued.worker.control import Control
from resqued.worker.retry import REDIS_DOWN, RedisRetry

MAX_WAIT_QUEUES = 4  # idle workers block on at most this many queues, in turn
ROTATE = 1.0  # longest wait on one queue of several before the next reserve
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
        self.recorded: set[str] = set()  # queues recorded in Keys.handovers(worker_id)
        self.link: ScriptCall | None = None  # the reserve's connection, borrowed between calls
        self._turn = random.randrange(MAX_WAIT_QUEUES)  # which queue of several is next

    def use(self, link: ScriptCall) -> None:
        """Wait on the worker's reserve connection."""
        self.link = link

    def forget_records(self) -> None:
        """Redis lost this worker's registration (restarted empty, or pruned): record again."""
        self.recorded.clear()

    def wait(self, queues: list[str]) -> None:
        """Block until a queue has a job, a control call, or the wait's time is up."""
        watched = queues[:MAX_WAIT_QUEUES]
        if not watched or len(queues) > MAX_WAIT_QUEUES:  # patterns may match new queues
            timeout = max(min(PATTERN_POLL, self.interval), MIN_POLL)
        elif len(watched) > 1:
            timeout = max(min(ROTATE, self.interval), MIN_POLL)
        else:
            timeout = max(self.interval, MIN_POLL)
        if not watched or self.link is None:
            self.control.sleep(timeout)
            return
        self._turn += 1
        queue = watched[self._turn % len(watched)]
        try:
            self._block(queue, timeout)
        except REDIS_DOWN as exc:
            self.link.reset()
            self.retry.pause_after_failure(exc)

    def _block(self, queue: str, timeout: float) -> None:
        assert self.link is not None
        store, keys = self.store, self.store.keys
        if queue not in self.recorded:
            store.record_handover(self.worker_id, queue)
            self.recorded.add(queue)
        if queue not in self.handover:
            self.handover.append(queue)
        cid = self.link.client_id()
        conn = self.link.connection()
        command = ("BLMOVE", keys.queue(queue), keys.inflight(self.worker_id, queue))
        conn.send_packed_command(
            conn.pack_commands([(*command, "LEFT", "LEFT", timeout)]), check_health=False
        )
        answered = False
        try:
            self.control.sleep(timeout + 1.0, socket_fileno(conn))
            while not conn.can_read(timeout=0):
                store.redis.client_unblock(cid)
                if conn.can_read(timeout=0.05):
                    break
            conn.read_response()
            answered = True
        finally:
            if not answered:  # a reply left unread would be the next reserve's: drop it
                self.link.reset()

    def close(self) -> None:
        """Nothing of its own to close: the wait borrows the reserve's connection."""
