"""The prune of dead workers, as Ruby Resque does it, that never takes a live one.

Under Resque's prune lock (``pruning_dead_workers_in_progress``, 60 s), a prune
unregisters workers whose heartbeat is older than Resque's window (300 s, so
Ruby and resqued agree), and workers of this host (``--hostname`` included)
whose pid is no live ``resque-*`` process, then requeues hand-over lists of
workers that are no longer registered.  What keeps it from taking the living:

- the lock holds an owner token and is released only by its owner (a
  compare-and-delete script): a prune that outlived its lock never deletes the
  lock of the prune that followed;
- right before it unregisters a worker, a script checks that the worker is
  still registered and its heartbeat is still the one the prune read (which
  may be minutes old on a slow Redis): a worker that beat since (its listener
  is alive) is left alone.  The unregister itself keeps the worker in
  ``workers`` until its last step, so one that a refused write interrupts is
  found again by the next prune;
- the pid check applies to this host's name only: two masters on one machine
  with different ``--hostname`` never prune each other's workers by pid (and
  two machines must not share a name, as with Ruby Resque).
"""

from __future__ import annotations

import logging
import os
import re
import secrets

from resqued.resque import beats, failure, registry, times
from resqued.resque.registry import FailureHook
from resqued.resque.store import Store, text

log = logging.getLogger("resqued")

LIVE_WORKER_TITLE = re.compile(rb"resque:work|resque: Starting|resque-[0-9]")
LOCK_SECONDS = 60  # Resque's: the lock of a prune that died goes by itself

RELEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: workers, workers:heartbeat; ARGV: worker id, the heartbeat read ('' for none).
# 1 when the worker is still registered and has not beaten since the prune read.
STILL_SILENT = r"""
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
if (redis.call('HGET', KEYS[2], ARGV[1]) or '') ~= ARGV[2] then return 0 end
return 1
"""


def live_resque_pids(proc: str = "/proc") -> set[str] | None:
    """Pids on this host whose title says they are a Resque worker (Ruby's own test).

    Read from ``/proc`` directly.  A zombie (exited, not yet reaped by its parent)
    is dead: ``ps`` shows it as ``[resque-0.1.0: W] <defunct>``, which Ruby's test
    would take for a live worker.  None when ``/proc`` cannot be read.
    """
    try:
        names = os.listdir(proc)
    except OSError as exc:
        log.warning("cannot list processes in %s (%s): not pruning by pid", proc, exc)
        return None
    pids = set()
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{proc}/{name}/stat", "rb") as f:
                state = f.read().rpartition(b")")[2].split()[:1]
            with open(f"{proc}/{name}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ")
        except OSError:  # gone meanwhile
            continue
        if state and state[0] not in (b"Z", b"X") and LIVE_WORKER_TITLE.search(title):
            pids.add(name)
    return pids


def prune_dead_workers(
    store: Store,
    wid: str,
    dead_job_hook: FailureHook | None = None,
    spare: frozenset[int] = frozenset(),
) -> list[str]:
    """Unregister workers with an expired heartbeat, and workers on this host that are gone.

    Runs under Resque's prune lock, so one process on the cluster prunes at a time.
    ``spare``: pids of this host's workers whose own listener unregisters them when
    it reaps them (a listener's prune leaves those to it).  Returns the pruned ids.
    """
    k, r = store.keys, store.redis
    token = f"{wid}:{secrets.token_hex(4)}"
    if not r.set(k.prune_lock, token, ex=LOCK_SECONDS, nx=True):
        return []
    pruned: list[str] = []
    try:
        now = store.server_time()
        beats_read = {text(w): text(stamp) for w, stamp in r.hgetall(k.heartbeat).items()}
        me = registry.hostname()
        live: set[str] | None = None  # read once, when a worker of this host needs it
        looked = False
        still_silent = r.register_script(STILL_SILENT)
        spared = {str(pid) for pid in spare}
        for w in sorted(text(raw) for raw in r.smembers(k.workers)):
            if w == wid:
                continue
            stamp = beats_read.get(w)
            age = _age(stamp, now)
            if age is not None and age > beats.PRUNE_AFTER:
                error = f"Worker {w} did not gracefully exit while processing"
                why = (failure.PRUNE_DIRTY_EXIT, error)
            elif w.partition(":")[0] == me:
                if not looked:
                    live, looked = live_resque_pids(), True
                if live is None or _pid(w) in live or _pid(w) in spared:
                    continue  # alive here, its listener's to unregister, or /proc cannot tell
                why = (failure.DIRTY_EXIT, "Job still being processed")
            else:
                continue
            if not still_silent(keys=[k.workers, k.heartbeat], args=[w, stamp or ""]):
                continue  # it beat since we read, or another prune took it
            registry.unregister(store, w, *why, dead_job_hook=dead_job_hook)
            pruned.append(w)
        registry.requeue_abandoned_handovers(store)
    finally:
        r.register_script(RELEASE)(keys=[k.prune_lock], args=[token])
    for w in pruned:
        log.info("pruned dead worker %s", w)
    return pruned


def _pid(wid: str) -> str:
    return wid.split(":")[1] if ":" in wid else ""


def _age(stamp: str | None, now: float) -> float | None:
    """Seconds since a heartbeat (None: no heartbeat, or one nobody can read)."""
    t = times.parse_heartbeat(stamp) if stamp is not None else None
    return None if t is None else now - t
