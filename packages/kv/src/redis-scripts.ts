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

/** KEYS[1]: the prefixed key. ARGV[1]: the value it must hold to be deleted. Reply: 1 deleted, 0 not. */
export const DEL_IF_EQUALS_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS[1]; ARGV: the expected value, the new value, the TTL in ms. Reply: 1 when replaced, else 0. */
export const REPLACE_IF_EQUALS_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`;

/**
 * KEYS: one prefixed rate-limit key per limit. ARGV: cost, then for each key the number of its
 * windows followed by limit and windowMs for each window. Reply: allowed over all keys (1 or
 * 0), then for each key: whether its own windows allow (1 or 0), then count and
 * ms-until-reset for each of its windows. The cost is taken from every window of every key
 * only when all of them allow it; otherwise nothing is taken anywhere.
 *
 * Windows are aligned to the server's TIME, so instances with skewed clocks share one
 * window. The window keys derive from that time, so they cannot be declared in KEYS: each is
 * its KEYS entry with a suffix, in the same hash slot, so on Redis Cluster a call works when
 * its KEYS share one hash tag (the gateway tags them with the account).
 */
export const RATE_LIMIT_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cost = tonumber(ARGV[1])
local a = 2
local keys, counts, fresh, resets, limits, owners = {}, {}, {}, {}, {}, {}
local own, sizes = {}, {}
local allowed = 1
local w = 0
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  a = a + 1
  sizes[k] = n
  own[k] = 1
  for i = 1, n do
    w = w + 1
    local limit = tonumber(ARGV[a])
    local windowMs = tonumber(ARGV[a + 1])
    a = a + 2
    local index = math.floor(now / windowMs)
    keys[w] = KEYS[k] .. ':' .. string.format('%d', windowMs) .. ':' .. string.format('%d', index)
    local current = redis.call('GET', keys[w])
    fresh[w] = not current
    counts[w] = tonumber(current or '0')
    resets[w] = (index + 1) * windowMs - now
    if counts[w] + cost > limit then
      own[k] = 0
      allowed = 0
    end
  end
end
if allowed == 1 and cost > 0 then
  for i = 1, w do
    counts[i] = redis.call('INCRBY', keys[i], cost)
    if fresh[i] then redis.call('PEXPIRE', keys[i], resets[i]) end
  end
end
local reply = { allowed }
w = 0
for k = 1, #KEYS do
  reply[#reply + 1] = own[k]
  for i = 1, sizes[k] do
    w = w + 1
    reply[#reply + 1] = counts[w]
    reply[#reply + 1] = resets[w]
  end
end
return reply
`;
