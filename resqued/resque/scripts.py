"""Lua scripts run inside Redis, so a job is never between two places.

RESERVE pops the first job from the worker's queues *and* records it in
``worker:<id>`` in one atomic step: a worker killed at any instant leaves the
job either on its queue or in ``worker:<id>``, where unregister/prune fail it
as a DirtyExit.  It also checks the pause flags and that the worker is still registered,
expands queue patterns,
and first finishes the previous job (failure record, DEL ``worker:<id>``,
stats), so the steady state is one round trip per job.

ARGV: namespace prefix, ``worker:<id>`` key, run_at, per-master pause key or
'', jobs this worker finished so far or '' (nothing to finish), the failure
record or '', '1' to reserve (else finish only), worker id, the number of
hand-over queues and their names, then the queue specs from
``QueueList.script_args()``.

An idle worker waits with ``BLMOVE queue:<q> resqued:inflight:<id>:<q>``: a
new job wakes exactly one worker (no thundering herd), and the job is never
only in that worker's memory.  RESERVE takes hand-over jobs first;
``HANDBACK`` puts any a worker left behind back at the head of their queue.

The idle wait records each queue it waits on in ``resqued:handovers:<id>``
(and the id in ``resqued:handovers``) before its first ``BLMOVE`` there, so
``HANDBACK`` finds every hand-over list of a worker without a ``SCAN``.

A script that moves a job writes its destination first: Redis refuses a
script's writes for lack of memory only until it has written something, so a
refused move has changed nothing (Redis 6.2, 7 and Valkey alike; the scripts
carry no ``#!lua`` flags, which 6.2 does not know).  RESERVE's first write
is a DEL or LPOP, which Redis allows even when full, so workers keep taking
(and draining) jobs then.  A replica (``READONLY``) or a server that cannot
save (``MISCONF``) refuses every write, the first one too.
"""

