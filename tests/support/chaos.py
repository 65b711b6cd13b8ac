"""The chaos matrix's bookkeeping: which jobs go in, a producer that survives Redis faults, the tally.

``Mix`` gives out job ids and names each one's class (tests/support/apps/chaos_jobs.py),
hence the end it should come to.  ``Producer`` pushes them for as long as a
scenario runs, keeping a short backlog so jobs flow through every fault, each
exactly once however often a push is retried (the script that pushes adds the
id to ``chaos:pushed``, the tally's list of what went in).  ``tally`` reads the
side-effect file the jobs write and Redis's ``failed`` list, queue, worker
records and hand-over lists, and sorts every job into one ``Counts`` column;
``table`` prints the rows.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

QUEUE = "chaos"
DIRTY = {"Resque::DirtyExit", "Resque::PruneDeadWorkerDirtyExit"}
OWN_FAILURE = {  # the reason each failing class must be recorded with
    "ChaosBoom": "ValueError",
    "ChaosSlow": "resqued.JobTimeout",
    "ChaosHog": "resqued.MemoryLimitExceeded",
}
PUSH_ONCE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call(ARGV[4], KEYS[3], ARGV[3])
end
return 1
"""
RETRIED = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError)
ROWS = pytest.StashKey["list[Row]"]()  # every scenario's row, for the table at the end


class Mix:
    """Job ids and their classes: mostly ``ChaosOk``; every 97th ``ChaosBoom``, every
    ``slow``-th ``ChaosSlow``, every ``hog``-th ``ChaosHog``; and the faults' own."""

    def __init__(self, slow: int, hog: int) -> None:
        self.slow, self.hog = slow, hog
        self.classes: list[str] = []
        self.lock = threading.Lock()

    def _regular(self, key: int) -> str:
        if self.hog and key % self.hog == self.hog // 2:
            return "ChaosHog"
        if key % self.slow == self.slow // 2:
            return "ChaosSlow"
        return "ChaosBoom" if key % 97 == 13 else "ChaosOk"

    def take(self, n: int) -> list[int]:
        """``n`` new ids of the regular mix."""
        with self.lock:
            first = len(self.classes)
            self.classes += [self._regular(k) for k in range(first, first + n)]
            return list(range(first, first + n))

    def add(self, cls: str) -> int:
        """One more job of ``cls`` (a fault's own), pushed by the caller; its id."""
        with self.lock:
            self.classes.append(cls)
            return len(self.classes) - 1

    def body(self, key: int) -> str:
        return json.dumps({"class": self.classes[key], "args": [key]})


class Producer(threading.Thread):
    """Pushes batches of the mix while the queue holds fewer than ``backlog`` jobs, until
    ``halt`` is set and ``least`` jobs went in; retries each batch until Redis takes it."""

    def __init__(
        self, connect: Callable[[], redis.Redis], mix: Mix, backlog: int = 200, least: int = 600
    ) -> None:
        super().__init__(daemon=True)
        self.connect, self.mix, self.backlog, self.least = connect, mix, backlog, least
        self.sent = 0
        self.retries = 0
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def push(self, keys: range | list[int], front: bool = False, deadline: float = 120.0) -> None:
        """Push ``keys`` (at the head of the queue with ``front``: the next to run)."""
        give_up = time.monotonic() + deadline
        while True:
            try:
                client = self.connect()
                script = client.register_script(PUSH_ONCE)
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    names = ["chaos:pushed", "resque:queues", f"resque:queue:{QUEUE}"]
                    how = "LPUSH" if front else "RPUSH"
                    script(keys=names, args=[key, QUEUE, self.mix.body(key), how], client=pipe)
                pipe.execute()
                return
            except RETRIED:
                if time.monotonic() > give_up:
                    raise
                self.retries += 1
                time.sleep(0.1)  # retry step while Redis refuses (full, paused, failing over)

    def _room(self) -> bool:
        try:
            return int(self.connect().llen(f"resque:queue:{QUEUE}")) < self.backlog
        except RETRIED:
            return False

    def run(self) -> None:
        try:
            while self.sent < self.least or not self.halt.is_set():
                if not self._room():
                    time.sleep(0.02)  # pacing of the producer, not a test wait
                    continue
                batch = self.mix.take(25)
                self.push(batch)
                self.sent += len(batch)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc

    def finish(self, timeout: float = 180) -> None:
        self.halt.set()
        self.join(timeout)


def records(path: Path) -> dict[str, collections.Counter[int]]:
    """``done`` and ``start`` lines of the side-effect file, counted per job id."""
    out: dict[str, collections.Counter[int]] = {
        "done": collections.Counter(),
        "start": collections.Counter(),
    }
    if path.exists():
        for line in path.read_text().splitlines():
            what, key, _ = (line.split() + ["", "", ""])[:3]
            if what in out and key.isdigit():
                out[what][int(key)] += 1
    return out


