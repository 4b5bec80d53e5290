-- wrk script for bench/http_vs_aquatic.sh: BEP 3 announces over a realistic
-- spread of swarms, the same request mix for every server.
--
-- Each request picks a random torrent (one of TORRENTS info hashes) and a
-- random peer (one of PEERS peer ids, each with its own port, so every peer
-- is its own (ip, port) entry in the swarm), a quarter of them seeders, and
-- asks for NUMWANT compact peers. Hashes and ids are random bytes,
-- percent-escaped once at start-up: a request then costs the generator a few
-- string concatenations, not 40 string.format calls, so wrk stays cheap
-- enough to keep up with the server.
--
-- Environment: TORRENTS (default 10000), PEERS (default 60000, at most 64000:
-- ports must stay distinct), NUMWANT
-- (default 50), SEED (random seed, default 1; each wrk thread adds its id).

local torrents = tonumber(os.getenv("TORRENTS") or "10000")
local peers = tonumber(os.getenv("PEERS") or "60000")
local numwant = tonumber(os.getenv("NUMWANT") or "50")
local seed = tonumber(os.getenv("SEED") or "1")

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local escaped = {}
for b = 0, 255 do
  escaped[b] = string.format("%%%02X", b)
end

local function random_escaped_20()
  local parts = {}
  for i = 1, 20 do
    parts[i] = escaped[math.random(0, 255)]
  end
  return table.concat(parts)
end

local hashes, ids, ports, lefts = {}, {}, {}, {}

function init(args)
  -- The same torrents in every thread (one shared set of swarms); peers
  -- differ per thread.
  math.randomseed(seed)
  for i = 1, torrents do
    hashes[i] = random_escaped_20()
  end
  math.randomseed(seed * 7919 + (id or 1))
  for i = 1, peers do
    ids[i] = random_escaped_20()
    ports[i] = tostring(1025 + (i * 7 + (id or 1) * 131) % 64000)
    -- One peer in four is a seeder.
    if math.random(4) == 1 then lefts[i] = "0" else lefts[i] = "1048576" end
  end
end

local random = math.random
local tail = "&uploaded=0&downloaded=0&compact=1&numwant=" .. numwant

function request()
  local p = random(peers)
  local path = "/announce?info_hash=" .. hashes[random(torrents)]
    .. "&peer_id=" .. ids[p]
    .. "&port=" .. ports[p]
    .. "&left=" .. lefts[p]
    .. tail
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  -- Machine-readable lines for the bench script.
  io.write(string.format("BENCH requests %d\n", summary.requests))
  io.write(string.format("BENCH duration_us %d\n", summary.duration))
  io.write(string.format("BENCH errors %d\n",
    summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout))
  io.write(string.format("BENCH p50_us %d\n", latency:percentile(50)))
  io.write(string.format("BENCH p99_us %d\n", latency:percentile(99)))
end
