-- One step of garbage collection over one bucket: the torrents an SSCAN step
-- of its index returns. Bounded per call (COUNT), so Redis is never blocked
-- for a whole bucket; the client repeats until the cursor is 0.
--
-- KEYS: 1 the bucket's torrent index (set), 2 its totals (hash s, l).
-- ARGV: 1 SSCAN cursor, 2 cutoff (unix secs; peers seen before it go),
--       3 key base (the bucket's hash-tagged prefix, e.g. "{chihaya:ab}:"),
--       4 SSCAN COUNT.
-- The torrents' keys are built here from the index: they carry the bucket's
-- hash tag, so they live in the same slot as KEYS[1].
-- Returns {next cursor, peers removed, swarms removed}.
local step = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[4])
local stale_below = '(' .. ARGV[2]
local peers, swarms, gone_s, gone_l = 0, 0, 0, 0

-- HDEL in chunks: Lua's unpack has a limit on arguments.
local function forget(ids, members)
  for i = 1, #members, 1000 do
    redis.call('HDEL', ids, unpack(members, i, math.min(i + 999, #members)))
  end
end

for _, torrent in ipairs(step[2]) do
  local base = ARGV[3] .. torrent
  local left = 0
  for _, part in ipairs({'4s', '4l', '6s', '6l'}) do
    local key = base .. ':' .. part
    local stale = redis.call('ZRANGEBYSCORE', key, '-inf', stale_below)
    if #stale > 0 then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', stale_below)
      forget(base .. ':id', stale)
      peers = peers + #stale
      if string.sub(part, 2) == 's' then gone_s = gone_s + #stale else gone_l = gone_l + #stale end
    end
    left = left + redis.call('ZCARD', key)
  end
  -- SSCAN may return a member twice; SREM's answer counts each swarm once.
  if left == 0 and redis.call('SREM', KEYS[1], torrent) == 1 then
    redis.call('DEL', base .. ':id', base .. ':d')
    swarms = swarms + 1
  end
end
if gone_s > 0 then redis.call('HINCRBY', KEYS[2], 's', -gone_s) end
if gone_l > 0 then redis.call('HINCRBY', KEYS[2], 'l', -gone_l) end
return {step[1], peers, swarms}
