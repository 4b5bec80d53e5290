//! A listen address already taken is a one-line error naming it, exit 1.

mod support;

use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use support::Running;

fn fails_naming(yaml: &str, addr: &str) {
    let mut tracker = Running::with_config(yaml);
    let status = tracker
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("kept running:\n{}", tracker.stderr()));
    assert_eq!(status.code(), Some(1), "{}", tracker.stderr());
    let log = tracker.stderr();
    let error = log
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{log}"));
    assert!(error.contains(addr), "{error:?} should name {addr}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn http_port_in_use_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    fails_naming(&format!("chihaya:\n  http:\n    addr: \"{addr}\"\n"), &addr);
}

#[test]
fn udp_port_in_use_names_the_address() {
    let taken = UdpSocket::bind("[::1]:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    fails_naming(&format!("chihaya:\n  udp:\n    addr: \"{addr}\"\n"), &addr);
}
