"""The Lua scripts of the Redis counters: every read-check-write of one call runs atomically.

Per counter key K (all keys of one call share a hash tag, so the scripts run unchanged on a
Redis Cluster): hash K holds ``v`` (rolling: bucket level at time ``t``; calendar: used,
reservations included) and ``s`` (calendar: settled, for budget alerts); sorted set ``K:r``
holds the request ids of open reservations scored by their expiry, hash ``K:a`` their
amounts. An expired reservation (its replica died before settling) is given back on the next
call that touches K, so a dead replica cannot leak quota. Numbers are returned as strings:
Redis would truncate Lua numbers to integers.
"""

from __future__ import annotations

# ARGV: now, rid, expires_at, mode ("admit" | "peek"), then 5 per check:
#   rate (0: calendar), capacity, amount, reset_at (calendar period end), tracked (0/1)
# KEYS: 3 per check: K, K:r, K:a
# Returns: {admitted, then per check: remaining, reset, wait (-1: never)}
ADMIT = """
local now = tonumber(ARGV[1])
local rid = ARGV[2]
local expires = tonumber(ARGV[3])
local peek = ARGV[4] == 'peek'
local n = #KEYS / 3
local levels, out = {}, {}
local ok = true
for i = 1, n do
  local a = 4 + (i - 1) * 5
  local rate, cap, amt = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local reset_at, tracked = tonumber(ARGV[a + 4]), ARGV[a + 5] == '1'
  local k, kr, ka = KEYS[i * 3 - 2], KEYS[i * 3 - 1], KEYS[i * 3]
  local cur = redis.call('HMGET', k, 'v', 't')
  local refund = 0
  if tracked and not peek then
    local stale = redis.call('ZRANGEBYSCORE', kr, '-inf', now)
    for _, m in ipairs(stale) do
      refund = refund + tonumber(redis.call('HGET', ka, m) or '0')
      redis.call('HDEL', ka, m)
    end
    if #stale > 0 then redis.call('ZREMRANGEBYSCORE', kr, '-inf', now) end
  end
  local value, avail, reset, wait
  if rate > 0 then
    if cur[1] then
      value = math.min(cap, tonumber(cur[1]) + (now - tonumber(cur[2])) * rate + refund)
    else
      value = cap
    end
    avail = value
    reset = (cap - value) / rate
    if avail >= amt then
      wait = 0
    elseif amt > cap then
      wait = -1
    else
      wait = (amt - avail) / rate
    end
  else
    value = math.max(0, (tonumber(cur[1]) or 0) - refund)
    avail = cap - value
    reset = math.max(0, reset_at - now)
    if avail >= amt then wait = 0 elseif amt > cap then wait = -1 else wait = reset end
  end
  if wait ~= 0 then ok = false end
  levels[i] = value
  out[i] = {avail, reset, wait}
end
if peek then ok = false end
for i = 1, n do
  local a = 4 + (i - 1) * 5
  local rate, cap, amt = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local reset_at, tracked = tonumber(ARGV[a + 4]), ARGV[a + 5] == '1'
  local k, kr, ka = KEYS[i * 3 - 2], KEYS[i * 3 - 1], KEYS[i * 3]
  local value = levels[i]
  if ok then
    if rate > 0 then value = value - amt else value = value + amt end
    out[i][1] = out[i][1] - amt
    if rate > 0 then out[i][2] = out[i][2] + amt / rate end
    if tracked and amt > 0 then
      redis.call('ZADD', kr, expires, rid)
      redis.call('HSET', ka, rid, amt)
    end
  end
  if not peek then
    redis.call('HSET', k, 'v', value, 't', now)
    local ttl
    if rate > 0 then ttl = (cap - value) / rate else ttl = reset_at - now end
    ttl = math.max(ttl, expires - now) + 60
    local ms = math.ceil(ttl * 1000)
    redis.call('PEXPIRE', k, ms)
    if tracked then
      redis.call('PEXPIRE', kr, ms)
      redis.call('PEXPIRE', ka, ms)
    end
  end
end
local res = {ok and 1 or 0}
for i = 1, n do
  res[#res + 1] = tostring(out[i][1])
  res[#res + 1] = tostring(out[i][2])
  res[#res + 1] = tostring(out[i][3])
end
return res
"""

# One counter's settlement. KEYS: K, K:r, K:a, alert prefix
# ARGV: now, rid, rate (0: calendar), capacity, reserved, actual, reset_at, limit, force,
#       then alert thresholds (fractions). force=1 gives back ``reserved`` without an open
#       reservation (undoing an admission whose other counters refused).
# Returns {settled (calendar; "0" for rolling), thresholds that fired now...}: each threshold
# fires once per key (so once per period), cluster-wide.
SETTLE = """
local now, rid = tonumber(ARGV[1]), ARGV[2]
local rate, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local reserved, actual = tonumber(ARGV[5]), tonumber(ARGV[6])
local reset_at, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
local k, kr, ka, alert = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('ZREM', kr, rid) == 1 then
  redis.call('HDEL', ka, rid)
elseif ARGV[9] ~= '1' then
  reserved = 0  -- expired and given back already: charge the whole actual amount
end
local cur = redis.call('HMGET', k, 'v', 't', 's')
local delta = reserved - actual
if rate > 0 then
  local level = cap
  if cur[1] then level = math.min(cap, tonumber(cur[1]) + (now - tonumber(cur[2])) * rate) end
  level = math.min(cap, level + delta)
  redis.call('HSET', k, 'v', level, 't', now)
  redis.call('PEXPIRE', k, math.ceil(((cap - level) / rate + 60) * 1000))
  return {'0'}
end
local used = math.max(0, (tonumber(cur[1]) or 0) - delta)
local settled = (tonumber(cur[3]) or 0) + actual
redis.call('HSET', k, 'v', used, 's', settled)
local ttl = math.ceil((math.max(reset_at - now, 0) + 86400) * 1000)
redis.call('PEXPIRE', k, ttl)
local fired = {tostring(settled)}
for i = 10, #ARGV do
  local th = tonumber(ARGV[i])
  if settled >= th * limit then
    if redis.call('SET', alert .. ARGV[i], '1', 'NX', 'PX', ttl) then
      fired[#fired + 1] = ARGV[i]
    end
  end
end
return fired
"""
