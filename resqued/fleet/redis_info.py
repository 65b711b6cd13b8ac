"""The Redis server as an operator looks at it: server, version, memory, clients, keyspace,
slow log, and the keys under the namespace with their sizes.  Read only.

The keys are read a page at a time with SCAN of the namespace's prefix, going on
from the cursor the last page stopped at: a page costs at most ``SCAN_CALLS``
SCANs and three commands a key it shows, whatever the number of keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from resqued.fleet.parse import text
from resqued.resque.store import Store

SCAN_CALLS = 20  # SCANs a page makes at most
SLOWLOG = 10  # entries shown
INFO_FIELDS = {  # INFO section -> the fields shown
    "server": "redis_version valkey_version redis_mode os uptime_in_seconds tcp_port".split(),
    "memory": (
        "used_memory_human used_memory_peak_human maxmemory_human maxmemory_policy "
        "mem_fragmentation_ratio"
    ).split(),
    "clients": "connected_clients blocked_clients maxclients".split(),
    "stats": (
        "total_commands_processed instantaneous_ops_per_sec keyspace_hits keyspace_misses "
        "evicted_keys rejected_connections"
    ).split(),
    "persistence": "rdb_last_save_time rdb_last_bgsave_status aof_enabled".split(),
    "replication": "role connected_slaves".split(),
}
LENGTH = {
    "list": "llen",
    "set": "scard",
    "zset": "zcard",
    "hash": "hlen",
    "string": "strlen",
    "stream": "xlen",
}


@dataclass(frozen=True)
class Key:
    name: str
    type: str
    length: int | None  # items (list, set, zset, hash, stream) or bytes (string)
    memory: int | None  # MEMORY USAGE, bytes (None when not allowed)
    ttl: int  # seconds; -1 none


@dataclass
class ServerView:
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    keyspace: dict[str, Any] = field(default_factory=dict)
    slowlog: list[dict[str, Any]] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)  # what this user may not read


def server_view(store: Store) -> ServerView:
    """INFO and SLOWLOG GET, each allowed or not (an ACL user may lack them)."""
    view = ServerView()
    r = store.redis
    try:
        info = r.info()
    except redis.ResponseError as exc:
        view.denied.append(f"INFO ({text(str(exc))[:80]})")
        info = {}
    for section, names in INFO_FIELDS.items():
        view.sections[section] = {n: info[n] for n in names if n in info}
    view.keyspace = {k: v for k, v in info.items() if k.startswith("db") and isinstance(v, dict)}
    try:
        view.slowlog = [
            {
                "id": e.get("id"),
                "start_time": e.get("start_time"),
                "duration": e.get("duration"),
                "command": text(e.get("command"))[:300],
                "client": text(e.get("client_address")),
            }
            for e in r.slowlog_get(SLOWLOG)
        ]
    except redis.ResponseError as exc:
        view.denied.append(f"SLOWLOG ({text(str(exc))[:80]})")
    return view


def glob_escape(prefix: str) -> str:
    """``prefix`` as a SCAN MATCH pattern matching itself only."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix)


@dataclass(frozen=True)
class KeysPage:
    keys: list[Key]
    cursor: int  # where the next page starts; 0: this was the last
    prefix: str


def namespace_keys(store: Store, cursor: int, count: int) -> KeysPage:
    """Up to about ``count`` keys under the namespace, from ``cursor``, with their sizes."""
    r, prefix = store.redis, store.keys.prefix
    names: list[str] = []
    calls = 0
    while calls < SCAN_CALLS and len(names) < count:
        cursor, batch = r.scan(cursor, match=glob_escape(prefix) + "*", count=count)
        names += [n for n in (text(k) for k in batch) if n not in names]
        calls += 1
        if cursor == 0:
            break
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.type(name)
        pipe.pttl(name)
    kinds = pipe.execute() if names else []
    pipe = r.pipeline(transaction=False)
    for i, name in enumerate(names):
        kind = text(kinds[2 * i])
        getattr(pipe, LENGTH[kind])(name) if kind in LENGTH else pipe.exists(name)
        pipe.memory_usage(name)
    sizes = pipe.execute(raise_on_error=False) if names else []
    keys = []
    for i, name in enumerate(names):
        kind, pttl = text(kinds[2 * i]), kinds[2 * i + 1]
        length, memory = sizes[2 * i], sizes[2 * i + 1]
        keys.append(
            Key(
                name=name,
                type=kind,
                length=length if kind in LENGTH and isinstance(length, int) else None,
                memory=memory if isinstance(memory, int) else None,
                ttl=pttl // 1000 if isinstance(pttl, int) and pttl > 0 else -1,
            )
        )
    keys.sort(key=lambda k: k.name)
    return KeysPage(keys, int(cursor), prefix)
