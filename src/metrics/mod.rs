//! Prometheus metrics, with Go chihaya's names so its dashboards keep working.
//!
//! One [`Metrics`] per process ([`global`]), as Go chihaya has one default
//! registry: the frontends, the garbage collector and the reporting task each
//! make one small call, and the ops server (`crate::ops`) renders it.
//!
//! - [`requests`]: response-time histograms, request counts, bytes, connections;
//! - [`storage`]: swarm gauges and the garbage collector's duration;
//! - [`process`]: RSS, CPU, file descriptors and start time from /proc.
//!
//! Recording is lock-free and allocation-free; the work of turning numbers
//! into text is done when `/metrics` is scraped.

mod histogram;
pub mod io;
pub mod labels;
pub mod private;
pub mod process;
pub mod reasons;
pub mod requests;
pub mod storage;

use std::sync::{Arc, LazyLock};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

pub use labels::{Action, Family, Frontend, Outcome};
pub use reasons::Reason;
pub use requests::{Answered, RequestTotals, Requests};
pub use storage::StorageMetrics;

use crate::middleware::TrackerError;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric of the process and the registry that renders them.
pub struct Metrics {
    requests: Arc<Requests>,
    storage: Arc<StorageMetrics>,
    private: private::PrivateSlot,
    registry: Registry,
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics: what the frontends record into and `/metrics` shows.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set (tests make their own; the server uses [`global`]).
    pub fn new() -> Self {
        let requests = Arc::new(Requests::default());
        let storage = Arc::new(StorageMetrics::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(requests::RequestCollector(requests.clone())));
        registry.register_collector(Box::new(storage::StorageCollector(storage.clone())));
        registry.register_collector(Box::new(process::ProcessCollector));
        let private = private::PrivateSlot::default();
        registry.register_collector(Box::new(private::PrivateCollector(private.clone())));
        Metrics {
            requests,
            storage,
            private,
            registry,
        }
    }

    /// Records one answered request.
    pub fn record(&self, answered: Answered) {
        self.requests.record(answered);
    }

    /// Every request of `answered`, those answered alike one after the
    /// other (a loaded UDP batch is mostly announces) as one run: four
    /// atomic adds per run, not per request.
    pub fn record_all(&self, answered: impl IntoIterator<Item = Answered>) {
        let mut run: Option<(Answered, u64)> = None;
        for a in answered {
            match &mut run {
                Some((same, n)) if *same == a => *n += 1,
                _ => {
                    if let Some((done, n)) = run.replace((a, 1)) {
                        self.requests.record_n(done, n);
                    }
                }
            }
        }
        if let Some((done, n)) = run {
            self.requests.record_n(done, n);
        }
    }

    /// The label for a failed request: the client's reason, or "internal error".
    pub fn reason(&self, error: &TrackerError) -> Reason {
        self.requests.reasons.of_error(error)
    }

    pub fn requests(&self) -> &Arc<Requests> {
        &self.requests
    }

    pub fn storage(&self) -> &StorageMetrics {
        &self.storage
    }

    /// Shows private tracking's gauges from now on (once per process).
    pub fn show_private(&self, state: Arc<crate::private::service::PrivateState>) {
        let _ = self.private.0.set(state);
    }

    /// Everything, in the OpenMetrics text format Prometheus scrapes.
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests;

/// Writes one unlabelled gauge read at scrape time (process, storage and
/// connection gauges all take this shape).
fn encode_gauge<N>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> std::fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}
