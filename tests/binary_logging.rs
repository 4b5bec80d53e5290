//! `--debug`, `--json` and `RUST_LOG` as the operator sees them on stderr.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::http::get;
use support::{Running, STARTUP, STOP, both_frontends, free_port, write_config};

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

/// One info line per listening address, the server's (it names the
/// frontend): the frontends' own lines are debug, so an operator does not
/// read every address twice.
#[test]
fn each_listening_address_is_logged_once_at_info() {
    let port = free_port("127.0.0.1");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut tracker = Running::with_config(&both_frontends("127.0.0.1", port));
    tracker.wait_listening("http", addr);
    tracker.wait_listening("udp", addr);
    // Both frontends answer, so each has run past its own start-up logging.
    let (status, _) = get(addr, "/announce");
    assert!(status.starts_with("HTTP/1.1 "), "{status}");
    wait_until_udp_answers(addr);
    let log = tracker.stderr();
    let needle = format!("addr={addr}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&needle)).collect();
    assert_eq!(lines.len(), 2, "{log}");
    for frontend in ["http", "udp"] {
        let named = format!("listening frontend=\"{frontend}\" {needle}");
        assert!(lines.iter().any(|l| l.contains(&named)), "{log}");
    }
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
