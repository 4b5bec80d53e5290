-- Counts of one torrent. KEYS: 1 v4 seeders, 2 v4 leechers, 3 v6 seeders,
-- 4 v6 leechers, 5 snatches. Returns {seeders, leechers, snatches}.
return {
  redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[4]),
  tonumber(redis.call('GET', KEYS[5]) or '0'),
}
