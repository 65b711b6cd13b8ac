"""The one hook runner: every user hook runs through ``run``, under one policy table.

Each kind of hook has a policy, decided here and documented in
docs/configuration.md ("Hooks: when, where, and what a failure does"):

- ``RAISE``: the hook's exception propagates, and the step it belongs to fails:
  the job (``before_fork``/``after_fork`` of a job), the worker's start
  (``before_first_fork``, the config's ``after_fork``, ``worker_factory``), the
  re-exec (``before_exec``, run in the preflight process), the enqueue.
- ``LOG``: the exception is logged on one line, naming the hook, and ignored.

A kind with a deadline runs under ``signal.setitimer`` in the main thread: past
it, :class:`HookTimeout` is raised inside the hook, and the policy applies.
The master itself never runs a hook: they run in the listener, the workers,
job processes, producers, or the short-lived preflight process.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from resqued.job_hooks import job_hooks

log = logging.getLogger("resqued")


class Policy(enum.Enum):
    RAISE = "raise"
    LOG = "log"


class HookTimeout(Exception):
    """A hook ran past its deadline."""


# Resque's worker hooks, registered with @resqued.worker_hook(kind).
WORKER_HOOK_KINDS = (
    "before_first_fork",
    "before_fork",
    "after_fork",
    "queue_empty",
    "before_pause",
    "after_pause",
    "shutdown",
    "worker_exit",
)

POLICY: dict[str, Policy] = {
    # Resque worker hooks (in the worker, or the job child for after_fork)
    "before_first_fork": Policy.RAISE,  # the worker logs one line and exits with status 1
    "before_fork": Policy.RAISE,  # the job fails (on_failure runs); the worker goes on
    "after_fork": Policy.RAISE,  # in the job child: the job fails, as if perform raised
    "queue_empty": Policy.LOG,
    "before_pause": Policy.LOG,
    "after_pause": Policy.LOG,
    "shutdown": Policy.LOG,
    "worker_exit": Policy.LOG,
    # Resque job hooks outside perform
    "on_failure": Policy.LOG,
    "before_enqueue": Policy.RAISE,  # the producer's call raises, as in Resque
    "after_enqueue": Policy.RAISE,
    "before_dequeue": Policy.RAISE,
    "after_dequeue": Policy.RAISE,
    # Config-file hooks
    "config.before_fork": Policy.LOG,  # in the listener: logged, the worker starts anyway
    "config.after_fork": Policy.RAISE,  # in the new worker: it exits, and is restarted
    "config.after_exit": Policy.LOG,  # in the listener
    "config.before_exec": Policy.RAISE,  # in the preflight process: the re-exec is cancelled
    "config.config_loader": Policy.LOG,  # in the listener: the last table is kept
    "config.worker_factory": Policy.RAISE,  # in the new worker: it exits, and is restarted
    "config.setup": Policy.RAISE,  # where the config is evaluated: the config fails to load
    "config.after_spawn": Policy.LOG,  # in the listener, after a worker was forked
    "config.teardown": Policy.LOG,  # in the listener on its way out, after its workers
}

# Seconds a hook may run where the process running it must not hang.
DEADLINE: dict[str, float] = {
    "config.before_fork": 30.0,
    "config.after_exit": 10.0,
    "config.config_loader": 10.0,
    "config.before_exec": 60.0,
    "config.after_spawn": 10.0,
    "config.teardown": 5.0,  # the config's terminate() (Resque::Forker's) replaces it
}


# What a LOG-policy failure leaves behind, said in the log line.
AFTERWARDS: dict[str, str] = {
    "config.config_loader": "keeping the current workers",
    "config.before_fork": "starting the worker anyway",
}


def describe(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


@contextlib.contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Raise HookTimeout inside the block after ``seconds`` (main thread only; else no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise HookTimeout(f"{what} still running after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call(kind: str, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
    """Run one hook under its kind's policy and deadline (``timeout`` replaces the deadline);
    its result, or None if it failed."""
    policy = POLICY[kind]
    name = f"{kind.removeprefix('config.')} hook {describe(fn)}"
    try:
        with deadline(timeout or DEADLINE.get(kind), name):
            return fn(*args)
    except Exception as exc:
        if policy is Policy.RAISE:
            raise
        after = AFTERWARDS.get(kind, "ignored")
        log.error("%s failed: %s: %s (%s)", name, type(exc).__name__, exc, after)
        return None


def run(
    kind: str, fns: Iterable[Callable[..., Any]], *args: Any, timeout: float | None = None
) -> None:
    """Run hooks of one kind in order, under that kind's policy and deadline."""
    for fn in fns:
        call(kind, fn, *args, timeout=timeout)


def on_failure(cls: type | None, exc: BaseException, args: list[Any]) -> None:
    """A job class's on_failure hooks; one that raises is logged and the others still run."""
    if cls is not None:
        run("on_failure", job_hooks(cls, "on_failure"), exc, *args)


_worker_hooks: dict[str, list[Callable[..., Any]]] = {k: [] for k in WORKER_HOOK_KINDS}


def worker_hook(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@resqued.worker_hook("after_fork")``."""
    if kind not in _worker_hooks:
        raise ValueError(f"unknown worker hook {kind!r}; one of {', '.join(WORKER_HOOK_KINDS)}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _worker_hooks[kind].append(fn)
        return fn

    return register


def has_worker_hooks(kind: str) -> bool:
    return bool(_worker_hooks[kind])


def run_worker_hooks(kind: str, *args: Any) -> None:
    """Resque's worker hooks of one kind (``@resqued.worker_hook``), under their policy."""
    run(kind, _worker_hooks[kind], *args)
