//! Once a second, the request counters and the last storage report go into
//! the rate window and the history (see [`super::history`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use super::Ops;
use super::history::{Counts, Swarms};

const EVERY: Duration = Duration::from_secs(1);

pub async fn run(ops: Arc<Ops>, stop: CancellationToken) {
    let origin = Instant::now();
    let mut ticks = interval(EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => sample(&ops, origin.elapsed().as_secs_f64()),
        }
    }
}

fn sample(ops: &Ops, now: f64) {
    let totals = ops.metrics.requests().totals();
    let counts = Counts {
        announces: totals.announces,
        scrapes: totals.scrapes,
        errors: totals.errors,
    };
    // The reporting task refreshes these every `prometheus_reporting_interval`.
    let store = ops.metrics.storage().latest().unwrap_or_default();
    let swarms = Swarms {
        swarms: store.torrents,
        seeders: store.seeders,
        leechers: store.leechers,
    };
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    ops.history.lock().sample(now, unix, counts, swarms);
}
