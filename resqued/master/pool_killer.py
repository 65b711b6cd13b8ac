"""resque-pool's ``--kill-others``: once our workers run, ask every other pool manager to stop.

Only processes that are verifiably resque-pool managers are signalled: a master
started by our ``resque-pool`` command (a resqued master's title carrying the
``resque-pool[<app>]`` tag right after its worker count), or a Ruby resque-pool
manager (a title starting ``resque-pool-master``, the test Ruby's own
``--kill-others`` uses).  Each gets INT, resque-pool's graceful shutdown (its
workers finish their jobs; the manager exits), through a pidfd opened before
the title is checked again, so a pid reused in between is never reached.
Nothing else is ever signalled: not a plain ``resqued`` master, not a pid <= 1.
"""

from __future__ import annotations

import logging
import os
import re
import signal

from resqued.process.proc import ProcessHandle, cmdline

log = logging.getLogger("resqued")

RUBY_TITLE = "resque-pool-master"
OUR_TITLE = re.compile(
    r"resqued-\S+ master (?:starting|\[gen \d+\] \[\d+ workers?\]"
    r"(?: stopping| \[listener failing\])?) resque-pool\[[^\]]*\](?: |$)"
)


def is_pool_manager(cmd: list[str]) -> bool:
    """True if a process with this command line (its title) is a resque-pool manager."""
    title = " ".join(cmd)
    return title.startswith(RUBY_TITLE) or OUR_TITLE.match(title) is not None


def candidates(me: int) -> list[int]:
    """Pids of the other resque-pool managers this process can see."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) > 1 and int(entry) != me:
            if is_pool_manager(cmdline(int(entry))):
                found.append(int(entry))
    return sorted(found)


def kill_others(me: int) -> list[int]:
    """INT to every other resque-pool manager, each checked again through its pidfd."""
    signalled = []
    for pid in candidates(me):
        handle = ProcessHandle.open(pid)
        if handle is None:
            continue
        with handle:
            if is_pool_manager(cmdline(pid)) and handle.signal(signal.SIGINT):
                log.info("kill-others: asked pool %d to stop (INT)", pid)
                signalled.append(pid)
    return signalled
