//! Per-request metrics: response-time histograms (Go chihaya's names and
//! labels), request counts by result, and bytes in and out.
//!
//! Every series that can exist is allocated up front in flat tables indexed
//! by the label enums, so recording a request is a few relaxed atomic adds:
//! no lock, no map, no string. The tables are small (two frontends, three
//! actions, three families, [`reasons::CAPACITY`] reasons: about 1,100
//! histograms of 12 counters, ~110 KiB).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::histogram::{Histogram, encode_labelled};
use super::labels::{Action, Family, Frontend, Outcome};
use super::reasons::{self, INTERNAL, NONE, Reason, Reasons};

const FRONTENDS: usize = Frontend::ALL.len();
const ACTIONS: usize = Action::ALL.len();
const FAMILIES: usize = Family::ALL.len();
const OUTCOMES: usize = Outcome::ALL.len();

/// One answered request, as the frontends describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    pub frontend: Frontend,
    pub action: Action,
    pub family: Family,
    /// [`reasons::NONE`] when it succeeded.
    pub reason: Reason,
    /// From the request's arrival to its reply being ready.
    pub micros: u64,
}

pub struct Requests {
    /// frontend × action × family × reason.
    durations: Box<[Histogram]>,
    /// frontend × action × outcome.
    counts: [AtomicU64; FRONTENDS * ACTIONS * OUTCOMES],
    received: [AtomicU64; FRONTENDS],
    sent: [AtomicU64; FRONTENDS],
    open_http_connections: AtomicI64,
    pub(super) reasons: Reasons,
}

impl Default for Requests {
    fn default() -> Self {
        let series = FRONTENDS * ACTIONS * FAMILIES * reasons::CAPACITY;
        Requests {
            durations: (0..series).map(|_| Histogram::default()).collect(),
            counts: Default::default(),
            received: Default::default(),
            sent: Default::default(),
            open_http_connections: AtomicI64::new(0),
            reasons: Reasons::default(),
        }
    }
}

/// What the requests amounted to so far, for `/stats` and the page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestTotals {
    pub announces: u64,
    pub scrapes: u64,
    pub connects: u64,
    /// Requests that failed, whatever the reason.
    pub errors: u64,
    /// Failed requests by client-visible reason, most frequent first.
    pub by_reason: Vec<(String, u64)>,
}

impl Requests {
    pub fn record(&self, a: Answered) {
        self.record_n(a, 1);
    }

