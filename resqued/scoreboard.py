"""A worker process's scoreboard: shared memory the worker writes and its listener reads.

The listener maps one anonymous shared region per worker before it forks it;
the worker writes into it with plain memory stores (no system call, no Redis),
and the listener reads it whenever it wants.  It carries:

- one record per job thread (one for a worker without threads): a heartbeat,
  the state (starting, waiting, working, paused, stopping), the current job's
  queue, class, start time, hard time limit and job-child pid, and the counts
  of jobs done and failed;
- the worker's cumulative job statistics (per queue and class: jobs, failures,
  durations in histogram buckets), published at most once a second as JSON
  under a sequence lock, so the listener's metrics add nothing to the hot path
  and survive the worker's exit (the listener reads the page after reaping it);
- in its header: the heartbeat of a threaded worker's supervising thread, why
  the worker is about to exit (``recycled after 5 jobs``), and the one thing the
  listener writes: a request to kill a job child, with the reason to record
  (the worker kills its own child, so it only ever signals a pid it has not
  reaped; the worker clears the request, the listener writes one only when
  none is pending).

Times are ``time.monotonic()`` values: CLOCK_MONOTONIC is the same clock in
every process of the machine.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import mmap
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

STATES = ("starting", "waiting", "working", "paused", "stopping")
MAX_THREADS = 256
NAME = 64  # bytes kept of a queue or class name
# heartbeat, job start, hard limit (0: none), state, child pid, done, failed, queue, class
_RECORD = struct.Struct(f"<dddBxxxiQQ{NAME}s{NAME}s")
# Partial writes at fixed offsets in a record (the hot path writes only what changed).
_BEAT = struct.Struct("<d")  # @0
_JOB = struct.Struct("<dddBxxxi")  # @0: heartbeat, job start, hard limit, state, child pid
_CHILD = struct.Struct("<i")  # @28
_DONE = struct.Struct("<dddBxxxiQQ")  # @0: a finished job: all but the names in one write
_NAMES = struct.Struct(f"<{NAME}s{NAME}s")  # @48
_HEADER = struct.Struct("<II")  # threads, stats sequence (odd while being written)
_SUPERVISOR = struct.Struct("<d")  # @8: heartbeat of a threaded worker's supervising thread
NOTE = 120  # bytes kept of a note
_EXIT_NOTE = struct.Struct(f"<{NOTE}s")  # @16: why the worker exits (worker -> listener)
_KILL = struct.Struct("<i")  # @136: job child pid to kill (listener -> worker), 0: none
_KILL_NOTE = struct.Struct(f"<{NOTE}s")  # @140: what the killed job is recorded as
HEADER_SIZE = 264
_STATS_LEN = struct.Struct("<I")
STATS_BYTES = 16 * 1024
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
MAX_SERIES = 200  # (queue, class) pairs kept per worker; the rest count under class "other"
PUBLISH_EVERY = 1.0


@dataclass(frozen=True)
class Record:
    """One job thread, as the listener reads it."""

    heartbeat: float
    state: str
    job_started: float  # 0.0 when no job runs
    hard_limit: float  # seconds, 0.0 for none
    child_pid: int
    done: int
    failed: int
    queue: str
    class_name: str


def _add(row: list[float], ok: bool, duration: float) -> None:
    row[0] += 1
    if not ok:
        row[1] += 1
    row[2] += duration
    i = bisect.bisect_left(BUCKETS, duration)
    if i < len(BUCKETS):
        row[3 + i] += 1  # per bucket here; cumulative when published


def _name(text: str) -> bytes:
    return text.encode("utf-8", "replace")[:NAME]


def _note(text: str) -> bytes:
    return text.encode("utf-8", "replace")[:NOTE]


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("utf-8", "replace")


class Scoreboard:
    def __init__(self, threads: int = 1) -> None:
        if not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"a scoreboard holds 1 to {MAX_THREADS} threads, not {threads}")
        self.threads = threads
        self._stats_at = HEADER_SIZE + threads * _RECORD.size
        size = self._stats_at + _STATS_LEN.size + STATS_BYTES
        self.map = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        _HEADER.pack_into(self.map, 0, threads, 0)
        self._seen_seq = 0
        # Threads of one worker share the statistics; a single-threaded one needs no lock.
        self._lock = threading.Lock() if threads > 1 else contextlib.nullcontext()
        self._stats: dict[tuple[str, str], list[float]] = {}
        self._names: list[tuple[str, str]] = [("", "")] * threads  # last written, per thread
        self._rows: list[list[float]] = [[] for _ in range(threads)]  # their statistics row
        self._started = [0.0] * threads
        self._counts = [[0, 0] for _ in range(threads)]
        self._published = 0.0
        self._dirty = False

    def close(self) -> None:
        self.map.close()

    # -- the worker's side ------------------------------------------------------------

    def _offset(self, thread: int) -> int:
        return HEADER_SIZE + thread * _RECORD.size

    def beat(self, thread: int = 0, state: str | None = None) -> None:
        """The worker is alive (and, optionally, now in ``state``)."""
        off = self._offset(thread)
        _BEAT.pack_into(self.map, off, time.monotonic())
        if state is not None:
            self.map[off + 24] = STATES.index(state)

    def job_started(
        self, queue: str, class_name: str, hard_limit: float = 0.0, thread: int = 0
    ) -> float:
        now = time.monotonic()
        off = self._offset(thread)
        _JOB.pack_into(self.map, off, now, now, hard_limit, 2, 0)
        names = (queue, class_name)
        if self._names[thread] != names:
            _NAMES.pack_into(self.map, off + 48, _name(queue), _name(class_name))
            self._names[thread] = names
            with self._lock:
                self._rows[thread] = self._row(queue, class_name)
        self._started[thread] = now
        return now

    def supervisor_beat(self) -> None:
        """A threaded worker's supervising thread is alive."""
        _SUPERVISOR.pack_into(self.map, 8, time.monotonic())

    def exiting(self, why: str) -> None:
        """Say why the worker exits (shown as the reason of its replacement)."""
        _EXIT_NOTE.pack_into(self.map, 16, _note(why))

    def kill_request(self) -> tuple[int, str] | None:
        """The listener's request to kill a job child: (pid, what to record), if any."""
        (pid,) = _KILL.unpack_from(self.map, 136)
        if not pid:
            return None
        return pid, _text(_KILL_NOTE.unpack_from(self.map, 140)[0])

    def kill_done(self) -> None:
        """The worker took the request (whether or not the child was still its current one)."""
        _KILL.pack_into(self.map, 136, 0)

    def job_child(self, pid: int, thread: int = 0) -> None:
        _CHILD.pack_into(self.map, self._offset(thread) + 28, pid)

    def job_finished(self, ok: bool, thread: int = 0) -> None:
        """Count the job, record its duration, and go back to waiting."""
        now = time.monotonic()
        counts = self._counts[thread]
        counts[0] += 1
        if not ok:
            counts[1] += 1
        _DONE.pack_into(self.map, self._offset(thread), now, 0.0, 0.0, 1, 0, *counts)
        duration = now - (self._started[thread] or now)
        self._started[thread] = 0.0
        with self._lock:
            _add(self._rows[thread], ok, duration)
            self._dirty = True
        if now - self._published >= PUBLISH_EVERY:
            self.publish()

    def count(self, queue: str, class_name: str, ok: bool, duration: float) -> None:
        """Add one job to the statistics (``job_finished`` does it for the job that ran)."""
        with self._lock:
            _add(self._row(queue, class_name), ok, duration)
            self._dirty = True

    def _row(self, queue: str, class_name: str) -> list[float]:
        """The statistics row of a queue and class (the caller holds the lock)."""
        key = (queue, class_name)
        row = self._stats.get(key)
        if row is None:
            if len(self._stats) >= MAX_SERIES:
                key = (queue, "other")
            row = self._stats.get(key)
            if row is None:
                row = self._stats[key] = [0.0] * (3 + len(BUCKETS))
        return row

    def publish(self) -> None:
        """Write the cumulative statistics for the listener (also on the way out)."""
        with self._lock:
            if not self._dirty:
                return
            rows = []
            for (q, c), row in self._stats.items():
                if not row[0]:
                    continue  # a job of this class has started, none has finished yet
                cumulative, total = [], 0.0
                for n in row[3:]:
                    total += n
                    cumulative.append(total)
                rows.append([q, c, *row[:3], *cumulative])
            data = json.dumps(rows, separators=(",", ":")).encode()
            if len(data) > STATS_BYTES:
                return  # cannot happen with MAX_SERIES short names; never write past the page
            _, seq = _HEADER.unpack_from(self.map, 0)
            _HEADER.pack_into(self.map, 0, self.threads, seq + 1)  # odd: being written
            _STATS_LEN.pack_into(self.map, self._stats_at, len(data))
            start = self._stats_at + _STATS_LEN.size
            self.map[start : start + len(data)] = data
            _HEADER.pack_into(self.map, 0, self.threads, seq + 2)
            self._published = time.monotonic()
            self._dirty = False

    # -- the listener's side ------------------------------------------------------------

    def read(self, thread: int = 0) -> Record:
        beat, started, limit, state, child, done, failed, queue, cls = _RECORD.unpack_from(
            self.map, self._offset(thread)
        )
        return Record(
            beat,
            STATES[state] if state < len(STATES) else "starting",
            started,
            limit,
            child,
            done,
            failed,
            _text(queue),
            _text(cls),
        )

    def records(self) -> list[Record]:
        return [self.read(n) for n in range(self.threads)]

    def supervisor(self) -> float:
        """The supervising thread's last heartbeat (0.0: none yet, or not a threaded worker)."""
        (beat,) = _SUPERVISOR.unpack_from(self.map, 8)
        return float(beat)

    def exit_note(self) -> str:
        return _text(_EXIT_NOTE.unpack_from(self.map, 16)[0])

    def request_kill(self, pid: int, note: str) -> bool:
        """Ask the worker to kill job child ``pid`` and record ``note``; False if one is pending."""
        if _KILL.unpack_from(self.map, 136)[0]:
            return False
        _KILL_NOTE.pack_into(self.map, 140, _note(note))
        _KILL.pack_into(self.map, 136, pid)  # last: the worker reads the pid first
        return True

    def read_stats(self) -> list[list[Any]] | None:
        """The worker's cumulative statistics if they changed since the last read, else None.

        Each row: queue, class, jobs, failed, seconds, then one cumulative count per bucket.
        """
        for _ in range(3):
            _, seq = _HEADER.unpack_from(self.map, 0)
            if seq == self._seen_seq or seq % 2:
                if seq % 2:
                    continue  # being written: try again
                return None
            (length,) = _STATS_LEN.unpack_from(self.map, self._stats_at)
            start = self._stats_at + _STATS_LEN.size
            data = bytes(self.map[start : start + min(length, STATS_BYTES)])
            if _HEADER.unpack_from(self.map, 0)[1] != seq:
                continue  # changed while we read
            self._seen_seq = seq
            try:
                rows: list[list[Any]] = json.loads(data)
            except ValueError:
                return None
            return rows
        return None
