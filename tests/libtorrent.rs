//! A real BitTorrent client against the real binary: two libtorrent sessions
//! (tests/libtorrent/swarm.py) meet only through the tracker, transfer a file,
//! and the tracker's counts are read at each step.
//!
//! Needs Debian's python3-libtorrent (installed by scripts/setup). When it is
//! missing these tests fail; they never skip.

mod common;
mod support;

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use common::{Tracker, run_bounded};
use serde_json::Value;
use support::postgres::PostgresServer;
use support::private::{PrivateTracker, query_until};

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

/// Runs tests/libtorrent/swarm.py with `args`; its JSON report, and a
/// description of the run (its output and the tracker's log) for failures.
fn run_swarm(
    args: &[&str],
    scratch: &std::path::Path,
    tracker_log: &dyn Fn() -> String,
) -> (Value, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/libtorrent/swarm.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .args(args)
        .args(["--timeout", &STEP_TIMEOUT_SECS.to_string()])
        .env("CHIHAYA_ADMIN_TOKEN", support::admin::TOKEN);
    let run = run_bounded(cmd, SCRIPT_LIMIT, scratch);
    eprintln!(
        "swarm.py {args:?} took {:.2?}; its log:\n{}",
        run.elapsed, run.stderr
    );
    let context = format!(
        "swarm.py {args:?}\n--- its stdout:\n{}\n--- its stderr:\n{}\n--- tracker stderr:\n{}",
        run.stdout,
        run.stderr,
        tracker_log()
    );
    let Some(status) = run.status else {
        panic!("swarm.py was killed after {SCRIPT_LIMIT:?}\n{context}");
    };
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("swarm.py printed no JSON report ({e})\n{context}"));
    assert!(
        status.success() && report["ok"] == true,
        "swarm.py failed: {}\n{context}",
        report["error"],
    );
    (report, context)
}

fn swarm(ip: &str, via: Via) {
    let ip: IpAddr = ip.parse().unwrap();
    let tracker = Tracker::start(ip);
    let url = match via {
        Via::Http => tracker.http_announce_url(),
        Via::Udp => tracker.udp_url(),
    };
    let family = if ip.is_ipv4() { "4" } else { "6" };
    let (report, context) = run_swarm(
        &["--announce", &url, "--family", family],
        tracker.dir.path(),
        &|| tracker.stderr(),
    );
    let context = || context.clone();

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

/// A private tracker: seeder and leecher are two users with their own
/// passkeys in their announce URLs, the site registers the torrent through
/// the admin API, and the database ends up with what libtorrent moved.
fn private_swarm(via: Via, postgres: Option<&PostgresServer>) {
    let dir = tempfile::tempdir().unwrap();
    let database = match postgres {
        Some(pg) => pg.create_database(),
        None => format!("sqlite://{}", dir.path().join("tracker.sqlite").display()),
    };
    let t = PrivateTracker::start(&database, &dir.path().join("journal"), "200ms");
    t.add_user(1, "seederkey", "");
    t.add_user(2, "leecherkey", "");
    let base = match via {
        Via::Http => format!("http://{}", t.addr),
        Via::Udp => format!("udp://{}", t.addr),
    };
    let register = format!("http://{}/api/torrents/7", t.ops);
    let seeder_url = format!("{base}/seederkey/announce");
    let leecher_url = format!("{base}/leecherkey/announce");
    let (report, context) = run_swarm(
        &[
            "--announce",
            &seeder_url,
            "--leecher-announce",
            &leecher_url,
            "--register-torrent",
            &register,
            "--family",
            "4",
        ],
        dir.path(),
        &|| t.running.stderr(),
    );
    assert_eq!(report["sha1_match"], true, "{context}");
    assert_eq!(report["tracker_errors"], Value::Array(vec![]), "{context}");
    let total = |who: &str, what: &str| {
        report["totals"][who][what]
            .as_i64()
            .unwrap_or_else(|| panic!("no {who}.{what} total\n{context}"))
    };
    let size = 3 * 1024 * 1024;
    assert!(total("leecher", "downloaded") >= size, "{context}");
    // (uploaded, downloaded, raw_uploaded, raw_downloaded) per user: exactly
    // what each client said in its last (`stopped`) announce.
    let (up, down) = (total("seeder", "uploaded"), total("leecher", "downloaded"));
    let want = vec![vec![1, up, 0, up, 0], vec![2, 0, down, 0, down]];
    let users = query_until(
        &database,
        "SELECT id, uploaded, downloaded, raw_uploaded, raw_downloaded FROM users ORDER BY id",
        &want,
    );
    assert_eq!(users, want, "{context}");
    assert!(
        up >= size,
        "the seeder uploaded the whole file: {up}\n{context}"
    );
    let snatches = query_until(
        &database,
        "SELECT user_id, torrent_id FROM snatches",
        &[vec![2, 7]],
    );
    assert_eq!(snatches, vec![vec![2, 7]], "{context}");
}

/// PostgreSQL over HTTP, SQLite over UDP: both databases see a real client.
#[test]
fn private_http_ipv4_postgres() {
    let pg = PostgresServer::new();
    private_swarm(Via::Http, Some(&pg));
}

#[test]
fn private_udp_ipv4_sqlite() {
    private_swarm(Via::Udp, None);
}
