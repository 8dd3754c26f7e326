/**
 * The lease state machine, as Lua scripts run atomically by Redis (R25). Every change to an
 * item or a wait list happens inside one script, so concurrent requests never see a half
 * state: an item is granted to at most one lease, and the wait list is served in order.
 *
 * Keys (all under `<prefix>:lease:`; ARGV[1] is the prefix, so scripts build keys themselves
 * — fine on a single Redis, which is what Bosun uses):
 * - `seq`, `fence`             counters: lease ids (`L-<n>`) and fencing tokens (one per grant)
 * - `pool:<pool>`              zset of the pool's item ids, scored by config order
 * - `item:<pool>:<item>`       hash: attrs (",a,b,"), state (free|leased|dirty|cleaning|broken), leaseId, token
 * - `wait:<pool>`              list of waiting lease ids, oldest first (FIFO)
 * - `L-<n>`                    hash: the lease (pool, attrs, holder, ttl, state waiting|active|released|expired|cancelled, item, token, times)
 * - `active`                   zset of active lease ids by expiry (ms), read by the reaper
 * - `dirty`                    set of "<pool>/<item>" waiting for the janitor
 * - `cleaning`                 zset of "<pool>/<item>" being health-checked, by start time (ms)
 * - `recent`                   zset of lease ids by request time, for listings
 * - `holder:<actorId>`         set of the holder's lease ids (pruned of ended ones by takeOver)
 *
 * Errors come back as `{ 'err', code }` tables rather than Redis errors, so callers can turn
 * them into UserErrors with a useful message.
 */
const prelude = `
local P = ARGV[1]
local function k(...) return P .. ':lease:' .. table.concat({...}, ':') end

-- true when every wanted attribute (a ",a,b," string) is among the item's (same form)
local function matches(itemAttrs, wanted)
  for a in string.gmatch(wanted, '[^,]+') do
    if not string.find(itemAttrs, ',' .. a .. ',', 1, true) then return false end
  end
  return true
end

-- Gives item to lease id: a new fencing token, the item leased, the lease active until now+ttl.
local function grant(pool, item, id, now)
  local token = redis.call('INCR', k('fence'))
  local ttl = tonumber(redis.call('HGET', k(id), 'ttl'))
  local exp = now + ttl * 1000
  redis.call('HSET', k('item', pool, item), 'state', 'leased', 'leaseId', id, 'token', token)
  redis.call('HSET', k(id), 'state', 'active', 'item', item, 'token', token, 'grantedAt', now, 'expiresAt', exp)
  redis.call('HDEL', k(id), 'reminded')
  redis.call('ZADD', k('active'), exp, id)
  return { token, exp }
end

-- Owner and fence checks shared by renew and release. Returns nil when allowed, else an error code.
-- ARGV layout for callers: [2]=leaseId [3]=actorId [4]=isAdmin ('1'|'0') [5]=token ('' = use the lease id as the fence)
local function check_holder(id, actor, isAdmin, token)
  local l = redis.call('HMGET', k(id), 'state', 'holderId', 'pool', 'item', 'token')
  if not l[1] then return 'not_found' end
  if l[2] ~= actor and isAdmin ~= '1' then return 'forbidden' end
  if l[1] ~= 'active' then return 'not_active:' .. l[1] end
  if token ~= '' and token ~= l[5] then return 'stale_token' end
  local cur = redis.call('HMGET', k('item', l[3], l[4]), 'leaseId', 'token')
  if cur[1] ~= id or cur[2] ~= l[5] then return 'stale_token' end
  return nil
end
`;

/**
 * Sync one pool's items from config. ARGV: prefix, pool, then (item, ",attrs,", checked) triples,
 * checked = '1' when the item has a health check. New items with a health check start `dirty` so
 * the janitor checks them before the first grant; new items without one start `free` (there is
 * nothing to check, so a request right after a start gets them at once). Existing items keep
 * their state and only get their attributes refreshed.
 */
export const syncPoolScript = `${prelude}
local pool = ARGV[2]
redis.call('DEL', k('pool', pool))
local n = 0
for i = 3, #ARGV, 3 do
  local item, attrs, checked = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  n = n + 1
  redis.call('ZADD', k('pool', pool), n, item)
  redis.call('HSET', k('item', pool, item), 'attrs', attrs)
  local initial = 'free'
  if checked == '1' then initial = 'dirty' end
  if redis.call('HSETNX', k('item', pool, item), 'state', initial) == 1 and initial == 'dirty' then
    redis.call('SADD', k('dirty'), pool .. '/' .. item)
  end
end
return n
`;

