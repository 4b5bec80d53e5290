-- One announce, atomically: update the announcer, keep the counts, pick peers.
--
-- Every key shares one hash tag, so this runs on one node of a cluster.
-- KEYS: 1 seeders of the announcer's family, 2 its leechers,
--       3 seeders of the other family, 4 its leechers (for the counts only),
--       5 ids (hash: member -> peer id), 6 snatches (counter),
--       7 the bucket's torrent index (set), 8 the bucket's totals (hash; see
--       the field list below).
-- ARGV: 1 member (address bytes + 2-byte port), 2 peer id, 3 now (unix secs),
--       4 action: seed | leech | stop, 5 completed (1/0), 6 numwant,
--       7 all_peers (1/0), 8 query_only (1/0), 9 prefix bits (0: no subnet
--       preference), 10 torrent id (index member), 11 and 12 random numbers
--       (where each group's walk starts), 13 subnet window (members read per
--       group when a subnet is preferred), 14 the announcer's family ('4' or
--       '6': names its totals fields).
-- Totals fields (a missing field reads as 0): s, l (seeders, leechers of
-- both families), s4, l4, s6, l6 (per family), w4, w6 (torrents with at least
-- one peer of that family), d (snatches of the torrents in the index).
-- Returns {seeders, leechers, snatches, member1, id1, member2, id2, ...}.
local member, pid, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local action, completed = ARGV[4], ARGV[5] == '1'
local numwant = tonumber(ARGV[6])
local all_peers, query_only = ARGV[7] == '1', ARGV[8] == '1'
local bits, torrent = tonumber(ARGV[9]), ARGV[10]
local randoms = {tonumber(ARGV[11]), tonumber(ARGV[12])}
local window = tonumber(ARGV[13])
local family = ARGV[14]

-- Writes the announce; returns nothing. A seeder repeating `completed` is not
-- a new download: a snatch counts once per transition to seeder.
local function record(was_seeder, was_leecher, empty_before)
  if action == 'stop' then
    if was_seeder then redis.call('ZREM', KEYS[1], member) end
    if was_leecher then redis.call('ZREM', KEYS[2], member) end
    if was_seeder or was_leecher then redis.call('HDEL', KEYS[5], member) end
    return
  end
  local into, from = KEYS[2], KEYS[1]
  if action == 'seed' then into, from = KEYS[1], KEYS[2] end
  redis.call('ZADD', into, now, member)
  redis.call('ZREM', from, member)
  redis.call('HSET', KEYS[5], member, pid)
  if completed and not was_seeder then redis.call('INCR', KEYS[6]) end
  if empty_before then redis.call('SADD', KEYS[7], torrent) end
end

-- Adds `by` to a totals field, skipping the write when nothing changed.
local function bump(field, by)
  if by ~= 0 then redis.call('HINCRBY', KEYS[8], field, by) end
end

-- The announcer's family's seeders and leechers: only this family can change.
local function mine()
  return redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])
end

local function swarm_flag(s, l)
  if s + l > 0 then return 1 end
  return 0
end

-- The other family is read once: this announce never changes it.
local other_s, other_l = redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4])
local ms0, ml0 = mine()
local s0, l0 = ms0 + other_s, ml0 + other_l
local snatches0 = tonumber(redis.call('GET', KEYS[6]) or '0')
local was_seeder = redis.call('ZSCORE', KEYS[1], member) ~= false
local was_leecher = redis.call('ZSCORE', KEYS[2], member) ~= false
if not query_only then record(was_seeder, was_leecher, s0 + l0 == 0) end
local ms1, ml1 = mine()
local s1, l1 = ms1 + other_s, ml1 + other_l
local snatches1 = tonumber(redis.call('GET', KEYS[6]) or '0')
bump('s', s1 - s0)
bump('l', l1 - l0)
bump('s' .. family, ms1 - ms0)
bump('l' .. family, ml1 - ml0)
bump('w' .. family, swarm_flag(ms1, ml1) - swarm_flag(ms0, ml0))
if s1 + l1 == 0 then
  -- The snatch count goes with the last peer, as in the memory engine, and
  -- leaves the bucket's total with it.
  redis.call('DEL', KEYS[5], KEYS[6])
  redis.call('SREM', KEYS[7], torrent)
  snatches1 = 0
end
bump('d', snatches1 - snatches0)
local out = {s1, l1, snatches1}
if action == 'stop' or numwant <= 0 then return out end

-- Leechers get seeders first; seeders get only leechers (all peers in LBRY mode).
local groups = {KEYS[1], KEYS[2]}
if action == 'seed' then
  groups = {KEYS[2]}
  if all_peers then groups = {KEYS[2], KEYS[1]} end
end

-- Up to `count` members of `key` from a random start, wrapping: O(count).
local function walk(key, count, r)
  local n = redis.call('ZCARD', key)
  if n == 0 then return {} end
  count = math.min(n, count)
  local start = r % n
  local got = redis.call('ZRANGE', key, start, start + count - 1)
  if #got < count then
    for _, m in ipairs(redis.call('ZRANGE', key, 0, count - #got - 1)) do got[#got + 1] = m end
  end
  return got
end

local function same_prefix(m)
  local full, rem = math.floor(bits / 8), bits % 8
  if string.sub(m, 1, full) ~= string.sub(member, 1, full) then return false end
  if rem == 0 then return true end
  local mask = 256 - 2 ^ (8 - rem)
  return bit.band(string.byte(m, full + 1), mask) == bit.band(string.byte(member, full + 1), mask)
end

-- Candidates in group order, never the announcer. One more than wanted is
-- read per group, so skipping the announcer still leaves enough.
local per_group = numwant + 1
if bits > 0 then per_group = math.max(per_group, window) end
local near, far = {}, {}
for i, key in ipairs(groups) do
  if bits == 0 and #far >= numwant then break end
  for _, m in ipairs(walk(key, per_group, randoms[i])) do
    if m ~= member then
      if bits > 0 and same_prefix(m) then near[#near + 1] = m else far[#far + 1] = m end
    end
  end
end
local chosen = {}
for _, list in ipairs({near, far}) do
  for _, m in ipairs(list) do
    if #chosen >= numwant then break end
    chosen[#chosen + 1] = m
  end
end
if #chosen == 0 then return out end
local ids = redis.call('HMGET', KEYS[5], unpack(chosen))
for i, m in ipairs(chosen) do
  out[#out + 1] = m
  out[#out + 1] = ids[i] or ''
end
return out
