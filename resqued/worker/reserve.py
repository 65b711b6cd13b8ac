"""One worker's RESERVE call, packed from pieces made once, and the outcome it has to record.

A job's outcome stays *pending* until the next call, which records it in the
same round trip as it reserves the next job (``resqued/resque/scripts.py``).
"""

from __future__ import annotations

import time

from resqued.resque import times
from resqued.resque.queues import QueueList
from resqued.resque.script_call import ScriptCall, bulk
from resqued.resque.scripts import RESERVE
from resqued.resque.store import Store


class Reserver:
    """Builds the RESERVE call and keeps the outcome it has yet to record.

    The call goes out on the worker's own connection (``ScriptCall``), packed
    from pieces made once: the constant arguments at start, ``run_at`` once a
    second, the hand-over queues when their list grows.
    """

    def __init__(
        self, store: Store, queues: QueueList, worker_id: str, pause_key: str, handover: list[str]
    ) -> None:
        self.store = store
        self.handover = handover  # the idle wait's hand-over queues, claimed first; only grows
        self.finished = 0  # jobs whose outcome is recorded: mirrors stat:processed:<id>
        self.pending: bytes | None = None  # the last job's outcome, recorded by the next call
        self.script = ScriptCall(store, RESERVE)
        self._ns_worker = _packed(store.keys.prefix, store.keys.worker(worker_id))
        self._pause = _packed(pause_key)
        self._id = _packed(worker_id)
        queue_args = queues.script_args()
        self._queues = _packed(*queue_args)
        self._nargs = 9 + len(queue_args)  # plus one a hand-over queue
        self._second = -1  # run_at has a resolution of one second: made once a second
        self._run_at = b""
        self._nclaims = -1
        self._claims = b""

    def call(self, reserve: bool = True) -> list[bytes]:
        """One round trip: record the pending outcome (if any), then reserve the next job."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._run_at = bulk(times.run_at(second).encode())
        handover = self.handover
        if len(handover) != self._nclaims:
            self._nclaims = len(handover)
            self._claims = _packed(str(len(handover)), *handover)
        pending = self.pending
        if pending is not None:
            outcome = bulk(b"%d" % self.finished) + bulk(pending)
        else:
            outcome = NO_OUTCOME
        result: list[bytes] = self.script(
            self._nargs + self._nclaims,
            (
                self._ns_worker,
                self._run_at,
                self._pause,
                outcome,
                RESERVE_FLAG if reserve else FINISH_FLAG,
                self._id,
                self._claims,
                self._queues,
            ),
        )
        if pending is not None:
            self.pending = None
            self.finished += 1
        return result

    def finish_only(self) -> list[bytes]:
        return self.call(reserve=False)

    def close(self) -> None:
        self.script.close()


NO_OUTCOME = bulk(b"") + bulk(b"")
RESERVE_FLAG, FINISH_FLAG = bulk(b"1"), bulk(b"0")


def _packed(*args: str) -> bytes:
    return b"".join(bulk(a.encode()) for a in args)
