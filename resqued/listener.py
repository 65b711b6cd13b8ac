"""The listener: imports the application once, forks the workers, and supervises them.

Started by the master with fork+exec (``python -m resqued.listener``), so each
reload gets a fresh interpreter with new code and config.  It reports to the
master over a socketpair (see ``resqued.ipc``) and never lets its own workers
plus an older listener's still-running workers exceed its configured total.
"""

from __future__ import annotations

import collections
import gc
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass

import redis

from resqued import app, ipc, jobs, logs, proctitle
from resqued.backoff import Backoff
from resqued.config import Config, load, yaml_pool
from resqued.config.allocation import worker_table
from resqued.config.model import Overrides, WorkerSlot
from resqued.errors import ResquedError
from resqued.proc import reaped, set_parent_death_signal, signal_name
from resqued.resque import registry
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.wakeup import Wakeup

log = logging.getLogger("resqued")

ENV_SPEC = "RESQUED_LISTENER"
LOADER_INTERVAL = 1.0
SIGNALS = ("QUIT", "TERM", "INT", "USR1", "USR2", "CONT", "CHLD", "HUP")


@dataclass
class Running:
    slot: int
    queues: str


class Listener:
    def __init__(self, number: int, channel: ipc.Channel, config: Config, master_pid: int) -> None:
        self.number = number
        self.channel = channel
        self.config = config
        self.master_pid = master_pid
        self.loader_slots: list[WorkerSlot] = []  # from config_loader, polled
        self.next_loader_poll = 0.0
        self.slots: list[WorkerSlot] = worker_table(config)
        self.workers: dict[int, Running] = {}
        self.old: dict[int, str] = {}  # an older listener's workers, still running
        self.backoff: dict[int, Backoff] = collections.defaultdict(lambda: Backoff(0.5, 60.0))
        self.not_before: dict[int, float] = {}
        self.state = "starting"
        self.stopping: str | None = None  # "QUIT" or "TERM"
        self.store = Store.connect(config.redis_url, config.namespace)
        self.wakeup = Wakeup()

    # -- signals: handlers only queue ------------------------------------------

    def handle_quit(self) -> None:
        self._stop("QUIT")

    def handle_term(self) -> None:
        self._stop("TERM")

    def handle_int(self) -> None:
        self._stop("TERM")

    def handle_usr1(self) -> None:
        logs.reopen()
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
        self._signal_workers(getattr(signal, "SIG" + how))

    def _signal_workers(self, sig: int) -> None:
        for pid in self.workers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    # -- main loop ----------------------------------------------------------------

    def run(self) -> int:
        self.wakeup.catch(SIGNALS)
        set_parent_death_signal(signal.SIGQUIT)
        if os.getppid() != self.master_pid:
            log.error("listener #%d: master %d is already gone", self.number, self.master_pid)
            return 1
        self._title()
        if self.config.preload_app:
            app.require_all(self.config.requires)
        try:
            registry.prune_dead_workers(self.store, f"{registry.hostname()}:{os.getpid()}:listener")
        except redis.RedisError as exc:  # the workers wait for Redis themselves
            log.warning("listener #%d: could not prune dead workers: %s", self.number, exc)
        gc.collect()
        gc.freeze()  # objects loaded so far stay shared with the workers (copy-on-write)
        self.state = "running"
        self.channel.send(f"RUNNING {len(self.slots)}")
        log.info("listener #%d running: %d workers", self.number, len(self.slots))
        while True:
            self.wakeup.dispatch(self)
            self._read_master()
            self._reap()
            if self.stopping and not self.workers:
                break
            if not self.stopping:
                self._poll_config_loader()
                self._start_missing()
            self._title()
            self._sleep()
        log.info("listener #%d exiting", self.number)
        return 0

    def _read_master(self) -> None:
        for line in self.channel.read_lines():
            if line.startswith("+"):
                pid, queues = ipc.parse_worker(line)
                self.old[pid] = queues
            elif line.startswith("-"):
                self.old.pop(ipc.parse_worker(line)[0], None)
            elif line.startswith("COUNT "):
                self._resize(int(line.split()[1]))
        if self.channel.closed and not self.stopping:
            log.warning("listener #%d: master is gone; stopping workers gracefully", self.number)
            self._stop("QUIT")

    def _resize(self, pool: int) -> None:
        self.config.worker_processes = pool
        self._apply_table()

    def _apply_table(self) -> None:
        """Rebuild the worker table; retire (QUIT) workers whose slot went away or changed."""
        self.slots = self.loader_slots + worker_table(self.config)
        for pid, running in self.workers.items():
            gone = running.slot >= len(self.slots)
            if gone or self.slots[running.slot].queue_list != running.queues:
                os.kill(pid, signal.SIGQUIT)
        log.info("listener #%d: now %d workers", self.number, len(self.slots))

    def _poll_config_loader(self) -> None:
        """resque-pool's custom loader: ``{"queue,list": count}``, asked about once a second."""
        loader = self.config.config_loader
        if loader is None or time.monotonic() < self.next_loader_poll:
            return
        self.next_loader_poll = time.monotonic() + LOADER_INTERVAL
        try:
            table = loader(yaml_pool.environment())
            slots = yaml_pool.slots({str(k): int(v) for k, v in dict(table).items()})
        except Exception as exc:  # noqa: BLE001  (the operator's code; keep the last table)
            log.error("config_loader failed, keeping the current workers: %r", exc)
            return
        if slots != self.loader_slots:
            self.loader_slots = slots
            self._apply_table()

    def _sleep(self) -> None:
        timeout = 1.0
        if self.not_before and not self.stopping:
            timeout = max(0.0, min(timeout, min(self.not_before.values()) - time.monotonic()))
        self.wakeup.wait(timeout, *([] if self.channel.closed else [self.channel.fileno()]))

    def _title(self) -> None:
        running = len(self.workers) + len(self.old)
        proctitle.set_title(
            f"{proctitle.MANAGER_PREFIX} listener #{self.number} "
            f"{len(self.workers)}/{running}/{len(self.slots)} {self.state}"
        )

    # -- workers --------------------------------------------------------------------

    def _start_missing(self) -> None:
        busy = {w.slot for w in self.workers.values()}
        now = time.monotonic()
        for i in range(len(self.slots)):
            if len(self.workers) + len(self.old) >= len(self.slots):
                return
            if i in busy or self.not_before.get(i, 0) > now:
                continue
            self.not_before.pop(i, None)
            self._spawn(i)

    def _spawn(self, i: int) -> None:
        slot = self.slots[i]
        for hook in self.config.hooks["before_fork"]:
            hook()
        pid = os.fork()
        if pid == 0:
            self._become_worker(slot)  # never returns
        self.workers[pid] = Running(i, slot.queue_list)
        self.channel.send(ipc.worker_started(pid, slot.queue_list))

    def _become_worker(self, slot: WorkerSlot) -> None:
        code = 1
        try:
            self.wakeup.close()
            for name in SIGNALS:
                signal.signal(getattr(signal, "SIG" + name), signal.SIG_DFL)
            self.channel.close()
            self._drop_privileges()
            if not self.config.preload_app:
                app.require_all(self.config.requires)
            code = self._work(slot) or 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001
            log.exception("worker %d crashed", os.getpid())
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _work(self, slot: WorkerSlot) -> int | None:
        from resqued.worker.build import build_worker, options_for

        c = self.config
        options = options_for(
            c,
            slot,
            pause_key=self.store.keys.master_pause(f"{registry.hostname()}:{self.master_pid}"),
            parent_pid=os.getppid(),
        )
        queues = QueueList.parse(list(slot.queues))
        worker = build_worker(self.store, queues, options, c.threads, c.worker_factory)
        for hook in c.hooks["after_fork"]:
            hook(worker)
        return worker.work()

    def _drop_privileges(self) -> None:
        c = self.config
        if not c.user or os.getuid() != 0:
            return
        import grp
        import pwd

        user = pwd.getpwnam(c.user)
        gid = grp.getgrnam(c.group).gr_gid if c.group else user.pw_gid
        os.setgid(gid)
        os.initgroups(c.user, gid)
        os.setuid(user.pw_uid)

    def _reap(self) -> None:
        for pid, status in reaped():
            running = self.workers.pop(pid, None)
            if running is None:
                continue
            self._worker_exited(pid, status, running)

    def _worker_exited(self, pid: int, status: int, running: Running) -> None:
        self.channel.send(ipc.worker_exited(pid))
        clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if not clean:
            how = (
                f"signal {signal_name(os.WTERMSIG(status))}"
                if os.WIFSIGNALED(status)
                else f"status {os.waitstatus_to_exitcode(status)}"
            )
            log.warning("worker %d (%s) exited with %s", pid, running.queues, how)
            # The worker could not clean up: fail its in-flight job and drop its keys.
            base = registry.worker_id(running.queues, pid)
            for n in range(1, self.config.threads + 1):
                wid = base if n == 1 else f"{base}#{n}"
                try:
                    registry.unregister(self.store, wid, dead_job_hook=jobs.run_failure_hooks)
                except Exception as exc:  # noqa: BLE001
                    log.error("could not unregister dead worker %s: %s", wid, exc)
        for hook in self.config.hooks["after_exit"]:
            try:
                hook(pid, status)
            except Exception as exc:  # noqa: BLE001
                log.error("after_exit hook raised %r", exc)
        backoff = self.backoff[running.slot]
        if clean:
            backoff.succeeded()
        elif not self.stopping:
            delay = backoff.failed()
            self.not_before[running.slot] = time.monotonic() + delay
            log.warning("worker slot %d restarts in %.1fs", running.slot + 1, delay)


def main() -> int:
    logs.setup()
    spec = json.loads(os.environ.pop(ENV_SPEC))
    number = spec["number"]
    proctitle.set_title(f"{proctitle.MANAGER_PREFIX} listener #{number} 0/0/0 starting")
    logs.redirect(spec.get("stdout_path"), spec.get("stderr_path"))
    logging.getLogger("resqued").setLevel(spec.get("log_level", logging.INFO))
    channel = ipc.Channel.from_fd(spec["fd"])
    try:
        config = load(Overrides.from_json(spec["overrides"]))
        listener = Listener(number, channel, config, spec["master_pid"])
        return listener.run()
    except ResquedError as exc:
        log.error("listener #%d cannot start: %s", number, exc, exc_info=exc.__cause__)
        return 1
    except Exception:
        log.exception("listener #%d crashed while starting", number)
        return 1


if __name__ == "__main__":
    sys.exit(main())
