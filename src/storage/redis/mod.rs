//! The Redis engine: many tracker processes share one set of swarms.
//!
//! Each announce is one Lua script (atomic, so counts stay exact under any
//! concurrency, and update and selection can never miss each other) on one
//! node: all keys it touches share a hash tag (see [`keys`]). Its cost is
//! O(numwant + log swarm): peers are read with ZRANGE by index from a random
//! start, never by fetching a swarm.
//!
//! - [`keys`]: the key layout and the 256 buckets that make cluster iteration cheap;
//! - [`member`]: a peer as a sorted-set member;
//! - [`broker`]: the `redis_broker` URL forms;
//! - [`conn`]: one server or a cluster, and the request time bound;
//! - [`health`]: one log line per outage, one per recovery;
//! - the `.lua` files: the scripts, with their KEYS and ARGV documented.

pub mod broker;
mod conn;
mod health;
mod inspect;
mod keys;
mod member;

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::future::try_join_all;
use futures_util::stream::{self, StreamExt};
use redis::{FromRedisValue, ScriptInvocation, Value};
use tracing::info;

use self::broker::Broker;
use self::conn::{Conn, Scripts, Timeouts};
use self::health::Health;
use self::keys::{BUCKETS, Keys};
use super::{AnnounceOutcome, FamilyStats, GcStats, StorageError, StoreStats, TopSwarm};
use crate::config::RedisConfig;
use crate::protocol::{AnnounceRequest, Event, InfoHash, Peer, Scrape, canonical_ip};

/// With a subnet preferred, each group is read this far (or numwant + 1 if
/// larger) to find near peers: the preference costs O(window) per announce,
/// and near peers beyond the window of this announce may come next time
/// (the window starts at random).
const SUBNET_WINDOW: u32 = 256;

/// Torrents one garbage collection or top_swarms step looks at (SSCAN's
/// COUNT hint): keeps each script short so Redis never stalls on a large bucket.
const SCAN_STEP: u32 = 100;

/// Buckets top_swarms walks at once: each walk is a chain of short scripts,
/// so a few in flight cut the page's latency without crowding out announces.
const TOP_PARALLEL: usize = 8;

pub struct RedisStorage {
    conn: Conn,
    keys: Keys,
    scripts: Scripts,
    health: Health,
    /// The broker without its password, for log lines.
    broker: String,
    timeouts: Timeouts,
}

impl RedisStorage {
    /// Connects (bounded by the connect and request timeouts); an unreachable
    /// Redis is an error that names the broker.
    pub async fn connect(config: &RedisConfig) -> Result<Self, StorageError> {
        let broker = Broker::parse(&config.redis_broker).map_err(StorageError)?;
        let timeouts = Timeouts::of(config);
        let conn = Conn::open(&broker, timeouts)
            .await
            .map_err(|e| StorageError(format!("cannot connect to redis at {broker}: {e}")))?;
        info!(%broker, cluster = conn.is_cluster(), "redis storage connected");
        Ok(RedisStorage {
            conn,
            keys: Keys::new(&config.redis_key_prefix),
            scripts: Scripts::default(),
            health: Health::default(),
            broker: broker.to_string(),
            timeouts,
        })
    }

