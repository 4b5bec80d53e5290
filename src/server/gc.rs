//! Sweeps peers that stopped announcing.
//!
//! Clients that vanish never send `stopped`; without this their entries
//! would be handed out forever and memory would only grow.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::{MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::storage::{GcStats, Storage, StorageError};

/// What the collector did over the tracker's life, for the shutdown summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcTotals {
    pub runs: u64,
    pub peers_removed: u64,
    pub swarms_removed: u64,
}

/// The one sweeper of a tracker: the periodic task and the admin API's
/// `POST /api/gc` both sweep through it, so two sweeps never run at once
/// (they would only race over the same stale peers).
pub struct Collector {
    storage: Arc<Storage>,
    lifetime: Duration,
    /// Held for a whole sweep; the totals of every sweep so far.
    totals: tokio::sync::Mutex<GcTotals>,
}

impl Collector {
    pub fn new(storage: Arc<Storage>, lifetime: Duration) -> Self {
        Collector {
            storage,
            lifetime,
            totals: tokio::sync::Mutex::new(GcTotals::default()),
        }
    }

    /// One sweep now, unless one is running: then `None` (the caller asked
    /// for a sweep, and one is under way).
    pub async fn sweep_now(&self) -> Option<Result<GcStats, StorageError>> {
        let mut totals = self.totals.try_lock().ok()?;
        Some(self.sweep(&mut totals).await)
    }

    /// One sweep, after the one running (if any).
    async fn sweep_in_turn(&self) {
        let mut totals = self.totals.lock().await;
        if let Err(e) = self.sweep(&mut totals).await {
            warn!("garbage collection failed: {e}");
        }
    }

    async fn sweep(&self, totals: &mut GcTotals) -> Result<GcStats, StorageError> {
        let now = SystemTime::now();
        let cutoff = now
            .checked_sub(self.lifetime)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let started = std::time::Instant::now();
        let removed = self.sweep_off_the_runtime(cutoff).await?;
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
        Ok(removed)
    }

    /// The sweep itself, and handing the freed memory back, on a blocking
    /// thread: the memory engine's pass over every torrent and glibc's
    /// `malloc_trim` take milliseconds to hundreds of them with millions of
    /// peers, which would hold up every HTTP connection scheduled on the
    /// tokio worker running them. (Redis's sweep is a network call; it is
    /// driven from the same thread through the runtime's handle.)
    async fn sweep_off_the_runtime(&self, cutoff: SystemTime) -> Result<GcStats, StorageError> {
        let storage = Arc::clone(&self.storage);
        let runtime = tokio::runtime::Handle::current();
        let sweep = tokio::task::spawn_blocking(move || {
            let removed = runtime.block_on(storage.collect_garbage(cutoff))?;
            if removed.peers_removed > 0 {
                release_freed_memory();
            }
            Ok(removed)
        });
        match sweep.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StorageError(format!("garbage collection did not run: {e}"))),
        }
    }

    async fn totals(&self) -> GcTotals {
        *self.totals.lock().await
    }
}

/// Every `every`, removes peers not heard from for the collector's
/// lifetime, until `stop`; returns the totals of every sweep (the admin
/// API's included).
pub async fn run(collector: Arc<Collector>, every: Duration, stop: CancellationToken) -> GcTotals {
    // The first sweep waits a full period: at start-up there is nothing stale.
    let mut ticks = interval_at(tokio::time::Instant::now() + every, every);
    // After a stall, sweep once rather than in a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return collector.totals().await,
            _ = ticks.tick() => collector.sweep_in_turn().await,
        }
    }
}

/// Hands the memory a sweep freed back to the system. glibc keeps freed
/// memory in the arena of the thread that allocated it, one arena per thread
/// that allocates; swarms grow on the frontends' threads and are freed here,
/// on another, so without this the resident size stays near its peak after
/// the peers are gone (tests/binary_churn.rs). A no-op on other C libraries.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim only returns free pages to the kernel; it is
        // thread-safe and touches no memory the program still holds.
        unsafe { nix::libc::malloc_trim(0) };
        debug!(
            took_us = started.elapsed().as_micros() as u64,
            "freed memory released"
        );
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
        let collector = Arc::new(Collector::new(storage, Duration::from_secs(600)));
        let task = tokio::spawn(run(collector, Duration::from_secs(60), stop.clone()));
        // Paused time advances only when every task waits: 3 full periods pass.
        tokio::time::sleep(Duration::from_secs(3 * 60 + 30)).await;
        stop.cancel();
        let totals = tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("stops promptly")
            .unwrap();
        assert_eq!(totals.runs, 3);
    }

    #[tokio::test]
    async fn a_sweep_asked_for_during_another_is_refused() {
        let storage = Arc::new(Storage::open(&StorageConfig::default()).await.unwrap());
        let collector = Collector::new(storage, Duration::from_secs(600));
        let running = collector.totals.lock().await;
        assert!(collector.sweep_now().await.is_none());
        drop(running);
        let swept = collector.sweep_now().await.expect("free again").unwrap();
        assert_eq!(swept, GcStats::default());
        assert_eq!(collector.totals().await.runs, 1);
    }

    /// The sweep runs on a blocking thread (here beside a current-thread
    /// runtime) and still removes what is stale, and only that.
    #[tokio::test]
    async fn a_sweep_removes_stale_peers() {
        use std::net::{IpAddr, Ipv4Addr};

        use crate::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId};

        let storage = Arc::new(Storage::open(&StorageConfig::default()).await.unwrap());
        let Storage::Memory(memory) = &*storage else {
            panic!("the default engine is memory");
        };
        let announce = |n: u8, at: SystemTime| {
            let req = AnnounceRequest {
                info_hash: InfoHash([n; 20]),
                peer_id: PeerId([n; 20]),
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
                port: 6881,
                uploaded: 0,
                downloaded: 0,
                left: 1,
                event: Event::Started,
                numwant: 50,
                key: None,
                params: Params::default(),
                selection: Default::default(),
            };
            memory.announce(&req, at);
        };
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        for n in 0..3 {
            announce(n, hour_ago);
        }
        announce(9, SystemTime::now());
        let collector = Collector::new(storage.clone(), Duration::from_secs(600));
        let swept = collector.sweep_now().await.expect("none running").unwrap();
        assert_eq!(
            swept,
            GcStats {
                peers_removed: 3,
                swarms_removed: 3
            }
        );
        assert_eq!(storage.stats().await.unwrap().leechers, 1);
    }
}
