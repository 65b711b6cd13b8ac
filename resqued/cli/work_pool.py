"""``resqued work``'s environment from Resque's rake tasks and Action Verb's fork.

- ``COUNT=n`` (``rake resque:workers``) or ``WORKER_COUNT=n`` (Action Verb's
  ``rake resque:work``): ``n`` worker processes under a master, each on the
  queue list, replaced when it exits (after ``JOBS_PER_FORK`` jobs, say).
  Signals to that master reach every worker as Action Verb's master passes
  them: QUIT, TERM/INT, and USR1 (kill the current jobs), USR2/CONT (pause,
  resume).  ``BACKGROUND`` daemonizes the master; ``PIDFILE`` is its pidfile.
- Without them, one worker in this process: ``BACKGROUND`` detaches it
  (stdio to /dev/null, as Resque's ``Process.daemon(true)``; even when its
  parent is pid 1, as in a container), ``PIDFILE`` holds its pid (written
  after detaching, removed when it exits).
- Burst mode (``--burst``, ``INTERVAL=0``) with ``COUNT``: ``n`` workers side by
  side with no master, as ``rake resque:workers`` runs ``n`` ``rake
  resque:work``; each exits when the queues are empty, and so does the command.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resqued.config.compat import relay_names
from resqued.config.model import Config, Overrides
from resqued.config.values import count, queue_rule, switch
from resqued.errors import ResquedError


def count_from_env() -> int | None:
    """The worker processes ``COUNT`` or ``WORKER_COUNT`` ask for; None when neither is set."""
    given = {n: os.environ[n].strip() for n in ("COUNT", "WORKER_COUNT") if os.environ.get(n)}
    if not given:
        return None
    counts = {name: count(value, name, minimum=1) for name, value in given.items()}
    if len(set(counts.values())) > 1:
        raise ResquedError("COUNT and WORKER_COUNT disagree; set one of them")
    return next(iter(counts.values()))


def background() -> bool:
    """``BACKGROUND``: 1/true/yes/on daemonizes (0/false/no/off or unset: no)."""
    return switch(os.environ.get("BACKGROUND"), False, "BACKGROUND")


@dataclass
class WorkPool:
    workers: int
    queues: list[str]
    config: Config  # the worker settings `resqued work` built from its flags and environment
    requires: list[str] = field(default_factory=list)
    redis_url: str | None = None
    namespace: str | None = None
    level: int = logging.INFO
    argv: list[str] = field(default_factory=list)


def run_pool(pool: WorkPool) -> int:
    """A master running ``pool.workers`` workers on the queue list (see the module's docstring)."""
    from resqued.master.start import Launch, launch
    from resqued.process import proctitle, workdir

    proctitle.set_title(f"{proctitle.MANAGER_PREFIX} master starting")  # no longer a worker's
    c = pool.config
    values: dict[str, Any] = {
        "worker_processes": pool.workers,
        "queue_rules": [queue_rule(q) for q in pool.queues],
        "fork_per_job": c.fork_per_job,
        "interval": c.interval,
        "jobs_per_fork": c.jobs_per_fork,
        "threads": c.threads,
        "term_child": c.term_child,
        "term_timeout": c.term_timeout,
        "job_timeout": c.job_timeout,  # --job-timeout, --job-soft-timeout (guard rails)
        "job_soft_timeout": c.job_soft_timeout,
        "compat": {"relay_signals": relay_names(("USR1", "USR2", "CONT"))},
    }
    if pool.requires:
        values["requires"] = list(pool.requires)
    if pool.redis_url:
        values["redis_url"] = pool.redis_url
    if pool.namespace:
        values["namespace"] = pool.namespace
    cwd = workdir.logical_cwd(None)
    if os.environ.get("PIDFILE"):
        values["pidfile"] = os.path.normpath(os.path.join(cwd, os.environ["PIDFILE"]))
    overrides = Overrides(values, [], None)
    argv = ["work", *pool.argv]
    return launch(Launch(overrides, cwd, pool.level, argv, daemonize=background()))


def detach(store: Any) -> None:
    """``BACKGROUND`` for a single worker: detach (python-daemon), stdio on /dev/null."""
    import daemon as python_daemon  # type: ignore[import-untyped]

    store.redis.connection_pool.disconnect()  # no socket crosses the detach; it reconnects
    umask = os.umask(0)
    os.umask(umask)
    context = python_daemon.DaemonContext(
        working_directory=os.getcwd(),
        umask=umask,
        signal_map={},
        prevent_core=False,
        detach_process=True,  # python-daemon would not detach a child of pid 1 (containers)
    )
    context.open()


BURST_RELAYED = ("QUIT", "TERM", "INT", "USR1", "USR2", "CONT")


def run_burst(workers: int, store: Any, work_once: Callable[[], int]) -> int:
    """``workers`` burst workers, each a process of its own; the worst exit status."""
    from resqued.process import proctitle

    store.redis.connection_pool.disconnect()  # each child connects on its own
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = work_once()
            finally:
                os._exit(code)
        children.append(pid)
    proctitle.set_title(f"{proctitle.MANAGER_PREFIX} work: {workers} burst workers")

    def relay(signum: int, _frame: object) -> None:
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    for name in BURST_RELAYED:
        signal.signal(getattr(signal, "SIG" + name), relay)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    return max(code if code >= 0 else 128 - code for code in codes)


def claim_pidfile() -> str | None:
    """``PIDFILE`` for a single worker: this process's pid; the path, to remove at exit."""
    from resqued.master import pidfile

    path = os.environ.get("PIDFILE")
    if path:
        pidfile.write(path, force=True)
    return path
