//! Swarm totals for the Prometheus gauges and the debug log.
//!
//! Polled at the storage's `prometheus_reporting_interval`, as Go chihaya
//! refreshes its gauges, but logged only when they change, so an idle
//! tracker's log stays quiet.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::metrics;
use crate::storage::{Storage, StoreStats};

pub async fn run(storage: Arc<Storage>, every: Duration, stop: CancellationToken) {
    let mut ticks = interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last: Option<StoreStats> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Ok(now) = storage.stats().await else {
            continue;
        };
        metrics::global().storage().set(&now);
        if last != Some(now) {
            debug!(
                torrents = now.torrents,
                seeders = now.seeders,
                leechers = now.leechers,
                "swarms"
            );
            last = Some(now);
        }
    }
}
