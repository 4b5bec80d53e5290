//! SIGTERM and SIGINT stop the real binary cleanly (exit 0) within seconds.

mod support;

use std::net::SocketAddr;

use support::{Running, STOP, both_frontends, free_port};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

fn stops_cleanly_on(signal: i32, ip: &str) {
    let port = free_port(ip);
    let mut tracker = Running::with_config(&both_frontends(ip, port));
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    tracker.wait_listening("http", addr);
    tracker.wait_listening("udp", addr);
    tracker.signal(signal);
    let status = tracker.wait_exit(STOP).unwrap_or_else(|| {
        panic!(
            "still running {STOP:?} after signal {signal}:\n{}",
            tracker.stderr()
        )
    });
    assert_eq!(status.code(), Some(0), "log:\n{}", tracker.stderr());
    let log = tracker.stderr();
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("tracker stopped"), "{log}");
}

#[test]
fn sigterm_exits_0_within_seconds() {
    stops_cleanly_on(SIGTERM, "127.0.0.1");
}

#[test]
fn sigint_exits_0_within_seconds() {
    stops_cleanly_on(SIGINT, "::1");
}
