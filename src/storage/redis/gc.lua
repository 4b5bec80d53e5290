-- One step of garbage collection over one bucket: the torrents an SSCAN step
-- of its index returns. Bounded per call (COUNT), so Redis is never blocked
-- for a whole bucket; the client repeats until the cursor is 0.
--
-- KEYS: 1 the bucket's torrent index (set), 2 its totals (hash; fields as in
--       announce.lua: s, l, s4, l4, s6, l6, w4, w6, d).
-- ARGV: 1 SSCAN cursor, 2 cutoff (unix secs; peers seen before it go),
--       3 key base (the bucket's hash-tagged prefix, e.g. "{chihaya:ab}:"),
--       4 SSCAN COUNT.
-- The torrents' keys are built here from the index: they carry the bucket's
-- hash tag, so they live in the same slot as KEYS[1].
-- Returns {next cursor, peers removed, swarms removed}.
local step = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[4])
local stale_below = '(' .. ARGV[2]
local peers, swarms = 0, 0
-- What this step takes off the bucket's totals, by field.
local gone = {s4 = 0, l4 = 0, s6 = 0, l6 = 0, w4 = 0, w6 = 0, d = 0}

-- HDEL in chunks: Lua's unpack has a limit on arguments.
local function forget(ids, members)
  for i = 1, #members, 1000 do
    redis.call('HDEL', ids, unpack(members, i, math.min(i + 999, #members)))
  end
end

-- Sweeps one family's seeders ('s') or leechers ('l'); returns how many are left.
local function sweep(base, family, kind)
  local key = base .. ':' .. family .. kind
  local stale = redis.call('ZRANGEBYSCORE', key, '-inf', stale_below)
  if #stale > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', stale_below)
    forget(base .. ':id', stale)
    peers = peers + #stale
    gone[kind .. family] = gone[kind .. family] + #stale
  end
  return redis.call('ZCARD', key), #stale
end

-- Sweeps one family of a torrent; a family that had peers and has none left
-- is one swarm fewer for that family. Returns how many peers are left.
local function sweep_family(base, family)
  local seeders, swept_s = sweep(base, family, 's')
  local leechers, swept_l = sweep(base, family, 'l')
  local left = seeders + leechers
  if left == 0 and swept_s + swept_l > 0 then gone['w' .. family] = gone['w' .. family] + 1 end
  return left
end

for _, torrent in ipairs(step[2]) do
  local base = ARGV[3] .. torrent
  local left = sweep_family(base, '4') + sweep_family(base, '6')
  -- SSCAN may return a member twice; SREM's answer counts each swarm once.
  if left == 0 and redis.call('SREM', KEYS[1], torrent) == 1 then
    -- The snatch count goes with the torrent, and leaves the bucket's total.
    gone.d = gone.d + tonumber(redis.call('GET', base .. ':d') or '0')
    redis.call('DEL', base .. ':id', base .. ':d')
    swarms = swarms + 1
  end
end
-- A fixed order (not pairs): the same writes on every run and replica.
for _, field in ipairs({'s4', 'l4', 's6', 'l6', 'w4', 'w6', 'd'}) do
  if gone[field] > 0 then redis.call('HINCRBY', KEYS[2], field, -gone[field]) end
end
if gone.s4 + gone.s6 > 0 then redis.call('HINCRBY', KEYS[2], 's', -(gone.s4 + gone.s6)) end
if gone.l4 + gone.l6 > 0 then redis.call('HINCRBY', KEYS[2], 'l', -(gone.l4 + gone.l6)) end
return {step[1], peers, swarms}
