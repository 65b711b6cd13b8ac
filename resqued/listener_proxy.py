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
        self.summary: dict[str, Any] = {}
        self.failure = ""  # the reason it gave for not starting
        self.stats: dict[str, Any] = {}  # its latest STATS report
        self.workers: dict[int, str] = {}  # pid -> queues, as reported
        self.held = 0  # its slots that will get a worker (HELD; all of them at RUNNING)
        self.held_told = 0  # the HELD we sent it: older listeners' slots
        self.exit_status: int | None = None

    @classmethod
    def adopt(cls, doc: dict[str, Any]) -> ListenerProxy:
        """A listener a previous master image started (USR2), from its saved state."""
        self = cls.__new__(cls)
        self.number = doc["number"]
        self.channel = ipc.Channel.from_fd(doc["fd"])
        self.process = None
        self.pid = doc["pid"]
        self.started = time.monotonic()
        self.ready = doc["ready"]
        self.total = doc["total"]
        self.summary = doc.get("summary") or {}
        self.failure = ""
        self.stats = doc.get("stats") or {}
        self.workers = {int(pid): queues for pid, queues in doc["workers"].items()}
        self.held = doc.get("held", 0)  # an older image's listener never reports HELD
        self.held_told = doc.get("held_told", 0)
        self.exit_status = None
        return self

    def saved(self) -> dict[str, Any]:
        """What a new master image needs to adopt this listener."""
        return {
            "number": self.number,
            "fd": self.channel.fileno(),
            "pid": self.pid,
            "ready": self.ready,
            "total": self.total,
            "summary": self.summary,
            "stats": self.stats,
            "workers": self.workers,
            "held": self.held,
            "held_told": self.held_told,
        }

    def __repr__(self) -> str:
        return f"listener #{self.number} (pid {self.pid})"

    @property
    def running(self) -> bool:
        return self.exit_status is None

    def read(self) -> list[ipc.Message]:
        """Apply the listener's reports to our view; return them for the master to act on."""
        messages = self.channel.messages()
        for message in messages:
            match message:
                case ipc.Running(total, summary):
                    self.ready = True
                    self.total = total
                    self.held = total
                    self.summary = summary
                case ipc.Failed(reason):
                    self.failure = reason
                case ipc.Stats(doc):
                    self.stats = doc
                case ipc.WorkerStarted(pid, queues):
                    self.workers[pid] = queues
                case ipc.WorkerExited(pid):
                    self.workers.pop(pid, None)
                case ipc.Held(slots):
                    self.held = slots
                case _:
                    log.warning("%r sent an unexpected message: %r", self, message)
        return messages

    def send(self, message: ipc.Message) -> None:
        self.channel.send(message)

    def kill(self, sig: int) -> None:
        if self.running:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def reaped(self, status: int) -> None:
        self.exit_status = status
        self.read()
        self.channel.close()
