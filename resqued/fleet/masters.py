"""Where resqued masters register themselves in Redis, and reading them back.

``<ns>:resqued:masters`` is a SET of master ids (``host:pid``); each live master
keeps ``<ns>:resqued:master:<host>:<pid>``, a JSON STRING with an expiry of 30 s
that it refreshes every 5 s.  An id whose key has expired is a dead master:
readers skip it and remove it from the set.
"""

from __future__ import annotations

from resqued.fleet.model import Master
from resqued.fleet.parse import master_document, text
from resqued.resque.keys import Keys
from resqued.resque.store import Store

TTL = 30  # seconds a registration lives without a refresh
REFRESH = 5  # seconds between a master's refreshes
BATCH = 256  # masters read by one MGET (registration and pause key each)

# KEYS: the masters set, the master's registration.  ARGV: its id.
_FORGET = """
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.call('SREM', KEYS[1], ARGV[1]) end
return 0
"""


def masters_key(keys: Keys) -> str:
    return f"{keys.prefix}resqued:masters"


def master_key(keys: Keys, master_id: str) -> str:
    return f"{keys.prefix}resqued:master:{master_id}"


def read_masters(store: Store, forget_dead: bool = True) -> list[Master]:
    """Every live master, by host then pid; with ``forget_dead``, SREM the dead ones."""
    r, k = store.redis, store.keys
    ids = sorted(text(m) for m in r.smembers(masters_key(k)))
    pipe = r.pipeline(transaction=False)
    for i in range(0, len(ids), BATCH):
        pipe.mget(
            [key for mid in ids[i : i + BATCH] for key in (master_key(k, mid), k.master_pause(mid))]
        )
    replies = [value for batch in pipe.execute() for value in batch] if ids else []
    masters, dead = [], []
    for i, mid in enumerate(ids):
        raw, paused = replies[2 * i], replies[2 * i + 1] is not None
        if raw is None:
            dead.append(mid)
            continue
        master = master_document(mid, raw, bool(paused))
        if master is not None:
            masters.append(master)
    if dead and forget_dead:
        _forget(store, dead)
    return sorted(masters, key=lambda m: (m.host, m.pid))


def _forget(store: Store, dead: list[str]) -> None:
    """SREM ids whose registration is gone; one that came back meanwhile is left alone."""
    k = store.keys
    forget = store.redis.register_script(_FORGET)
    for mid in dead:
        forget(keys=[masters_key(k), master_key(k, mid)], args=[mid])
