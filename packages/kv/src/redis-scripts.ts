// Lua scripts run by RedisKv. Each runs atomically on the server, which is what makes the
// check-then-write sequences below safe across any number of Gatehouse instances.

/**
 * KEYS[1]: the prefixed counter. ARGV: increment, TTL in ms.
 * INCRBY alone cannot tell whether it created the key, and the TTL must be set only then.
 */
export const INCR_WITH_TTL_LUA = `
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
`;

/**
 * KEYS[1]: the prefixed rate-limit key. ARGV: cost, then limit and windowMs for each window.
 * Reply: allowed (1 or 0), then count and ms-until-reset for each window.
 *
 * Windows are aligned to the server's TIME, so instances with skewed clocks share one
 * window. The window keys derive from that time, so they cannot be declared in KEYS: this
 * is right for a single Redis (and its replicas), not for Redis Cluster.
 */
export const RATE_LIMIT_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cost = tonumber(ARGV[1])
local n = (#ARGV - 1) / 2
local keys, counts, fresh, resets = {}, {}, {}, {}
local allowed = 1
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local windowMs = tonumber(ARGV[2 * i + 1])
  local index = math.floor(now / windowMs)
  keys[i] = KEYS[1] .. ':' .. ARGV[2 * i + 1] .. ':' .. string.format('%d', index)
  local current = redis.call('GET', keys[i])
  fresh[i] = not current
  counts[i] = tonumber(current or '0')
  resets[i] = (index + 1) * windowMs - now
  if counts[i] + cost > limit then allowed = 0 end
end
local reply = { allowed }
for i = 1, n do
  if allowed == 1 and cost > 0 then
    counts[i] = redis.call('INCRBY', keys[i], cost)
    if fresh[i] then redis.call('PEXPIRE', keys[i], resets[i]) end
  end
  reply[2 * i] = counts[i]
  reply[2 * i + 1] = resets[i]
end
return reply
`;
