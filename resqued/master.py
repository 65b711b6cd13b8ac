"""The master: owns the pidfile, the signals and the logs; runs listeners; never runs user code.

Signal handlers only queue the signal (the loop is woken through
``signal.set_wakeup_fd``).  Each loop turn handles queued signals, reaps
listeners, reads their reports, checks a pending USR2 preflight, starts a
listener if one is missing, and sleeps.  Every signal has one ``handle_<name>``
method below.  The configuration reaches the master only as plain data: from
the config check process at start-up, then from each listener's ``RUNNING``.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import time
from typing import Any

from resqued import (
    daemon,
    ipc,
    listener_events,
    logs,
    master_status,
    metrics,
    proctitle,
    reexec,
    systemd,
)
from resqued import master_compat as compat
from resqued.config.model import Overrides
from resqued.errors import ResquedError
from resqued.job_stats import JobStats
from resqued.listener_pool import ListenerPool, listener_spec
from resqued.master_registry import Registration
from resqued.proc import reaped_any
from resqued.resque import registry
from resqued.signal_modes import handles_winch, setting, stop_action
from resqued.upgrade import Upgrade
from resqued.wakeup import Wakeup

log = logging.getLogger("resqued")

SIGNALS = ("HUP", "INT", "TERM", "QUIT", "USR1", "USR2", "WINCH", "TTIN", "TTOU", "CHLD", "CONT")
BOOT_TIMEOUT = 300.0  # a listener not ready after this long is stopped (reload failed)


class Master:
    def __init__(
        self,
        overrides: Overrides,
        view: dict[str, Any],
        cwd: str,
        log_level: int = logging.INFO,
        argv: list[str] | None = None,
        boot_timeout: float | None = None,
    ) -> None:
        self.argv = list(argv or [])
        self.replace_pid = 0  # --hot-swap: the master we take over from once we are ready
        self.overrides = overrides
        self.view = view  # the running config, as plain data (see config/check.py)
        self.cwd = cwd
        self.log_level = log_level
        self.boot_timeout_flag = boot_timeout  # --boot-timeout wins over the config's
        self.pool = ListenerPool()
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
        self.reloads: collections.Counter[str] = collections.Counter()  # by outcome
        self.job_stats = JobStats()
        self.metrics: Any = None  # the metrics server, when --metrics is on
        self.registration: Registration | None = None
        self.pid = os.getpid()
        self.started_at = time.time()
        self.wakeup = Wakeup()
        self.rotation = compat.rotation(self)  # resque_starter's log_shift_age

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
        booting = self.pool.current
        if booting and not booting.ready:
            log.info("reload: dropping %r, which is still booting", booting)
            booting.kill(signal.SIGKILL)
        self.pool.current = None
        self.pool.next_start_at = 0.0
        self.last_reload = {"at": time.time(), "outcome": "pending", "error": None}
        log.info("reload: starting a new listener")

    def handle_int(self) -> None:
        self.stop_by("INT")

    def handle_term(self) -> None:
        self.stop_by("TERM")

    def handle_quit(self) -> None:
        self.stop_by("QUIT")

    def stop_by(self, name: str) -> None:
        """QUIT, INT, TERM: resqued's meaning, or a compat command's (see signal_modes)."""
        workers_signal, wait = stop_action(self.view, name)
        self.exit_now = self.exit_now or not wait
        if workers_signal == "TERM":
            self.stop_now()
        else:
            self.stop_gracefully()

    def stop_now(self) -> None:
        """Stop now: workers are killed (their jobs recorded as DirtyExit); KILL after a timeout."""
        if self.stopping != "TERM":
            self.stopping = "TERM"
            self.kill_at = time.monotonic() + float(self.view.get("shutdown_timeout") or 30.0)
            log.info("shutting down now")
            systemd.stopping()
        self._cancel_upgrade()
        self.pool.signal(signal.SIGTERM)

    def stop_gracefully(self) -> None:
        """Graceful: every worker finishes its current job; then everything exits."""
        if self.stopping:
            return
        self.stopping = "QUIT"
        log.info("shutting down gracefully")
        systemd.stopping()
        self._cancel_upgrade()
        self.pool.signal(signal.SIGQUIT)

    def handle_usr1(self) -> None:
        if compat.relayed(self, "USR1"):  # compat: kill every current job
            return
        self.reopen_logs()
        log.info("reopened log files")

    def reopen_logs(self) -> None:
        """Master, listeners (USR1) and workers (HUP) reopen their log files."""
        logs.reopen_or_keep(f"master {self.pid}")
        compat.give_logs(self)
        self.pool.signal(signal.SIGUSR1)

    def handle_cont(self) -> None:
        compat.relayed(self, "CONT")  # compat: resume every worker; else nothing

    def handle_usr2(self) -> None:
        """Hot re-exec: once the new release's preflight passes, exec it (same pid)."""
        if compat.relayed(self, "USR2"):  # compat: pause every worker
            return
        if self.stopping:
            log.warning("ignoring USR2 while shutting down")
            return
        if self.upgrade:
            log.info("re-exec: a preflight is already running")
            return
        self.upgrade = Upgrade(self)

    def handle_winch(self) -> None:
        if not handles_winch(self.view, os.isatty(0)):
            log.info("ignoring WINCH: attached to a terminal, or not daemonized (resque-pool)")
            return
        log.info("stopping all workers (HUP starts them again)")
        self.workers_stopped = True
        self.pool.current = None
        self.pool.signal(signal.SIGQUIT)

    def handle_ttin(self) -> None:
        self._resize(+1)

    def handle_ttou(self) -> None:
        self._resize(-1)

    def handle_chld(self) -> None:
        pass  # reaping happens every loop

    def _resize(self, step: int) -> None:
        size = int(self.view.get("pool") or 0) + self.pool_delta + step
        if size < 0:
            return
        self.pool_delta += step
        log.info("pool workers: %d", size)
        if self.pool.current:
            self.pool.current.send(ipc.Count(size))

    # -- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        self.wakeup.catch(SIGNALS)
        reexec.unblock_signals()
        log.info("master %d running (%s)", self.pid, self.describe())
        self.registration = master_status.register(self)
        try:
            if self.view.get("metrics"):
                self.metrics = metrics.serve(self, self.view["metrics"])
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
            compat.exiting(self)

    def loop(self) -> int:
        while True:
            self.wakeup.dispatch(self)
            self.reap()
            for listener, message in self.pool.read():
                if isinstance(message, ipc.Running) and listener is self.pool.current:
                    listener_events.ready(self, listener)
                elif isinstance(message, ipc.Stats) and not self.ready_notified:
                    listener_events.workers_registered(self)
                elif isinstance(message, ipc.WorkerExited) and message.reason:
                    if not self.stopping and not self.workers_stopped:
                        self.replacements[message.reason] += 1
            self.pool.watch_orphans()
            self.check_boot()
            if self.upgrade and self.upgrade.poll(self):
                self.upgrade = None
            compat.tick(self)
            if self.stopping:
                if self.pool.empty or self.exit_now:
                    break
                self.escalate()
            elif not self.workers_stopped and self.pool.current is None:
                if time.monotonic() >= self.pool.next_start_at:
                    self.start_listener()
            proctitle.set_title(master_status.title(self))
            if self.registration:
                self.registration.publish(master_status.document(self, self.host))
            self.sleep()
        log.info("master %d exiting", self.pid)
        return self.exit_code

    def reap(self) -> None:
        """Every child that exited: listeners, the USR2 preflight, adopted orphans."""
        for pid, status in reaped_any():
            if self.upgrade and self.upgrade.owns(pid):
                self.upgrade.exited(status)
            elif listener := self.pool.reaped(pid, status):
                self.job_stats.retire(listener.stats)
                listener_events.exited(self, listener, status)

    def start_listener(self) -> None:
        pool = int(self.view.get("pool") or 0) + self.pool_delta
        spec = listener_spec(self.overrides, pool if self.pool_delta else None, self.log_level)
        spec["reload"] = bool(self.last_reload and self.last_reload["outcome"] == "pending")
        spec["process_group"] = bool(setting(self.view, "process_groups"))
        self.pool.start(spec, self.cwd)

    def describe(self) -> str:
        """The config files, or the command line without any Redis URL (it may hold a password)."""
        if self.view.get("sources"):
            return " ".join(self.view["sources"])
        return reexec.shown_command(self.argv)

    @property
    def boot_timeout(self) -> float:
        return self.boot_timeout_flag or float(self.view.get("boot_timeout") or BOOT_TIMEOUT)

    def check_boot(self) -> None:
        """A listener still booting after ``boot_timeout`` (a config that hangs): stop it."""
        limit = self.boot_timeout
        if li := self.pool.booting_past(limit):
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
        return f"gen {self.pool.generation}, {self.pool.workers} workers"

    def escalate(self) -> None:
        if self.stopping == "TERM" and time.monotonic() >= self.kill_at:
            log.warning("shutdown timeout: killing what is left")
            self.pool.kill_everything()
            self.kill_at = time.monotonic() + 5

    def sleep(self) -> None:
        timeout = 1.0
        if self.pool.current is None and not self.stopping and not self.workers_stopped:
            timeout = max(0.0, min(timeout, self.pool.next_start_at - time.monotonic()))
        fds = [li.channel.fileno() for li in self.pool.listeners if not li.channel.closed]
        if self.upgrade and self.upgrade.fileno() >= 0:
            fds.append(self.upgrade.fileno())
        self.wakeup.wait(timeout, *fds)
