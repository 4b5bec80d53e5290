//! Says once that Redis went away, and once that it came back.
//!
//! During an outage every request fails; logging each failure would bury the
//! log (and slow the tracker) exactly when an operator needs to read it. The
//! frontends do not log storage failures; this is the one place that does.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{error, info};

/// Whether the last request to Redis failed.
#[derive(Default)]
pub struct Health {
    down: AtomicBool,
}

impl Health {
    /// A request succeeded: if Redis was down, it is back.
    pub fn ok(&self, broker: &str) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            info!(broker, "redis storage reachable again");
        }
    }

    /// A request failed: the first failure of an outage is logged.
    pub fn failed(&self, broker: &str, error: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            error!(
                broker,
                error, "redis storage unavailable; requests fail until it is back"
            );
        }
    }
}
