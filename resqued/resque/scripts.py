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
``REQUEUE`` puts any a worker left behind back at the head of their queue.
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
  if not done or tonumber(done) == tonumber(ARGV[5]) then
    known = true
    if redis.call('DEL', wkey) == 1 then
      if ARGV[6] ~= '' then
        redis.call('RPUSH', ns .. 'failed', ARGV[6])
        redis.call('INCRBY', ns .. 'stat:failed', 1)
        redis.call('INCRBY', ns .. 'stat:failed:' .. ARGV[8], 1)
      end
      redis.call('INCRBY', ns .. 'stat:processed', 1)
      redis.call('SET', pkey, tonumber(ARGV[5]) + 1)
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
local function take(q, job)
  local ok, doc = pcall(cjson.decode, job)
  local body = job
  if not (ok and type(doc) == 'table' and type(doc['class']) == 'string'
          and doc['class'] ~= '') then
    body = '{"class":"resqued.MalformedPayload","args":[' .. cjson.encode(job) .. ']}'
  end
  redis.call('SET', wkey,
    '{"queue":' .. cjson.encode(q) .. ',"run_at":"' .. run_at .. '","payload":' .. body .. '}')
  return {'job', q, job}
end
local nclaim = tonumber(ARGV[9])
local function handover(i) return ns .. 'resqued:inflight:' .. ARGV[8] .. ':' .. ARGV[i] end
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
    while redis.call('RPOPLPUSH', handover(i), ns .. 'queue:' .. ARGV[i]) do end
  end
  return {'paused'}
end
-- Jobs this worker's idle BLMOVE already moved into its hand-over lists come first.
for i = 10, 9 + nclaim do
  local job = redis.call('LPOP', handover(i))
  if job then return take(ARGV[i], job) end
end
local nincl, nexcl = tonumber(ARGV[10 + nclaim]), tonumber(ARGV[11 + nclaim])
local first = 12 + nclaim
local function matches(spec, q)
  local kind, body = string.sub(spec, 1, 1), string.sub(spec, 2)
  if kind == '=' then return q == body end
  for pattern in string.gmatch(body, '[^%z]+') do  -- brace alternatives, NUL-separated
    if string.find(q, pattern) then return true end
  end
  return false
end
local function excluded(q)
  for i = first + nincl, first + nincl + nexcl - 1 do
    if matches(ARGV[i], q) then return true end
  end
  return false
end
local all, seen, order = nil, {}, {}
local function add(q)
  if not seen[q] and not excluded(q) then seen[q] = true; order[#order + 1] = q end
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
    for _, q in ipairs(all) do
      if matches(spec, q) then add(q) end
    end
  end
end
for _, q in ipairs(order) do
  local job = redis.call('LPOP', ns .. 'queue:' .. q)
  if job then return take(q, job) end
end
return {'empty', unpack(order)}
"""

REQUEUE = r"""
local n = 0
while redis.call('RPOPLPUSH', KEYS[1], KEYS[2]) do n = n + 1 end
return n
"""
