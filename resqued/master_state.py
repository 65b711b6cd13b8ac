"""What the master's helpers read and change on it, as a protocol (no import of the master).

``listener_events``, ``master_status``, ``upgrade`` and ``metrics`` are parts of
the master kept in modules of their own; they work on this view of it, so the
master imports them and none of them imports the master.
"""

from __future__ import annotations

import collections
from typing import Any, Protocol

from resqued.job_stats import JobStats
from resqued.listener_pool import ListenerPool
from resqued.log_rotation import Rotation
from resqued.master_registry import Registration


class MasterState(Protocol):
    pid: int
    argv: list[str]
    cwd: str
    view: dict[str, Any]  # the running config, as plain data
    pool: ListenerPool
    pool_delta: int  # TTIN / TTOU
    stopping: str | None  # "QUIT" or "TERM"
    workers_stopped: bool  # WINCH
    ever_ready: bool
    ready_notified: bool  # systemd got READY=1 (at start: once the workers registered)
    failure: str  # why the last listener could not start
    exit_code: int
    replace_pid: int  # --hot-swap
    started_at: float
    last_reload: dict[str, Any] | None
    replacements: collections.Counter[str]
    reloads: collections.Counter[str]
    job_stats: JobStats
    registration: Registration | None
    others_killed: bool  # resque-pool's --kill-others, done once
    rotation: Rotation | None  # resque_starter's log rotation

    @property
    def host(self) -> str: ...

    def describe(self) -> str: ...

    def status_text(self) -> str: ...

    def reopen_logs(self) -> None: ...
