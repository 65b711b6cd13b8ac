"""The master's handle on the scheduler process (the mover): start it, reap it, signal it.

Mechanics only, as ``listeners.py`` is for listeners; what the master does when
the mover exits or its settings change is in ``resqued.master.loop``
(``start_scheduler``, ``scheduler_exited``).  The mover is a child of the master
(fork+exec of ``python -m resqued.scheduler``), so a USR2 re-exec keeps it: the
new image adopts it by pid from ``MasterState.scheduler``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from resqued.config.view import MasterView
from resqued.errors import ConfigError
from resqued.master.state import MasterState, SchedulerRecord
from resqued.process import logs
from resqued.process.backoff import Backoff
from resqued.process.proc import signal_quietly
from resqued.scheduler import schedule
from resqued.scheduler.spec import SchedulerSpec

log = logging.getLogger("resqued")

HEALTHY_AFTER = 10.0  # a mover that ran this long resets the restart backoff


def schedule_error(spec: SchedulerSpec) -> str | None:
    """Why the schedule file a new spec names cannot be used (read, never run), or None."""
    try:
        schedule.check(spec)
    except ConfigError as exc:
        return str(exc)
    return None


class MoverProcess:
    """One mover process."""

    def __init__(self, spec: SchedulerSpec, env_doc: dict[str, Any], cwd: str) -> None:
        env = dict(os.environ)
        env["PWD"] = cwd
        env["RESQUED_SCHEDULER"] = json.dumps(env_doc)
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "resqued.scheduler"],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
        self.pid = self.process.pid
        self.spec = spec
        self.started = time.monotonic()

    @classmethod
    def adopt(cls, record: SchedulerRecord) -> MoverProcess:
        self = cls.__new__(cls)
        self.process = None
        self.pid = record.pid
        self.spec = record.spec
        self.started = time.monotonic()
        return self

    def __repr__(self) -> str:
        return f"scheduler (pid {self.pid})"

    def kill(self, sig: int) -> None:
        signal_quietly(self.pid, sig)


class Scheduler:
    """The current mover (at most one), its restart backoff, and movers that died."""

    def __init__(
        self, spawn: Callable[[SchedulerSpec, dict[str, Any], str], MoverProcess] = MoverProcess
    ):
        self.spawn = spawn  # starts a mover process (tests give a fake one)
        self.current: MoverProcess | None = None
        self.backoff = Backoff(1.0, 60.0)
        self.next_start_at = 0.0
        self.dead: list[int] = []  # movers of ours that died: the next one frees their lock
        self.replacing = False  # the current one was told to stop for new settings

    @property
    def empty(self) -> bool:
        return self.current is None

    def start(self, view: MasterView, log_level: int, cwd: str) -> MoverProcess:
        assert view.scheduler is not None
        stdout, stderr = logs.paths()
        doc = {
            "scheduler": view.scheduler.to_dict(),
            "redis_url": view.redis_url,
            "namespace": view.namespace,
            "master_pid": os.getpid(),
            "stdout_path": stdout,
            "stderr_path": stderr,
            "log_level": log_level,
            "dead_pids": self.dead[-16:],
        }
        self.current = self.spawn(view.scheduler, doc, cwd)
        self.dead.clear()
        self.replacing = False
        log.info("started %r", self.current)
        return self.current

    def reaped(self, pid: int) -> MoverProcess | None:
        """The mover ``pid`` exited; None if ``pid`` is not our mover."""
        mover = self.current
        if mover is None or mover.pid != pid:
            return None
        self.current = None
        self.dead.append(pid)
        return mover

    def signal(self, sig: int) -> None:
        if self.current:
            self.current.kill(sig)

    def save(self, state: MasterState) -> None:
        mover = self.current
        state.scheduler = SchedulerRecord(mover.pid, mover.spec) if mover else None

    def adopt(self, state: MasterState) -> None:
        if state.scheduler:
            self.current = MoverProcess.adopt(state.scheduler)
