"""The master: owns the pidfile, the signals and the logs; runs listeners; never runs user code.

Signal handlers only queue the signal (the loop is woken through
``signal.set_wakeup_fd``).  Each loop turn handles queued signals, reaps
listeners, reads their reports, checks a pending USR2 preflight, starts a
listener if one is missing, and sleeps.  Every signal has one ``handle_<name>``
method below, and every listener event one method: ``listener_ready``,
``listener_failed``, ``listener_exited``.  The configuration reaches the master
only as data (``MasterView``): from the config check process at start-up, then
from each listener's ``RUNNING``.

A listener that got ready retires the older ones (a reload done: their
workers one at a time, each when the new listener asks with ``NEXT`` once the
replacement of the previous one is up; all at once if it dies or stalls, or
before a USR2's exec) and, the first time, completes the start (``-D``
returns; systemd gets ``READY`` once its workers have registered:
``workers_registered``).  One
that never got ready fails the reload (the previous listener stays), is
retried with backoff (after the start), or, on a fresh start, stops the master
with the reason.  One that dies after it ran is replaced with backoff.

With ``scheduler()`` in the config the master also keeps one mover process
(``resqued/scheduler/``): started once the master runs, replaced with backoff
when it dies, told of a HUP (it reads its schedule file again), replaced when a
reload changes its settings, kept across a USR2, stopped with the rest.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import signal
import time
from typing import Any

from resqued import ipc
from resqued.config.model import Overrides
from resqued.config.view import MasterView
from resqued.errors import ResquedError
from resqued.master import (
    compat,
    daemon,
    log_rotation,
    metrics,
    pidfile,
    pool_killer,
    requests,
    status,
)
from resqued.master.job_stats import JobStats
from resqued.master.listeners import Listeners, listener_spec
from resqued.master.proxy import ListenerProxy
from resqued.master.registry import Registration
from resqued.master.scheduler import HEALTHY_AFTER, MoverProcess, Scheduler, schedule_error
from resqued.master.state import MasterState
from resqued.master.upgrade import Upgrade, shown_command, unblock_signals
from resqued.process import logs, proctitle, systemd
from resqued.process.proc import reaped_any
from resqued.process.wakeup import Wakeup
from resqued.resque import registry

log = logging.getLogger("resqued")

SIGNALS = ("HUP", "INT", "TERM", "QUIT", "USR1", "USR2", "WINCH", "TTIN", "TTOU", "CHLD", "CONT")
BOOT_TIMEOUT = 300.0  # a listener not ready after this long is stopped (reload failed)
LISTENER_HEALTHY_AFTER = 10.0  # a listener that ran this long resets the restart backoff


class Master:
    def __init__(
        self,
        overrides: Overrides,
        view: MasterView,
        cwd: str,
        log_level: int = logging.INFO,
        argv: list[str] | None = None,
        boot_timeout: float | None = None,
        listeners: Listeners | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.argv = list(argv or [])
        self.replace_pid = 0  # --hot-swap: the master we take over from once we are ready
        self.overrides = overrides
        self.view = view  # the running config, as data (see config/view.py)
        self.cwd = cwd
        self.log_level = log_level
        self.boot_timeout_flag = boot_timeout  # --boot-timeout wins over the config's
        self.listeners = listeners or Listeners()
        self.scheduler = scheduler or Scheduler()  # the mover, when the config has scheduler()
        self.stopping: str | None = None  # "QUIT" or "TERM"
        self.exit_now = False  # a compat stop (resque-pool's INT, --fast-exit): don't wait
        self.others_killed = False  # resque-pool's --kill-others, done once
        self.kill_at = 0.0
        self.workers_stopped = False  # WINCH
        self.pool_delta = 0  # TTIN / TTOU
        self.ever_ready = False  # a listener of ours got ready: later failures are retried
        self.ready_notified = False  # systemd got READY=1 (once the first workers registered)
        self.failure = ""  # why the last listener could not start
        self.exit_code = 0
        self.last_reload: dict[str, Any] | None = None
        self.upgrade: Upgrade | None = None  # a USR2 under way
        self.replacements: collections.Counter[str] = collections.Counter()  # why workers went
        self.replaced = requests.ReplacedRecently()  # the last few, for the dashboard
        self.reloads: collections.Counter[str] = collections.Counter()  # by outcome
        self.job_stats = JobStats()
        self.metrics: Any = None  # the metrics server, when --metrics is on
        self.registration: Registration | None = None
        self.pid = os.getpid()
        self.started_at = time.time()
        self.wakeup = Wakeup()
        self.rotation = log_rotation.from_view(view)  # resque_starter's log_shift_age

    # -- what crosses a USR2 re-exec ------------------------------------------------------

    def saved(self) -> MasterState:
        state = MasterState(
            view=self.view,
            pool_delta=self.pool_delta,
            workers_stopped=self.workers_stopped,
            replacements=dict(self.replacements),
            reloads=dict(self.reloads),
            jobs_retired=self.job_stats.saved(),
        )
        self.listeners.save(state)
        self.scheduler.save(state)
        return state

    def adopt(self, state: MasterState) -> None:
        """Take over the listeners a previous image of this master left running."""
        self.listeners.adopt(state)
        self.scheduler.adopt(state)
        self.pool_delta = state.pool_delta
        self.workers_stopped = state.workers_stopped
        self.view = state.view
        self.rotation = log_rotation.from_view(self.view)
        self.replacements.update(state.replacements)
        self.reloads.update(state.reloads)
        self.job_stats.restore(state.jobs_retired)
        self.ever_ready = True
        self.ready_notified = True
        log.info("re-exec: took over %d listener(s) and their workers", len(state.listeners))
        systemd.ready(self.status_text())

    # -- signals: handlers only queue ------------------------------------------------

    def handle_hup(self) -> None:
        """Reload: a new listener evaluates fresh code and config; old workers retire as it runs."""
        if self.stopping:
            log.info("ignoring HUP while shutting down")
            return
        systemd.reloading()
        logs.reopen_or_keep(f"master {self.pid}")
        self.pool_delta = 0
        self.workers_stopped = False
        booting = self.listeners.current
        if booting and not booting.ready:
            log.info("reload: dropping %r, which is still booting", booting)
            booting.kill(signal.SIGKILL)
        self.listeners.current = None
        self.listeners.next_start_at = 0.0
        self.scheduler.signal(signal.SIGHUP)  # the mover reads its schedule file again
        self.last_reload = {"at": time.time(), "outcome": "pending", "error": None}
        log.info("reload: starting a new listener")

    def handle_int(self) -> None:
        self.stop_by("INT")

    def handle_term(self) -> None:
        self.stop_by("TERM")

    def handle_quit(self) -> None:
        self.stop_by("QUIT")

    def stop_by(self, name: str) -> None:
        """QUIT, INT, TERM: resqued's meaning, or a compat command's (see compat.py)."""
        workers_signal, wait = compat.stop_action(self.view.compat, name)
        self.exit_now = self.exit_now or not wait
        if workers_signal == "TERM":
            self.stop_now()
        else:
            self.stop_gracefully()

    def stop_now(self) -> None:
        """Stop now: workers are killed (their jobs recorded as DirtyExit); KILL after a timeout."""
        if self.stopping != "TERM":
            self.stopping = "TERM"
            self.kill_at = time.monotonic() + (self.view.shutdown_timeout or 30.0)
            log.info("shutting down now")
            systemd.stopping()
        self._cancel_upgrade()
        self.listeners.signal(signal.SIGTERM)
        self.scheduler.signal(signal.SIGTERM)

    def stop_gracefully(self) -> None:
        """Graceful: every worker finishes its current job; then everything exits."""
        if self.stopping:
            return
        self.stopping = "QUIT"
        log.info("shutting down gracefully")
        systemd.stopping()
        self._cancel_upgrade()
        self.listeners.signal(signal.SIGQUIT)
        self.scheduler.signal(signal.SIGTERM)  # it stops after the chunk in hand

    def handle_usr1(self) -> None:
        if self.relayed("USR1"):  # compat: kill every current job
            return
        self.reopen_logs()
        log.info("reopened log files")

    def reopen_logs(self) -> None:
        """Master, listeners (USR1) and workers (HUP) reopen their log files."""
        logs.reopen_or_keep(f"master {self.pid}")
        compat.give_logs(self.view)
        self.listeners.signal(signal.SIGUSR1)
        self.scheduler.signal(signal.SIGUSR1)

    def handle_cont(self) -> None:
        self.relayed("CONT")  # compat: resume every worker; else nothing

    def handle_usr2(self) -> None:
        """Hot re-exec: once the new release's preflight passes, exec it (same pid)."""
        if self.relayed("USR2"):  # compat: pause every worker
            return
        if self.stopping:
            log.warning("ignoring USR2 while shutting down")
            return
        if self.upgrade:
            log.info("re-exec: a preflight is already running")
            return
        self.upgrade = Upgrade(self.argv, self.cwd)

    def relayed(self, name: str) -> bool:
        """USR1/USR2/CONT passed on to every worker (by the listeners) if the config says so."""
        if not compat.relays(self.view.compat, name):
            return False
        log.info("%s: sending it to every worker", name)
        for listener in self.listeners.listeners:
            listener.send(ipc.Relay(name))
        return True

    def handle_winch(self) -> None:
        if not compat.handles_winch(self.view.compat, os.isatty(0)):
            log.info("ignoring WINCH: attached to a terminal, or not daemonized (resque-pool)")
            return
        log.info("stopping all workers (HUP starts them again)")
        self.workers_stopped = True
        self.listeners.current = None
        self.listeners.signal(signal.SIGQUIT)

    def handle_ttin(self) -> None:
        self._resize(+1)

    def handle_ttou(self) -> None:
        self._resize(-1)

    def handle_chld(self) -> None:
        pass  # reaping happens every loop

    def _resize(self, step: int) -> None:
        size = self.view.pool_size + self.pool_delta + step
        if size < 0:
            return
        self.pool_delta += step
        log.info("pool workers: %d", size)
        if self.listeners.current:
            self.listeners.current.send(ipc.Count(size))

    # -- listener events --------------------------------------------------------------

    def listener_ready(self, listener: ListenerProxy) -> None:
        """The current listener runs: retire the older ones; the first one completes the start."""
        log.info("%r is ready with %d workers", listener, listener.total)
        if listener.view is not None:
            self.apply_view(listener.view)
        self.failure = ""
        self._reload_done("ok", None)
        self.listeners.retire_all_but(listener, compat.retire_signal(self.view.compat))
        if self.view.compat.kill_others and not self.others_killed:  # resque-pool's
            self.others_killed = True
            pool_killer.kill_others(self.pid)
        if self.replace_pid:
            self._take_over(self.replace_pid)
            self.replace_pid = 0
        if not self.ever_ready:
            self.ever_ready = True
            daemon.notify_ready()
        if self.ready_notified:
            systemd.ready(self.status_text())  # a reload done
        else:
            gen = self.listeners.generation
            systemd.status(f"gen {gen}, starting {listener.total} workers")
            self.workers_registered()

    def workers_registered(self) -> None:
        """At start, systemd's READY=1 once every worker of the current listener has
        registered (its STATS say so), not when the listener has only loaded the app."""
        li = self.listeners.current
        if self.ready_notified or li is None or not li.ready:
            return
        if int(li.stats.get("registered") or 0) >= li.total:
            self.ready_notified = True
            systemd.ready(self.status_text())

    def listener_failed(self, listener: ListenerProxy, reason: str) -> None:
        """A listener that never got ready: keep the previous one, or retry, or give up."""
        self.failure = reason
        previous = self.listeners.previous_ready()
        self._reload_done("failed", reason)
        if previous:
            log.error("reload failed, keeping %r and its workers: %s", previous, reason)
            systemd.status(f"reload failed: {reason}")
            self.listeners.current = previous
            self.listeners.rolled_at = time.monotonic()  # it goes on with a hand-over under way
            return
        if not self.ever_ready:  # a fresh start that cannot work: say why and stop
            log.error("cannot start: %s", reason)
            daemon.report_failure(reason)
            self.exit_code = 1
            self.stopping = "TERM"
            return
        delay = self.listeners.backoff.failed()
        self.listeners.next_start_at = time.monotonic() + delay
        log.error("%r cannot start: %s; trying again in %.1fs", listener, reason, delay)

    def listener_exited(self, listener: ListenerProxy, status: int) -> None:
        """A listener exited: a retiring one is simply gone; the current one is replaced."""
        code = os.waitstatus_to_exitcode(status)
        if listener is not self.listeners.current:
            log.info("%r exited (%s)", listener, code)
            return
        self.listeners.current = None
        if self.listeners.rolling:
            self.listeners.fall_back(f"{listener!r} exited during the hand-over")
        if self.stopping or self.workers_stopped:
            return
        if not listener.ready:
            self.listener_failed(listener, listener.failure or f"it exited with status {code}")
            return
        if time.monotonic() - listener.started >= LISTENER_HEALTHY_AFTER:
            self.listeners.backoff.succeeded()
        delay = self.listeners.backoff.failed()
        self.listeners.next_start_at = time.monotonic() + delay
        log.error("%r died (exit %s); starting another in %.1fs", listener, code, delay)

    def apply_view(self, new: MasterView) -> None:
        """A new listener's config: what the master keeps of it (log paths, timeouts, sizes)."""
        paths = (new.stdout_path, new.stderr_path)
        if paths != (self.view.stdout_path, self.view.stderr_path) and any(paths):
            logs.redirect(*paths)
        self.view = self.view.reloaded(new)
        self.rotation = log_rotation.from_view(self.view)
        mover = self.scheduler.current
        if mover and mover.spec != self.view.scheduler and not self.scheduler.replacing:
            if self.view.scheduler and (error := schedule_error(self.view.scheduler)):
                log.error("reload: %s; the scheduler keeps its settings", error)
                self.view = dataclasses.replace(self.view, scheduler=mover.spec)
                return
            log.info("reload: the scheduler's settings changed; replacing %r", mover)
            self.scheduler.replacing = True
            mover.kill(signal.SIGTERM)

    # -- the scheduler (the mover) --------------------------------------------------------

    def start_scheduler(self) -> None:
        self.scheduler.start(self.view, self.log_level, self.cwd)

    def scheduler_exited(self, mover: MoverProcess, status: int) -> None:
        """The mover exited: replaced at once after new settings, else with backoff."""
        code = os.waitstatus_to_exitcode(status)
        if self.stopping or self.scheduler.replacing or not self.view.scheduler:
            log.info("%r exited (%s)", mover, code)
            self.scheduler.replacing = False
            self.scheduler.next_start_at = 0.0
            return
        if time.monotonic() - mover.started >= HEALTHY_AFTER:
            self.scheduler.backoff.succeeded()
        delay = self.scheduler.backoff.failed()
        self.scheduler.next_start_at = time.monotonic() + delay
        log.error("%r died (exit %s); starting another in %.1fs", mover, code, delay)

    def _reload_done(self, outcome: str, error: str | None) -> None:
        if self.last_reload and self.last_reload["outcome"] == "pending":
            self.last_reload.update(outcome=outcome, error=error)
            self.reloads[outcome] += 1

    def _take_over(self, old_master: int) -> None:
        """--hot-swap: our workers run; retire the master we started beside, take its pidfile.

        The old master is signalled only if it is still verifiably the master the
        pidfile named (see resqued/master/pidfile.py).
        """
        log.info("hot swap: taking over from master %d", old_master)
        pidfile.signal_master(old_master, signal.SIGQUIT, self.view.pidfile)
        if self.view.pidfile:
            pidfile.write(self.view.pidfile, force=True)

    # -- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        self.wakeup.catch(SIGNALS)
        unblock_signals()
        log.info("master %d running (%s)", self.pid, self.describe())
        self.registration = status.register(self)
        try:
            if self.view.metrics:
                self.metrics = metrics.serve(self, self.view.metrics)
            return self.loop()
        except ResquedError as exc:
            log.error("cannot start: %s", exc)
            daemon.report_failure(str(exc))
            return 1
        finally:
            if self.metrics:
                self.metrics.shutdown()
            if self.registration:
                self.registration.stop()
            compat.remove_status_file(self.view)

    def loop(self) -> int:
        while not self.turn():
            proctitle.set_title(status.title(self))
            if self.registration:
                self.registration.publish(status.document(self, self.host))
            self.sleep()
        log.info("master %d exiting", self.pid)
        return self.exit_code

    def turn(self) -> bool:
        """One turn of the loop, without its sleep; True when the master is done."""
        self.wakeup.dispatch(self)
        self.reap()
        for listener, message in self.listeners.read():
            if isinstance(message, ipc.Running) and listener is self.listeners.current:
                self.listener_ready(listener)
            elif isinstance(message, ipc.Stats) and not self.ready_notified:
                self.workers_registered()
            elif isinstance(message, ipc.Next) and listener is self.listeners.current:
                self.listeners.retire_next()
            elif isinstance(message, ipc.WorkerExited) and message.reason:
                if not self.stopping and not self.workers_stopped:
                    self.replacements[message.reason] += 1
                    queues = listener.left.get(message.pid, "")
                    self.replaced.note(message.pid, queues, message.reason)
        if self.listeners.next_held:  # a retiring listener's last start may be up now
            self.listeners.retire_next()
        if self.registration:
            requests.stop_jobs(self.listeners, self.registration.take_requests())
        self.listeners.watch_orphans()
        self.check_boot()
        if self.listeners.stalled(self.boot_timeout):
            self.listeners.fall_back(f"the hand-over did not move for {self.boot_timeout:g}s")
        self.check_upgrade()
        if self.rotation and self.rotation.due():  # resque_starter's log_shift_age
            self.rotation.rotate()
            self.reopen_logs()
        if self.stopping:
            if (self.listeners.empty and self.scheduler.empty) or self.exit_now:
                return True
            self.escalate()
            return False
        if not self.workers_stopped and self.listeners.current is None:
            if time.monotonic() >= self.listeners.next_start_at:
                self.start_listener()
        self.keep_scheduler()
        return False

    def keep_scheduler(self) -> None:
        """One mover while the config asks for one (and the master is past its start)."""
        wanted = self.view.scheduler is not None and self.ever_ready
        if wanted and self.scheduler.empty and time.monotonic() >= self.scheduler.next_start_at:
            self.start_scheduler()
        elif not wanted and self.scheduler.current and not self.scheduler.replacing:
            log.info("reload: no scheduler in the config; stopping %r", self.scheduler.current)
            self.scheduler.replacing = True
            self.scheduler.signal(signal.SIGTERM)

    def reap(self) -> None:
        """Every child that exited: listeners, the USR2 preflight, adopted orphans."""
        for pid, wait_status in reaped_any():
            if self.upgrade and self.upgrade.owns(pid):
                self.upgrade.exited(wait_status)
            elif listener := self.listeners.reaped(pid, wait_status):
                self.job_stats.retire(listener.stats)
                self.listener_exited(listener, wait_status)
            elif mover := self.scheduler.reaped(pid):
                self.scheduler_exited(mover, wait_status)

    def check_upgrade(self) -> None:
        """A USR2's preflight is over: exec the new image if it passed (returns if that failed)."""
        if not self.upgrade or (passed := self.upgrade.poll()) is None:
            return
        if passed:
            if self.listeners.rolling:  # the new image is not told of it (it may be older)
                self.listeners.fall_back("re-exec")
            systemd.reloading()
            fds = [li.channel.fileno() for li in self.listeners.listeners if not li.channel.closed]
            self.upgrade.exec(self.saved(), fds)
            systemd.ready(self.status_text())  # only reached if the exec failed
        self.upgrade = None

    def start_listener(self) -> None:
        size = self.view.pool_size + self.pool_delta
        spec = listener_spec(self.overrides, size if self.pool_delta else None, self.log_level)
        spec["reload"] = bool(self.last_reload and self.last_reload["outcome"] == "pending")
        spec["process_group"] = self.view.compat.process_groups
        self.listeners.start(spec, self.cwd)

    def describe(self) -> str:
        """The config files, or the command line without any Redis URL (it may hold a password)."""
        if self.view.sources:
            return " ".join(self.view.sources)
        return shown_command(self.argv)

    @property
    def boot_timeout(self) -> float:
        return self.boot_timeout_flag or self.view.boot_timeout or BOOT_TIMEOUT

    def check_boot(self) -> None:
        """A listener still booting after ``boot_timeout`` (a config that hangs): stop it."""
        limit = self.boot_timeout
        if li := self.listeners.booting_past(limit):
            log.error("%r not ready after %gs: stopping it", li, limit)
            li.failure = f"not ready after {limit:g}s"
            li.kill(signal.SIGKILL)

    def _cancel_upgrade(self) -> None:
        if self.upgrade:
            self.upgrade.cancel()
            self.upgrade = None

    @property
    def host(self) -> str:
        return registry.hostname()

    def status_text(self) -> str:
        return f"gen {self.listeners.generation}, {self.listeners.workers} workers"

    def escalate(self) -> None:
        if self.stopping == "TERM" and time.monotonic() >= self.kill_at:
            log.warning("shutdown timeout: killing what is left")
            self.listeners.kill_everything()
            self.scheduler.signal(signal.SIGKILL)
            self.kill_at = time.monotonic() + 5

    def sleep(self) -> None:
        timeout = 1.0
        if self.listeners.current is None and not self.stopping and not self.workers_stopped:
            timeout = max(0.0, min(timeout, self.listeners.next_start_at - time.monotonic()))
        if self.view.scheduler and self.scheduler.empty and not self.stopping:
            timeout = max(0.0, min(timeout, self.scheduler.next_start_at - time.monotonic()))
        fds = [li.channel.fileno() for li in self.listeners.listeners if not li.channel.closed]
        if self.upgrade and self.upgrade.fileno() >= 0:
            fds.append(self.upgrade.fileno())
        self.wakeup.wait(timeout, *fds)
