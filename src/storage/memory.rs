//! The in-memory engine. Stub.
use std::time::SystemTime;

use super::{AnnounceOutcome, GcStats, StoreStats};
use crate::config::MemoryConfig;
use crate::protocol::{AnnounceRequest, InfoHash, Scrape};

pub struct MemoryStorage {}

impl MemoryStorage {
    pub fn new(_config: &MemoryConfig) -> Self {
        MemoryStorage {}
    }

    pub fn announce(&self, _req: &AnnounceRequest, _now: SystemTime) -> AnnounceOutcome {
        AnnounceOutcome::default()
    }

    pub fn scrape(&self, hashes: &[InfoHash]) -> Vec<Scrape> {
        vec![Scrape::default(); hashes.len()]
    }

    pub fn collect_garbage(&self, _cutoff: SystemTime) -> GcStats {
        GcStats::default()
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}
