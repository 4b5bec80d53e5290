-- One torrent as the admin API shows it: its counts and its first peers.
--
-- Every key shares the torrent's hash tag, so this runs on one node.
-- KEYS: 1 v4 seeders, 2 v4 leechers, 3 v6 seeders, 4 v6 leechers,
--       5 ids (hash: member -> peer id), 6 snatches (counter).
-- ARGV: 1 the most peers returned per family.
-- Returns {snatches, v4, v6}; each family is {seeders, leechers, member,
-- last seen, peer id, seeder (1/0), member, ...}: seeders first, each group
-- oldest first (by score, the last announce), at most ARGV[1] in all.
local limit = tonumber(ARGV[1])

local function family(seeders, leechers)
  local out = {redis.call('ZCARD', seeders), redis.call('ZCARD', leechers)}
  local left = limit
  for _, group in ipairs({{seeders, 1}, {leechers, 0}}) do
    if left > 0 then
      local got = redis.call('ZRANGE', group[1], 0, left - 1, 'WITHSCORES')
      for i = 1, #got, 2 do
        out[#out + 1] = got[i]
        out[#out + 1] = got[i + 1]
        out[#out + 1] = redis.call('HGET', KEYS[5], got[i]) or ''
        out[#out + 1] = group[2]
      end
      left = left - #got / 2
    end
  end
  return out
end

return {
  tonumber(redis.call('GET', KEYS[6]) or '0'),
  family(KEYS[1], KEYS[2]),
  family(KEYS[3], KEYS[4]),
}
