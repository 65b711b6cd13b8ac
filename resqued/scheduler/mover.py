"""The mover's loop: hold resque-scheduler's lock, move due delayed jobs, fire recurring schedules.

Each turn (resque-scheduler's loop, with its semantics):

1. ``master? = acquire || renew`` on the lock; a change of role reloads the
   schedules (their times start afresh: no catch-up of missed runs);
2. as the holder: move every due epoch, a chunk (``batch_size``) per Lua call,
   each call checking that the lock is still ours; fire the recurring schedules
   that are due, each fire checked the same way; take dynamic changes;
3. sleep until the next poll (``interval``), the next recurring time or the
   earliest delayed epoch, whichever is first; a signal wakes it.

A Redis error is one log line; the lock is let go (as Ruby does) and the next
turn tries again.  TERM, INT and QUIT stop it after the chunk in hand, letting
the lock go; HUP reads the schedule file again (a bad one is one line, and the
schedule in use stays); USR1 reopens the log files.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable

from redis.exceptions import RedisError

from resqued.errors import ConfigError
from resqued.process import logs, proctitle
from resqued.process.wakeup import Wakeup
from resqued.resque import payload
from resqued.resque.connection import redact
from resqued.resque.delayed import CHANGED, NOT_OURS, Delayed
from resqued.resque.scheduler_lock import SchedulerLock
from resqued.resque.schedules import Schedules
from resqued.resque.store import Store
from resqued.scheduler import schedule
from resqued.scheduler.recurring import Recurring
from resqued.scheduler.spec import SchedulerSpec

log = logging.getLogger("resqued")

SIGNALS = ("TERM", "INT", "QUIT", "HUP", "USR1")
SOON = 0.05  # the shortest sleep while something is due but could not be moved


class Mover:
    def __init__(
        self, spec: SchedulerSpec, store: Store, dead_pids: Iterable[int] = (), pid: int = 0
    ) -> None:
        self.spec = spec
        self.store = store
        self.lock = SchedulerLock(store, spec.lock_timeout, spec.lock_prefix, pid)
        self.delayed = Delayed(store)
        self.schedules = Schedules(store)
        self.recurring = Recurring()
        self.static: schedule.Schedule = {}  # the schedule file's entries
        self.master: bool | None = None  # holding the lock, as of the last turn
        self.stopping = False
        self.wake_at = 0.0
        self.dead_pids = list(dead_pids)
        self.id = f"{self.lock.value}:resqued-scheduler"  # the worker on failure records
        self.wakeup = Wakeup()

    # -- signals --------------------------------------------------------------------------

    def handle_term(self) -> None:
        self.stopping = True

    handle_int = handle_quit = handle_term

    def handle_hup(self) -> None:
        """Read the schedule file again; the schedules in use stay if it is bad."""
        if self.read_file():
            try:
                self.reload(time.time())
            except RedisError as exc:  # the dynamic ones: read again at the next change of role
                log.warning("scheduler: %s", redact(f"{type(exc).__name__}: {exc}"))

    def handle_usr1(self) -> None:
        logs.reopen_or_keep(f"scheduler {os.getpid()}")

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        self.wakeup.catch(SIGNALS)
        self.read_file()
        self.title("starting")
        for pid in self.dead_pids:  # a mover of ours that died: its lock is free at once
            try:
                if self.lock.release_for(pid):
                    log.info("scheduler: freed the lock of mover %d, which died", pid)
            except RedisError:
                pass
        try:
            while not self.stopping:
                self.wakeup.dispatch(self)
                if self.stopping:
                    break
                self.turn()
                self.wakeup.wait(max(0.0, self.wake_at - time.time()))
        finally:
            self.let_go()
            self.master = None
        log.info("scheduler %d exiting", os.getpid())
        return 0

    def turn(self) -> None:
        now = time.time()
        self.wake_at = now + self.spec.interval
        try:
            master = self.lock.master()
            if master != self.master:
                self.master = master
                log.info("scheduler: %s", "holds the lock" if master else "waits for the lock")
                self.reload(now)
            if not master:
                self.recurring.due(now)  # times move on; only the holder fires
                self.title("waiting for the lock")
                return
            self.title("moving delayed jobs")
            self.move_due()
            self.fire_due()
            if self.spec.dynamic and self.master:
                self.take_changes()
            self.plan()
            self.title("holding the lock")
        except RedisError as exc:
            # As Ruby does: let the lock go, keep the role (a holder that takes it again
            # next turn goes on with the same schedule times).
            log.warning("scheduler: %s", redact(f"{type(exc).__name__}: {exc}"))
            self.let_go()

    def plan(self) -> None:
        """When to look again: the next poll, the next recurring time or the earliest epoch."""
        times = [self.wake_at]
        if (at := self.recurring.next_time()) is not None:
            times.append(at)
        if (epoch := self.delayed.earliest()) is not None:
            times.append(max(float(epoch), time.time() + SOON))
        self.wake_at = min(times)

    # -- delayed jobs ---------------------------------------------------------------------

    def move_due(self) -> None:
        """Every epoch due now, in chunks; stops early when told to stop or the lock is lost."""
        total, epochs, going = 0, 0, True
        while going and (epoch := self.delayed.next_due(int(time.time()))) is not None:
            moved, going = self.move_epoch(epoch)
            total, epochs = total + moved, epochs + 1
            log.debug("scheduler: moved %d delayed job(s) due at %d", moved, epoch)
        if total:
            log.info("scheduler: moved %d delayed job(s) due in %d second(s)", total, epochs)

    def move_epoch(self, epoch: int) -> tuple[int, bool]:
        """The jobs due at ``epoch``, a chunk per call: how many moved, and whether to go on."""
        spec, moved = self.spec, 0
        while True:
            n = self.delayed.move(
                epoch, spec.batch_size, self.id, self.lock.key, self.lock.value, spec.lock_timeout
            )
            if n == NOT_OURS:
                log.warning("scheduler: the lock is no longer ours; stopped moving")
                self.master = False
                return moved, False
            if n == CHANGED:
                continue  # a producer's remove or another mover changed the list: read again
            moved += n
            self.wakeup.dispatch(self)  # a stop waits for the chunk in hand, no more
            if self.stopping:
                return moved, False
            if n < spec.batch_size:
                return moved, True

    # -- recurring schedules --------------------------------------------------------------

    def fire_due(self) -> None:
        now = time.time()
        for e, _ in self.recurring.due(now):
            job = payload.encode(e.class_name, e.args)  # Resque.enqueue_to's {"class","args"}
            if not self.schedules.fire(self.lock.key, self.lock.value, e.name, e.queue, job, now):
                log.warning("scheduler: the lock is no longer ours; %s not queued", e.name)
                self.master = False
                return
            log.info("scheduler: queued %s (%s) on %s", e.class_name, e.name, e.queue)

    def read_file(self) -> bool:
        """The schedule file's entries, checked; False (one line logged) when it is bad."""
        path = self.spec.schedule_file
        if not path:
            return True
        try:
            self.static = schedule.load_file(path, self.spec.env)
        except ConfigError as exc:
            log.error("%s; the schedule in use stays", exc)
            return False
        log.info("scheduler: %d schedule(s) from %s", len(self.static), path)
        return True

    def reload(self, now: float) -> None:
        """Every schedule afresh: the file's, then the dynamic ones (resque-scheduler's order)."""
        entries = dict(self.static)
        if self.spec.dynamic:
            entries.update(schedule.parse_dynamic(self.schedules.persistent(), self.spec.env))
            if self.master:
                self.schedules.forget_changes()
        self.recurring.load(entries, now)

    def take_changes(self) -> None:
        """Dynamic schedules set or removed since the last look (``schedules_changed``)."""
        names = self.schedules.changed()
        if not names:
            return
        stored = self.schedules.persistent()
        now = time.time()
        for name in names:
            found = schedule.dynamic_entry(name, stored.get(name), self.spec.env)
            self.recurring.put(name, found or self.static.get(name), now)
            log.info("scheduler: schedule %s %s", name, "updated" if found else "removed")

    # -- the lock and the title -----------------------------------------------------------

    def let_go(self) -> None:
        """Release the lock if it is ours (a compare-and-delete: never someone else's)."""
        if self.master:
            try:
                self.lock.release()
            except RedisError:
                pass

    def title(self, state: str) -> None:
        role = "master" if self.master else "standby"
        proctitle.set_title(f"{proctitle.MANAGER_PREFIX} scheduler [{role}] {state}")