RESERVE = r"""
local ns, wkey, run_at, mpause = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local counted = false  -- this worker's own count exists: Redis has not forgotten it
local current = nil  -- worker:<id> as it stands, once this call has finished with it
local known = false  -- current is known without a GET: we deleted worker:<id>, or it was gone
if ARGV[5] ~= '' then
  -- Finish the previous job first. Guarded by the per-worker count, so a call
  -- retried after a lost reply does not count (or fail) the job twice.  A count
  -- that is gone (Redis restarted empty, Stat.clear) is no retry: finish, else
  -- worker:<id> would hand the same job back to us forever.  A worker:<id> that is
  -- gone (DEL finds nothing) was failed by someone else (the listener or a prune,
  -- after our worker died): the job is accounted for already.
  local pkey = ns .. 'stat:processed:' .. ARGV[8]
  local done = redis.call('GET', pkey)
  counted = done ~= false
  if not done or done == ARGV[5] or tonumber(done) == tonumber(ARGV[5]) then
    known = true
    if redis.call('DEL', wkey) == 1 then
      if ARGV[6] ~= '' then
        redis.call('RPUSH', ns .. 'failed', ARGV[6])
        redis.call('INCRBY', ns .. 'stat:failed', 1)
        redis.call('INCRBY', ns .. 'stat:failed:' .. ARGV[8], 1)
      end
      redis.call('INCRBY', ns .. 'stat:processed', 1)
      if done == ARGV[5] then  -- INCR stores what SET would: ARGV[5] + 1, no float formatting
        redis.call('INCR', pkey)
      else
        redis.call('SET', pkey, tonumber(ARGV[5]) + 1)
      end
    end
  end
end
if ARGV[7] ~= '1' then return {'finished'} end
if not known then current = redis.call('GET', wkey) end
if current then return {'resume', current} end
-- A worker missing from the registry (Redis restarted empty, or a prune elsewhere
-- took it for dead) is told so, and registers again before it takes a job.  Its
-- count is deleted along with its registration, so while the count is there (every
-- call under load) this check costs nothing.
if not counted and redis.call('SISMEMBER', ns .. 'workers', ARGV[8]) == 0 then
  return {'unregistered'}
end
local nclaim = tonumber(ARGV[9])
local inflight = ns .. 'resqued:inflight:' .. ARGV[8] .. ':'
-- Both pause flags in one read: Resque's pause-all-workers ('true'), and this
-- master's own flag (a string; present means paused).
local pause, mine
if mpause ~= '' then
  local flags = redis.call('MGET', ns .. 'pause-all-workers', mpause)
  pause, mine = flags[1], flags[2]
else
  pause = redis.call('GET', ns .. 'pause-all-workers')
end
if (pause and string.lower(string.match(pause, '^%s*(.-)%s*$')) == 'true') or mine then
  -- Paused: jobs an idle wait took go back to the head of their queues, in order.
  for i = 10, 9 + nclaim do
    while redis.call('RPOPLPUSH', inflight .. ARGV[i], ns .. 'queue:' .. ARGV[i]) do end
  end
  return {'paused'}
end
-- Jobs this worker's idle BLMOVE already moved into its hand-over lists come first.
local q, job = nil, false
for i = 10, 9 + nclaim do
  job = redis.call('LPOP', inflight .. ARGV[i])
  if job then q = ARGV[i]; break end
end
local nincl, nexcl = tonumber(ARGV[10 + nclaim]), tonumber(ARGV[11 + nclaim])
local first = 12 + nclaim
local popped = false  -- every queue was looked at already
if not job and nexcl == 0 then
  -- Named queues only, the usual case: pop them in the order given, no tables made.
  local last = first + nincl - 1
  local i = first
  while i <= last and string.byte(ARGV[i], 1) == 61 do i = i + 1 end  -- 61: '='
  if i > last then
    popped = true
    for k = first, last do
      job = redis.call('LPOP', ns .. 'queue:' .. string.sub(ARGV[k], 2))
      if job then q = string.sub(ARGV[k], 2); break end
    end
  end
end
if not job then
  local function matches(spec, name)
    local kind, body = string.sub(spec, 1, 1), string.sub(spec, 2)
    if kind == '=' then return name == body end
    for pattern in string.gmatch(body, '[^%z]+') do  -- brace alternatives, NUL-separated
      if string.find(name, pattern) then return true end
    end
    return false
  end
  local function excluded(name)
    for i = first + nincl, first + nincl + nexcl - 1 do
      if matches(ARGV[i], name) then return true end
    end
    return false
  end
  local all, seen, order = nil, {}, {}
  local function add(name)
    if not seen[name] and not excluded(name) then seen[name] = true; order[#order + 1] = name end
  end
  for i = first, first + nincl - 1 do
    local spec = ARGV[i]
    if string.sub(spec, 1, 1) == '=' then
      add(string.sub(spec, 2))
    else
      if not all then
        all = redis.call('SMEMBERS', ns .. 'queues')
        table.sort(all)
      end
      for _, name in ipairs(all) do
        if matches(spec, name) then add(name) end
      end
    end
  end
  if not popped then
    for _, name in ipairs(order) do
      job = redis.call('LPOP', ns .. 'queue:' .. name)
      if job then q = name; break end
    end
  end
  if not job then return {'empty', unpack(order)} end
end
-- Take the job: record it in worker:<id> as Resque does; a payload that is not a
-- JSON object naming a class is recorded as a MalformedPayload stand-in.
local ok, doc = pcall(cjson.decode, job)
local body = job
if not (ok and type(doc) == 'table' and type(doc['class']) == 'string'
        and doc['class'] ~= '') then
  body = '{"class":"resqued.MalformedPayload","args":[' .. cjson.encode(job) .. ']}'
end
redis.call('SET', wkey,
  '{"queue":' .. cjson.encode(q) .. ',"run_at":"' .. run_at .. '","payload":' .. body .. '}')
return {'job', q, job}
"""


# Every hand-over list of one worker back at the head of its queue, in order: the
# queues its record names plus those given (named in its id, for workers of an
# older version that kept no record).  ARGV: namespace prefix, worker id, '1' to
# forget the record (the worker is gone), the extra queues.  Returns the jobs moved.
HANDBACK = r"""
local ns, wid = ARGV[1], ARGV[2]
local record = ns .. 'resqued:handovers:' .. wid
local queues = redis.call('SMEMBERS', record)
for i = 4, #ARGV do queues[#queues + 1] = ARGV[i] end
local base = ns .. 'resqued:inflight:' .. wid .. ':'
local n = 0
for _, q in ipairs(queues) do
  while redis.call('RPOPLPUSH', base .. q, ns .. 'queue:' .. q) do n = n + 1 end
end
if ARGV[3] == '1' then
  redis.call('DEL', record)
  redis.call('SREM', ns .. 'resqued:handovers', wid)
end
return n
"""

