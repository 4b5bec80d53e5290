//! Go chihaya's storage metrics: swarm gauges refreshed every
//! `prometheus_reporting_interval`, and how long garbage collection takes.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::histogram::Histogram;
use crate::storage::StoreStats;

#[derive(Debug, Default)]
pub struct StorageMetrics {
    latest: Mutex<Option<StoreStats>>,
    infohashes: AtomicU64,
    seeders: AtomicU64,
    leechers: AtomicU64,
    gc: Histogram,
}

impl StorageMetrics {
    /// Called by the reporting task with what storage just said.
    pub fn set(&self, stats: &StoreStats) {
        self.infohashes.store(stats.torrents, Ordering::Relaxed);
        self.seeders.store(stats.seeders, Ordering::Relaxed);
        self.leechers.store(stats.leechers, Ordering::Relaxed);
        *self.latest.lock() = Some(*stats);
    }

    /// The last totals reported, if any yet.
    pub fn latest(&self) -> Option<StoreStats> {
        *self.latest.lock()
    }

    pub fn observe_gc_micros(&self, micros: u64) {
        self.gc.observe_micros(micros);
    }

    pub fn gc_runs(&self) -> u64 {
        self.gc.count()
    }
}

/// The registry holds an `Arc` of the gauges the reporting task writes to.
#[derive(Debug)]
pub struct StorageCollector(pub std::sync::Arc<StorageMetrics>);

impl Collector for StorageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let m = &self.0;
        for (name, help, value) in [
            (
                "chihaya_storage_infohashes_count",
                "The number of Infohashes tracked",
                &m.infohashes,
            ),
            (
                "chihaya_storage_seeders_count",
                "The number of seeders tracked",
                &m.seeders,
            ),
            (
                "chihaya_storage_leechers_count",
                "The number of leechers tracked",
                &m.leechers,
            ),
        ] {
            super::encode_gauge(
                &mut encoder,
                name,
                help,
                value.load(Ordering::Relaxed) as i64,
            )?;
        }
        let help = "The time it takes to perform storage garbage collection";
        m.gc.encode(encoder.encode_descriptor(
            "chihaya_storage_gc_duration_milliseconds",
            help,
            None,
            MetricType::Histogram,
        )?)
    }
}
