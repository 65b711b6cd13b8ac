"""The listener's watch over its workers: scoreboards, guard rails, statistics, heartbeat.

Each turn of the listener's loop calls ``check`` (read every worker's
scoreboard, and its memory when a memory limit applies; act on what
``guard.judge`` decides) and ``report`` (statistics to the master every few
seconds, the Redis heartbeat every ``LISTENER_BEAT``).  When a worker exits, ``ended``
reads its scoreboard a last time and lets it go; ``in_flight`` says what its
job is recorded as.  The decisions are in ``guard.py``; this module is where
they touch processes.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from resqued import ipc, jobs
from resqued.config import Config
from resqued.listener import guard
from resqued.listener.beat import RedisHeartbeat
from resqued.listener.guard import KILL, KILL_JOB, QUIT, Action, Rails, Reading
from resqued.listener.slots import Slot
from resqued.listener.stats import STATS_EVERY, StatsBook
from resqued.process.memory import is_job_child, worker_memory
from resqued.process.proc import signal_quietly
from resqued.resque import failure, registry
from resqued.resque.registry import FailureHook
from resqued.resque.store import Store
from resqued.scoreboard import Scoreboard
from resqued.worker.limits import EXCEPTIONS, failure_hook
from resqued.worker.options import WorkerOptions

log = logging.getLogger("resqued")

MEMORY_EVERY = 1.0  # seconds between memory readings (one costs about 0.2 ms per 20 MB of RSS)
STARTING_POLL = 0.05  # while a worker starts: how soon the listener looks again (READY waits)


class Watch:
    def __init__(self, config: Config, store: Store, now: float) -> None:
        self.config = config
        self.stats = StatsBook()
        self.heartbeat = RedisHeartbeat(store, now)
        self.next_memory = 0.0
        self.reported_starting = False  # the last statistics sent showed a worker starting
        if config.threads > 1:
            self.mode = guard.THREADS
        else:
            self.mode = guard.FORK if config.fork_per_job else guard.IN_PROCESS

    # -- a new worker --------------------------------------------------------------------

    def scoreboard(self) -> Scoreboard | None:
        """A scoreboard for a worker about to be forked (None: a worker_factory's worker)."""
        if self.config.worker_factory is not None:
            return None
        return Scoreboard(self.config.threads)

    def rails(self, opts: WorkerOptions) -> Rails:
        """The guard rails of a new worker, held to its own options (its max age, jittered)."""
        return Rails(
            self.mode,
            opts.memory_limit,
            opts.memory_soft_limit,
            opts.max_age,
            self.config.stuck_timeout,
            max(self.config.stuck_timeout, self.config.boot_timeout),
            scoreboard=self.config.worker_factory is None,
        )

    # -- each turn ---------------------------------------------------------------------------

    def check(self, workers: dict[int, Slot], now: float, stopping: bool) -> None:
        """Apply the guard rails to every worker (while stopping, only those that kill)."""
        measure = now >= self.next_memory
        if measure:
            self.next_memory = now + MEMORY_EVERY
        for pid, slot in list(workers.items()):
            if slot.rails is None:
                continue
            pending = slot.pending or (guard.RETIRING if stopping else None)
            reading = self.reading(pid, slot, now, measure)
            action = guard.judge(slot.rails, reading, pending, slot.killed_child)
            if action is not None:
                self.act(pid, slot, action, reading)

    def reading(self, pid: int, slot: Slot, now: float, measure: bool) -> Reading:
        board = slot.board
        records = board.records() if board is not None else []
        memory = None
        if measure and slot.rails is not None and slot.rails.measures_memory:
            child = records[0].child_pid if records and self.mode == guard.FORK else 0
            memory = worker_memory(pid, child)
        supervisor = board.supervisor() if board is not None else 0.0
        return Reading(now, slot.started_at, records, supervisor, memory)

    def act(self, pid: int, slot: Slot, action: Action, reading: Reading) -> None:
        where = f"worker {pid} ({slot.row.queue_list})"
        if action.kind == KILL_JOB:
            child = guard.child_of(reading)
            if (
                slot.board is None
                or not child
                or not slot.board.request_kill(child, action.message)
            ):
                return  # the job ended meanwhile, or the worker has a request to take first
            slot.killed_child = child
            log.warning("%s: %s: %s", where, action.reason, action.message)
            return
        slot.pending = action
        log.warning("%s: %s: %s", where, action.reason, action.message)
        if action.kind == QUIT:
            signal_quietly(pid, signal.SIGQUIT)
            return
        if self.mode == guard.FORK:
            # A stuck worker cannot end its job child: end the child's group first, while
            # the worker (stopped or hung) still holds it unreaped, so its id is still its.
            child = guard.child_of(reading)
            if child and is_job_child(pid, child):
                signal_quietly(child, signal.SIGKILL, group=True)
        signal_quietly(pid, signal.SIGKILL)

    def report(
        self,
        workers: dict[int, Slot],
        old: dict[int, str],
        channel: ipc.Channel,
        now: float,
        last: bool = False,
    ) -> None:
        """Statistics to the master every few seconds (``last``: now, before the listener
        exits); the Redis heartbeat every ``LISTENER_BEAT`` (``old``: a dead listener's
        workers)."""
        starting = self.any_starting(workers)
        if now >= self.stats.next_at or last or starting != self.reported_starting:
            # at once when the last worker registers: the master's READY=1 waits for that
            self.reported_starting = starting
            self.stats.next_at = now + STATS_EVERY
            states: dict[str, int] = {}
            registered = 0  # worker processes past their start (a factory's: at once)
            for pid, slot in workers.items():
                if slot.board is not None:
                    self.stats.read(pid, slot.board)
                    records = slot.board.records()
                    for rec in records:
                        states[rec.state] = states.get(rec.state, 0) + 1
                    registered += all(rec.state != "starting" for rec in records)
                else:
                    registered += 1
            doc = self.stats.doc(states, registered)
            if self.stats.changed(doc):
                channel.send(ipc.Stats(doc))
        if self.heartbeat.due(now):
            threads = range(1, self.config.threads + 1)
            orphans = [
                f"{base}#{n}" if n > 1 else base
                for pid, queues in old.items()
                for base in [registry.worker_id(queues, pid)]
                for n in threads
            ]
            self.heartbeat.beat(self.alive(workers, now) + orphans, now)

    def alive(self, workers: dict[int, Slot], now: float) -> list[str]:
        """Ids of the worker threads whose scoreboard shows them alive, starting and stopping
        ones included (the beat skips ids Redis has not registered)."""
        ids = []
        for pid, slot in workers.items():
            board, rails = slot.board, slot.rails
            if board is None or rails is None or (slot.pending and slot.pending.kind == KILL):
                continue
            reading = Reading(now, slot.started_at, board.records(), board.supervisor())
            if guard.stuck(rails, reading) is not None:
                continue
            base = registry.worker_id(slot.row.queue_list, pid)
            ids += [base if n == 0 else f"{base}#{n + 1}" for n in range(len(reading.records))]
        return ids

    @staticmethod
    def any_starting(workers: dict[int, Slot]) -> bool:
        """Does a worker's scoreboard show it starting (forked, not registered yet)?"""
        return any(
            rec.state == "starting"
            for slot in workers.values()
            if slot.board is not None
            for rec in slot.board.records()
        )

    def next_deadline(self, workers: dict[int, Slot], now: float) -> float:
        """The soonest moment a time-based guard rail may apply (0.0: none)."""
        times = []
        for slot in workers.values():
            if slot.rails is not None and slot.pending is None:
                board = slot.board
                records = board.records() if board is not None else []
                deadline = guard.next_deadline(slot.rails, Reading(now, slot.started_at, records))
                if deadline:
                    times.append(deadline)
        return min(times, default=0.0)

    # -- a worker that exited ----------------------------------------------------------------

    def timed_out_at_exit(self, pid: int, slot: Slot, status: int, now: float) -> None:
        """A worker that died with a job past its hard limit (its watchdog's KILL in process;
        in threads mode, a process that exited to end a thread's job and left its record
        to us): note it as this listener's kill (``slot.pending``), so the job is recorded
        as timed out and the slot restarts at once, whether or not we could act then."""
        if slot.pending is not None or slot.board is None or slot.rails is None:
            return
        if self.mode == guard.IN_PROCESS:
            if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
                return
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return
        reading = Reading(now, slot.started_at, slot.board.records())
        action = guard.timed_out_at_exit(slot.rails, reading)
        if action is not None:
            slot.pending = action
            where = f"worker {pid} ({slot.row.queue_list})"
            log.warning("%s: %s: %s", where, action.reason, action.message)

    def end_orphaned_job(self, slot: Slot) -> None:
        """A fork-mode worker died mid-job: end what its job left running.

        Its job child dies with it (parent-death signal); the processes the job started
        in the child's group are ended here, before the job is recorded.  The group's id
        is the child's pid, which stays allocated while any member of the group lives and
        is handed out again only after the kernel's pids wrap around.
        """
        if self.mode != guard.FORK or slot.board is None:
            return
        for rec in slot.board.records():
            if rec.state == "working" and rec.child_pid > 1:
                signal_quietly(rec.child_pid, signal.SIGKILL, group=True)

    def ended(self, pid: int, board: Scoreboard | None) -> None:
        """A worker exited: read its scoreboard one last time (its statistics count on),
        then let the scoreboard go."""
        self.stats.retire(pid, board)
        if board is not None:
            board.close()

    def in_flight(self, slot: Slot, threads: int) -> list[tuple[str, str, FailureHook]]:
        """What a dead worker's jobs in flight are recorded as, one per thread: why the
        listener killed it, else ``Resque::DirtyExit``; and the on_failure hooks to run.

        A threaded process that exited to end a job past its hard limit: that thread's
        job is timed out, the others' (done, their outcome not recorded) dirty exits.
        """
        dirty = (failure.DIRTY_EXIT, "Job still being processed", jobs.run_failure_hooks)
        action = slot.pending
        if action is None or action.kind != KILL or action.exception not in EXCEPTIONS:
            return [dirty] * threads
        why = (action.exception, action.message, failure_hook(EXCEPTIONS[action.exception]))
        if self.mode != guard.THREADS or action.reason != "timed out" or slot.board is None:
            return [why] * threads
        late = guard.late(Reading(time.monotonic(), slot.started_at, slot.board.records()))
        return [why if n in late else dirty for n in range(threads)]

    @staticmethod
    def unstarted(slot: Slot, threads: int) -> list[int | None]:
        """For each thread of a dead worker that ran no job then, the jobs it finished (None:
        it was in a job, or there is no scoreboard): see ``exits.unregister_dead``."""
        if slot.board is None:
            return [None] * threads
        records = slot.board.records()
        return [rec.done if not rec.job_started else None for rec in records][:threads]

    @staticmethod
    def let_go(workers: dict[int, Slot]) -> None:
        """In a new worker: unmap the other workers' scoreboards it inherited."""
        for slot in workers.values():
            if slot.board is not None:
                slot.board.close()
