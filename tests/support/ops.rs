//! Starting the binary with its ops server (metrics, stats, health) on a
//! port the test chose, and reading what it serves.

#![allow(dead_code)] // each test file uses a different part of this

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::http::{escape, get};
use super::{Running, free_port};

/// A tracker with HTTP and UDP on one loopback port and the ops server on another.
pub struct Tracker {
    pub running: Running,
    pub addr: SocketAddr,
    pub ops: SocketAddr,
}

impl Tracker {
    pub fn start() -> Tracker {
        Tracker::start_with(
            "",
            "name: memory\n    config:\n      prometheus_reporting_interval: 100ms",
        )
    }

    /// The same tracker with more HTTP options (`http_extra`: YAML lines, each
    /// indented four spaces and ending in a newline) and its own `storage`
    /// (the YAML under `storage:`, lines after the first indented four spaces).
    pub fn start_with(http_extra: &str, storage: &str) -> Tracker {
        let port = free_port("127.0.0.1");
        let ops = SocketAddr::from(([127, 0, 0, 1], free_port("127.0.0.1")));
        let yaml = format!(
            "chihaya:\n  metrics_addr: \"{ops}\"\n  http:\n    addr: \"127.0.0.1:{port}\"\n{http_extra}  udp:\n    addr: \"127.0.0.1:{port}\"\n    private_key: \"test key\"\n  storage:\n    {storage}\n"
        );
        let mut running = Running::with_config(&yaml);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        running.wait_listening("http", addr);
        running.wait_listening("udp", addr);
        running.wait_log(&format!(
            "ops server listening (metrics, stats, health) addr={ops}"
        ));
        Tracker { running, addr, ops }
    }

    /// `GET path` on the ops server: (status line, body as text).
    pub fn ops_get(&self, path: &str) -> (String, String) {
        let (status, body) = get(self.ops, path);
        (
            status,
            String::from_utf8(body).expect("ops replies are UTF-8"),
        )
    }

    pub fn stats(&self) -> serde_json::Value {
        let (status, body) = self.ops_get("/stats");
        assert!(status.contains(" 200 "), "{status}: {body}");
        serde_json::from_str(&body).expect("/stats is JSON")
    }

    /// `/metrics` once `line` is in it; the storage gauges lag by up to one
    /// reporting interval, so this polls, for at most five seconds.
    pub fn metrics_with(&self, line: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, text) = self.ops_get("/metrics");
            if text.lines().any(|l| l == line) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One HTTP announce; `left == 0` with `completed` makes a snatch.
    pub fn http_announce(&self, hash: &[u8; 20], peer: u8, left: u64, event: &str) -> Vec<u8> {
        let target = format!(
            "/announce?info_hash={}&peer_id={}&port={}&uploaded=0&downloaded=0&left={left}{event}&compact=1",
            escape(hash),
            escape(&[peer; 20]),
            6000 + u16::from(peer),
        );
        let (status, body) = get(self.addr, &target);
        assert!(status.contains(" 200 "), "{status}");
        body
    }

    pub fn http_scrape(&self, hash: &[u8; 20]) -> Vec<u8> {
        let (status, body) = get(self.addr, &format!("/scrape?info_hash={}", escape(hash)));
        assert!(status.contains(" 200 "), "{status}");
        body
    }
}
