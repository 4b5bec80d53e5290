//! `--debug`, `--json` and `RUST_LOG` as the operator sees them on stderr.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::{Running, STARTUP, STOP, free_port, write_config};

const SIGTERM: i32 = 15;

/// Runs a UDP-only tracker with these flags until it answers (and has logged
/// `awaited`, if given), stops it, and returns everything it logged.
fn log_of(args: &[&str], rust_log: Option<&str>, awaited: Option<&str>) -> String {
    let port = free_port("127.0.0.1");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let config = write_config(&format!("chihaya:\n  udp:\n    addr: \"{addr}\"\n"));
    let mut tracker = Running::start_with_env(Some(config), args, rust_log);
    wait_until_udp_answers(addr);
    if let Some(text) = awaited {
        tracker.wait_log(text);
    }
    tracker.signal(SIGTERM);
    let status = tracker.wait_exit(STOP).expect("stops");
    assert_eq!(status.code(), Some(0), "{}", tracker.stderr());
    tracker.stderr()
}

#[test]
fn info_by_default_debug_with_the_flag() {
    let quiet = log_of(&[], None, None);
    assert!(quiet.contains(" INFO "), "{quiet}");
    assert!(!quiet.contains("DEBUG"), "{quiet}");
    assert!(
        !quiet.contains('\u{1b}'),
        "no colour codes into a pipe: {quiet:?}"
    );
    let loud = log_of(&["--debug"], None, Some("DEBUG"));
    assert!(
        loud.contains("DEBUG chihaya::server::stats: swarms torrents=0"),
        "{loud}"
    );
}

#[test]
fn rust_log_overrides_the_level() {
    let log = log_of(&["--debug"], Some("warn"), None);
    assert!(!log.contains(" INFO ") && !log.contains("DEBUG"), "{log}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let log = log_of(&["--json"], None, None);
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 3, "{log}");
    for line in lines {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        assert!(line.contains("\"level\":\""), "{line}");
    }
    assert!(log.contains("\"message\":\"tracker stopped\""), "{log}");
}

/// Ready is when a BEP 15 connect gets its reply; the log cannot say so when
/// RUST_LOG silences it.
fn wait_until_udp_answers(tracker: SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut connect = 0x41727101980_u64.to_be_bytes().to_vec(); // protocol id
    connect.extend_from_slice(&0u32.to_be_bytes()); // action: connect
    connect.extend_from_slice(&7u32.to_be_bytes()); // transaction id
    let deadline = Instant::now() + STARTUP;
    let mut reply = [0u8; 16];
    while Instant::now() < deadline {
        socket.send_to(&connect, tracker).unwrap();
        if let Ok((16, _)) = socket.recv_from(&mut reply) {
            return;
        }
    }
    panic!("{tracker} did not answer a connect within {STARTUP:?}");
}
