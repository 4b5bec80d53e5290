-- Totals of one bucket. KEYS: 1 torrent index (set), 2 totals (hash s, l).
-- Returns {torrents, seeders, leechers}.
local totals = redis.call('HMGET', KEYS[2], 's', 'l')
return {redis.call('SCARD', KEYS[1]), tonumber(totals[1] or '0'), tonumber(totals[2] or '0')}
