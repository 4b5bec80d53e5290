//! Sweeps peers that stopped announcing.
//!
//! Clients that vanish never send `stopped`; without this their entries
//! would be handed out forever and memory would only grow.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::{MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::storage::Storage;

/// What the collector did over the tracker's life, for the shutdown summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcTotals {
    pub runs: u64,
    pub peers_removed: u64,
    pub swarms_removed: u64,
}

/// Every `every`, removes peers not heard from for `lifetime`, until `stop`.
pub async fn run(
    storage: Arc<Storage>,
    every: Duration,
    lifetime: Duration,
    stop: CancellationToken,
) -> GcTotals {
    let mut totals = GcTotals::default();
    // The first sweep waits a full period: at start-up there is nothing stale.
    let mut ticks = interval_at(tokio::time::Instant::now() + every, every);
    // After a stall, sweep once rather than in a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return totals,
            _ = ticks.tick() => sweep(&storage, lifetime, &mut totals).await,
        }
    }
}

async fn sweep(storage: &Storage, lifetime: Duration, totals: &mut GcTotals) {
    let now = SystemTime::now();
    let cutoff = now.checked_sub(lifetime).unwrap_or(SystemTime::UNIX_EPOCH);
    let started = std::time::Instant::now();
    match storage.collect_garbage(cutoff).await {
        Ok(removed) => {
            let took = started.elapsed().as_micros() as u64;
            crate::metrics::global().storage().observe_gc_micros(took);
            totals.runs += 1;
            totals.peers_removed += removed.peers_removed;
            totals.swarms_removed += removed.swarms_removed;
            debug!(
                peers_removed = removed.peers_removed,
                swarms_removed = removed.swarms_removed,
                took_ms = took / 1000,
                "garbage collected"
            );
        }
        Err(e) => warn!("garbage collection failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageConfig;

    #[tokio::test(start_paused = true)]
    async fn sweeps_every_interval_and_stops_when_told() {
        let storage = Arc::new(Storage::open(&StorageConfig::default()).await.unwrap());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(
            storage,
            Duration::from_secs(60),
            Duration::from_secs(600),
            stop.clone(),
        ));
        // Paused time advances only when every task waits: 3 full periods pass.
        tokio::time::sleep(Duration::from_secs(3 * 60 + 30)).await;
        stop.cancel();
        let totals = tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("stops promptly")
            .unwrap();
        assert_eq!(totals.runs, 3);
    }
}
