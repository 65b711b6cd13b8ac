"""The master <-> listener line protocol over a socketpair: every message, both ways, typed.

listener -> master::

    RUNNING <total> [<view JSON>]      preloaded, forking workers; <total> configured;
                                       the config it runs (config/view.py's MasterView)
    FAILED <reason>                    cannot start (config, app, Redis); exits next
    STATS <JSON>                       its workers' cumulative job statistics and states
    +<pid>,<queues>                    a worker started
    -<pid>[ <reason>]                  a worker exited (reason: why it was replaced)
    HELD <n>                           <n> of its slots have no worker now and will get
                                       one (0 once it is stopping)
    NEXT                               its workers are up and it has no free slot: retire
                                       one more older worker (a rolling hand-over)

master -> listener::

    +<pid>,<queues>                    an older listener's worker is still running
    -<pid>                             that older worker has exited: its slot is free
    HELD <n>                           older listeners will start workers in <n> slots:
                                       count them as running
    COUNT <n>                          run <n> pool workers from now on (TTIN / TTOU)
    SIGNAL <name>                      send USR1, USR2 or CONT to your workers (the
                                       master relays it: resque-pool and the like)
    SIGNAL <name> <pid>                send it to that one worker, if it is yours (the
                                       dashboard's "stop this job")
    RETIRE                             you are retired: start no more workers, stop none
                                       yet, exit once the last one has (a rolling hand-over)
    RETIRE <pid>                       stop (QUIT) your worker <pid>: its replacement
                                       can start

``encode`` turns a message into its line; ``decode`` turns a line back into a
message, or raises :class:`Malformed`.  Readers log and drop what they cannot
decode (see ``Channel.messages``), so a stray line never stops a process.  Old
and new images of the master talk to each other across a USR2 re-exec: decoding
accepts every older form of a message (``RUNNING`` without a view, or with the
partial view of earlier releases, ``-<pid>`` without a reason).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from resqued.config.view import MasterView

log = logging.getLogger("resqued")


class Malformed(ValueError):
    """A line that is not a message of this protocol."""


@dataclass(frozen=True)
class Running:
    """listener -> master: ready; ``view`` is what the master keeps of the config it runs."""

    total: int
    view: MasterView | None = None


@dataclass(frozen=True)
class Failed:
    """listener -> master: it cannot start, and why (one line)."""

    reason: str


@dataclass(frozen=True)
class Stats:
    """listener -> master: cumulative job statistics of its workers, and their states now.

    ``doc``: ``{"jobs": [[queue, class, processed, failed, seconds, *bucket counts]],
    "workers": {state: count}}`` (see resqued/scoreboard.py for the buckets).
    """

    doc: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerStarted:
    """listener -> master (its worker), or master -> listener (an older listener's worker)."""

    pid: int
    queues: str


@dataclass(frozen=True)
class WorkerExited:
    """listener -> master (its worker, and why), or master -> listener (an older worker)."""

    pid: int
    reason: str = ""


@dataclass(frozen=True)
class Held:
    """Slots without a worker that will get one: listener -> master, its own (0 once it
    is stopping); master -> listener, the sum of the older listeners' (count them)."""

    slots: int


@dataclass(frozen=True)
class Count:
    """master -> listener: the pool size after TTIN / TTOU."""

    workers: int


@dataclass(frozen=True)
class Relay:
    """master -> listener: send this signal (USR1, USR2 or CONT) to your workers, or to the
    one worker ``pid`` when it is one of yours."""

    signal: str
    pid: int = 0


@dataclass(frozen=True)
class Next:
    """listener -> master: its workers are up and no slot is free; retire one more older
    worker (the rolling hand-over of a reload, docs/processes.md)."""


@dataclass(frozen=True)
class Retire:
    """master -> an older listener: ``pid`` 0, retire one worker at a time from now on (start
    none, stop none until told, exit after the last); else stop (QUIT) worker ``pid``."""

    pid: int = 0


RELAYED = ("USR1", "USR2", "CONT")

Message = (
    Running | Failed | Stats | WorkerStarted | WorkerExited | Held | Count | Relay | Next | Retire
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def encode(message: Message) -> str:
    match message:
        case Running(total, view):
            tail = " " + json.dumps(view.to_dict(), separators=(",", ":")) if view else ""
            return f"RUNNING {total}{tail}"
        case Failed(reason):
            return f"FAILED {_one_line(reason)}"
        case Stats(doc):
            return "STATS " + json.dumps(doc, separators=(",", ":"))
        case WorkerStarted(pid, queues):
            return f"+{pid},{queues}"
        case WorkerExited(pid, reason):
            return f"-{pid} {_one_line(reason)}" if reason else f"-{pid}"
        case Held(slots):
            return f"HELD {slots}"
        case Count(workers):
            return f"COUNT {workers}"
        case Relay(name, pid):
            return f"SIGNAL {name} {pid}" if pid else f"SIGNAL {name}"
        case Next():
            return "NEXT"
        case Retire(pid):
            return f"RETIRE {pid}" if pid else "RETIRE"
    raise TypeError(f"not a message: {message!r}")


def _pid(text: str, line: str) -> int:
    if not text.isdigit() or int(text) <= 1:
        raise Malformed(f"bad pid in {line!r}")
    return int(text)


def decode(line: str) -> Message:
    """The message a line holds; Malformed when it holds none."""
    if line.startswith("+"):
        pid, sep, queues = line[1:].partition(",")
        if not sep or not queues:
            raise Malformed(f"worker line without queues: {line!r}")
        return WorkerStarted(_pid(pid, line), queues)
    if line.startswith("-"):
        pid, _, reason = line[1:].partition(" ")
        return WorkerExited(_pid(pid, line), reason)
    word, _, rest = line.partition(" ")
    if word == "RUNNING":
        total, _, text = rest.partition(" ")
        if not total.isdigit():
            raise Malformed(f"RUNNING without a worker count: {line!r}")
        view = None
        if text:
            try:
                doc = json.loads(text)
            except ValueError:
                raise Malformed(f"RUNNING with an unreadable view: {line[:200]!r}") from None
            if not isinstance(doc, dict):
                raise Malformed(f"RUNNING view is not an object: {line[:200]!r}")
            try:
                view = MasterView.from_dict(doc) if doc else None
            except (TypeError, ValueError) as exc:
                raise Malformed(f"RUNNING with a bad view ({exc}): {line[:200]!r}") from None
        return Running(int(total), view)
    if word == "FAILED":
        return Failed(rest or "no reason given")
    if word == "STATS":
        try:
            stats = json.loads(rest)
        except ValueError:
            raise Malformed(f"STATS with unreadable JSON: {line[:200]!r}") from None
        if not isinstance(stats, dict):
            raise Malformed(f"STATS is not an object: {line[:200]!r}")
        return Stats(stats)
    if word == "SIGNAL":
        name, _, pid = rest.partition(" ")
        if name not in RELAYED:
            raise Malformed(f"SIGNAL names no signal a worker may be sent: {line!r}")
        return Relay(name, _pid(pid, line) if pid else 0)
    if word == "HELD":
        if not rest.isdigit():
            raise Malformed(f"HELD without a number: {line!r}")
        return Held(int(rest))
    if word == "NEXT" and not rest:
        return Next()
    if word == "RETIRE":
        return Retire(_pid(rest, line) if rest else 0)
    if word == "COUNT":
        if not rest.isdigit():
            raise Malformed(f"COUNT without a number: {line!r}")
        return Count(int(rest))
    raise Malformed(f"unknown message: {line[:200]!r}")


class Channel:
    """One end of the socketpair: buffered line reads, whole-line writes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self._buf = b""
        self.closed = False

    @classmethod
    def from_fd(cls, fd: int) -> Channel:
        return cls(socket.socket(fileno=fd))

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: Message) -> bool:
        """Write one message; False when the other end is gone."""
        if self.closed:
            return False
        data = (encode(message) + "\n").encode()
        try:
            self.sock.setblocking(True)
            self.sock.sendall(data)
        except OSError:
            self.closed = True
            return False
        finally:
            if not self.closed:
                self.sock.setblocking(False)
        return True

    def read_lines(self) -> list[str]:
        """Every complete line available now. Sets ``closed`` at EOF."""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                break
            self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        return [line.decode(errors="replace") for line in lines if line]

    def messages(self) -> list[Message]:
        """Every complete message available now; malformed lines are logged and dropped."""
        out: list[Message] = []
        for line in self.read_lines():
            try:
                out.append(decode(line))
            except Malformed as exc:
                log.warning("ignoring a line on the master/listener channel: %s", exc)
        return out

    def close(self) -> None:
        self.closed = True
        self.sock.close()


def pair() -> tuple[Channel, socket.socket]:
    """The master's Channel, and the listener's socket (inheritable, for exec)."""
    mine, theirs = socket.socketpair()
    os.set_inheritable(theirs.fileno(), True)
    return Channel(mine), theirs
