"""The master <-> listener line protocol, over a socketpair (see docs/ipc.md).

listener -> master::

    RUNNING <total>          preloaded, forking workers; <total> workers configured
    +<pid>,<queues>          a worker started
    -<pid>                   a worker exited

master -> listener::

    +<pid>,<queues>          an older listener's worker is still running (counts toward the total)
    -<pid>                   that older worker has exited
    COUNT <n>                run <n> pool workers from now on (TTIN / TTOU)
"""

from __future__ import annotations

import os
import socket


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

    def send(self, line: str) -> bool:
        """Write one line; False when the other end is gone."""
        if self.closed:
            return False
        data = (line + "\n").encode()
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

    def close(self) -> None:
        self.closed = True
        self.sock.close()


def pair() -> tuple[Channel, socket.socket]:
    """The master's Channel, and the listener's socket (inheritable, for exec)."""
    mine, theirs = socket.socketpair()
    os.set_inheritable(theirs.fileno(), True)
    return Channel(mine), theirs


def worker_started(pid: int, queues: str) -> str:
    return f"+{pid},{queues}"


def worker_exited(pid: int) -> str:
    return f"-{pid}"


def parse_worker(line: str) -> tuple[int, str]:
    """``+pid,queues`` or ``-pid`` -> (pid, queues)."""
    pid, _, queues = line[1:].partition(",")
    return int(pid), queues
