"""The master: owns the pidfile, the signals and the logs; runs listeners; never imports the app.

Signal handlers only queue the signal (the loop is woken through
``signal.set_wakeup_fd``).  Each loop turn handles queued signals, reaps
listeners, reads their reports, starts a listener if one is missing, and
sleeps.  Every signal has one ``handle_<name>`` method below.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from resqued import daemon, logs, pidfile, proctitle, reexec, systemd
from resqued.backoff import Backoff
from resqued.config import Config, load
from resqued.config.allocation import pool_size
from resqued.config.model import Overrides
from resqued.errors import ResquedError
from resqued.listener_proxy import ListenerProxy
from resqued.proc import alive, reaped
from resqued.wakeup import Wakeup

log = logging.getLogger("resqued")

SIGNALS = ("HUP", "INT", "TERM", "QUIT", "USR1", "USR2", "WINCH", "TTIN", "TTOU", "CHLD")
LISTENER_HEALTHY_AFTER = 10.0  # a listener that ran this long resets the restart backoff


class Master:
    def __init__(
        self,
        overrides: Overrides,
        config: Config,
        log_level: int = logging.INFO,
        argv: list[str] | None = None,
    ) -> None:
        self.argv = list(argv or [])
        self.replace_pid = 0  # --hot-swap: the master we take over from once we are ready
        self.pid_path = config.pidfile
        self.overrides = overrides
        self.config = config
        self.log_level = log_level
        self.generation = 0
        self.current: ListenerProxy | None = None
        self.listeners: list[ListenerProxy] = []  # every listener we still have to reap
        self.orphans: dict[int, str] = {}  # workers of listeners that are gone
        self.stopping: str | None = None  # "QUIT" or "TERM"
        self.kill_at = 0.0
        self.workers_stopped = False  # WINCH
        self.pool_delta = 0  # TTIN / TTOU
        self.listener_backoff = Backoff(1.0, 60.0)
        self.next_listener_at = 0.0
        self.pid = os.getpid()
        self.wakeup = Wakeup()

    def restore(self, state: dict) -> None:
        """Take over the listeners a previous image of this master left running (USR2)."""
        self.generation = state["generation"]
        self.pool_delta = state["pool_delta"]
        self.workers_stopped = state["workers_stopped"]
        self.listeners = [ListenerProxy.adopt(doc) for doc in state["listeners"]]
        self.current = next((li for li in self.listeners if li.pid == state["current"]), None)
        self.orphans = {int(pid): queues for pid, queues in state["orphans"].items()}
        log.info("re-exec: took over %d listener(s) and their workers", len(self.listeners))
        systemd.ready(self.status_text())

    def saved_state(self) -> dict:
        return {
            "generation": self.generation,
            "pool_delta": self.pool_delta,
            "workers_stopped": self.workers_stopped,
            "current": self.current.pid if self.current else None,
            "listeners": [li.saved() for li in self.listeners],
            "orphans": self.orphans,
        }

    # -- signals: handlers only queue ------------------------------------------------

    def install_signals(self) -> None:
        self.wakeup.catch(SIGNALS)

    def handle_hup(self) -> None:
        """Reload: new listener with fresh code and config; old workers retire as it takes over."""
        if self.stopping:
            log.info("ignoring HUP while shutting down")
            return
        try:
            config = load(self.overrides)
        except ResquedError as exc:
            log.error("reload failed, keeping the running workers: %s", exc)
            systemd.status(f"reload failed: {exc}")
            return
        self.config = config
        self.pool_delta = 0
        systemd.reloading()
        logs.reopen()
        self.workers_stopped = False
        if self.current and not self.current.ready:
            log.info("reload: dropping %r, which is still booting", self.current)
            self.current.kill(signal.SIGKILL)
        self.current = None
        self.next_listener_at = 0.0
        log.info("reload: starting a new listener")

    def handle_int(self) -> None:
        self.handle_term()

    def handle_term(self) -> None:
        """Stop now: workers are killed (their jobs recorded as DirtyExit); KILL after a timeout."""
        if self.stopping != "TERM":
            self.stopping = "TERM"
            self.kill_at = time.monotonic() + self.config.shutdown_timeout
            log.info("shutting down now")
            systemd.stopping()
        self._signal_listeners(signal.SIGTERM)

    def handle_quit(self) -> None:
        """Graceful: every worker finishes its current job; then everything exits."""
        if self.stopping:
            return
        self.stopping = "QUIT"
        log.info("shutting down gracefully")
        systemd.stopping()
        self._signal_listeners(signal.SIGQUIT)

    def handle_usr1(self) -> None:
        logs.reopen()
        self._signal_listeners(signal.SIGUSR1)
        log.info("reopened log files")

    def handle_usr2(self) -> None:
        """Hot re-exec: a fresh image of the master (same pid) adopts the running listeners."""
        if self.stopping:
            log.warning("ignoring USR2 while shutting down")
            return
        log.info("re-exec: checking that the new release starts")
        problem = reexec.preflight(self.argv)
        if problem:
            log.error("re-exec cancelled, keeping the running master: %s", problem)
            return
        for hook in self.config.hooks["before_exec"]:
            hook()
        systemd.reloading()
        log.info("re-exec: handing over %d listener(s)", len(self.listeners))
        fds = [li.channel.fileno() for li in self.listeners if not li.channel.closed]
        reexec.exec_with_state(self.argv, self.saved_state(), fds)
        systemd.ready(self.status_text())  # only reached if the exec failed

    def handle_winch(self) -> None:
        if os.isatty(0):
            log.info("ignoring WINCH: attached to a terminal")
            return
        log.info("stopping all workers (HUP starts them again)")
        self.workers_stopped = True
        self.current = None
        self._signal_listeners(signal.SIGQUIT)

    def handle_ttin(self) -> None:
        self._resize(+1)

    def handle_ttou(self) -> None:
        self._resize(-1)

    def handle_chld(self) -> None:
        pass  # reaping happens every loop

    def _resize(self, step: int) -> None:
        size = pool_size(self.config) + self.pool_delta + step
        if size < 0:
            return
        self.pool_delta += step
        log.info("pool workers: %d", size)
        if self.current:
            self.current.send(f"COUNT {size}")

    def _signal_listeners(self, sig: int) -> None:
        for listener in self.listeners:
            listener.kill(sig)

    # -- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        self.install_signals()
        reexec.unblock_signals()
        log.info("master %d running (%s)", self.pid, self.describe())
        daemon.notify_ready()
        while True:
            self.wakeup.dispatch(self)
            self.reap()
            self.read_listeners()
            self.watch_orphans()
            if self.stopping:
                if not self.listeners and not self.orphans:
                    break
                self.escalate()
            elif not self.workers_stopped and self.current is None:
                self.start_listener()
            self.title()
            self.sleep()
        log.info("master %d exiting", self.pid)
        return 0

    def describe(self) -> str:
        """The config files, or the command line without any Redis URL (it may hold a password)."""
        if self.config.sources:
            return " ".join(self.config.sources)
        shown, skip = [], False
        for arg in self.argv:
            if skip or arg.startswith("--redis="):
                skip = False
                continue
            skip = arg == "--redis"
            if not skip:
                shown.append(arg)
        return " ".join(shown) or "defaults"

    def spec(self) -> dict:
        overrides = self.overrides
        if self.pool_delta:
            values = dict(overrides.values)
            values["worker_processes"] = pool_size(self.config) + self.pool_delta
            overrides = Overrides(values, overrides.config_files, overrides.environment)
        return {
            "overrides": overrides.to_json(),
            "master_pid": self.pid,
            "stdout_path": logs.paths()[0],
            "stderr_path": logs.paths()[1],
            "log_level": self.log_level,
        }

    def start_listener(self) -> None:
        now = time.monotonic()
        if now < self.next_listener_at:
            return
        self.generation += 1
        listener = ListenerProxy(self.generation, self.spec())
        self.current = listener
        self.listeners.append(listener)
        for old in self.listeners[:-1]:
            for pid, queues in old.workers.items():
                listener.send(f"+{pid},{queues}")
        for pid, queues in self.orphans.items():
            listener.send(f"+{pid},{queues}")
        log.info("started %r", listener)

    def reap(self) -> None:
        for pid, status in reaped():
            listener = next((li for li in self.listeners if li.pid == pid), None)
            if listener is None:
                continue
            listener.reaped(status)
            self.listeners.remove(listener)
            self.orphans.update(listener.workers)
            self.listener_exited(listener, status)

    def listener_exited(self, listener: ListenerProxy, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        if listener is not self.current:
            log.info("%r exited (%s)", listener, code)
            return
        self.current = None
        if self.stopping or self.workers_stopped:
            return
        previous = next((li for li in reversed(self.listeners) if li.ready), None)
        if not listener.ready and previous:
            log.error("%r failed to start (exit %s); keeping %r", listener, code, previous)
            self.current = previous
            return
        lived = time.monotonic() - listener.started
        if listener.ready and lived >= LISTENER_HEALTHY_AFTER:
            self.listener_backoff.succeeded()
        delay = self.listener_backoff.failed()
        self.next_listener_at = time.monotonic() + delay
        log.error("%r died (exit %s); starting another in %.1fs", listener, code, delay)

    def read_listeners(self) -> None:
        for listener in list(self.listeners):
            for line in listener.read():
                if line.startswith("RUNNING") and listener is self.current:
                    self.listener_ready(listener)
                elif line.startswith("-") and listener is not self.current and self.current:
                    self.current.send(line)  # an old worker is gone: its slot is free

    def listener_ready(self, listener: ListenerProxy) -> None:
        log.info("%r is ready with %d workers", listener, listener.total)
        for old in self.listeners:
            if old is not listener:
                log.info("retiring %r", old)
                old.kill(signal.SIGQUIT)
        if self.replace_pid:
            log.info("hot swap: taking over from master %d", self.replace_pid)
            pidfile.signal_master(self.replace_pid, signal.SIGQUIT, self.pid_path)
            if self.pid_path:
                pidfile.write(self.pid_path, force=True)
            self.replace_pid = 0
        systemd.ready(self.status_text())

    def status_text(self) -> str:
        workers = sum(len(li.workers) for li in self.listeners) + len(self.orphans)
        return f"gen {self.generation}, {workers} workers"

    def watch_orphans(self) -> None:
        for pid in [p for p in self.orphans if not alive(p)]:
            del self.orphans[pid]
            if self.current:
                self.current.send(f"-{pid}")

    def escalate(self) -> None:
        if self.stopping == "TERM" and time.monotonic() >= self.kill_at:
            log.warning("shutdown timeout: killing what is left")
            for listener in self.listeners:
                for pid in listener.workers:
                    _kill(pid, signal.SIGKILL)
                listener.kill(signal.SIGKILL)
            for pid in self.orphans:
                _kill(pid, signal.SIGKILL)
            self.kill_at = time.monotonic() + 5

    def title(self) -> None:
        workers = sum(len(li.workers) for li in self.listeners) + len(self.orphans)
        state = " stopping" if self.stopping else ""
        proctitle.set_title(
            f"{proctitle.MANAGER_PREFIX} master [gen {self.generation}] "
            f"[{workers} worker{'' if workers == 1 else 's'}]{state} {self.describe()}"
        )

    def sleep(self) -> None:
        timeout = 1.0
        if self.current is None and not self.stopping and not self.workers_stopped:
            timeout = max(0.0, min(timeout, self.next_listener_at - time.monotonic()))
        self.wakeup.wait(
            timeout, *(li.channel.fileno() for li in self.listeners if not li.channel.closed)
        )


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def run(
    overrides: Overrides,
    config: Config,
    log_level: int,
    argv: list[str],
    hot_swap: bool = False,
) -> int:
    """Run a master until it is told to stop, holding the pidfile meanwhile.

    After a USR2 re-exec this is the new image: it adopts the listeners the
    old image left, under the same pid and pidfile.
    """
    state = reexec.inherited_state()
    master = Master(overrides, config, log_level, argv)
    path = config.pidfile
    if path:
        holder = pidfile.running_master(path)
        if hot_swap and holder and holder != os.getpid() and alive(holder):
            master.replace_pid = holder
        else:
            pidfile.write(path)
    if state:
        master.restore(state)
    try:
        return master.run()
    finally:
        if path:
            pidfile.remove(path)
