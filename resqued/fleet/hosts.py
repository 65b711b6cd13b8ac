"""Which hosts still beat: a listener's host record, else its workers' own heartbeats.

A resqued listener records its host's beat every ``LISTENER_BEAT`` seconds
(``resque/beats.py``): a host whose record is ``MISSED_BEATS`` intervals late is
unreachable.  A host without a record (Ruby Resque or ``resqued work`` workers,
or a record expired after an hour) is judged by its workers' newest heartbeat
against Resque's 60-s interval; one whose workers write none (pyres) is never
called unreachable.  The prune keeps Resque's 300-s window either way.
"""

from __future__ import annotations

import json

from resqued.fleet.model import HostBeat, Worker
from resqued.resque import beats
from resqued.resque.store import Store


def read_host_beats(
    store: Store, hosts: list[str], workers: list[Worker], now: float
) -> dict[str, HostBeat]:
    """One pipelined round trip: each host's record, judged with its workers' heartbeats."""
    if not hosts:
        return {}
    pipe = store.redis.pipeline(transaction=False)
    for host in hosts:
        pipe.get(store.keys.host(host))
    records = pipe.execute()
    out = {}
    for host, raw in zip(hosts, records, strict=True):
        beat_at, every = _record(raw)
        if beat_at is None:  # no record: Resque's own beat, if its workers write one
            every = beats.RESQUE_BEAT
            stamps = [w.heartbeat_at for w in workers if w.host == host and w.heartbeat_at]
            beat_at = max(stamps, default=None)
        late = beat_at is not None and now - beat_at > beats.unreachable_after(every)
        out[host] = HostBeat(host, beat_at, every, late)
    return out


def _record(raw: bytes | None) -> tuple[float | None, float]:
    try:
        doc = json.loads(raw) if raw else None
        if isinstance(doc, dict):
            return float(doc["beat_at"]), float(doc["every"])
    except (ValueError, KeyError, TypeError, RecursionError):
        pass
    return None, beats.LISTENER_BEAT
