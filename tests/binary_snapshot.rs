//! Restarts that keep the swarms, through the real binary: peers announced
//! over HTTP and UDP are saved at SIGTERM and served again by the next
//! process; a damaged or stale snapshot is reported and the tracker starts
//! empty instead.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::Duration;

use support::http::{escape, get};
use support::udp::{Announce, Client, EVENT_COMPLETED, EVENT_STARTED, ScrapeCounts};
use support::{Running, STOP, free_port, write_config};

const HASH: &[u8; 20] = b"snapshot-binary-hash";
const SIGTERM: i32 = 15;

/// Both frontends on one loopback port, keeping swarms in `snapshot`.
/// GC is slow so only the snapshot logic decides what survives.
fn start(snapshot: &Path, peer_lifetime: &str) -> (Running, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port("127.0.0.1")));
    let config = write_config(&format!(
        "chihaya:\n  http:\n    addr: \"{addr}\"\n  udp:\n    addr: \"{addr}\"\n    private_key: \"test key\"\n  storage:\n    name: memory\n    config:\n      gc_interval: 1h\n      peer_lifetime: {peer_lifetime}\n      snapshot_path: \"{}\"\n",
        snapshot.display()
    ));
    let mut tracker = Running::start(Some(config), &[]);
    tracker.wait_listening("http", addr);
    tracker.wait_listening("udp", addr);
    (tracker, addr)
}

fn stop(mut tracker: Running) -> String {
    tracker.signal(SIGTERM);
    let status = tracker.wait_exit(STOP).expect("stops after SIGTERM");
    assert!(status.success(), "{status}:\n{}", tracker.stderr());
    tracker.stderr()
}

fn http_announce(tracker: SocketAddr, peer: u8, port: u16, left: u64, event: &str) {
    let target = format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}&event={event}&compact=1",
        escape(HASH),
        escape(&[peer; 20]),
    );
    let (status, body) = get(tracker, &target);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        !body.windows(7).any(|w| w == b"failure"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

fn udp_announce(client: &mut Client, peer: u8, port: u16, left: u64) -> Vec<SocketAddr> {
    let mut peers = client
        .announce(&Announce {
            info_hash: *HASH,
            peer_id: [peer; 20],
            left,
            event: EVENT_STARTED,
            port,
        })
        .peers;
    peers.sort();
    peers
}

fn counts(seeders: u32, completed: u32, leechers: u32) -> ScrapeCounts {
    ScrapeCounts {
        seeders,
        completed,
        leechers,
    }
}

/// The log line that mentions `what`, for precise assertions on one line.
fn line_with(log: &str, what: &str) -> String {
    log.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no {what:?} in the log:\n{log}"))
        .to_string()
}

#[test]
fn swarms_and_snatches_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("swarms.snap");

    let (first, addr) = start(&snapshot, "30m");
    assert!(first.stderr().contains("no snapshot yet"));
    // A seeder that finished over HTTP (one snatch), a leecher over UDP.
    http_announce(addr, b'a', 7001, 10, "started");
    http_announce(addr, b'a', 7001, 0, "completed");
    let mut udp = Client::connect(addr);
    udp_announce(&mut udp, b'b', 7002, 5);
    assert_eq!(udp.scrape(*HASH), counts(1, 1, 1));
    let log = stop(first);
    let saved = line_with(&log, "snapshot saved");
    assert!(saved.contains("torrents=1 peers=2"), "{saved}");
    assert!(saved.contains(&snapshot.display().to_string()), "{saved}");

    let (second, addr) = start(&snapshot, "30m");
    let loaded = line_with(&second.stderr(), "snapshot loaded");
    assert!(loaded.contains("torrents=1 peers=2"), "{loaded}");
    let mut udp = Client::connect(addr);
    assert_eq!(udp.scrape(*HASH), counts(1, 1, 1));
    let (_, body) = get(addr, &format!("/scrape?info_hash={}", escape(HASH)));
    let body = String::from_utf8_lossy(&body).into_owned();
    assert!(
        body.contains("8:completei1e10:downloadedi1e10:incompletei1e"),
        "{body}"
    );
    // A newcomer is handed both peers the first process knew.
    let peers = udp_announce(&mut udp, b'c', 7003, 5);
    let known: Vec<SocketAddr> = [7001, 7002]
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
        .to_vec();
    assert_eq!(peers, known);
    stop(second);
}

#[test]
fn a_corrupt_snapshot_is_reported_and_the_tracker_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("swarms.snap");
    std::fs::write(
        &snapshot,
        b"d8:announce35:this is a torrent, not a snapshot",
    )
    .unwrap();

    let (tracker, addr) = start(&snapshot, "30m");
    let warning = line_with(&tracker.stderr(), "snapshot ignored");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("wrong magic"), "{warning}");
    assert!(
        warning.contains(&snapshot.display().to_string()),
        "{warning}"
    );
    // Serving normally, from an empty store.
    let mut udp = Client::connect(addr);
    assert_eq!(udp.scrape(*HASH), counts(0, 0, 0));
    assert!(udp_announce(&mut udp, b'a', 7001, 5).is_empty());
    let log = stop(tracker);
    assert!(line_with(&log, "snapshot saved").contains("peers=1"));
    // The damaged file was replaced by a good one.
    assert!(std::fs::read(&snapshot).unwrap().starts_with(b"CHYSWARM"));
}

#[test]
fn a_truncated_snapshot_is_reported_and_the_tracker_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("swarms.snap");
    let (first, addr) = start(&snapshot, "30m");
    udp_announce(&mut Client::connect(addr), b'a', 7001, 5);
    stop(first);
    let bytes = std::fs::read(&snapshot).unwrap();
    std::fs::write(&snapshot, &bytes[..bytes.len() - 20]).unwrap();

    let (second, addr) = start(&snapshot, "30m");
    let warning = line_with(&second.stderr(), "snapshot ignored");
    assert!(warning.contains("truncated"), "{warning}");
    assert_eq!(Client::connect(addr).scrape(*HASH), counts(0, 0, 0));
}

#[test]
fn a_snapshot_older_than_peer_lifetime_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("swarms.snap");
    let (first, addr) = start(&snapshot, "2s");
    let mut udp = Client::connect(addr);
    udp.announce(&Announce {
        info_hash: *HASH,
        peer_id: [b'a'; 20],
        left: 0,
        event: EVENT_COMPLETED,
        port: 7001,
    });
    assert!(line_with(&stop(first), "snapshot saved").contains("peers=1"));
    // The write time is stored in whole seconds: 3 s is surely past 2 s.
    thread::sleep(Duration::from_secs(3));

    let (second, addr) = start(&snapshot, "2s");
    let warning = line_with(&second.stderr(), "snapshot ignored");
    assert!(warning.contains("older than peer_lifetime"), "{warning}");
    assert_eq!(Client::connect(addr).scrape(*HASH), counts(0, 0, 0));
}