# Move a job left in worker:<id> to failed, once.  KEYS: worker:<id>, failed, stat:failed,
# stat:failed:<id>.  ARGV: worker:<id> as the caller read it, the failure record.
# The RPUSH is the script's first write: a Redis that refuses writes (maxmemory with
# noeviction, a replica, MISCONF) refuses it before anything has changed, so the job
# stays in worker:<id>.  worker:<id> is deleted only if it still holds what was read:
# a job someone else moved meanwhile, or a new one, is left alone.
FAIL_IN_FLIGHT = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('INCR', KEYS[3])
redis.call('INCR', KEYS[4])
redis.call('DEL', KEYS[1])
return 1
"""

# Put back at the head of its queue a job a worker reserved and never started: a
# RESERVE whose reply was lost (Redis killed after writing it), the worker gone before
# it asked again.  KEYS: worker:<id>, stat:processed:<id>, queue:<q>, queues.  ARGV:
# worker:<id> as the caller read it, the jobs the worker finished (every one of them
# recorded: the count matches, else the job in worker:<id> may be one it ran), the
# payload, the queue's name.  Returns 1 if it was put back.
REQUEUE_UNSTARTED = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local done = redis.call('GET', KEYS[2])
if (done or '0') ~= ARGV[2] and tonumber(done or '0') ~= tonumber(ARGV[2]) then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('DEL', KEYS[1])
return 1
"""

# -- resque-scheduler's keys (resqued/resque/delayed.py, resqued/resque/scheduler_lock.py) --

# One bounded chunk of a due timestamp, moved in one step.  KEYS: delayed:<epoch>,
# delayed_queue_schedule, the scheduler lock.  ARGV: the epoch, the lock's holder
# value ('' moves without a lock), the lock's timeout, the namespace prefix, the
# number of jobs n, then per job: the entry as read, its queue ('' for the failed
# list), what to push there.  The entries read must still head the list (a
# producer's remove_delayed or another mover changed it: -1, read again), and the
# lock must still be ours (-2): a job is moved once, whoever moves.
MOVE_DELAYED = r"""
local key, ns, n = KEYS[1], ARGV[4], tonumber(ARGV[5])
if ARGV[2] ~= '' then
  if redis.call('GET', KEYS[3]) ~= ARGV[2] then return -2 end
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
if n == 0 then
  if redis.call('LLEN', key) ~= 0 then return -1 end
else
  local head = redis.call('LRANGE', key, 0, n - 1)
  if #head ~= n then return -1 end
  for i = 1, n do
    if head[i] ~= ARGV[3 + 3 * i] then return -1 end
  end
end
for i = 1, n do
  local at = 3 + 3 * i
  redis.call('SREM', ns .. 'timestamps:' .. ARGV[at], key)
  if ARGV[at + 1] == '' then
    redis.call('RPUSH', ns .. 'failed', ARGV[at + 2])
  else
    redis.call('SADD', ns .. 'queues', ARGV[at + 1])
    redis.call('RPUSH', ns .. 'queue:' .. ARGV[at + 1], ARGV[at + 2])
  end
end
if n > 0 then redis.call('LTRIM', key, n, -1) end
if redis.call('LLEN', key) == 0 then
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return n
"""

# resque-scheduler's master lock (lock/resilient.rb): take it if free, for its timeout.
LOCK_ACQUIRE = r"""
if redis.call('SETNX', KEYS[1], ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Still ours? Then extend it by its timeout, and say it is ours.
LOCK_RENEW = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
end
return 0
"""

# Let go of it if it is ours (Ruby's ``locked? && release!``, in one step).
LOCK_RELEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# A recurring schedule fires: its job on its queue and its delayed:last_enqueued_at
# time, only while ARGV[1] holds the scheduler lock (KEYS: the lock, queue:<q>, queues,
# delayed:last_enqueued_at; ARGV: the holder value, the queue, the job, the schedule's
# name, the time as Ruby's Time#to_s writes it).
FIRE_RECURRING = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
return 1
"""
