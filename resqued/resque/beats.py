"""Heartbeats: how often they come, a listener's beat (its workers' and its host's), and
how old a beat may grow before its host counts as unreachable.

A listener stamps ``workers:heartbeat`` for its workers every ``LISTENER_BEAT``
seconds (Ruby Resque's workers beat every 60 s) with one script that writes only
ids still in ``workers`` (a worker that unregistered meanwhile gets no entry back),
and records its host in ``resqued:host:<host>``: ``{"beat_at", "every"}``, so
``resqued status`` can say a host is unreachable after ``MISSED_BEATS`` beats did
not come.  The prune keeps Resque's window (``PRUNE_AFTER``), so Ruby and
resqued agree on which workers are dead.
"""

from __future__ import annotations

import json

from resqued.resque import times
from resqued.resque.store import Store

RESQUE_BEAT = 60.0  # Ruby Resque's heartbeat interval, and that of `resqued work`
LISTENER_BEAT = 10.0  # a listener beats for its workers and its host this often
MISSED_BEATS = 3  # a host whose beat is this many intervals late is unreachable
PRUNE_AFTER = 300.0  # Resque's prune window: a worker whose beat is older is dead
HOST_RECORD_TTL = 3600  # a host record outlives its host by this long, then goes

# ARGV: namespace prefix, heartbeat stamp, host key, host record, its TTL, worker ids.
BEAT = r"""
local ns, stamp = ARGV[1], ARGV[2]
for i = 6, #ARGV do
  if redis.call('SISMEMBER', ns .. 'workers', ARGV[i]) == 1 then
    redis.call('HSET', ns .. 'workers:heartbeat', ARGV[i], stamp)
  end
end
redis.call('SET', ARGV[3], ARGV[4], 'EX', ARGV[5])
return 1
"""


class ListenerBeat:
    """The listener's beat: its workers' heartbeats and its host's record, one script call."""

    def __init__(self, store: Store, host: str) -> None:
        self.store = store
        self.host = host
        self.script = store.redis.register_script(BEAT)

    def __call__(self, ids: list[str]) -> None:
        store = self.store
        now = store.server_time()
        record = json.dumps({"beat_at": now, "every": LISTENER_BEAT})
        args = [store.keys.prefix, times.heartbeat(now), store.keys.host(self.host), record]
        self.script(args=[*args, HOST_RECORD_TTL, *ids])


def unreachable_after(every: float) -> float:
    """How old the last beat of a host beating every ``every`` seconds may be."""
    return MISSED_BEATS * every