/**
 * Request a lease. ARGV: prefix, pool, ",wanted,", holderId, holderName, ttlSec, nowMs, buildId, stage.
 * Grants the first free matching item (config order); otherwise appends to the FIFO wait list.
 * Returns { id, 'granted', item, token, expiresAt } or { id, 'waiting', position } or { 'err', 'no_match' }.
 */
export const acquireScript = `${prelude}
local pool, wanted, now = ARGV[2], ARGV[3], tonumber(ARGV[7])
local items = redis.call('ZRANGE', k('pool', pool), 0, -1)
local any = false
local free = nil
for _, item in ipairs(items) do
  local h = redis.call('HMGET', k('item', pool, item), 'attrs', 'state')
  if matches(h[1] or ',', wanted) then
    any = true
    if h[2] == 'free' and not free then free = item end
  end
end
if not any then return { 'err', 'no_match' } end
local id = 'L-' .. redis.call('INCR', k('seq'))
redis.call('HSET', k(id), 'id', id, 'pool', pool, 'attrs', wanted, 'holderId', ARGV[4], 'holderName', ARGV[5],
  'ttl', ARGV[6], 'requestedAt', now, 'buildId', ARGV[8], 'stage', ARGV[9], 'state', 'waiting')
redis.call('ZADD', k('recent'), now, id)
redis.call('SADD', k('holder', ARGV[4]), id)
if free then
  local g = grant(pool, free, id, now)
  return { id, 'granted', free, g[1], g[2] }
end
local pos = redis.call('RPUSH', k('wait', pool), id)
return { id, 'waiting', pos }
`;

/**
 * Extend an active lease. ARGV: prefix, leaseId, actorId, isAdmin, token, ttlSec, nowMs.
 * The holder (or an admin) with the current token only. Returns { 'ok', expiresAt } or { 'err', code }.
 */
export const renewScript = `${prelude}
local id, now = ARGV[2], tonumber(ARGV[7])
local bad = check_holder(id, ARGV[3], ARGV[4], ARGV[5])
if bad then return { 'err', bad } end
local exp = now + tonumber(ARGV[6]) * 1000
redis.call('HSET', k(id), 'expiresAt', exp, 'ttl', ARGV[6])
redis.call('HDEL', k(id), 'reminded')
redis.call('ZADD', k('active'), exp, id)
return { 'ok', exp }
`;

/**
 * Give a lease back (or leave the wait list). ARGV: prefix, leaseId, actorId, isAdmin, token, nowMs, reason.
 * An active lease's item goes `dirty` for the janitor (never straight to free, R25).
 * Returns { 'released', item } / { 'cancelled' } or { 'err', code }.
 */
export const releaseScript = `${prelude}
local id, now = ARGV[2], tonumber(ARGV[6])
local l = redis.call('HMGET', k(id), 'state', 'holderId', 'pool')
if l[1] == 'waiting' then
  if l[2] ~= ARGV[3] and ARGV[4] ~= '1' then return { 'err', 'forbidden' } end
  redis.call('LREM', k('wait', l[3]), 0, id)
  redis.call('HSET', k(id), 'state', 'cancelled', 'endedAt', now, 'endReason', ARGV[7])
  return { 'cancelled' }
end
local bad = check_holder(id, ARGV[3], ARGV[4], ARGV[5])
if bad then return { 'err', bad } end
local item = redis.call('HGET', k(id), 'item')
redis.call('HSET', k('item', l[3], item), 'state', 'dirty', 'leaseId', '', 'token', '')
redis.call('SADD', k('dirty'), l[3] .. '/' .. item)
redis.call('ZREM', k('active'), id)
redis.call('HSET', k(id), 'state', 'released', 'endedAt', now, 'endReason', ARGV[7])
return { 'released', item }
`;

/**
 * Reclaim expired leases (the reaper). ARGV: prefix, nowMs, limit.
 * Each expired lease's item goes `dirty`. Returns the expired lease ids.
 */
