//! A lock-free histogram with Go chihaya's buckets.
//!
//! prometheus-client's own histogram takes a mutex on every observation; every
//! announce of one kind would contend on it. Here each bucket is an atomic, and
//! the sum is kept in whole microseconds so it is an atomic integer too.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeLabelSet, MetricEncoder, NoLabelSet};

/// Go chihaya's `prometheus.ExponentialBuckets(9.375, 2, 10)`, in milliseconds:
/// 9.375 ms up to 4.8 s.
pub const BUCKETS_MS: [f64; 10] = [
    9.375, 18.75, 37.5, 75.0, 150.0, 300.0, 600.0, 1200.0, 2400.0, 4800.0,
];

/// Observations in milliseconds, counted per bucket (not cumulated: each
/// observation touches one counter; the encoder sums them).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_MS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe_micros(&self, micros: u64) {
        self.observe_micros_n(micros, 1);
    }

    /// `n` observations of the same duration (a UDP batch's requests all
    /// share one), at the cost of one.
    pub fn observe_micros_n(&self, micros: u64, n: u64) {
        let ms = micros as f64 / 1000.0;
        let slot = BUCKETS_MS
            .iter()
            .position(|&upper| ms <= upper)
            .unwrap_or(BUCKETS_MS.len());
        self.buckets[slot].fetch_add(n, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(micros.saturating_mul(n), Ordering::Relaxed);
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines (the encoder makes
    /// the bucket counts cumulative).
    pub fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        let mut count = 0;
        let mut buckets = [(0.0, 0); BUCKETS_MS.len() + 1];
        for (i, slot) in buckets.iter_mut().enumerate() {
            let n = self.buckets[i].load(Ordering::Relaxed);
            count += n;
            *slot = (BUCKETS_MS.get(i).copied().unwrap_or(f64::INFINITY), n);
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1000.0;
        // The count is the sum of the buckets, so `_count` and `+Inf` always agree.
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

/// Histograms for a label set chosen at scrape time.
pub fn encode_labelled(
    histogram: &Histogram,
    labels: &impl EncodeLabelSet,
    encoder: &mut MetricEncoder,
) -> std::fmt::Result {
    histogram.encode(encoder.encode_family(labels)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::default();
        h.observe_micros(1_000); // 1 ms
        h.observe_micros(9_375); // exactly the first bound
        h.observe_micros(20_000); // 20 ms: third bucket
        h.observe_micros(60_000_000); // a minute: only +Inf
        let counts: Vec<u64> = h
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn n_observations_at_once_count_as_n() {
        let (once, each) = (Histogram::default(), Histogram::default());
        once.observe_micros_n(20_000, 3);
        for _ in 0..3 {
            each.observe_micros(20_000);
        }
        for h in [&once, &each] {
            assert_eq!(h.buckets[2].load(Ordering::Relaxed), 3);
            assert_eq!(h.sum_micros.load(Ordering::Relaxed), 60_000);
            assert_eq!(h.count(), 3);
        }
    }
}
