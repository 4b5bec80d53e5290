//! `GET /stats`: the tracker's state as JSON, for people and scripts that do
//! not run Prometheus (Go chihaya's users asked for this in its issue #621).

use std::time::Duration;

use serde::Serialize;

use super::Ops;
use super::history::Rates;
use crate::storage::{FamilyStats, StorageError, StoreStats, TopSwarm};

/// How many of the largest swarms `/stats` lists.
pub const TOP_SWARMS: usize = 10;
/// A storage call slower than this makes `/stats` fail rather than hang.
pub const STORAGE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
pub struct Stats {
    pub version: &'static str,
    pub uptime_seconds: u64,
    /// Unix time the tracker started.
    pub started_at: u64,
    pub torrents: u64,
    pub peers: u64,
    pub seeders: u64,
    pub leechers: u64,
    pub snatches: u64,
    pub ipv4: Family,
    pub ipv6: Family,
    /// Requests answered since start.
    pub requests: Requests,
    /// Averaged over the last minute.
    pub rates: Rates,
    pub rate_window_seconds: f64,
    pub errors_by_reason: Vec<ErrorCount>,
    pub http_open_connections: i64,
    pub top_swarms: Vec<Swarm>,
}

#[derive(Serialize)]
pub struct Family {
    pub swarms: u64,
    pub peers: u64,
    pub seeders: u64,
    pub leechers: u64,
}

#[derive(Serialize)]
pub struct Requests {
    pub announces: u64,
    pub scrapes: u64,
    pub connects: u64,
    pub errors: u64,
}

#[derive(Serialize)]
pub struct ErrorCount {
    pub reason: String,
    pub count: u64,
}

#[derive(Serialize)]
pub struct Swarm {
    /// Hex, lowercase.
    pub info_hash: String,
    pub peers: u64,
    pub seeders: u32,
    pub leechers: u32,
    pub snatches: u32,
}

impl From<FamilyStats> for Family {
    fn from(f: FamilyStats) -> Self {
        Family {
            swarms: f.swarms,
            peers: f.seeders + f.leechers,
            seeders: f.seeders,
            leechers: f.leechers,
        }
    }
}

impl From<&TopSwarm> for Swarm {
    fn from(t: &TopSwarm) -> Self {
        Swarm {
            info_hash: t.info_hash.0.iter().map(|b| format!("{b:02x}")).collect(),
            peers: t.peers(),
            seeders: t.counts.complete,
            leechers: t.counts.incomplete,
            snatches: t.counts.downloaded,
        }
    }
}

/// Asks storage now (not the last report), so the numbers match a scrape
/// made just before.
pub async fn collect(ops: &Ops) -> Result<Stats, StorageError> {
    let store = bounded(ops.storage.stats()).await?;
    let top = bounded(ops.storage.top_swarms(TOP_SWARMS)).await?;
    Ok(assemble(ops, &store, &top))
}

async fn bounded<T>(
    call: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    tokio::time::timeout(STORAGE_TIMEOUT, call)
        .await
        .map_err(|_| StorageError(format!("no answer within {STORAGE_TIMEOUT:?}")))?
}

fn assemble(ops: &Ops, store: &StoreStats, top: &[TopSwarm]) -> Stats {
    let totals = ops.metrics.requests().totals();
    Stats {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: ops.started.elapsed().as_secs(),
        started_at: ops.started_at,
        torrents: store.torrents,
        peers: store.seeders + store.leechers,
        seeders: store.seeders,
        leechers: store.leechers,
        snatches: store.snatches,
        ipv4: store.ipv4.into(),
        ipv6: store.ipv6.into(),
        requests: Requests {
            announces: totals.announces,
            scrapes: totals.scrapes,
            connects: totals.connects,
            errors: totals.errors,
        },
        rates: ops.history.lock().rates(),
        rate_window_seconds: super::history::RATE_WINDOW_SECS,
        errors_by_reason: totals
            .by_reason
            .into_iter()
            .map(|(reason, count)| ErrorCount { reason, count })
            .collect(),
        http_open_connections: ops.metrics.requests().open_connections(),
        top_swarms: top.iter().map(Swarm::from).collect(),
    }
}
