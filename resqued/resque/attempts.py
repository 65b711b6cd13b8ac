"""A retried job's Redis side: its attempt counted before a run, its outcome recorded after.

Both are one Lua call each.  ``begin`` counts the run as resque-retry's
``before_perform_retry`` does (``SETNX -1``, ``INCR``, the expiry).  ``finish``
records the outcome and, in the same step, does what resque-retry and its
``MultipleWithRetrySuppression`` failure backend do around it: on success the
attempt key goes; a failure that will run again is queued again (on its queue,
or in resque-scheduler's delayed queue) with its record kept in
``failure-resque-retry:...``; the last failure goes to ``failed`` and both keys
go.  The job leaves ``worker:<id>`` in that same step, so a worker that dies
at any instant leaves it either there (failed as a dirty exit by whoever finds
it) or wholly finished: never lost, never both retried and failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from resqued.resque.retry import failure_key
from resqued.resque.store import Store

# KEYS: the attempt key.  ARGV: seconds the key outlives the retry's delay ('' keeps
# it), the delay factor's maximum, then the base delays (the last repeats).
BEGIN = r"""
redis.call('SETNX', KEYS[1], -1)
local attempt = redis.call('INCR', KEYS[1])
if ARGV[1] ~= '' then
  local n = #ARGV - 2
  local i = attempt + 1
  if i < 1 then i = 1 end
  if i > n then i = n end
  local ttl = math.ceil(tonumber(ARGV[2 + i]) * tonumber(ARGV[2]) + tonumber(ARGV[1]))
  redis.call('EXPIRE', KEYS[1], math.max(1, ttl))
end
return attempt
"""

# ARGV: namespace prefix, worker id, worker:<id>, jobs the worker finished so far, the
# mode ('done', 'retry', 'failed'), the attempt key, its failure key, the failure
# record, then for 'retry': the queue, the epoch ('0': now), what to push there (a
# job, or a delayed entry), and the failure key's lifetime in seconds ('0': none).
# Guarded by the worker's count as RESERVE's finish is: a call retried after a lost
# reply changes nothing.  Returns 1 when it recorded the outcome.
FINISH = r"""
local ns, wid, wkey, count, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local akey, fkey, record = ARGV[6], ARGV[7], ARGV[8]
local pkey = ns .. 'stat:processed:' .. wid
local done = redis.call('GET', pkey)
if done and done ~= count and tonumber(done) ~= tonumber(count) then return 0 end
if redis.call('DEL', wkey) == 0 then return 0 end
if mode == 'done' then
  redis.call('DEL', akey)
else
  if mode == 'retry' then
    local queue, epoch, item, ttl = ARGV[9], ARGV[10], ARGV[11], tonumber(ARGV[12])
    redis.call('SETNX', akey, -1)
    if epoch == '0' then
      redis.call('SADD', ns .. 'queues', queue)
      redis.call('RPUSH', ns .. 'queue:' .. queue, item)
    else
      local dkey = ns .. 'delayed:' .. epoch
      redis.call('RPUSH', dkey, item)
      redis.call('SADD', ns .. 'timestamps:' .. item, dkey)
      redis.call('ZADD', ns .. 'delayed_queue_schedule', epoch, epoch)
    end
    if ttl > 0 then redis.call('SET', fkey, record, 'EX', ttl) end
  else
    redis.call('DEL', akey, fkey)
    redis.call('RPUSH', ns .. 'failed', record)
  end
  redis.call('INCRBY', ns .. 'stat:failed', 1)
  redis.call('INCRBY', ns .. 'stat:failed:' .. wid, 1)
end
redis.call('INCRBY', ns .. 'stat:processed', 1)
if done == count then redis.call('INCR', pkey) else redis.call('SET', pkey, tonumber(count) + 1) end
return 1
"""


@dataclass(frozen=True)
class Requeue:
    """Where a failed run goes to run again: ``item`` on ``queue`` now, or at ``epoch``."""

    queue: str
    epoch: int  # 0: now
    item: bytes  # the job ({"class","args"}), or the delayed entry (with its queue)
    keep_failure: int  # seconds failure-resque-retry:... keeps the record (0: not kept)


class Attempts:
    """The attempt keys and retried outcomes of one namespace."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.keys = store.keys
        self._begin = store.redis.register_script(BEGIN)
        self._finish = store.redis.register_script(FINISH)

    def key(self, attempt_key: str) -> str:
        return self.keys.prefix + attempt_key

    def begin(
        self, attempt_key: str, expire_after: float | None, factor: float, delays: tuple[float, ...]
    ) -> int:
        """Count a run: its attempt number, 0 for the first."""
        args: list[str | float] = ["" if expire_after is None else repr(expire_after), repr(factor)]
        args += [repr(float(d)) for d in delays]
        return int(self._begin(keys=[self.key(attempt_key)], args=args))

    def finish(
        self,
        worker_id: str,
        finished: int,
        attempt_key: str,
        record: bytes | None,
        requeue: Requeue | None = None,
    ) -> bool:
        """Record a run's outcome: done (``record`` None), run again (``requeue``), or failed."""
        key = self.key(attempt_key)
        mode = "done" if record is None else "retry" if requeue is not None else "failed"
        args: list[str | bytes | int] = [
            self.keys.prefix,
            worker_id,
            self.keys.worker(worker_id),
            str(finished),
            mode,
            key,
            self.keys.prefix + failure_key(attempt_key),
            record or b"",
        ]
        if requeue is not None:
            args += [requeue.queue, str(requeue.epoch), requeue.item, str(requeue.keep_failure)]
        return bool(self._finish(args=args))

    def attempt(self, attempt_key: str) -> int | None:
        """The attempt number in the key now (None: no run is counted)."""
        value = self.store.redis.get(self.key(attempt_key))
        return None if value is None else int(value)