    /// Runs one script within the request bound, keeping [`Health`] informed.
    async fn call<T: FromRedisValue>(
        &self,
        invocation: ScriptInvocation<'_>,
    ) -> Result<T, StorageError> {
        let bound = self.timeouts.request();
        let ticket = self.health.ticket();
        let error = match tokio::time::timeout(bound, self.conn.run(&invocation)).await {
            Ok(Ok(value)) => {
                self.health.ok(ticket, &self.broker);
                return Ok(value);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no reply within {bound:?}"),
        };
        self.health.failed(ticket, &self.broker, &error);
        Err(StorageError(format!("redis at {}: {error}", self.broker)))
    }

    pub async fn announce(
        &self,
        req: &AnnounceRequest,
        now: SystemTime,
    ) -> Result<AnnounceOutcome, StorageError> {
        let ip = canonical_ip(req.ip);
        let k = self.keys.torrent(&req.info_hash, ip);
        let mut script = self.scripts.announce.prepare_invoke();
        for swarm in k.swarms() {
            script.key(swarm);
        }
        script
            .key(&k.ids)
            .key(&k.snatches)
            .key(&k.index)
            .key(&k.totals)
            .arg(member::encode(ip, req.port))
            .arg(req.peer_id.0.as_slice())
            .arg(unix_secs(now))
            .arg(action(req))
            .arg(u8::from(req.event == Event::Completed))
            .arg(req.numwant)
            .arg(u8::from(req.selection.all_peers))
            .arg(u8::from(req.selection.query_only))
            .arg(prefix_bits(req, ip))
            .arg(&k.id)
            .arg(rand::random::<u32>())
            .arg(rand::random::<u32>())
            .arg(SUBNET_WINDOW)
            .arg(family(ip));
        let reply: Vec<Value> = self.call(script).await?;
        parse_announce(&reply)
    }

    /// One script per hash, all sent at once: the multiplexed connection
    /// pipelines them (and in a cluster each goes to its node), so a scrape
    /// of many hashes costs about one round trip per node.
    pub async fn scrape(&self, hashes: &[InfoHash]) -> Result<Vec<Scrape>, StorageError> {
        let asks = hashes.iter().map(|hash| {
            // The family only orders the keys; the script adds both.
            let k = self.keys.torrent(hash, IpAddr::from([0u8; 4]));
            let mut script = self.scripts.scrape.prepare_invoke();
            for swarm in k.swarms() {
                script.key(swarm);
            }
            script.key(&k.snatches);
            async move {
                let [complete, incomplete, downloaded]: [u32; 3] = self.call(script).await?;
                Ok::<_, StorageError>(Scrape {
                    complete,
                    incomplete,
                    downloaded,
                })
            }
        });
        try_join_all(asks).await
    }

    /// Walks every bucket with bounded SSCAN steps; one bucket at a time, so
    /// a sweep adds little load however large the store is.
    pub async fn collect_garbage(&self, cutoff: SystemTime) -> Result<GcStats, StorageError> {
        let cutoff = unix_secs(cutoff);
        let mut total = GcStats::default();
        for bucket in 0..BUCKETS {
            let bucket = bucket as u8;
            let (index, totals, base) = (
                self.keys.index(bucket),
                self.keys.totals(bucket),
                self.keys.bucket_base(bucket),
            );
            let mut cursor = "0".to_string();
            loop {
                let mut script = self.scripts.gc.prepare_invoke();
                script
                    .key(&index)
                    .key(&totals)
                    .arg(&cursor)
                    .arg(cutoff)
                    .arg(&base)
                    .arg(SCAN_STEP);
                let (next, peers, swarms): (String, u64, u64) = self.call(script).await?;
                total.peers_removed += peers;
                total.swarms_removed += swarms;
                if next == "0" {
                    break;
                }
                cursor = next;
            }
        }
        Ok(total)
    }

    /// Sums the 256 buckets' running totals (kept by the announce and gc
    /// scripts), all asked at once.
    pub async fn stats(&self) -> Result<StoreStats, StorageError> {
        let asks = (0..BUCKETS).map(|bucket| {
            let mut script = self.scripts.stats.prepare_invoke();
            script
                .key(self.keys.index(bucket as u8))
                .key(self.keys.totals(bucket as u8));
            async move { self.call::<[i64; 10]>(script).await }
        });
        let mut total = StoreStats::default();
        for bucket in try_join_all(asks).await? {
            total.add(&bucket_stats(bucket));
        }
        Ok(total)
    }

    /// Every bucket's own top `n` (a few buckets at a time, each in bounded
    /// SSCAN steps), merged and ranked as the memory engine ranks.
    pub async fn top_swarms(&self, n: usize) -> Result<Vec<TopSwarm>, StorageError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut walks = stream::iter(0..BUCKETS)
            .map(|b| self.bucket_top(b as u8, n))
            .buffer_unordered(TOP_PARALLEL);
        let mut top = Vec::new();
        while let Some(bucket) = walks.next().await {
            top.extend(bucket?);
            rank(&mut top, n);
        }
        Ok(top)
    }

