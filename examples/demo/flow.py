"""Jobs flowing, with live progress read from the fleet read model (what ``resqued status``
shows):

    python examples/demo/flow.py N [DEADLINE_SECONDS]

Enqueues N quick ``Images::Resize`` jobs (with N=0, none: it waits for jobs pushed
by someone else, such as ``resqued failed retry``), then every second prints
jobs queued, workers working, processed and failed (Resque's counters) and jobs per
second: one line redrawn in place on a terminal, a line a second otherwise. Returns
when no job is queued or running; exit 1 if that takes longer than the deadline
(default 60 seconds).
"""

from __future__ import annotations

import sys
import time

import demo_jobs

import resqued
from resqued.fleet import read_fleet
from resqued.fleet.rates import RateSampler, Sample
from resqued.resque.store import Store


def progress(queued: int, working: int, processed: int, failed: int, speed: float) -> str:
    return (
        f"queued {queued:>4}   working {working}   processed {processed:>4}   "
        f"failed {failed:>3}   {speed:6.1f} jobs/s"
    )


def snapshot(store: Store) -> tuple[Sample, int, int]:
    """(Resque's counters at the server's time, jobs queued, workers working)."""
    fleet = read_fleet(store, recent_failures=0, forget_dead=False)
    s = fleet.stats
    return Sample(fleet.taken_at, s.processed, s.failed), s.pending, s.working


def main() -> int:
    count = int(sys.argv[1])
    deadline = time.monotonic() + (float(sys.argv[2]) if len(sys.argv) > 2 else 60.0)
    store = Store.connect()  # $REDIS_URL
    start, _, _ = snapshot(store)
    for image in range(1, count + 1):
        resqued.enqueue(demo_jobs.Resize, image)
    rates = RateSampler(window=3.0)
    rates.add(start)
    tty = sys.stdout.isatty()
    while True:
        now, queued, working = snapshot(store)
        rates.add(now)
        recent = rates.rates()
        speed = sum(r.processed for r in recent) / len(recent) if recent else 0.0
        line = progress(queued, working, now.processed, now.failed, speed)
        # On a terminal the cursor goes back to the line's start: the next line drawn, or a
        # worker's log line (the master shares the terminal), overwrites it.
        sys.stdout.write(f"\r{line}\x1b[K\r" if tty else line + "\n")
        sys.stdout.flush()
        end = "\n" if tty else ""
        if queued == 0 and working == 0:
            done, failed = now.processed - start.processed, now.failed - start.failed
            summary = f"{done} jobs done ({failed} failed) in {now.at - start.at:.1f}s"
            print(end + (summary if count else "no job queued or running"), flush=True)
            return 0
        if time.monotonic() > deadline:
            print(f"{end}jobs still queued or running at the deadline", file=sys.stderr)
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
