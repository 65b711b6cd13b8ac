"""The master's handle on one listener process: spawn it, read its reports, signal it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

from resqued import ipc
from resqued.proc import alive

log = logging.getLogger("resqued")


class ListenerProxy:
    def __init__(self, number: int, spec: dict) -> None:
        self.number = number
        self.channel, theirs = ipc.pair()
        env = dict(os.environ)
        env["RESQUED_LISTENER"] = json.dumps({**spec, "number": number, "fd": theirs.fileno()})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "resqued.listener"],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.pid = self.process.pid
        self.started = time.monotonic()
        self.ready = False
        self.total = 0
        self.workers: dict[int, str] = {}  # pid -> queues, as reported
        self.exit_status: int | None = None

    @classmethod
    def adopt(cls, doc: dict) -> ListenerProxy:
        """A listener a previous master image started (USR2), from its saved state."""
        self = cls.__new__(cls)
        self.number = doc["number"]
        self.channel = ipc.Channel.from_fd(doc["fd"])
        self.process = None
        self.pid = doc["pid"]
        self.started = time.monotonic()
        self.ready = doc["ready"]
        self.total = doc["total"]
        self.workers = {int(pid): queues for pid, queues in doc["workers"].items()}
        self.exit_status = None
        return self

    def saved(self) -> dict:
        """What a new master image needs to adopt this listener."""
        return {
            "number": self.number,
            "fd": self.channel.fileno(),
            "pid": self.pid,
            "ready": self.ready,
            "total": self.total,
            "workers": self.workers,
        }

    def __repr__(self) -> str:
        return f"listener #{self.number} (pid {self.pid})"

    @property
    def running(self) -> bool:
        return self.exit_status is None

    def read(self) -> list[str]:
        """Apply the listener's reports to our view; return them for the master to act on."""
        lines = self.channel.read_lines()
        for line in lines:
            if line.startswith("RUNNING"):
                self.ready = True
                self.total = int(line.split()[1])
            elif line.startswith("+"):
                pid, queues = ipc.parse_worker(line)
                self.workers[pid] = queues
            elif line.startswith("-"):
                self.workers.pop(ipc.parse_worker(line)[0], None)
        return lines

    def send(self, line: str) -> None:
        self.channel.send(line)

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

    def forget_dead_workers(self) -> list[int]:
        """After the listener is gone its workers are nobody's children: poll them."""
        gone = [pid for pid in self.workers if not alive(pid)]
        for pid in gone:
            del self.workers[pid]
        return gone
