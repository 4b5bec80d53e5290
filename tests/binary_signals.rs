//! SIGTERM and SIGINT stop the real binary cleanly (exit 0) within seconds,
//! even with a request stuck in flight; a second signal exits at once.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use chihaya::server::SHUTDOWN_GRACE;
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

/// A tracker with a client that sent half a request and went quiet, which
/// keeps the HTTP frontend's shutdown waiting.
fn tracker_with_a_stalled_request() -> (Running, TcpStream) {
    let port = free_port("127.0.0.1");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // A read timeout far beyond the test, so only shutdown can end the wait.
    let mut tracker = Running::with_config(&format!(
        "chihaya:\n  http:\n    addr: \"{addr}\"\n    read_timeout: 60s\n"
    ));
    tracker.wait_listening("http", addr);
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .write_all(b"GET /announce?info_hash=x HTTP/1.1\r\nHost: tracker\r\n")
        .unwrap();
    // Time for the frontend to accept the connection and start reading it.
    thread::sleep(Duration::from_millis(300));
    (tracker, stalled)
}

#[test]
fn shutdown_is_bounded_even_with_a_stalled_request() {
    let (mut tracker, _stalled) = tracker_with_a_stalled_request();
    let signalled = Instant::now();
    tracker.signal(SIGTERM);
    let status = tracker
        .wait_exit(SHUTDOWN_GRACE + Duration::from_secs(3))
        .unwrap_or_else(|| panic!("shutdown not bounded:\n{}", tracker.stderr()));
    assert_eq!(status.code(), Some(0), "{}", tracker.stderr());
    assert!(
        signalled.elapsed() >= SHUTDOWN_GRACE - Duration::from_millis(500),
        "in-flight requests get their grace period"
    );
    assert!(
        tracker.stderr().contains("did not finish within"),
        "{}",
        tracker.stderr()
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let (mut tracker, _stalled) = tracker_with_a_stalled_request();
    tracker.signal(SIGINT);
    tracker.wait_log("shutting down");
    thread::sleep(Duration::from_millis(300));
    assert!(tracker.is_running(), "still finishing the stalled request");
    tracker.signal(SIGTERM);
    let status = tracker
        .wait_exit(Duration::from_secs(1))
        .unwrap_or_else(|| panic!("second signal ignored:\n{}", tracker.stderr()));
    assert_eq!(status.code(), Some(128 + SIGTERM), "{}", tracker.stderr());
}
