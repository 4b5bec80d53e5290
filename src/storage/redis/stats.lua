-- Totals of one bucket. KEYS: 1 torrent index (set), 2 totals (hash; fields
-- as in announce.lua). A field never written (a store from before it
-- existed, or a bucket never used) reads as 0.
-- Returns {torrents, s, l, d, s4, l4, w4, s6, l6, w6}.
local fields = {'s', 'l', 'd', 's4', 'l4', 'w4', 's6', 'l6', 'w6'}
local values = redis.call('HMGET', KEYS[2], unpack(fields))
local out = {redis.call('SCARD', KEYS[1])}
for i = 1, #fields do out[#out + 1] = tonumber(values[i] or '0') end
return out