    /// One bucket's `n` largest torrents, step by step.
    async fn bucket_top(&self, bucket: u8, n: usize) -> Result<Vec<TopSwarm>, StorageError> {
        let (index, base) = (self.keys.index(bucket), self.keys.bucket_base(bucket));
        let mut top = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let mut script = self.scripts.top.prepare_invoke();
            script
                .key(&index)
                .arg(&cursor)
                .arg(&base)
                .arg(SCAN_STEP)
                .arg(n);
            let (next, found): (String, Vec<(String, u32, u32, u32)>) = self.call(script).await?;
            for (id, complete, incomplete, downloaded) in found {
                let info_hash = keys::info_hash_of(&id).ok_or_else(|| {
                    StorageError(format!(
                        "redis: a torrent index holds {id:?}, not an info hash"
                    ))
                })?;
                let counts = Scrape {
                    complete,
                    incomplete,
                    downloaded,
                };
                top.push(TopSwarm { info_hash, counts });
            }
            rank(&mut top, n);
            if next == "0" {
                return Ok(top);
            }
            cursor = next;
        }
    }
}

/// `{torrents, s, l, d, s4, l4, w4, s6, l6, w6}` as the stats script returns
/// them. A total below zero can only come from a store written before the
/// field existed (its torrents' old counts are taken off as they go): it
/// reads as 0 rather than wrapping.
fn bucket_stats(v: [i64; 10]) -> StoreStats {
    let n = |i: usize| u64::try_from(v[i]).unwrap_or(0);
    let family = |at: usize| FamilyStats {
        seeders: n(at),
        leechers: n(at + 1),
        swarms: n(at + 2),
    };
    StoreStats {
        torrents: n(0),
        seeders: n(1),
        leechers: n(2),
        snatches: n(3),
        ipv4: family(4),
        ipv6: family(7),
    }
}

/// Most peers first, ties by info hash (as the memory engine), one entry per
/// torrent (an SSCAN may return one twice; the first seen after sorting, the
/// larger count, stays); keeps `n`.
fn rank(swarms: &mut Vec<TopSwarm>, n: usize) {
    swarms.sort_by(|a, b| {
        b.peers()
            .cmp(&a.peers())
            .then_with(|| a.info_hash.0.cmp(&b.info_hash.0))
    });
    let mut seen = HashSet::new();
    swarms.retain(|t| seen.insert(t.info_hash));
    swarms.truncate(n);
}

/// The announcer's family, as the announce script names its totals fields.
fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "4",
        IpAddr::V6(_) => "6",
    }
}

/// The announce as the script reads it. `completed` makes a seeder whatever
/// `left` says, as in the memory engine.
fn action(req: &AnnounceRequest) -> &'static str {
    match req.event {
        Event::Stopped => "stop",
        Event::Completed => "seed",
        _ if req.is_seeder() => "seed",
        _ => "leech",
    }
}

/// The preferred prefix length for the announcer's family (0: none), capped
/// at the address length.
fn prefix_bits(req: &AnnounceRequest, ip: IpAddr) -> u8 {
    match (req.selection.prefer_subnet, ip) {
        (None, _) => 0,
        (Some((v4, _)), IpAddr::V4(_)) => v4.min(32),
        (Some((_, v6)), IpAddr::V6(_)) => v6.min(128),
    }
}

/// Whole seconds, rounded down (like the memory engine's coarse clock).
fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `{seeders, leechers, snatches, member, id, member, id, ...}`.
fn parse_announce(reply: &[Value]) -> Result<AnnounceOutcome, StorageError> {
    let bad = || {
        StorageError(format!(
            "unexpected reply from the announce script: {reply:?}"
        ))
    };
    let [complete, incomplete, downloaded] = match reply.get(..3) {
        Some([a, b, c]) => [count(a), count(b), count(c)].map(|n| n.ok_or_else(bad)),
        _ => return Err(bad()),
    };
    let peers: Vec<Peer> = reply[3..]
        .chunks_exact(2)
        .filter_map(|pair| match pair {
            [Value::BulkString(m), Value::BulkString(id)] => member::decode(m, id),
            _ => None,
        })
        .collect();
    Ok(AnnounceOutcome {
        peers,
        counts: Scrape {
            complete: complete?,
            incomplete: incomplete?,
            downloaded: downloaded?,
        },
    })
}

fn count(v: &Value) -> Option<u32> {
    match v {
        Value::Int(n) => u32::try_from(*n).ok(),
        _ => None,
    }
}
