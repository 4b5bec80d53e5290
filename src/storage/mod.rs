//! Where swarms live.
//!
//! One interface, several engines, chosen by an enum rather than `dyn` because
//! the set is closed and it keeps the async paths simple. Every engine must pass
//! the shared conformance suite in [`conformance`].
//!
//! The central decision: **announce is one storage operation**. Updating the
//! announcer and choosing its peers happen together (under one lock in the
//! memory engine), so two first announces can never miss each other.

pub mod conformance;
pub mod memory;
pub mod redis;
pub mod view;

use std::time::SystemTime;

use crate::config::StorageConfig;
use crate::protocol::{AnnounceRequest, InfoHash, Peer, PeerSink, Scrape};
pub use view::{FamilyView, PeerView, SwarmView};

/// What an announce did to the swarm, and what the announcer gets back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceOutcome {
    /// Up to `numwant` peers of the announcer's address family, never the
    /// announcer itself. Leechers get seeders first, seeders get only leechers
    /// (unless the request's [`PeerSelection`](crate::protocol::PeerSelection)
    /// says `all_peers`; with `prefer_subnet` the announcer's neighbours come
    /// first).
    pub peers: Vec<Peer>,
    /// Seeders and leechers (both address families) after this announce.
    pub counts: Scrape,
}

/// What a garbage collection pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    pub peers_removed: u64,
    /// Torrents dropped because no peer of either address family was left.
    pub swarms_removed: u64,
}

/// Totals over the whole store, for logs, metrics and `/stats`.
///
/// `snatches`, `ipv4` and `ipv6` were added for `/stats`; every field
/// defaults to zero, so an engine shows what it counts and nothing it made up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub torrents: u64,
    /// Both families.
    pub seeders: u64,
    pub leechers: u64,
    /// Completed downloads counted by the torrents currently tracked (a
    /// torrent's count goes when its last peer does, as for scrapes).
    pub snatches: u64,
    pub ipv4: FamilyStats,
    pub ipv6: FamilyStats,
}

/// One address family's swarms and peers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FamilyStats {
    /// Torrents with at least one peer of this family.
    pub swarms: u64,
    pub seeders: u64,
    pub leechers: u64,
}

impl StoreStats {
    /// Adds another part of the store (a shard) to these totals.
    pub fn add(&mut self, other: &StoreStats) {
        self.torrents += other.torrents;
        self.seeders += other.seeders;
        self.leechers += other.leechers;
        self.snatches += other.snatches;
        self.ipv4.add(&other.ipv4);
        self.ipv6.add(&other.ipv6);
    }
}

impl FamilyStats {
    pub fn add(&mut self, other: &FamilyStats) {
        self.swarms += other.swarms;
        self.seeders += other.seeders;
        self.leechers += other.leechers;
    }
}

/// One of the largest swarms, for the stats page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopSwarm {
    pub info_hash: InfoHash,
    /// Both families; `downloaded` is the snatch count.
    pub counts: Scrape,
}

impl TopSwarm {
    pub fn peers(&self) -> u64 {
        u64::from(self.counts.complete) + u64::from(self.counts.incomplete)
    }
}

/// A failure of the storage backend itself (never of the client's request).
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StorageError(pub String);

/// The configured storage engine.
pub enum Storage {
    Memory(memory::MemoryStorage),
    /// Boxed: its connection and scripts are large, and the enum is built once.
    Redis(Box<redis::RedisStorage>),
}

