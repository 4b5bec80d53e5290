//! The real binary over HTTP (BEP 3, 23, 7, 48): requests written byte for
//! byte on a raw TCP stream, replies compared byte for byte, on 127.0.0.1
//! and on ::1. Two peers find each other; scrape counts follow
//! started / completed / stopped.

mod support;

use std::net::{IpAddr, SocketAddr};

use support::http::{escape, get};
use support::{Running, both_frontends, free_port};

const HASH: &[u8; 20] = b"http-binary-test-has";

fn announce(tracker: SocketAddr, peer_id: &[u8; 20], port: u16, left: u64, event: &str) -> Vec<u8> {
    let target = format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}{event}&compact=1",
        escape(HASH),
        escape(peer_id),
    );
    let (status, body) = get(tracker, &target);
    assert_eq!(
        status,
        "HTTP/1.1 200 OK",
        "{}",
        String::from_utf8_lossy(&body)
    );
    body
}

fn scrape(tracker: SocketAddr) -> Vec<u8> {
    let (status, body) = get(tracker, &format!("/scrape?info_hash={}", escape(HASH)));
    assert_eq!(status, "HTTP/1.1 200 OK");
    body
}

/// `d8:complete...` with keys in byte order, as BEP 3 requires.
fn announce_reply(complete: u32, incomplete: u32, peers: &[SocketAddr]) -> Vec<u8> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for peer in peers {
        match peer.ip() {
            IpAddr::V4(ip) => v4.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => v6.extend_from_slice(&ip.octets()),
        }
        let list = if peer.is_ipv4() { &mut v4 } else { &mut v6 };
        list.extend_from_slice(&peer.port().to_be_bytes());
    }
    let mut out = format!(
        "d8:completei{complete}e10:incompletei{incomplete}e8:intervali1800e12:min intervali900e5:peers{}:",
        v4.len()
    )
    .into_bytes();
    out.extend_from_slice(&v4);
    if !v6.is_empty() {
        out.extend_from_slice(format!("6:peers6{}:", v6.len()).as_bytes());
        out.extend_from_slice(&v6);
    }
    out.push(b'e');
    out
}

/// `files` maps the raw hash to complete / downloaded / incomplete.
fn scrape_reply(complete: u32, downloaded: u32, incomplete: u32) -> Vec<u8> {
    let mut out = b"d5:filesd20:".to_vec();
    out.extend_from_slice(HASH);
    out.extend_from_slice(
        format!("d8:completei{complete}e10:downloadedi{downloaded}e10:incompletei{incomplete}eeee")
            .as_bytes(),
    );
    out
}

fn shown(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn assert_bytes(actual: Vec<u8>, expected: Vec<u8>, what: &str) {
    assert_eq!(shown(&actual), shown(&expected), "{what}");
}

fn two_peers_meet_and_counts_follow(ip: &str) {
    let port = free_port(ip);
    let mut tracker = Running::with_config(&both_frontends(ip, port));
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    tracker.wait_listening("http", addr);
    let leecher = b"-XX0001-http-leecher";
    let seeder = b"-XX0001-http-seeder0";
    let leecher_at = SocketAddr::new(addr.ip(), 6881);
    let seeder_at = SocketAddr::new(addr.ip(), 6882);

    let first = announce(addr, leecher, 6881, 1000, "&event=started");
    assert_bytes(
        first,
        announce_reply(0, 1, &[]),
        "alone, never given itself",
    );
    let second = announce(addr, seeder, 6882, 0, "&event=started");
    assert_bytes(
        second,
        announce_reply(1, 1, &[leecher_at]),
        "seeder sees leecher",
    );
    let again = announce(addr, leecher, 6881, 1000, "");
    assert_bytes(
        again,
        announce_reply(1, 1, &[seeder_at]),
        "leecher sees seeder",
    );
    assert_bytes(scrape(addr), scrape_reply(1, 0, 1), "after two starts");

    announce(addr, leecher, 6881, 0, "&event=completed");
    assert_bytes(scrape(addr), scrape_reply(2, 1, 0), "after completed");
    announce(addr, seeder, 6882, 0, "&event=stopped");
    assert_bytes(scrape(addr), scrape_reply(1, 1, 0), "after stopped");
}

#[test]
fn ipv4_peers_meet_and_scrape_counts_follow_events() {
    two_peers_meet_and_counts_follow("127.0.0.1");
}

#[test]
fn ipv6_peers_meet_and_scrape_counts_follow_events() {
    two_peers_meet_and_counts_follow("::1");
}

#[test]
fn errors_are_200_with_a_failure_reason() {
    let port = free_port("127.0.0.1");
    let mut tracker = Running::with_config(&both_frontends("127.0.0.1", port));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tracker.wait_listening("http", addr);
    let (status, body) = get(addr, "/announce?peer_id=x");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.starts_with(b"d14:failure reason"), "{}", shown(&body));
    assert!(
        body.ends_with(b"8:intervali1800e12:min intervali900ee"),
        "{}",
        shown(&body)
    );
}
