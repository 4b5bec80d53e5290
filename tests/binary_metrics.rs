//! The ops server of the real binary: after a known set of announces and
//! scrapes over HTTP and UDP, `/metrics` shows Go chihaya's metrics with the
//! right counts and labels, `/stats` the right swarms, and the health checks
//! answer; with `metrics_addr: ""` nothing listens, and a bad address stops
//! the start naming the key.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use support::ops::Tracker;
use support::udp::{Announce, Client};
use support::{Running, free_port, write_config};

const HASH_A: [u8; 20] = [0xaa; 20];
const HASH_B: [u8; 20] = [0xbb; 20];

/// Over HTTP: 3 good announces (2 leechers, 1 completed seeder), 1 refused
/// announce, 2 scrapes. Over UDP: 1 connect, 2 announces (a seeder and a
/// leecher), 1 scrape.
fn known_traffic(t: &Tracker) {
    t.http_announce(&HASH_A, 1, 100, "&event=started");
    t.http_announce(&HASH_A, 2, 100, "");
    t.http_announce(&HASH_A, 3, 0, "&event=completed");
    let (_, refused) = support::http::get(t.addr, "/announce?peer_id=x&port=1");
    assert!(String::from_utf8_lossy(&refused).contains("failure reason"));
    t.http_scrape(&HASH_A);
    t.http_scrape(&HASH_A);
    let mut udp = Client::connect(t.addr);
    for (port, left) in [(7001, 0), (7002, 50)] {
        udp.announce(&Announce {
            info_hash: HASH_B,
            peer_id: [port as u8; 20],
            left,
            event: 0,
            port,
        });
    }
    udp.scrape(HASH_B);
}

fn has_line(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
}

#[test]
fn metrics_count_every_request_with_go_chihayas_names() {
    let t = Tracker::start();
    known_traffic(&t);
    let text = t.metrics_with("chihaya_storage_infohashes_count 2");
    for line in [
        "chihaya_storage_infohashes_count 2",
        "chihaya_storage_seeders_count 2",
        "chihaya_storage_leechers_count 3",
        "chihaya_requests_total{frontend=\"http\",action=\"announce\",result=\"ok\"} 3",
        "chihaya_requests_total{frontend=\"http\",action=\"announce\",result=\"client_error\"} 1",
        "chihaya_requests_total{frontend=\"http\",action=\"scrape\",result=\"ok\"} 2",
        "chihaya_requests_total{frontend=\"udp\",action=\"connect\",result=\"ok\"} 1",
        "chihaya_requests_total{frontend=\"udp\",action=\"announce\",result=\"ok\"} 2",
        "chihaya_requests_total{frontend=\"udp\",action=\"scrape\",result=\"ok\"} 1",
        "chihaya_http_response_duration_milliseconds_count{action=\"announce\",address_family=\"IPv4\",error=\"\"} 3",
        "chihaya_http_response_duration_milliseconds_count{action=\"scrape\",address_family=\"IPv4\",error=\"\"} 2",
        "chihaya_udp_response_duration_milliseconds_count{action=\"announce\",address_family=\"IPv4\",error=\"\"} 2",
        "chihaya_udp_response_duration_milliseconds_count{action=\"connect\",address_family=\"IPv4\",error=\"\"} 1",
        "chihaya_udp_response_duration_milliseconds_bucket{le=\"+Inf\",action=\"scrape\",address_family=\"IPv4\",error=\"\"} 1",
        // A connect is 16 bytes, an announce 98, a one-hash scrape 36.
        "chihaya_received_bytes_total{frontend=\"udp\"} 248",
        "chihaya_http_open_connections 0",
    ] {
        has_line(&text, line);
    }
    // The refused announce is labelled with the reason the client was given.
    let refused = text
        .lines()
        .find(|l| {
            l.starts_with("chihaya_http_response_duration_milliseconds_count{action=\"announce\",address_family=\"IPv4\",error=\"")
                && !l.contains("error=\"\"")
        })
        .unwrap_or_else(|| panic!("no refused announce in:\n{text}"));
    assert!(
        refused.ends_with("} 1") && refused.contains("info_hash"),
        "{refused}"
    );
    for prefix in [
        "# TYPE chihaya_storage_gc_duration_milliseconds histogram",
        "chihaya_sent_bytes_total{frontend=\"http\"} ",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(prefix)),
            "no {prefix:?} in:\n{text}"
        );
    }
}

