-- One step of top_swarms over one bucket: of the torrents an SSCAN step of its
-- index returns, the `n` with the most peers. Bounded per call (COUNT): four
-- ZCARDs and a GET per torrent, O(COUNT log COUNT) in all, so Redis is never
-- blocked for a whole bucket; the client repeats until the cursor is 0 and
-- merges the steps (a torrent SSCAN returns twice is merged once there).
--
-- KEYS: 1 the bucket's torrent index (set).
-- ARGV: 1 SSCAN cursor, 2 key base (the bucket's hash-tagged prefix),
--       3 SSCAN COUNT, 4 n.
-- Returns {next cursor, {{hex id, seeders, leechers, snatches}, ...}}, most peers
-- first, ties by hex id (lowercase hex of a fixed length sorts as the bytes do).
local step = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[3])
local n = tonumber(ARGV[4])
local found = {}
for _, torrent in ipairs(step[2]) do
  local base = ARGV[2] .. torrent
  local s = redis.call('ZCARD', base .. ':4s') + redis.call('ZCARD', base .. ':6s')
  local l = redis.call('ZCARD', base .. ':4l') + redis.call('ZCARD', base .. ':6l')
  if s + l > 0 then
    found[#found + 1] = {torrent, s, l, tonumber(redis.call('GET', base .. ':d') or '0')}
  end
end
table.sort(found, function(a, b)
  if a[2] + a[3] ~= b[2] + b[3] then return a[2] + a[3] > b[2] + b[3] end
  return a[1] < b[1]
end)
local top = {}
for i = 1, math.min(n, #found) do top[i] = found[i] end
return {step[1], top}
