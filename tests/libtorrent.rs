//! A real BitTorrent client against the real binary: two libtorrent sessions
//! (tests/libtorrent/swarm.py) meet only through the tracker, transfer a file,
//! and the tracker's counts are read at each step.
//!
//! Needs Debian's python3-libtorrent (installed by scripts/setup). When it is
//! missing these tests fail; they never skip.

mod common;

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use common::{Tracker, run_bounded};
use serde_json::Value;

/// Debian's interpreter: the python3 first on PATH may be a build that cannot
/// import the libtorrent module.
const PYTHON: &str = "/usr/bin/python3";
/// Each step in the script waits at most this long.
const STEP_TIMEOUT_SECS: u32 = 60;
/// The whole script, as a last resort if a step's bound fails.
const SCRIPT_LIMIT: Duration = Duration::from_secs(300);

enum Via {
    Http,
    Udp,
}

fn swarm(ip: &str, via: Via) {
    let ip: IpAddr = ip.parse().unwrap();
    let tracker = Tracker::start(ip);
    let url = match via {
        Via::Http => tracker.http_announce_url(),
        Via::Udp => tracker.udp_url(),
    };
    let family = if ip.is_ipv4() { "4" } else { "6" };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/libtorrent/swarm.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .args(["--announce", &url, "--family", family])
        .args(["--timeout", &STEP_TIMEOUT_SECS.to_string()]);
    let run = run_bounded(cmd, SCRIPT_LIMIT, tracker.dir.path());
    eprintln!(
        "swarm.py on {url} took {:.2?}; its log:\n{}",
        run.elapsed, run.stderr
    );
    let context = || {
        format!(
            "swarm.py on {url}\n--- its stdout:\n{}\n--- its stderr:\n{}\n--- tracker stderr:\n{}",
            run.stdout,
            run.stderr,
            tracker.stderr()
        )
    };
    let Some(status) = run.status else {
        panic!("swarm.py was killed after {SCRIPT_LIMIT:?}\n{}", context());
    };
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("swarm.py printed no JSON report ({e})\n{}", context()));
    assert!(
        status.success() && report["ok"] == true,
        "swarm.py failed: {}\n{}",
        report["error"],
        context()
    );

    let peers = &report["peers"];
    let scrapes = &report["scrapes"];
    let counts = |step: &str| -> (u64, u64, u64) {
        let s = &scrapes[step];
        let n = |k: &str| {
            s[k].as_u64()
                .unwrap_or_else(|| panic!("scrape {step}.{k} missing\n{}", context()))
        };
        (n("complete"), n("incomplete"), n("downloaded"))
    };
    let check = |what: &str, got: Value, want: u64| {
        assert_eq!(got, want, "{what}\n{}", context());
    };

    // The first peer in a swarm gets nobody; never itself.
    check(
        "peers the seeder received on its first announce",
        peers["seeder_started"].clone(),
        0,
    );
    // The leecher learns of the seeder only from the tracker, and only of it.
    check(
        "peers the leecher received on its first announce",
        peers["leecher_started"].clone(),
        1,
    );
    check(
        "peers the seeder received re-announcing",
        peers["seeder_reannounce"].clone(),
        1,
    );
    // Once done it is a seeder, and seeders are sent only leechers: none left.
    check(
        "peers the leecher received announcing completed",
        peers["leecher_completed"].clone(),
        0,
    );

    // (complete, incomplete, downloaded) at each step.
    assert_eq!(
        counts("seeder_started"),
        (1, 0, 0),
        "after the seeder started\n{}",
        context()
    );
    assert_eq!(
        counts("both_started"),
        (1, 1, 0),
        "after the leecher started (1 seeder + 1 leecher)\n{}",
        context()
    );
    check(
        "bytes the leecher had before the seeder's upload limit was lifted",
        report["leecher_bytes_before_transfer"].clone(),
        0,
    );
    assert_eq!(
        counts("completed"),
        (2, 0, 1),
        "after the leecher completed\n{}",
        context()
    );
    assert_eq!(
        counts("leecher_stopped"),
        (1, 0, 1),
        "after the leecher stopped\n{}",
        context()
    );
    // The swarm is now empty and removed (as in Go chihaya), and its snatch
    // count with it: only the peers are checked.
    let (complete, incomplete, _) = counts("seeder_stopped");
    assert_eq!(
        (complete, incomplete),
        (0, 0),
        "after the seeder stopped\n{}",
        context()
    );

    assert_eq!(
        report["sha1_match"],
        true,
        "SHA-1 of the download\n{}",
        context()
    );
    assert_eq!(
        report["sha256_match"],
        true,
        "SHA-256 of the download\n{}",
        context()
    );
    // libtorrent itself must parse the tracker's scrape reply the same way.
    assert_eq!(
        (
            report["lt_scrape"]["complete"].clone(),
            report["lt_scrape"]["incomplete"].clone()
        ),
        (Value::from(2), Value::from(0)),
        "libtorrent's own scrape after completion\n{}",
        context()
    );
    assert_eq!(
        report["tracker_errors"],
        Value::Array(vec![]),
        "libtorrent saw tracker errors\n{}",
        context()
    );
}

#[test]
fn http_ipv4() {
    swarm("127.0.0.1", Via::Http);
}

#[test]
fn http_ipv6() {
    swarm("::1", Via::Http);
}

#[test]
fn udp_ipv4() {
    swarm("127.0.0.1", Via::Udp);
}

#[test]
fn udp_ipv6() {
    swarm("::1", Via::Udp);
}