impl Storage {
    /// Builds the configured engine. Only an engine with a server behind it
    /// can fail here (Redis unreachable: the error names the broker).
    pub async fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        Ok(match config {
            StorageConfig::Memory(c) => Storage::Memory(memory::MemoryStorage::new(c)),
            StorageConfig::Redis(c) => {
                Storage::Redis(Box::new(redis::RedisStorage::connect(c).await?))
            }
        })
    }

    /// Records the announce and picks the announcer's peers, atomically.
    ///
    /// `stopped` removes the peer (and never adds one); `completed` makes it a
    /// seeder and counts a snatch unless it already was a seeder; `left == 0`
    /// makes it a seeder. `req.selection` shapes the choice of peers, and with
    /// `query_only` the announce changes nothing at all. The conformance suite
    /// spells out the whole contract.
    pub async fn announce(&self, req: &AnnounceRequest) -> Result<AnnounceOutcome, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.announce(req, SystemTime::now())),
            Storage::Redis(r) => r.announce(req, SystemTime::now()).await,
        }
    }

    /// As [`Storage::announce`], the peers handed to `sink` (the memory
    /// engine does so while it holds the swarm, with no list in between);
    /// returns the torrent's counts. The announcer is stamped as seen at
    /// `received`, when its request arrived: a frontend that reads the
    /// clock once per batch of datagrams passes that reading, and a peer's
    /// lifetime then runs from its datagram's arrival, not from whenever
    /// the batch got to it.
    pub async fn announce_into(
        &self,
        req: &AnnounceRequest,
        received: SystemTime,
        sink: &mut impl PeerSink,
    ) -> Result<Scrape, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.announce_into(req, received, sink)),
            Storage::Redis(r) => {
                let outcome = r.announce(req, received).await?;
                sink.reserve(outcome.peers.len());
                for peer in &outcome.peers {
                    sink.peer(peer);
                }
                Ok(outcome.counts)
            }
        }
    }

    /// A hint that requests about `hashes` are about to be served: the
    /// memory engine starts loading their torrents (see
    /// [`MemoryStorage::prefetch`](memory::MemoryStorage::prefetch)).
    pub fn prefetch(&self, hashes: &[InfoHash]) {
        match self {
            Storage::Memory(m) => m.prefetch(hashes),
            Storage::Redis(_) => {}
        }
    }

    /// Counts for each hash, in the order asked; unknown hashes count zero.
    pub async fn scrape(&self, hashes: &[InfoHash]) -> Result<Vec<Scrape>, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.scrape(hashes)),
            Storage::Redis(r) => r.scrape(hashes).await,
        }
    }

    /// Removes peers last seen before `cutoff` and swarms left empty.
    pub async fn collect_garbage(&self, cutoff: SystemTime) -> Result<GcStats, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.collect_garbage(cutoff)),
            Storage::Redis(r) => r.collect_garbage(cutoff).await,
        }
    }

    /// Puts back the swarms saved at the last clean shutdown, if the engine
    /// keeps a snapshot (memory with `snapshot_path`). Blocking file I/O: run
    /// it off the async workers, before serving.
    pub fn restore_snapshot(&self) {
        match self {
            Storage::Memory(m) => m.restore_snapshot(),
            // Redis keeps the swarms itself across tracker restarts.
            Storage::Redis(_) => {}
        }
    }

    /// Saves the swarms for the next start, if the engine keeps a snapshot.
    /// Blocking file I/O: run it off the async workers, after serving.
    pub fn save_snapshot(&self) {
        match self {
            Storage::Memory(m) => m.save_snapshot(),
            Storage::Redis(_) => {}
        }
    }

    pub async fn stats(&self) -> Result<StoreStats, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.stats()),
            Storage::Redis(r) => r.stats().await,
        }
    }

    /// One torrent's counts and up to `limit` peers of each family (seeders
    /// first); `None` when its swarm is empty. For the admin API.
    pub async fn swarm(
        &self,
        hash: &InfoHash,
        limit: usize,
    ) -> Result<Option<SwarmView>, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.swarm(hash, limit)),
            Storage::Redis(r) => r.swarm(hash, limit).await,
        }
    }

    /// The `n` torrents with the most peers, most first (ties by info hash).
    /// Looks at every torrent, so it is for an occasional look (the stats
    /// page), never for the request path.
    pub async fn top_swarms(&self, n: usize) -> Result<Vec<TopSwarm>, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.top_swarms(n)),
            Storage::Redis(r) => r.top_swarms(n).await,
        }
    }
}
