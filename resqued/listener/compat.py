"""What a listener does for the tools resqued replaces (docs/migrating/).

- the config's ``before_fork``/``after_fork`` hooks, with resque_starter's
  ``(starter, worker, worker_nr)`` for hooks that take them;
- resque-pool's ``after_spawn`` and Resque::Forker's ``teardown`` hooks;
- resque_starter's status file and its queues from the job classes;
- resque-pool's spawn delay and ``config_loader.reset()`` on a HUP;
- ``verbose``/``logger`` and ``log_level`` for the listener and its workers;
- the shared lock file and ``user()`` at boot.

The loop and boot call one function here for each of these; everything else
about them is in this module.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from resqued import hooks
from resqued.config import Config
from resqued.config.allocation import worker_table
from resqued.config.compat import LOG_LEVELS
from resqued.config.compat_queues import default_queues
from resqued.config.forker import Forker
from resqued.listener import slots as slotting
from resqued.listener.slots import Slot
from resqued.process import lockfile, privileges
from resqued.process.files import write_atomically
from resqued.process.proc import signal_name
from resqued.resque import registry


class ListenerView(Protocol):
    """What these compat duties read and change on the listener (no import of its loop)."""

    config: Config
    slots: list[Slot]
    workers: dict[int, Slot]
    master_pid: int
    stopping: str | None


log = logging.getLogger("resqued")


@dataclass
class Starter:
    """What resque_starter's hooks receive as ``starter``."""

    logger: logging.Logger
    num_workers: int  # the workers configured
    old_workers: dict[int, int] = field(default_factory=dict)  # pid -> worker_nr, running now
    master_pid: int = 0


@dataclass(frozen=True)
class PendingWorker:
    """The worker about to be forked, as ``before_fork`` sees it (it is built after the fork)."""

    queues: list[str]
    worker_nr: int


@dataclass(frozen=True)
class SpawnedWorker:
    """A worker of this listener, as resque-pool's ``after_spawn`` hooks see it."""

    queues: list[str]
    pid: int

    def __str__(self) -> str:  # Resque's worker id: host:pid:queues
        return registry.worker_id(",".join(self.queues), self.pid)


@dataclass(frozen=True)
class ProcessStatus:
    """Ruby's Process::Status of an exited worker (``after_exit``'s summary.process_status)."""

    pid: int
    status: int  # the wait status

    @property
    def exitstatus(self) -> int | None:
        return os.WEXITSTATUS(self.status) if os.WIFEXITED(self.status) else None

    @property
    def termsig(self) -> int | None:
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None

    def exited(self) -> bool:
        return os.WIFEXITED(self.status)

    def signaled(self) -> bool:
        return os.WIFSIGNALED(self.status)

    def success(self) -> bool | None:
        return self.exitstatus == 0 if self.exited() else None

    def to_i(self) -> int:
        return self.status

    def __str__(self) -> str:  # Ruby's inspect: "pid 42 exit 0" / "pid 42 SIGKILL (signal 9)"
        if self.termsig is not None:
            return f"pid {self.pid} {signal_name(self.termsig)} (signal {self.termsig})"
        return f"pid {self.pid} exit {self.exitstatus}"


# The slot being forked (set in the listener, read by the new worker after the fork).
_spawning: tuple[Starter, int] | None = None


def _starter(listener: ListenerView) -> Starter:
    old = {pid: slot.index for pid, slot in listener.workers.items()}
    return Starter(log, len(listener.slots), old, listener.master_pid)


def before_fork(listener: ListenerView, slot: Slot) -> None:
    """The config's ``before_fork`` hooks, just before ``slot``'s worker is forked."""
    global _spawning
    starter = _starter(listener)
    _spawning = (starter, slot.index)
    pending = PendingWorker(list(slot.row.queues), slot.index)
    fns = listener.config.hooks["before_fork"]
    hooks.run("config.before_fork", fns, starter, pending, slot.index)


def after_fork(config: Config, worker: Any) -> None:
    """In a new worker: the config's ``after_fork`` hooks (``worker_nr`` is its slot's index)."""
    starter, number = _spawning or (Starter(log, 0), 0)
    hooks.run("config.after_fork", config.hooks["after_fork"], worker, starter, number)


def after_spawn(listener: ListenerView, slot: Slot, pid: int) -> None:
    """resque-pool's ``after_spawn(worker, pid, workers)``: workers is {queues: {pid: worker}}."""
    fns = listener.config.hooks["after_spawn"]
    if not fns:
        return
    workers: dict[str, dict[int, SpawnedWorker]] = {}
    for wpid, wslot in listener.workers.items():
        each = SpawnedWorker(list(wslot.row.queues), wpid)
        workers.setdefault(wslot.row.queue_list, {})[wpid] = each
    hooks.run("config.after_spawn", fns, workers[slot.row.queue_list][pid], pid, workers)


def teardown(config: Config) -> None:
    """Resque::Forker's ``teardown`` hooks, within ``terminate`` seconds in all."""
    fns = config.hooks["teardown"]
    if fns:
        hooks.run("config.teardown", fns, Forker(config), timeout=config.compat.terminate)


def pace(slots: list[Slot], until: float) -> None:
    """resque-pool's ``--spawn-delay``: no free slot starts before ``until`` (monotonic)."""
    for slot in slots:
        if not slot.busy:
            slot.not_before = max(slot.not_before, until)


def write_status(listener: ListenerView) -> None:
    """resque_starter's status file: ``{'old_workers' => {pid => worker_nr}}`` as YAML.

    Only a listener that is not stopping writes it (a retiring one would overwrite
    its successor's); the master removes it when it exits.
    """
    path = listener.config.compat.status_file
    if not path or listener.stopping:
        return
    doc = {"old_workers": {pid: slot.index for pid, slot in listener.workers.items()}}
    text = yaml.safe_dump(doc, default_flow_style=False, explicit_start=True, sort_keys=False)
    try:
        write_atomically(path, text)
    except OSError as exc:
        log.warning("cannot write status file %s: %s", path, exc.strerror)


def queues_from_jobs(listener: ListenerView) -> None:
    """resque_starter's default queues, when the config names none (after the app's import).

    ``$QUEUES`` (or ``$QUEUE``) as Resque's worker reads them, else the ``queue``
    attribute of every job class the preloaded application defined, A-Z.
    """
    config = listener.config
    if default_queues(config):
        listener.slots = slotting.build(worker_table(config))


class _Forward(logging.Handler):
    """Hands resqued's log records to the application's logger (forker.logger)."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)


def setup_logging(config: Config) -> None:
    """``verbose`` (debug level), ``log_level``, and ``logger`` for the listener and its workers."""
    ours = logging.getLogger("resqued")
    if config.compat.log_level:
        ours.setLevel(LOG_LEVELS[config.compat.log_level])
    if config.compat.verbose:
        ours.setLevel(logging.DEBUG)
    if config.compat.logger is not None:
        ours.handlers[:] = [_Forward(config.compat.logger)]


def boot(config: Config, reload: bool) -> None:
    """At a listener's boot, once the config is read: lock, logs, loader reset, then ``user()``."""
    if config.compat.lock_file:
        lockfile.hold_shared(config.compat.lock_file)
    setup_logging(config)
    reset = getattr(config.config_loader, "reset", None)
    if reload and callable(reset):  # resque-pool calls reset! on HUP
        hooks.call("config.config_loader", reset)


def drop_privileges(config: Config, log_paths: tuple[str | None, str | None]) -> None:
    """``user()``: give the log files to the user, then become it (only when running as root)."""
    privileges.give_logs(config.user, config.group, log_paths)
    privileges.drop(config.user, config.group)