#[test]
fn stats_match_the_swarms() {
    let t = Tracker::start();
    known_traffic(&t);
    let s = t.stats();
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (
            &s["torrents"],
            &s["seeders"],
            &s["leechers"],
            &s["peers"],
            &s["snatches"]
        ),
        (&2.into(), &2.into(), &3.into(), &5.into(), &1.into()),
        "{s:#}"
    );
    assert_eq!(s["ipv4"]["swarms"], 2, "{s:#}");
    assert_eq!(s["ipv6"]["peers"], 0, "{s:#}");
    let r = &s["requests"];
    assert_eq!(
        (&r["announces"], &r["scrapes"], &r["connects"], &r["errors"]),
        (&6.into(), &3.into(), &1.into(), &1.into()),
        "{s:#}"
    );
    assert_eq!(s["errors_by_reason"][0]["count"], 1, "{s:#}");
    let top = s["top_swarms"].as_array().unwrap();
    assert_eq!(top.len(), 2, "{s:#}");
    assert_eq!(
        top[0]["info_hash"],
        "aa".repeat(20),
        "the larger swarm first: {s:#}"
    );
    assert_eq!(
        (&top[0]["seeders"], &top[0]["leechers"]),
        (&1.into(), &2.into())
    );
    assert!(s["uptime_seconds"].is_u64() && s["rates"]["announces_per_second"].is_f64());
    let (status, history) = t.ops_get("/stats/history");
    assert!(status.contains(" 200 "), "{status}");
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history["resolution_seconds"], 10.0);
    assert!(
        !history["points"].as_array().unwrap().is_empty(),
        "sampled at start: {history}"
    );
}

#[test]
fn health_checks_and_the_page_answer() {
    let t = Tracker::start();
    assert_eq!(
        t.ops_get("/healthz"),
        ("HTTP/1.1 200 OK".into(), "ok\n".into())
    );
    assert_eq!(
        t.ops_get("/readyz"),
        ("HTTP/1.1 200 OK".into(), "ready\n".into())
    );
    let (status, page) = t.ops_get("/");
    assert!(
        status.contains(" 200 ") && page.contains("id=\"stat-torrents\""),
        "{status}"
    );
    assert!(
        !page.contains("<script src") && !page.contains("<link"),
        "the page loads nothing from elsewhere"
    );
    assert_eq!(t.ops_get("/nope").0, "HTTP/1.1 404 Not Found");
}

#[test]
fn an_empty_metrics_addr_turns_the_ops_server_off() {
    let port = free_port("127.0.0.1");
    let mut tracker = Running::with_config(&format!(
        "chihaya:\n  metrics_addr: \"\"\n  udp:\n    addr: \"127.0.0.1:{port}\"\n"
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tracker.wait_listening("udp", addr);
    // Announces still work and are still counted, only nothing serves them.
    let mut udp = Client::connect(addr);
    udp.scrape(HASH_A);
    assert!(
        !tracker.stderr().contains("ops server"),
        "{}",
        tracker.stderr()
    );
    assert!(tracker.is_running());
}

#[test]
fn a_bad_metrics_addr_stops_the_start_naming_the_key() {
    let port = free_port("127.0.0.1");
    let bad = write_config(&format!(
        "chihaya:\n  metrics_addr: \"nowhere\"\n  udp:\n    addr: \"127.0.0.1:{port}\"\n"
    ));
    let mut tracker = Running::start(Some(bad), &[]);
    let status = tracker.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(1));
    assert!(
        tracker
            .stderr()
            .contains("chihaya.metrics_addr: invalid address \"nowhere\""),
        "{}",
        tracker.stderr()
    );

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().map(|a| (a, taken)).unwrap();
    let mut tracker = Running::with_config(&format!(
        "chihaya:\n  metrics_addr: \"{}\"\n  udp:\n    addr: \"127.0.0.1:{port}\"\n",
        taken.0
    ));
    let status = tracker.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(1));
    let said = format!("chihaya.metrics_addr: cannot listen on {}", taken.0);
    assert!(tracker.stderr().contains(&said), "{}", tracker.stderr());
}
