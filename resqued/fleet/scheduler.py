"""What Redis says about delayed jobs and their mover: the lock's holder, counts, the lag.

Two pipelined round trips at most, bounded: the jobs are counted over the
earliest ``EPOCHS`` due seconds only (one ``LLEN`` each), so a delayed queue
spread over a million seconds costs what one of a thousand does; past them the
count is a lower bound (``exact`` False).  The lock read is the default one
(``scheduler(lock_prefix=...)`` movers hold another key).
"""

from __future__ import annotations

from dataclasses import dataclass

from resqued.resque.store import Store, text

EPOCHS = 1000  # due seconds counted at most


@dataclass(frozen=True)
class Mover:
    """The delayed queue and its mover at one instant (times: the Redis server's clock)."""

    holder: str | None  # the scheduler lock's value, <host>:<pid>; None: no mover moves
    lock_ttl: int | None  # seconds before the lock lapses without a renewal
    delayed: int  # delayed jobs (over the first EPOCHS seconds, see exact)
    timestamps: int  # distinct due seconds (delayed_queue_schedule's size)
    due: int  # jobs whose second has come and that no mover has moved yet
    earliest: int | None  # the earliest second a job is due at
    lag: float  # how late the earliest due job is (0: none due)
    exact: bool  # every second was counted

    @property
    def active(self) -> bool:
        """Anything to show: a lock held or jobs delayed."""
        return self.holder is not None or self.timestamps > 0


def read_mover(store: Store, now: float) -> Mover:
    r, k = store.redis, store.keys
    lock = k.scheduler_lock()
    pipe = r.pipeline(transaction=False)
    pipe.get(lock)
    pipe.ttl(lock)
    pipe.zcard(k.delayed_schedule)
    pipe.zrange(k.delayed_schedule, 0, EPOCHS - 1)
    holder, ttl, timestamps, members = pipe.execute()
    epochs = [int(text(m)) for m in members]
    counts: list[int] = []
    if epochs:
        pipe = r.pipeline(transaction=False)
        for epoch in epochs:
            pipe.llen(k.delayed(epoch))
        counts = [int(n) for n in pipe.execute()]
    due = sum(n for epoch, n in zip(epochs, counts, strict=True) if epoch <= now)
    # An emptied second (remove_delayed leaves it to the mover) is no job waiting.
    earliest = next((e for e, n in zip(epochs, counts, strict=True) if n), None)
    return Mover(
        holder=None if holder is None else text(holder),
        lock_ttl=int(ttl) if holder is not None and int(ttl) >= 0 else None,
        delayed=sum(counts),
        timestamps=int(timestamps),
        due=due,
        earliest=earliest,
        lag=max(0.0, now - earliest) if earliest is not None else 0.0,
        exact=int(timestamps) <= EPOCHS,
    )


def summary(m: Mover) -> str:
    """One line: ``scheduler: lock held by web1:42 (170s left); 12 jobs delayed in 3
    timestamps, 2 due, lag 1.2s``."""
    lock = (
        f"lock held by {m.holder}" + (f" ({m.lock_ttl}s left)" if m.lock_ttl is not None else "")
        if m.holder
        else "NO MOVER holds the lock"
    )
    more = "" if m.exact else "+"
    jobs = f"{m.delayed}{more} job{'' if m.delayed == 1 else 's'} delayed"
    seconds = f"{m.timestamps} timestamp{'' if m.timestamps == 1 else 's'}"
    return f"scheduler: {lock}; {jobs} in {seconds}, {m.due}{more} due, lag {m.lag:.1f}s"
