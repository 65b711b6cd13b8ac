"""The rolling hand-over of a reload, as the new listener drives it: when to ask for the next.

A reload's new listener starts a worker only into a slot an older worker
freed (``slots.startable``).  Instead of the older listener stopping all its
workers at once, the new listener asks the master (``NEXT``) to retire one
older worker at a time, and only when every worker of its own is up (past
``starting`` on its scoreboard: registered, waiting or working) and no slot
is free: so a master never has more than one slot without a worker able to
take a job, and never more workers than configured (docs/processes.md).

A retired worker that is finishing a long job does not hold the hand-over
up: after ``STEP`` seconds without its exit the listener asks for the next
one (that worker is still working, so the pool keeps its count of working
and waiting workers).  The function makes no system calls; it is tested
directly (tests/unit/test_handover.py).
"""

from __future__ import annotations

STEP = 2.0  # seconds: ask for the next older worker if the last one asked for is still alive
POLL = 0.025  # seconds: how soon the listener looks again while a replacement starts


def ask_next(
    total: int, running: int, older: int, starting: bool, asked_at: float, now: float
) -> bool:
    """Should the listener ask for one more older worker to be retired now?

    ``total``: its slots; ``running``: every worker counted against them (its own,
    the older ones, the slots older listeners hold); ``older``: older workers still
    alive; ``starting``: a worker of its own has not registered yet; ``asked_at``: when
    it last asked (0.0: not since an older worker last exited).
    """
    if older <= 0 or starting:
        return False  # nothing to retire, or the last replacement is not up yet
    if running < total:
        return False  # a free slot (a start to come, or one in crash backoff): no more
    return not asked_at or now - asked_at >= STEP