export const reapScript = `${prelude}
local now = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', k('active'), '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local l = redis.call('HMGET', k(id), 'pool', 'item')
  local cur = redis.call('HGET', k('item', l[1], l[2]), 'leaseId')
  if cur == id then
    redis.call('HSET', k('item', l[1], l[2]), 'state', 'dirty', 'leaseId', '', 'token', '')
    redis.call('SADD', k('dirty'), l[1] .. '/' .. l[2])
  end
  redis.call('ZREM', k('active'), id)
  redis.call('HSET', k(id), 'state', 'expired', 'endedAt', now, 'endReason', 'expired')
end
return ids
`;

/**
 * The janitor takes one dirty item to check. ARGV: prefix, nowMs, staleCleaningMs.
 * First returns to `dirty` any item whose check started too long ago (a janitor that died).
 * Returns "<pool>/<item>" or false.
 */
export const claimDirtyScript = `${prelude}
local now = tonumber(ARGV[2])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', k('cleaning'), '-inf', now - tonumber(ARGV[3]))) do
  redis.call('ZREM', k('cleaning'), m)
  redis.call('SADD', k('dirty'), m)
end
local m = redis.call('SPOP', k('dirty'))
if not m then return false end
local slash = string.find(m, '/', 1, true)
redis.call('HSET', k('item', string.sub(m, 1, slash - 1), string.sub(m, slash + 1)), 'state', 'cleaning')
redis.call('ZADD', k('cleaning'), now, m)
return m
`;

/**
 * The janitor's verdict. ARGV: prefix, pool, item, healthy ('1'|'0'), nowMs.
 * A healthy item is free and goes at once to the first waiter (FIFO) whose attributes it has;
 * a failing one is `broken` until an admin looks. Returns { 'granted', leaseId, token, expiresAt }, { 'free' } or { 'broken' }.
 */
export const finishCleanScript = `${prelude}
local pool, item, now = ARGV[2], ARGV[3], tonumber(ARGV[5])
redis.call('ZREM', k('cleaning'), pool .. '/' .. item)
if redis.call('HGET', k('item', pool, item), 'state') ~= 'cleaning' then return { 'skipped' } end
if ARGV[4] ~= '1' then
  redis.call('HSET', k('item', pool, item), 'state', 'broken')
  return { 'broken' }
end
redis.call('HSET', k('item', pool, item), 'state', 'free')
local attrs = redis.call('HGET', k('item', pool, item), 'attrs') or ','
for _, id in ipairs(redis.call('LRANGE', k('wait', pool), 0, -1)) do
  if matches(attrs, redis.call('HGET', k(id), 'attrs') or ',') then
    redis.call('LREM', k('wait', pool), 1, id)
    local g = grant(pool, item, id, now)
    return { 'granted', id, g[1], g[2] }
  end
end
return { 'free' }
`;

/** Mark a lease reminded once. ARGV: prefix, leaseId. Returns 1 the first time for its current term. */
export const markRemindedScript = `${prelude}
if redis.call('HGET', k(ARGV[2]), 'state') ~= 'active' then return 0 end
return redis.call('HSETNX', k(ARGV[2]), 'reminded', '1')
`;

/**
 * A new process of the same holder (a stage resumed on another worker after a crash) takes
 * over the holder's live lease in a pool instead of queueing behind it. ARGV: prefix,
 * holderId, pool, ",excluded ids,". A waiting request keeps its place; an active grant gets
 * a NEW fencing token, so the previous process's heartbeats and releases are refused from now
 * on. Returns { id, 'waiting' }, { id, 'granted', item, token } or false.
 */
export const takeOverScript = `${prelude}
for _, id in ipairs(redis.call('SMEMBERS', k('holder', ARGV[2]))) do
  local l = redis.call('HMGET', k(id), 'state', 'pool', 'item')
  if l[2] == ARGV[3] and not string.find(ARGV[4], ',' .. id .. ',', 1, true) then
    if l[1] == 'waiting' then return { id, 'waiting' } end
    if l[1] == 'active' and redis.call('HGET', k('item', l[2], l[3]), 'leaseId') == id then
      local token = redis.call('INCR', k('fence'))
      redis.call('HSET', k('item', l[2], l[3]), 'token', token)
      redis.call('HSET', k(id), 'token', token)
      return { id, 'granted', l[3], token }
    end
  end
  if l[1] ~= 'waiting' and l[1] ~= 'active' then redis.call('SREM', k('holder', ARGV[2]), id) end
end
return false
`;