def limbo(client: redis.Redis) -> set[int]:
    """Jobs held by a worker that is not registered: its ``worker:<id>`` or a hand-over list."""
    live = {w.decode() for w in client.smembers("resque:workers")}
    held: set[int] = set()
    for key in client.scan_iter("resque:worker:*"):
        name = key.decode()[len("resque:worker:") :]
        if name.endswith(":started") or name in live or client.type(key) != b"string":
            continue
        doc = client.get(key) or b""
        if doc.startswith(b"{"):
            held.add(int(json.loads(doc)["payload"]["args"][0]))
    for key in client.scan_iter("resque:resqued:inflight:*"):
        held |= {int(json.loads(raw)["args"][0]) for raw in client.lrange(key, 0, -1)}
    return held


@dataclass
class Counts:
    """Every job in exactly one column (``done_and_failed`` and ``twice`` say more about ``once``)."""

    jobs: int = 0
    once: int = 0  # completed once, not in failed
    twice: int = 0  # completed more than once
    failed_own: int = 0  # a failing class, recorded with its own reason
    failed_chaos: int = 0  # recorded with a reason the scenario's faults cause (a kill)
    failed_wrong: int = 0  # recorded with any other reason
    past_limit: int = 0  # a slow or hog job that completed: its guard rail did not fire
    done_and_failed: int = 0  # completed, then recorded as failed (killed before the record)
    queued: int = 0
    limbo: int = 0
    lost: int = 0
    wrong: collections.Counter[str] = field(default_factory=collections.Counter)
    own: dict[str, list[int]] = field(default_factory=dict)  # failing class -> [right, pushed]

    def by_class(self) -> str:
        """``Boom 12/12 Slow 5/6 Hog 1/2``: each failing class recorded with its own reason."""
        return " ".join(
            f"{cls.removeprefix('Chaos')} {right}/{total}"
            for cls, (right, total) in self.own.items()
        )

    COLUMNS = ("jobs", "once", "twice", "failed_own", "failed_chaos", "failed_wrong",
               "past_limit", "done_and_failed", "queued", "limbo", "lost")  # fmt: skip


def tally(client: redis.Redis, record: Path, mix: Mix, chaos: set[str]) -> Counts:
    """Sort every job pushed; ``chaos``: failure reasons this scenario's faults explain."""
    pushed = sorted(int(k) for k in client.smembers("chaos:pushed"))
    done = records(record)["done"]
    failed: dict[int, list[str]] = collections.defaultdict(list)
    for raw in client.lrange("resque:failed", 0, -1):
        doc = json.loads(raw)
        args = (doc.get("payload") or {}).get("args") or []
        if args and isinstance(args[0], int):
            failed[args[0]].append(doc.get("exception") or "?")
    queued = {int(json.loads(x)["args"][0]) for x in client.lrange(f"resque:queue:{QUEUE}", 0, -1)}
    held = limbo(client)
    c = Counts(jobs=len(pushed))
    c.own = {cls: [0, 0] for cls in OWN_FAILURE}
    for key in pushed:
        cls = mix.classes[key]
        ran, reasons = done[key], failed.get(key, [])
        if cls in c.own:
            c.own[cls][1] += 1
            c.own[cls][0] += reasons == [OWN_FAILURE[cls]] and not ran
        if ran > 1:
            c.twice += 1
        elif ran and cls in OWN_FAILURE:
            c.past_limit += 1
            c.wrong[f"{cls} completed"] += 1
        elif ran and reasons:
            c.done_and_failed += 1
        elif ran == 1:
            c.once += 1
        elif reasons:
            reason = reasons[0]
            if len(reasons) > 1:
                c.failed_wrong += 1
                c.wrong[f"{cls} failed {len(reasons)} times"] += 1
            elif reason == OWN_FAILURE.get(cls):
                c.failed_own += 1
            elif reason in chaos:
                c.failed_chaos += 1
            else:
                c.failed_wrong += 1
                c.wrong[f"{cls} as {reason}"] += 1
        elif key in queued:
            c.queued += 1
        elif key in held:
            c.limbo += 1
        elif not ran:
            c.lost += 1
            c.wrong[f"{cls} lost"] += 1
    ghosts = set(done) - set(pushed)
    if ghosts:
        c.wrong["ran but never pushed"] += len(ghosts)
    return c


@dataclass
class Row:
    """One scenario's line of the table."""

    scenario: str
    counts: Counts
    peak: int
    workers: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def table(rows: list[Row]) -> str:
    """Markdown: one row per scenario (its counts, peak workers, seconds, what went wrong)."""
    head = ["scenario", *Counts.COLUMNS, "own reason by class", "peak/N", "s", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        c = row.counts
        notes = [f"{what} x{n}" for what, n in c.wrong.most_common()] + row.notes
        cells = [
            row.scenario,
            *(str(getattr(c, name)) for name in Counts.COLUMNS),
            c.by_class(),
            f"{row.peak}/{row.workers}",
            f"{row.seconds:.0f}",
            "; ".join(notes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
