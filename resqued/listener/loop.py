"""The listener's loop: supervise one worker per slot, report to the master, obey signals.

Each turn handles queued signals, reads the master's messages, reaps workers,
applies the guard rails (``watch``: time and memory limits, max age, stuck
workers), polls a ``config_loader``, starts the slots that may start, prunes
dead workers of this host now and then, reports statistics (and the workers'
Redis heartbeat), and sleeps.  Its own workers plus the ones it is
retiring plus an older listener's still running, plus the slots older
listeners will still fill (``HELD``, docs/ipc.md), never exceed its table.
During a reload it asks the master to retire the older workers one at a
time (``NEXT``, see ``handover``); an older listener told ``RETIRE`` starts
no more workers and stops each one the master names, then exits.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time

from resqued import hooks, ipc
from resqued.config import Config, yaml_pool
from resqued.config.allocation import worker_table
from resqued.config.model import WorkerRow
from resqued.config.view import MasterView
from resqued.listener import compat, handover
from resqued.listener import slots as slotting
from resqued.listener.exits import Cleanup, ExitSummary, unregister_dead
from resqued.listener.guard import KILL, RETIRING
from resqued.listener.pruner import Pruner
from resqued.listener.slots import Slot
from resqued.listener.spawn import fork_worker
from resqued.listener.watch import STARTING_POLL, Watch
from resqued.process import logs, proctitle
from resqued.process.proc import reaped, signal_quietly
from resqued.process.wakeup import Wakeup
from resqued.resque import registry
from resqued.resque.store import Store
from resqued.worker.build import options_for

log = logging.getLogger("resqued")

SIGNALS = ("QUIT", "TERM", "INT", "USR1", "USR2", "CONT", "CHLD", "HUP")
LOADER_INTERVAL = 1.0


class Listener:
    def __init__(
        self, number: int, channel: ipc.Channel, config: Config, master_pid: int, store: Store
    ) -> None:
        self.number = number
        self.channel = channel
        self.config = config
        self.master_pid = master_pid
        self.store = store
        self.loader_rows: list[WorkerRow] = []  # from config_loader, polled
        self.next_loader_poll = 0.0
        self.slots: list[Slot] = slotting.build(worker_table(config))
        self.workers: dict[int, Slot] = {}  # pid -> its slot (retiring ones included)
        self.old: dict[int, str] = {}  # an older listener's workers, still running
        self.cleanups: list[Cleanup] = []  # dead workers' cleanups a Redis outage stopped
        self.held_by_older = 0  # slots older listeners will still fill (HELD from the master)
        self.held_told = 0  # the HELD we reported last (the master assumes all at RUNNING)
        self.state = "starting"
        self.stopping: str | None = None  # "QUIT", "TERM", or "RETIRE" (one by one)
        self.asked_at = 0.0  # when we last asked for an older worker to retire (NEXT)
        # Dead workers of this host (and expired ones anywhere) are pruned at start and
        # every prune_interval, so a job never stays in a dead worker's worker:<id>
        # longer; in a process of its own, so the heartbeat never waits behind it.
        self.next_prune = 0.0
        self.watch = Watch(config, store, time.monotonic())  # guard rails, stats, heartbeat
        self.wakeup = Wakeup()
        self.pruner = Pruner(store, number, SIGNALS, self._let_go)

    # -- signals: handlers only queue ------------------------------------------

    def handle_quit(self) -> None:
        self._stop("QUIT")

    def handle_term(self) -> None:
        self._stop("TERM")

    def handle_int(self) -> None:
        self._stop("TERM")

    def handle_usr1(self) -> None:
        logs.reopen_or_keep(f"listener #{self.number}")
        self._signal_workers(signal.SIGHUP)  # workers reopen on HUP; USR1 is Resque's kill-job

    def handle_usr2(self) -> None:
        self._signal_workers(signal.SIGUSR2)

    def handle_cont(self) -> None:
        self._signal_workers(signal.SIGCONT)

    def handle_chld(self) -> None:
        pass  # reaping happens every loop

    def handle_hup(self) -> None:
        pass  # reloads are the master's business

    def _stop(self, how: str) -> None:
        if self.stopping == "TERM":
            return
        self.stopping = how
        self.state = "stopping"
        self._report_held()  # 0: no slot of ours gets a worker any more
        self._signal_workers(getattr(signal, "SIG" + how))

    def _retire(self) -> None:
        """RETIRE from the master: a newer listener runs; start no more workers, and stop
        each one when the master names it (a QUIT, TERM or the master's EOF: all at once)."""
        if self.stopping:
            return
        log.info("listener #%d retiring: its workers stop one by one", self.number)
        self.stopping = "RETIRE"
        self.state = "retiring"
        self._report_held()  # 0: no slot of ours gets a worker any more

    def _retire_one(self, pid: int) -> None:
        slot = self.workers.get(pid)
        if slot is None:
            return  # gone meanwhile: its exit is on its way to the master
        slot.pending = slot.pending or RETIRING
        signal_quietly(pid, signal.SIGQUIT)

    def _signal_workers(self, sig: int) -> None:
        for pid in self.workers:
            signal_quietly(pid, sig)

    # -- main loop ----------------------------------------------------------------

    def run(self) -> int:
        self.state = "running"
        self.channel.send(ipc.Running(len(self.slots), MasterView.of(self.config)))
        self.held_told = len(self.slots)
        log.info("listener #%d running: %d workers", self.number, len(self.slots))
        while True:
            self.wakeup.dispatch(self)
            self._read_master()
            self._reap()
            if self.stopping and not self.workers:
                break
            self.watch.check(self.workers, time.monotonic(), bool(self.stopping))
            self.watch.report(self.workers, self.old, self.channel, time.monotonic())
            if not self.stopping:
                self._poll_config_loader()
                self._start_missing()
                self._report_held()  # after the starts: fewer slots held
                self._ask_next()
                self._prune_now_and_then()
            self._title()
            self._sleep()
        self.watch.report(self.workers, self.old, self.channel, time.monotonic(), last=True)
        self.pruner.wait()
        compat.teardown(self.config)  # Resque::Forker's teardown hooks, after the workers
        log.info("listener #%d exiting", self.number)
        return 0

    def _read_master(self) -> None:
        for message in self.channel.messages():
            match message:
                case ipc.WorkerStarted(pid, queues):
                    self.old[pid] = queues
                case ipc.WorkerExited(pid):
                    if self.old.pop(pid, None) is not None:
                        self.asked_at = 0.0  # a slot freed: the next ask waits for its worker
                case ipc.Held(n):
                    self.held_by_older = n
                case ipc.Count(n):
                    self.config.worker_processes = n
                    self._apply_table()
                case ipc.Relay(name, 0):  # the master passes this signal on (compat commands)
                    self._signal_workers(getattr(signal, "SIG" + name))
                case ipc.Relay(name, pid):  # one worker's (the dashboard's "stop this job")
                    if pid in self.workers:
                        signal_quietly(pid, getattr(signal, "SIG" + name))
                case ipc.Retire(0):
                    self._retire()
                case ipc.Retire(pid):
                    self._retire_one(pid)
                case _:
                    log.warning("listener #%d: unexpected message %r", self.number, message)
        if self.channel.closed and self.stopping in (None, "RETIRE"):
            log.warning("listener #%d: master is gone; stopping workers gracefully", self.number)
            self._stop("QUIT")

    def _apply_table(self) -> None:
        """Rebuild the worker table; retire (QUIT) workers whose row changed or went away."""
        self.slots, retire = slotting.reconcile(
            self.slots, self.loader_rows + worker_table(self.config)
        )
        for slot in retire:
            if slot.pid is not None:
                slot.pending = slot.pending or RETIRING
                signal_quietly(slot.pid, signal.SIGQUIT)
        self._report_held()  # before any start into a new slot
        log.info("listener #%d: now %d workers", self.number, len(self.slots))

    def _poll_config_loader(self) -> None:
        """resque-pool's custom loader: ``{"queue,list": count}``, asked about once a second."""
        loader = self.config.config_loader
        if loader is None or time.monotonic() < self.next_loader_poll:
            return
        self.next_loader_poll = time.monotonic() + LOADER_INTERVAL
        table = hooks.call(
            "config.config_loader", loader, yaml_pool.environment(self.config.environment)
        )
        if table is None:
            return  # it failed (logged): keep the current workers
        try:
            rows = yaml_pool.slots({str(k): int(v) for k, v in dict(table).items()})
        except (TypeError, ValueError) as exc:
            log.error("config_loader returned %r, not {queues: count}: %s", table, exc)
            return
        if rows != self.loader_rows:
            self.loader_rows = rows
            self._apply_table()

    def _sleep(self) -> None:
        timeout = 1.0
        waiting = [s.not_before for s in self.slots if not s.busy and s.not_before]
        waiting += [t for t in [self.watch.next_deadline(self.workers, time.monotonic())] if t]
        if waiting and not self.stopping:
            timeout = max(0.0, min(timeout, min(waiting) - time.monotonic()))
        if self.asked_at and self.old and not self.stopping:
            timeout = max(0.0, min(timeout, self.asked_at + handover.STEP - time.monotonic()))
        if not self.stopping and self.watch.any_starting(self.workers):
            # report soon after the workers registered; ask for the next older one sooner
            timeout = min(timeout, handover.POLL if self.old else STARTING_POLL)
        self.wakeup.wait(timeout, *([] if self.channel.closed else [self.channel.fileno()]))

    def _title(self) -> None:
        running = len(self.workers) + len(self.old)
        proctitle.set_title(
            f"{proctitle.MANAGER_PREFIX} listener #{self.number} "
            f"{len(self.workers)}/{running}/{len(self.slots)} {self.state}"
            + (f" {self.config.compat.title}" if self.config.compat.title else "")
        )

    # -- workers --------------------------------------------------------------------

    def _report_held(self) -> None:
        """Tell the master how many of our slots will still get a worker, when that changed."""
        held = 0 if self.stopping else slotting.held(self.slots)
        if held != self.held_told and self.channel.send(ipc.Held(held)):
            self.held_told = held

    def _start_missing(self) -> None:
        now = time.monotonic()
        running = len(self.workers) + len(self.old) + self.held_by_older
        for slot in slotting.startable(self.slots, running, now):
            self._spawn(slot)
            if self.config.compat.spawn_delay:  # resque-pool's -s: one start per delay
                compat.pace(self.slots, now + self.config.compat.spawn_delay)
                break

    def _ask_next(self) -> None:
        """A reload's rolling hand-over: one more older worker may go (see handover.py)."""
        if not self.old:
            return
        now = time.monotonic()
        running = len(self.workers) + len(self.old) + self.held_by_older
        starting = self.watch.any_starting(self.workers)
        if handover.ask_next(len(self.slots), running, len(self.old), starting, self.asked_at, now):
            self.asked_at = now
            self.channel.send(ipc.Next())

    def _spawn(self, slot: Slot) -> None:
        compat.before_fork(self, slot)  # the config's before_fork hooks, in their forms
        board = self.watch.scoreboard()
        options = options_for(
            self.config,
            slot.row,
            pause_key=self.store.keys.master_pause(f"{registry.hostname()}:{self.master_pid}"),
            parent_pid=os.getpid(),
        )  # one draw of its jitter, for the worker and its rails
        pid = fork_worker(self.config, slot.row, options, self.store, self._let_go, SIGNALS, board)
        slot.started(pid, time.monotonic(), board, self.watch.rails(options))
        self.workers[pid] = slot
        self.channel.send(ipc.WorkerStarted(pid, slot.row.queue_list))
        compat.after_spawn(self, slot, pid)
        compat.write_status(self)

    def _let_go(self) -> None:
        """In a new worker: drop what belongs to the listener."""
        self.wakeup.close()
        self.channel.close()
        self.watch.let_go(self.workers)

    def _reap(self) -> None:
        self.pruner.reap()
        for pid, status in reaped(self.workers):
            slot = self.workers.pop(pid, None)
            if slot is not None:
                self._worker_exited(pid, status, slot)
        if self.cleanups:
            now = time.monotonic()
            self.cleanups = [c for c in self.cleanups if not c.retry(self.store, now)]

    def _worker_exited(self, pid: int, status: int, slot: Slot) -> None:
        now = time.monotonic()
        lived = now - slot.started_at
        queues = slot.row.queue_list
        current = slot.pid == pid  # False for a retired worker whose slot was rebuilt
        board = slot.board
        if current:  # its scoreboard is the slot's
            self.watch.timed_out_at_exit(pid, slot, status, now)
        reason = slot.replacement_reason(status)
        # Retired on purpose (a reload, a smaller table, this listener stopping) and gone
        # cleanly: not a replacement, so the master does not count it (no alert per deploy).
        planned = slotting.clean_exit(status) and (bool(self.stopping) or slot.pending is RETIRING)
        if not slotting.clean_exit(status):
            if slot.pending is None or slot.pending.kind != KILL:  # guard rails log their kills
                log.warning("worker %d (%s) %s", pid, queues, reason)
            if current:  # its scoreboard is the slot's
                self.watch.end_orphaned_job(slot)
            whys = self.watch.in_flight(slot, self.config.threads)
            unstarted = self.watch.unstarted(slot, self.config.threads) if current else None
            cleanup = unregister_dead(self.store, pid, queues, whys, unstarted)
            if cleanup is not None:  # Redis refused: tried again each turn, the prune spares it
                self.cleanups.append(cleanup)
        if current:
            delay = slot.exited(status, now, bool(self.stopping))
            if delay:
                log.warning(
                    "worker slot %d (%s) died %.1fs after it started; restarts in %.1fs",
                    slot.index + 1,
                    queues,
                    lived,
                    delay,
                )
        self.watch.ended(pid, board)
        self._report_held()  # before the exit: a newer listener never sees the slot free
        self.channel.send(ipc.WorkerExited(pid, "" if planned else reason))
        compat.write_status(self)
        summary = ExitSummary.of(pid, status, lived, queues, reason)
        hooks.run("config.after_exit", self.config.hooks["after_exit"], summary)

    def _prune_now_and_then(self) -> None:
        now = time.monotonic()
        if now < self.next_prune:
            return
        self.next_prune = now + self.config.prune_interval * random.uniform(0.9, 1.1)
        self.pruner.start([*self.workers, *self.old, *(c.pid for c in self.cleanups)])
