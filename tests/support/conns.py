"""Which Redis connections a process holds: CLIENT LIST entries matched to its sockets in /proc."""

from __future__ import annotations

import os
from typing import Any

import redis


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def local_ports(inodes: set[str]) -> set[int]:
    """Local TCP ports of the sockets with these inodes (IPv4 and IPv6)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def connections_of(r: redis.Redis, pid: int) -> list[dict[str, Any]]:
    """The CLIENT LIST entries of the connections ``pid`` holds to this Redis server."""
    ports = local_ports(socket_inodes(pid))
    return [c for c in r.client_list() if int(str(c["addr"]).rsplit(":", 1)[1]) in ports]


def own_connections_of(r: redis.Redis, pid: int, parent: int) -> list[dict[str, Any]]:
    """Those of ``pid``'s connections its ``parent`` does not hold too (a forked worker
    inherits its listener's sockets: the same connection, counted once, for the listener)."""
    shared = local_ports(socket_inodes(parent))
    return [
        c for c in connections_of(r, pid) if int(str(c["addr"]).rsplit(":", 1)[1]) not in shared
    ]
