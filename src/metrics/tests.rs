//! The text Prometheus scrapes: Go chihaya's exact names and labels.

use super::*;
use crate::protocol::ClientError;
use crate::storage::StoreStats;

/// Every one of `lines` is a whole line of `text`.
fn assert_has_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.lines().any(|l| l == *line),
            "no line {line:?} in:\n{text}"
        );
    }
}

fn answered(frontend: Frontend, action: Action, family: Family, reason: Reason) -> Answered {
    Answered {
        frontend,
        action,
        family,
        reason,
        micros: 2_500,
    }
}

/// A batch recorded in runs counts what recording each request counts.
#[test]
fn recording_runs_counts_every_request() {
    let (runs, each) = (Metrics::new(), Metrics::new());
    let refusal = TrackerError::Client(ClientError::new("unapproved client"));
    let refused = runs.reason(&refusal);
    assert_eq!(each.reason(&refusal), refused);
    let announce = answered(Frontend::Udp, Action::Announce, Family::V4, reasons::NONE);
    let batch = [
        answered(Frontend::Udp, Action::Connect, Family::V4, reasons::NONE),
        announce,
        announce,
        announce,
        answered(Frontend::Udp, Action::Announce, Family::V6, reasons::NONE),
        announce,
        answered(Frontend::Udp, Action::Announce, Family::V4, refused),
        announce,
    ];
    runs.record_all(batch);
    for a in batch {
        each.record(a);
    }
    // The requests' own lines (the process gauges differ from read to read).
    let ours = |m: &Metrics| -> Vec<String> {
        m.render()
            .lines()
            .filter(|l| l.starts_with("chihaya_"))
            .map(String::from)
            .collect()
    };
    assert_eq!(ours(&runs), ours(&each));
    let text = runs.render();
    assert_has_lines(
        &text,
        &[
            "chihaya_udp_response_duration_milliseconds_count{action=\"announce\",address_family=\"IPv4\",error=\"\"} 5",
            "chihaya_udp_response_duration_milliseconds_sum{action=\"announce\",address_family=\"IPv4\",error=\"\"} 12.5",
            "chihaya_requests_total{frontend=\"udp\",action=\"announce\",result=\"ok\"} 6",
            "chihaya_requests_total{frontend=\"udp\",action=\"announce\",result=\"client_error\"} 1",
        ],
    );
}

#[test]
fn response_histograms_carry_go_chihayas_names_and_labels() {
    let m = Metrics::new();
    m.record(answered(
        Frontend::Http,
        Action::Announce,
        Family::V4,
        reasons::NONE,
    ));
    m.record(answered(
        Frontend::Http,
        Action::Announce,
        Family::V4,
        reasons::NONE,
    ));
    let refused = m.reason(&TrackerError::Client(ClientError::new("unapproved client")));
    m.record(answered(Frontend::Udp, Action::Scrape, Family::V6, refused));
    let internal = m.reason(&TrackerError::Internal("disk on fire".into()));
    m.record(answered(
        Frontend::Udp,
        Action::Connect,
        Family::V4,
        internal,
    ));
    let text = m.render();
    assert_has_lines(
        &text,
        &[
            "# TYPE chihaya_http_response_duration_milliseconds histogram",
            "chihaya_http_response_duration_milliseconds_bucket{le=\"9.375\",action=\"announce\",address_family=\"IPv4\",error=\"\"} 2",
            "chihaya_http_response_duration_milliseconds_count{action=\"announce\",address_family=\"IPv4\",error=\"\"} 2",
            "chihaya_http_response_duration_milliseconds_sum{action=\"announce\",address_family=\"IPv4\",error=\"\"} 5.0",
            "chihaya_udp_response_duration_milliseconds_count{action=\"scrape\",address_family=\"IPv6\",error=\"unapproved client\"} 1",
            "chihaya_udp_response_duration_milliseconds_count{action=\"connect\",address_family=\"IPv4\",error=\"internal error\"} 1",
            "chihaya_requests_total{frontend=\"http\",action=\"announce\",result=\"ok\"} 2",
            "chihaya_requests_total{frontend=\"udp\",action=\"scrape\",result=\"client_error\"} 1",
            "chihaya_requests_total{frontend=\"udp\",action=\"connect\",result=\"internal_error\"} 1",
            "chihaya_requests_total{frontend=\"http\",action=\"scrape\",result=\"ok\"} 0",
        ],
    );
    assert!(
        !text.contains("frontend=\"http\",action=\"connect\""),
        "{text}"
    );
    // Series never observed are not shown, as with Go's HistogramVec.
    assert!(!text.contains("address_family=\"Unknown\""), "{text}");
}

#[test]
fn storage_gauges_gc_histogram_bytes_and_process_metrics_are_named_as_expected() {
    let m = Metrics::new();
    m.storage().set(&StoreStats {
        torrents: 3,
        seeders: 4,
        leechers: 5,
        ..StoreStats::default()
    });
    m.storage().observe_gc_micros(12_000);
    m.requests().add_bytes(Frontend::Udp, 98, 20);
    let text = m.render();
    assert_has_lines(
        &text,
        &[
            "chihaya_storage_infohashes_count 3",
            "chihaya_storage_seeders_count 4",
            "chihaya_storage_leechers_count 5",
            "chihaya_storage_gc_duration_milliseconds_count 1",
            "chihaya_storage_gc_duration_milliseconds_bucket{le=\"18.75\"} 1",
            "chihaya_received_bytes_total{frontend=\"udp\"} 98",
            "chihaya_sent_bytes_total{frontend=\"udp\"} 20",
            "chihaya_http_open_connections 0",
        ],
    );
    for name in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "no {name:?} in:\n{text}"
        );
    }
}

#[test]
fn totals_add_up_and_reasons_are_ranked() {
    let m = Metrics::new();
    let bad_port = m.reason(&TrackerError::Client(ClientError::new("invalid port")));
    let refused = m.reason(&TrackerError::Client(ClientError::new("unapproved client")));
    for _ in 0..3 {
        m.record(answered(
            Frontend::Http,
            Action::Announce,
            Family::V4,
            refused,
        ));
    }
    m.record(answered(
        Frontend::Udp,
        Action::Announce,
        Family::V6,
        bad_port,
    ));
    m.record(answered(
        Frontend::Udp,
        Action::Scrape,
        Family::V4,
        reasons::NONE,
    ));
    m.record(answered(
        Frontend::Udp,
        Action::Connect,
        Family::V4,
        reasons::NONE,
    ));
    let totals = m.requests().totals();
    assert_eq!(
        (totals.announces, totals.scrapes, totals.connects),
        (4, 1, 1)
    );
    assert_eq!(totals.errors, 4);
    assert_eq!(
        totals.by_reason,
        [
            ("unapproved client".to_string(), 3),
            ("invalid port".to_string(), 1)
        ]
    );
}
