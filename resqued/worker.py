"""The Resque worker: reserve, perform (in a forked child or in process), report.

The hot path is one Redis round trip per job: the RESERVE script records the
previous job's outcome, checks the pause flags, expands queue patterns, and
pops the next job into ``worker:<id>`` in one atomic step.  Signal handlers
only set flags and wake the loop through ``signal.set_wakeup_fd``; the single
exception is an in-process job, which TERM and USR1 interrupt by raising
inside it.
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from resqued import hooks, job_hooks, jobs, logs, proctitle
from resqued.backoff import Backoff
from resqued.proc import set_parent_death_signal, signal_name
from resqued.resque import failure, payload, registry, times
from resqued.resque.connection import connect
from resqued.resque.payload import Job, MalformedPayload
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.wakeup import Wakeup

log = logging.getLogger("resqued")

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
HEARTBEAT_INTERVAL = 60.0
MAX_WAIT_QUEUES = 4  # idle workers block on at most this many queues at once
PATTERN_POLL = 0.5  # how often queues nobody can block on are looked at
MIN_POLL = 0.1  # shortest idle or paused poll: INTERVAL=0 must not spin on Redis
MAX_RESULT_BYTES = 60_000  # a child's report fits in one pipe buffer
GAVE_UP = object()
SIGNALS = ("TERM", "INT", "QUIT", "USR1", "USR2", "CONT", "HUP")


class TermException(Exception):
    """Raised inside a job that TERM (or INT) interrupted."""


class JobKilled(Exception):
    """Raised inside an in-process job that USR1 killed."""


@dataclass
class WorkerOptions:
    fork_per_job: bool = True
    interval: float = 5.0  # longest idle wait before the queues are looked at again
    jobs_per_fork: int = 0  # exit (to be replaced) after this many jobs; 0 = never
    term_child: bool = False
    term_timeout: float = 4.0
    prune: bool = True
    pause_key: str = ""  # resqued's per-master pause flag, when managed
    parent_pid: int = 0  # exit gracefully when this parent goes away (0 = standalone)


@dataclass
class Outcome:
    """What happened to one job: None exception means success."""

    exception: str | None = None
    error: str = ""
    backtrace: list[str] | None = None


class Worker:
    def __init__(
        self,
        store: Store,
        queues: QueueList,
        options: WorkerOptions | None = None,
        worker_id: str | None = None,
    ):
        self.store = store
        self.queues = queues
        self.opts = options or WorkerOptions()
        self.id = worker_id or registry.worker_id(str(queues))
        self.shutdown = False  # QUIT: finish the current job, then exit
        self.shutdown_now = False  # TERM/INT: stop now
        self.paused = False  # USR2 until CONT
        self.kill_job = False  # USR1
        self.in_job = False
        self.jobs_done = 0
        self.finished = 0  # jobs whose outcome is recorded: mirrors stat:processed:<id>
        self.pending: bytes | None = None  # outcome of the last job, recorded by the next call
        self.wakeup: Wakeup | None = None
        self._outage = False
        self._redis_backoff = Backoff(0.1, 5.0)
        self._stop_heartbeat = threading.Event()
        self._reserve_args: list[str | bytes] = [
            store.keys.prefix,
            store.keys.worker(self.id),
            "",  # run_at
            self.opts.pause_key,
            "",  # jobs finished so far, when an outcome is pending
            "",  # failure record of the pending outcome
            "1",  # reserve (or "0": finish only)
            self.id,
        ]
        self._queue_args = queues.script_args()
        self.handover: list[str] = []  # queues whose hand-over list may hold a job for us
        self._wait_conns: dict[str, tuple[Any, int]] = {}  # queue -> (connection, client id)

    # -- signals -----------------------------------------------------------

    def _install_signals(self) -> None:
        self.wakeup = Wakeup()
        self.wakeup.catch(SIGNALS, self._on_signal)
        if self.opts.parent_pid:
            set_parent_death_signal(signal.SIGQUIT)

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal_name(signum)[3:]
        handler = getattr(self, "handle_" + name.lower())
        handler()

    def handle_term(self, name: str = "SIGTERM") -> None:
        self.shutdown = self.shutdown_now = True
        if self.in_job:
            self.in_job = False
            raise TermException(name)

    def handle_int(self) -> None:
        self.handle_term("SIGINT")

    def handle_quit(self) -> None:
        self.shutdown = True

    def handle_usr1(self) -> None:
        self.kill_job = True
        if self.in_job:
            self.in_job = False
            raise JobKilled("job killed by USR1")

    def handle_usr2(self) -> None:
        self.paused = True

    def handle_cont(self) -> None:
        self.paused = False

    def handle_hup(self) -> None:
        logs.reopen()  # the listener relays the master's USR1 as HUP

    def _sleep(self, seconds: float, *fds: int) -> list[int]:
        """Sleep until a signal arrives, one of ``fds`` is readable, or time is up."""
        assert self.wakeup is not None
        return self.wakeup.wait(seconds, *fds)

    # -- lifecycle -----------------------------------------------------------

    def work(self) -> int:
        """Run until told to stop. Returns the process exit status."""
        self._install_signals()
        proctitle.worker("Starting")
        try:
            if self._with_redis(self._startup, give_up_on_shutdown=True) is GAVE_UP:
                return 0
            hooks.run_worker_hooks("before_first_fork")
            self._start_heartbeat()
            log.info("worker %s started", self.id)
            self._loop()
            if self.shutdown:
                hooks.run_worker_hooks("shutdown")
        finally:
            self._stop_heartbeat.set()
            self._with_redis(self._unregister, give_up_on_shutdown=True)
            hooks.run_worker_hooks("worker_exit")
            log.info("worker %s exiting", self.id)
        return 0

    def _startup(self) -> None:
        registry.register(self.store, self.id, jobs.run_failure_hooks)
        if self.opts.prune:
            registry.prune_dead_workers(self.store, self.id, jobs.run_failure_hooks)

    def _unregister(self) -> None:
        registry.unregister(self.store, self.id, dead_job_hook=jobs.run_failure_hooks)

    def _loop(self) -> None:
        try:
            self._jobs()
        finally:
            self._flush()

    def _jobs(self) -> None:
        while not self.shutdown:
            if self._parent_gone():
                log.warning("worker %s: parent %d is gone, exiting", self.id, self.opts.parent_pid)
                break
            if self.paused:
                self._pause()
                continue
            result = self._with_redis(self._reserve, give_up_on_shutdown=True)
            if result is GAVE_UP:
                break
            kind = result[0]
            if kind in (b"job", b"resume"):
                self._process(self._job_from(result))
                self.jobs_done += 1
                if self.opts.jobs_per_fork and self.jobs_done >= self.opts.jobs_per_fork:
                    log.info("worker %s: %d jobs done, making way", self.id, self.jobs_done)
                    break
            elif kind == b"paused":
                proctitle.worker("Paused")
                self._sleep(max(min(self.opts.interval, 1.0), MIN_POLL))
            else:
                hooks.run_worker_hooks("queue_empty")
                proctitle.worker(f"Waiting for {self.queues}")
                self._wait_for_work([q.decode(errors="replace") for q in result[1:]])

    def _parent_gone(self) -> bool:
        return bool(self.opts.parent_pid) and os.getppid() != self.opts.parent_pid

    def _pause(self) -> None:
        # Record the last job's outcome and give back any job a wait took, before idling.
        self._flush()
        self._with_redis(lambda: registry.requeue_handed_over(self.store, self.id))
        hooks.run_worker_hooks("before_pause", self)
        proctitle.worker("Paused")
        log.info("worker %s paused", self.id)
        while self.paused and not self.shutdown and not self._parent_gone():
            self._sleep(max(self.opts.interval, MIN_POLL))
        hooks.run_worker_hooks("after_pause", self)
        log.info("worker %s resumed", self.id)

    # -- Redis, with retries ---------------------------------------------------

    def _with_redis(self, fn: Any, give_up_on_shutdown: bool = False) -> Any:
        """Call ``fn`` until Redis answers; logs once per outage. GAVE_UP when told to stop."""
        while True:
            try:
                result = fn()
            except REDIS_DOWN as exc:
                if not self._outage:
                    self._outage = True
                    log.error("redis at %s unavailable (%s); retrying", self.store.safe_url, exc)
                if self.shutdown_now or (give_up_on_shutdown and self.shutdown):
                    return GAVE_UP
                self._sleep(self._redis_backoff.failed())
                continue
            if self._outage:
                self._outage = False
                log.warning("redis at %s is back", self.store.safe_url)
            self._redis_backoff.succeeded()
            return result

    def _reserve(self, reserve: bool = True) -> list[bytes]:
        """One round trip: record the pending outcome (if any), then reserve the next job."""
        args = self._reserve_args
        args[2] = times.run_at()
        if self.pending is not None:
            args[4], args[5] = str(self.finished), self.pending
        else:
            args[4] = args[5] = ""
        args[6] = "1" if reserve else "0"
        claims = [str(len(self.handover)), *self.handover]
        result = self.store.reserve_script(args=[*args, *claims, *self._queue_args])
        if self.pending is not None:
            self.pending = None
            self.finished += 1
        return result

    def _flush(self) -> None:
        """Record a pending outcome without reserving (on the way out)."""
        if self.pending is not None:
            self._with_redis(lambda: self._reserve(reserve=False))

    def _job_from(self, result: list[bytes]) -> Job:
        if result[0] == b"resume":  # our reserve's reply was lost: the job is ours already
            doc = json.loads(result[1])
            return Job(doc.get("queue", ""), payload.dumps(doc.get("payload")), doc.get("payload"))
        return Job(result[1].decode(errors="replace"), result[2])

    def _wait_for_work(self, queues: list[str]) -> None:
        """Block until one of the first queues has a job, a signal comes, or ``interval`` ends.

        Each wait is ``BLMOVE queue:<q> resqued:inflight:<id>:<q>`` on a connection of
        its own: a new job wakes exactly one idle worker and lands in its hand-over
        list, where the next reserve takes it.  Waits are ended with ``CLIENT
        UNBLOCK`` and their replies read, so the worker always knows whether a job
        was handed over.  Queues past MAX_WAIT_QUEUES, and patterns matching no queue
        yet, are looked at every PATTERN_POLL seconds.
        """
        watched = queues[:MAX_WAIT_QUEUES]
        if not watched or len(queues) > MAX_WAIT_QUEUES:  # patterns may match new queues
            timeout = max(min(PATTERN_POLL, self.opts.interval), MIN_POLL)
        else:
            timeout = max(self.opts.interval, MIN_POLL)
        if not watched:
            self._sleep(timeout)
            return
        self.handover += [q for q in watched if q not in self.handover]
        keys = self.store.keys
        waits: list[tuple[Any, int]] = []
        try:
            for q in watched:
                conn, cid = self._wait_connection(q)
                conn.send_packed_command(
                    conn.pack_commands(
                        [
                            (
                                "BLMOVE",
                                keys.queue(q),
                                keys.inflight(self.id, q),
                                "LEFT",
                                "LEFT",
                                timeout,
                            )
                        ]
                    )
                )
                waits.append((conn, cid))
            self._sleep(timeout + 1.0, *(conn._sock.fileno() for conn, _ in waits))
            for conn, cid in waits:
                self._end_wait(conn, cid)
        except REDIS_DOWN as exc:
            self._close_wait_connections()
            if not self._outage:
                self._outage = True
                log.error("redis at %s unavailable (%s); retrying", self.store.safe_url, exc)
            self._sleep(self._redis_backoff.failed())

    def _wait_connection(self, queue: str) -> tuple[Any, int]:
        """A connection kept for waiting on ``queue``, with its Redis client id."""
        if queue not in self._wait_conns:
            conn = self.store.dedicated_connection()
            conn.send_command("CLIENT", "ID")
            self._wait_conns[queue] = (conn, int(conn.read_response()))
        return self._wait_conns[queue]

    def _end_wait(self, conn: Any, cid: int) -> None:
        """Unblock a wait (if it still waits) and read its reply: nil, or a handed-over job."""
        while not conn.can_read(timeout=0):
            self.store.redis.client_unblock(cid)
            if conn.can_read(timeout=0.05):
                break
        conn.read_response()

    def _close_wait_connections(self) -> None:
        for conn, _ in self._wait_conns.values():
            conn.disconnect()
        self._wait_conns.clear()

    # -- jobs ------------------------------------------------------------------

    def _process(self, job: Job) -> None:
        try:
            job = payload.decode(job.queue, job.raw) if not job.payload else job
            cls = jobs.resolve(job.class_name)
        except MalformedPayload as exc:
            log.error("worker %s: malformed payload on %s: %s", self.id, job.queue, exc)
            self._finish(
                job,
                Outcome("resqued.MalformedPayload", str(exc), []),
                payload.malformed_stand_in(job.raw),
            )
            return
        except jobs.UnknownJobClass as exc:
            log.error("worker %s: %s", self.id, exc)
            self._finish(job, Outcome("resqued.UnknownJobClass", str(exc), []))
            return
        log.debug("worker %s: got %s", self.id, job)
        if self.opts.fork_per_job:
            outcome = self._perform_forked(job, cls)
        else:
            outcome = self._perform_here(job, cls)
        self._finish(job, outcome)

    def _perform_here(self, job: Job, cls: type) -> Outcome:
        proctitle.worker(f"Processing {job.queue} since {int(time.time())} [{job.class_name}]")
        self.kill_job = False
        try:
            self.in_job = True
            try:
                job_hooks.perform(cls, job.args)
            finally:
                self.in_job = False
        except BaseException as exc:  # noqa: BLE001  (a job may raise anything, sys.exit too)
            hooks.on_failure(cls, exc, job.args)
            return Outcome(failure.exception_name(exc), str(exc), failure.backtrace_of(exc))
        return Outcome()

    def _perform_forked(self, job: Job, cls: type) -> Outcome:
        hooks.run_worker_hooks("before_fork", job)
        self.kill_job = False  # a USR1 that came while idle had no job to kill
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        gc.freeze()  # keep the child from dirtying the parent's pages with GC bookkeeping
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            self._child(job, cls, write_fd)  # never returns
        os.close(write_fd)
        proctitle.worker(f"Forked {pid} at {int(time.time())}")
        try:
            report = self._wait_for_child(pid, read_fd)
        finally:
            os.close(read_fd)
        status, data = report
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data:
            return _outcome_from(json.loads(data))
        message = failure.signal_exit_message(pid, status)
        hooks.on_failure(cls, RuntimeError(message), job.args)
        return Outcome(failure.DIRTY_EXIT, message, [])

    def _wait_for_child(self, pid: int, read_fd: int) -> tuple[int, bytes]:
        """Collect the child's report and exit status, relaying TERM and USR1 to it.

        The child's exit is watched through a pidfd (polled where there is none), not
        through the pipe alone: a grandchild the job left running may hold the pipe open.
        """
        chunks: list[bytes] = []
        kill_at = 0.0
        exited = _pidfd_open(pid)  # readable once the child has exited
        reading = True
        status: int | None = None
        try:
            while status is None:
                if self.shutdown_now and not kill_at:
                    kill_at = time.monotonic() + (
                        self.opts.term_timeout if self.opts.term_child else 0
                    )
                    if self.opts.term_child:
                        self._signal_child(pid, signal.SIGTERM)
                if kill_at and time.monotonic() >= kill_at:
                    self._signal_child(pid, signal.SIGKILL)
                if self.kill_job:
                    self.kill_job = False
                    self._signal_child(pid, signal.SIGKILL)
                timeout = max(0.05, kill_at - time.monotonic()) if kill_at else 60.0
                if exited is None:
                    timeout = min(timeout, 0.2)
                fds = [fd for fd in (read_fd if reading else None, exited) if fd is not None]
                if read_fd in self._sleep(timeout, *fds):
                    chunk = os.read(read_fd, 65536)
                    chunks.append(chunk)
                    reading = bool(chunk)  # EOF: the child closed its end, or exited
                status = _reap(pid)
        finally:
            if exited is not None:
                os.close(exited)
        if reading:  # what the child wrote before it exited (never block on a grandchild)
            os.set_blocking(read_fd, False)
            try:
                while chunk := os.read(read_fd, 65536):
                    chunks.append(chunk)
            except BlockingIOError:
                pass
        return status, b"".join(chunks)

    @staticmethod
    def _signal_child(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def _child(self, job: Job, cls: type, write_fd: int) -> None:
        """The forked child: perform one job, write one report line, leave with _exit."""
        code = 0
        try:
            if self.wakeup:
                self.wakeup.close()
            for name in ("INT", "QUIT", "USR1", "USR2", "CONT", "HUP"):
                signal.signal(getattr(signal, "SIG" + name), signal.SIG_DFL)
            signal.signal(signal.SIGTERM, _child_term)
            proctitle.worker(f"Processing {job.queue} since {int(time.time())} [{job.class_name}]")
            hooks.run_worker_hooks("after_fork", job)
            try:
                job_hooks.perform(cls, job.args)
                report: dict[str, Any] = {}
            except BaseException as exc:  # noqa: BLE001
                hooks.on_failure(cls, exc, job.args)
                report = {
                    "exception": failure.exception_name(exc),
                    "error": str(exc),
                    "backtrace": failure.backtrace_of(exc),
                }
            data = payload.dumps(report)
            if len(data) > MAX_RESULT_BYTES:
                report["backtrace"] = report.get("backtrace", [])[:20]
                report["error"] = report.get("error", "")[:10_000]
                data = payload.dumps(report)
            try:
                os.write(write_fd, data)
            except OSError as exc:
                if exc.errno != errno.EPIPE:
                    raise
            if self._parent_of_child_gone():
                self._finish(job, _outcome_from(report))
                self._flush()
        except BaseException:  # noqa: BLE001
            log.exception("worker child %d crashed", os.getpid())
            code = 1
        finally:
            os._exit(code)

    def _parent_of_child_gone(self) -> bool:
        """The worker died while we worked: record the outcome ourselves."""
        return os.getppid() != self._worker_pid

    @property
    def _worker_pid(self) -> int:
        return int(self.id.split(":")[1])

    def _finish(self, job: Job, outcome: Outcome, shown_payload: dict | None = None) -> None:
        """Make the outcome pending: the next reserve records it in the same round trip."""
        self.pending = b""
        if outcome.exception:
            self.pending = failure.record(
                shown_payload or job.payload,
                outcome.exception,
                outcome.error,
                outcome.backtrace or [],
                self.id,
                job.queue,
            )
            log.info("worker %s: %s failed: %s: %s", self.id, job, outcome.exception, outcome.error)

    # -- heartbeat ---------------------------------------------------------------

    def _start_heartbeat(self, ids: list[str] | None = None) -> None:
        client = Store(connect(self.store.url), self.store.keys, self.store.url)
        ids = ids or [self.id]

        def beat() -> None:
            while not self._stop_heartbeat.wait(HEARTBEAT_INTERVAL):
                try:
                    registry.heartbeat(client, ids)
                except redis.RedisError as exc:
                    log.debug("heartbeat failed: %s", exc)

        threading.Thread(target=beat, name="heartbeat", daemon=True).start()


def _pidfd_open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+: the wait loop polls instead
        return None


def _reap(pid: int) -> int | None:
    """The child's wait status once it has exited, without blocking; None while it runs."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return 0
    return status if done else None


def _child_term(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise TermException("SIGTERM")


def _outcome_from(report: dict[str, Any]) -> Outcome:
    if report.get("exception"):
        return Outcome(report["exception"], report["error"], report["backtrace"])
    return Outcome()
