"""The master's handle on one listener process: spawn it, read its reports, signal it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

from resqued import ipc
from resqued.config.view import MasterView
from resqued.master.state import ListenerRecord
from resqued.process.proc import signal_quietly

log = logging.getLogger("resqued")


class ListenerProxy:
    def __init__(self, number: int, spec: dict[str, Any], cwd: str) -> None:
        self.number = number
        self.channel, theirs = ipc.pair()
        env = dict(os.environ)
        env["PWD"] = cwd
        env["RESQUED_LISTENER"] = json.dumps({**spec, "number": number, "fd": theirs.fileno()})
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "resqued.listener"],
            pass_fds=(theirs.fileno(),),
            env=env,
            cwd=cwd,  # chdir through the operator's path: a switched symlink is followed
            stdin=subprocess.DEVNULL,
            process_group=0 if spec.get("process_group") else None,  # resque-pool's default
        )
        theirs.close()
        self.pid = self.process.pid
        self.started = time.monotonic()
        self.ready = False
        self.total = 0
        self.view: MasterView | None = None  # the config it runs, from its RUNNING
        self.failure = ""  # the reason it gave for not starting
        self.stats: dict[str, Any] = {}  # its latest STATS report
        self.workers: dict[int, str] = {}  # pid -> queues, as reported
        self.left: dict[int, str] = {}  # pid -> queues of the workers gone in the last read
        self.held = 0  # its slots that will get a worker (HELD; all of them at RUNNING)
        self.held_told = 0  # the HELD we sent it: older listeners' slots
        self.rolls = True  # it understands RETIRE (started by this image)
        self.rolling = False  # retired one worker at a time (RETIRE sent), not yet QUIT
        self.asked: set[int] = set()  # its workers we told it to stop (RETIRE <pid>)
        self.exit_status: int | None = None

    @classmethod
    def adopt(cls, record: ListenerRecord) -> ListenerProxy:
        """A listener a previous master image started (USR2), from its saved state."""
        self = cls.__new__(cls)
        self.number = record.number
        self.channel = ipc.Channel.from_fd(record.fd)
        self.process = None
        self.pid = record.pid
        self.started = time.monotonic()
        self.ready = record.ready
        self.total = record.total
        self.view = record.view
        self.failure = ""
        self.stats = dict(record.stats)
        self.workers = dict(record.workers)
        self.left = {}
        self.held = record.held  # an older image's listener never reports HELD
        self.held_told = record.held_told
        self.rolls = record.rolls  # a listener an older image started: QUIT, as it knows
        self.rolling = False  # a rolling hand-over falls back to QUIT before the exec
        self.asked = set()
        self.exit_status = None
        return self

    def saved(self) -> ListenerRecord:
        """What a new master image needs to adopt this listener."""
        return ListenerRecord(
            number=self.number,
            fd=self.channel.fileno(),
            pid=self.pid,
            ready=self.ready,
            total=self.total,
            view=self.view,
            stats=self.stats,
            workers=dict(self.workers),
            held=self.held,
            held_told=self.held_told,
            rolls=self.rolls,
        )

    def __repr__(self) -> str:
        return f"listener #{self.number} (pid {self.pid})"

    @property
    def running(self) -> bool:
        return self.exit_status is None

    @property
    def starting(self) -> bool:
        """Its last STATS showed a worker not registered yet."""
        workers = self.stats.get("workers")
        return isinstance(workers, dict) and bool(workers.get("starting"))

    def read(self) -> list[ipc.Message]:
        """Apply the listener's reports to our view; return them for the master to act on."""
        messages = self.channel.messages()
        self.left = {}
        for message in messages:
            match message:
                case ipc.Running(total, view):
                    self.ready = True
                    self.total = total
                    self.held = total
                    self.view = view
                case ipc.Failed(reason):
                    self.failure = reason
                case ipc.Stats(doc):
                    self.stats = doc
                case ipc.WorkerStarted(pid, queues):
                    self.workers[pid] = queues
                case ipc.WorkerExited(pid):
                    self.left[pid] = self.workers.pop(pid, "")
                case ipc.Held(slots):
                    self.held = slots
                case ipc.Next():
                    pass  # the master acts on it (the rolling hand-over)
                case _:
                    log.warning("%r sent an unexpected message: %r", self, message)
        return messages

    def send(self, message: ipc.Message) -> None:
        self.channel.send(message)

    def kill(self, sig: int) -> None:
        if self.running:
            signal_quietly(self.pid, sig)

    def reaped(self, status: int) -> None:
        self.exit_status = status
        self.read()
        self.channel.close()