    /// `n` requests answered alike, recorded at the cost of one.
    pub fn record_n(&self, a: Answered, n: u64) {
        let reason = usize::from(a.reason.0);
        self.durations[duration_index(a.frontend, a.action, a.family) + reason]
            .observe_micros_n(a.micros, n);
        let outcome = match a.reason {
            NONE => Outcome::Ok,
            INTERNAL => Outcome::InternalError,
            _ => Outcome::ClientError,
        };
        self.counts[count_index(a.frontend, a.action, outcome)].fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, frontend: Frontend, received: u64, sent: u64) {
        self.received[frontend as usize].fetch_add(received, Ordering::Relaxed);
        self.sent[frontend as usize].fetch_add(sent, Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        self.open_http_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.open_http_connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn open_connections(&self) -> i64 {
        self.open_http_connections.load(Ordering::Relaxed)
    }

    pub fn count(&self, frontend: Frontend, action: Action, outcome: Outcome) -> u64 {
        self.counts[count_index(frontend, action, outcome)].load(Ordering::Relaxed)
    }

    pub fn totals(&self) -> RequestTotals {
        let sum = |action: Action, outcomes: &[Outcome]| -> u64 {
            Frontend::ALL
                .iter()
                .flat_map(|&f| outcomes.iter().map(move |&o| self.count(f, action, o)))
                .sum()
        };
        let failed = [Outcome::ClientError, Outcome::InternalError];
        RequestTotals {
            announces: sum(Action::Announce, &Outcome::ALL),
            scrapes: sum(Action::Scrape, &Outcome::ALL),
            connects: sum(Action::Connect, &Outcome::ALL),
            errors: Action::ALL.iter().map(|&a| sum(a, &failed)).sum(),
            by_reason: self.by_reason(),
        }
    }

    fn by_reason(&self) -> Vec<(String, u64)> {
        let names = self.reasons.names();
        let mut counts = vec![0u64; names.len()];
        for (i, h) in self.durations.iter().enumerate() {
            let reason = i % reasons::CAPACITY;
            if reason != usize::from(NONE.0) && reason < counts.len() {
                counts[reason] += h.count();
            }
        }
        let mut out: Vec<(String, u64)> = names
            .into_iter()
            .zip(counts)
            .filter(|&(_, n)| n > 0)
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    fn encode_durations(
        &self,
        frontend: Frontend,
        encoder: &mut DescriptorEncoder,
    ) -> std::fmt::Result {
        let name = match frontend {
            Frontend::Http => "chihaya_http_response_duration_milliseconds",
            Frontend::Udp => "chihaya_udp_response_duration_milliseconds",
        };
        let help =
            "The duration of time it takes to receive and write a response to an API request";
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
        let names = self.reasons.names();
        for action in Action::ALL {
            for family in Family::ALL {
                let base = duration_index(frontend, action, family);
                for (reason, text) in names.iter().enumerate() {
                    let h = &self.durations[base + reason];
                    if h.count() == 0 {
                        continue;
                    }
                    let labels = [
                        ("action", action.as_str()),
                        ("address_family", family.as_str()),
                        ("error", text.as_str()),
                    ];
                    encode_labelled(h, &labels, &mut metric)?;
                }
            }
        }
        Ok(())
    }

    fn encode_counts(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let help = "Requests answered, by frontend, action and result";
        let mut metric =
            encoder.encode_descriptor("chihaya_requests", help, None, MetricType::Counter)?;
        for frontend in Frontend::ALL {
            for action in Action::ALL {
                if frontend == Frontend::Http && action == Action::Connect {
                    continue;
                }
                for outcome in Outcome::ALL {
                    let labels = [
                        ("frontend", frontend.as_str()),
                        ("action", action.as_str()),
                        ("result", outcome.as_str()),
                    ];
                    let value = ConstCounter::new(self.count(frontend, action, outcome));
                    value.encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }

    fn encode_bytes(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        for (name, help, table) in [
            (
                "chihaya_received_bytes",
                "Bytes received from clients, by frontend",
                &self.received,
            ),
            (
                "chihaya_sent_bytes",
                "Bytes sent to clients, by frontend",
                &self.sent,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for frontend in Frontend::ALL {
                let value = ConstCounter::new(table[frontend as usize].load(Ordering::Relaxed));
                value.encode(metric.encode_family(&[("frontend", frontend.as_str())])?)?;
            }
        }
        Ok(())
    }
}

/// Scraped through the registry like any other metric.
impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Requests")
    }
}

/// The registry holds an `Arc` of the tables the frontends write to.
#[derive(Debug)]
pub struct RequestCollector(pub std::sync::Arc<Requests>);

impl Collector for RequestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let r = &self.0;
        r.encode_durations(Frontend::Http, &mut encoder)?;
        r.encode_durations(Frontend::Udp, &mut encoder)?;
        r.encode_counts(&mut encoder)?;
        r.encode_bytes(&mut encoder)?;
        super::encode_gauge(
            &mut encoder,
            "chihaya_http_open_connections",
            "HTTP connections open right now",
            r.open_http_connections.load(Ordering::Relaxed),
        )
    }
}

fn duration_index(frontend: Frontend, action: Action, family: Family) -> usize {
    ((frontend as usize * ACTIONS + action as usize) * FAMILIES + family as usize)
        * reasons::CAPACITY
}

fn count_index(frontend: Frontend, action: Action, outcome: Outcome) -> usize {
    (frontend as usize * ACTIONS + action as usize) * OUTCOMES + outcome as usize
}
