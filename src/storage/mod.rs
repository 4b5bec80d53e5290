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

use std::time::SystemTime;

use crate::config::StorageConfig;
use crate::protocol::{AnnounceRequest, InfoHash, Peer, Scrape};

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

/// Totals over the whole store, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub torrents: u64,
    pub seeders: u64,
    pub leechers: u64,
}

/// A failure of the storage backend itself (never of the client's request).
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StorageError(pub String);

/// The configured storage engine.
pub enum Storage {
    Memory(memory::MemoryStorage),
}

impl Storage {
    pub fn from_config(config: &StorageConfig) -> Self {
        match config {
            StorageConfig::Memory(c) => Storage::Memory(memory::MemoryStorage::new(c)),
        }
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
        }
    }

    /// Counts for each hash, in the order asked; unknown hashes count zero.
    pub async fn scrape(&self, hashes: &[InfoHash]) -> Result<Vec<Scrape>, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.scrape(hashes)),
        }
    }

    /// Removes peers last seen before `cutoff` and swarms left empty.
    pub async fn collect_garbage(&self, cutoff: SystemTime) -> Result<GcStats, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.collect_garbage(cutoff)),
        }
    }

    /// Puts back the swarms saved at the last clean shutdown, if the engine
    /// keeps a snapshot (memory with `snapshot_path`). Blocking file I/O: run
    /// it off the async workers, before serving.
    pub fn restore_snapshot(&self) {
        match self {
            Storage::Memory(m) => m.restore_snapshot(),
        }
    }

    /// Saves the swarms for the next start, if the engine keeps a snapshot.
    /// Blocking file I/O: run it off the async workers, after serving.
    pub fn save_snapshot(&self) {
        match self {
            Storage::Memory(m) => m.save_snapshot(),
        }
    }

    pub async fn stats(&self) -> Result<StoreStats, StorageError> {
        match self {
            Storage::Memory(m) => Ok(m.stats()),
        }
    }
}
