//! The hook chain in the real binary, over HTTP and UDP: hooks configured in
//! YAML refuse, vary and add exactly what they should; the approval file and
//! the whole config can change while the tracker runs, without losing swarms.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use support::http::{escape, get};
use support::udp::{Announce, Client, EVENT_STARTED};
use support::{Running, both_frontends, free_port, run_to_end, write_config};

const SIGHUP: i32 = 1;
const SIGUSR1: i32 = 10;

const QB: &[u8; 20] = b"-qB4520-hooks-test-1";
const TR: &[u8; 20] = b"-TR3000-hooks-test-2";
const HASH_A: [u8; 20] = *b"hooks-binary-test-A!";
const HASH_B: [u8; 20] = *b"hooks-binary-test-B!";

fn hex(hash: &[u8; 20]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Both frontends on `ip:port`, `/announce` and `/:passkey/announce`, then `hooks`.
fn config(ip: &str, port: u16, hooks: &str) -> String {
    let routes = "    announce_routes: [\"/announce\", \"/:passkey/announce\"]\n  udp:\n";
    both_frontends(ip, port).replacen("  udp:\n", routes, 1) + hooks
}

fn client_whitelist(id: &str) -> String {
    format!(
        "  prehooks:\n    - name: \"client approval\"\n      options:\n        whitelist: [\"{id}\"]\n"
    )
}

fn start(yaml: &str, ip: &str, port: u16) -> (Running, SocketAddr) {
    let mut tracker = Running::with_config(yaml);
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    tracker.wait_listening("http", addr);
    tracker.wait_listening("udp", addr);
    (tracker, addr)
}

fn http_announce(
    addr: SocketAddr,
    route: &str,
    hash: &[u8; 20],
    peer_id: &[u8; 20],
    port: u16,
) -> Vec<u8> {
    let target = format!(
        "{route}?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left=10&event=started&compact=1",
        escape(hash),
        escape(peer_id),
    );
    let (status, body) = get(addr, &target);
    assert_eq!(status, "HTTP/1.1 200 OK", "{}", shown(&body));
    body
}

fn shown(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// The whole body of a refusal: the reason and the intervals, keys sorted.
fn failure(reason: &str) -> String {
    format!(
        "d14:failure reason{}:{reason}8:intervali1800e12:min intervali900ee",
        reason.len()
    )
}

/// A compact IPv4 reply with these counts and peers (`interval`/`min interval` given).
fn v4_reply(complete: u32, incomplete: u32, intervals: (u32, u32), peers: &[SocketAddr]) -> String {
    let mut compact = Vec::new();
    for p in peers {
        let SocketAddr::V4(v4) = p else {
            panic!("{p} is not IPv4")
        };
        compact.extend_from_slice(&v4.ip().octets());
        compact.extend_from_slice(&v4.port().to_be_bytes());
    }
    let (interval, min) = intervals;
    let mut out = format!(
        "d8:completei{complete}e10:incompletei{incomplete}e8:intervali{interval}e12:min intervali{min}e5:peers{}:",
        compact.len()
    )
    .into_bytes();
    out.extend_from_slice(&compact);
    out.push(b'e');
    shown(&out)
}

fn udp_announce(hash: [u8; 20], peer_id: &[u8; 20], port: u16) -> Announce {
    Announce {
        info_hash: hash,
        peer_id: *peer_id,
        left: 10,
        event: EVENT_STARTED,
        port,
    }
}

/// Retries `check` every 100 ms for at most 10 s.
fn eventually(what: &str, tracker: &Running, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "not within 10s: {what}\n{}",
            tracker.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn client_approval_refuses_over_http_udp_and_passkey_routes() {
    let port = free_port("127.0.0.1");
    let (_tracker, addr) = start(
        &config("127.0.0.1", port, &client_whitelist("qB4520")),
        "127.0.0.1",
        port,
    );
    let local = |port| SocketAddr::new(addr.ip(), port);
    for route in ["/announce", "/s3cr3tpasskey/announce"] {
        let refused = http_announce(addr, route, &HASH_A, TR, 7001);
        assert_eq!(shown(&refused), failure("unapproved client"), "{route}");
    }
    let first = http_announce(addr, "/s3cr3tpasskey/announce", &HASH_A, QB, 7002);
    assert_eq!(shown(&first), v4_reply(0, 1, (1800, 900), &[]));

    let mut udp = Client::connect(addr);
    let refused = udp_announce(HASH_A, TR, 7003);
    assert_eq!(udp.try_announce(&refused), Err("unapproved client".into()));
    let ok = udp_announce(HASH_A, QB, 7004);
    let reply = udp.announce(&ok);
    assert_eq!(
        reply.peers,
        [local(7002)],
        "the refused peers were never added"
    );
    assert_eq!((reply.seeders, reply.leechers), (0, 2));
}

#[test]
fn torrent_approval_follows_its_file_while_running() {
    let port = free_port("127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("approved.txt");
    std::fs::write(&list, format!("# approved torrents\n{}\n", hex(&HASH_A))).unwrap();
    let hooks = format!(
        "  prehooks:\n    - name: \"torrent approval\"\n      options:\n        whitelist: []\n        file: \"{}\"\n        file_poll_interval: 100ms\n",
        list.display()
    );
    let (tracker, addr) = start(&config("127.0.0.1", port, &hooks), "127.0.0.1", port);

    let refused = http_announce(addr, "/announce", &HASH_B, QB, 7001);
    assert_eq!(shown(&refused), failure("unapproved torrent"));
    let mut udp = Client::connect(addr);
    let b = udp_announce(HASH_B, TR, 7002);
    assert_eq!(udp.try_announce(&b), Err("unapproved torrent".into()));
    let a = udp_announce(HASH_A, TR, 7002);
    assert_eq!(udp.announce(&a).leechers, 1);

    std::fs::write(
        &list,
        format!(
            "{}\n{}  # added later\n",
            hex(&HASH_A),
            hex(&HASH_B).to_uppercase()
        ),
    )
    .unwrap();
    eventually("B approved after the file changed", &tracker, || {
        udp.try_announce(&b).is_ok()
    });
    let now = http_announce(addr, "/announce", &HASH_B, QB, 7001);
    let udp_peer = SocketAddr::new(addr.ip(), 7002);
    assert_eq!(shown(&now), v4_reply(0, 2, (1800, 900), &[udp_peer]));
    assert!(
        tracker.stderr().contains("torrent approval: file re-read"),
        "{}",
        tracker.stderr()
    );
}

/// The value of `key` (e.g. `8:interval`) as a bencoded integer in `body`.
fn int_after(body: &[u8], key: &str) -> u32 {
    let key = format!("{key}i");
    let at = body
        .windows(key.len())
        .position(|w| w == key.as_bytes())
        .unwrap_or_else(|| panic!("no {key} in {}", shown(body)))
        + key.len();
    let end = at + body[at..].iter().position(|b| *b == b'e').unwrap();
    std::str::from_utf8(&body[at..end])
        .unwrap()
        .parse()
        .unwrap()
}

const VARY_AND_FIX: &str = "  prehooks:\n    - name: \"interval variation\"\n      options:\n        modify_response_probability: 1\n        max_increase_delta: 60\n        modify_min_interval: true\n    - name: \"fixed peers\"\n      options:\n        fixed_peers: [\"192.0.2.1:4444\", \"[2001:db8::1]:4444\"]\n";

#[test]
fn interval_variation_and_fixed_peers_over_http_ipv4() {
    let port = free_port("127.0.0.1");
    let (_tracker, addr) = start(&config("127.0.0.1", port, VARY_AND_FIX), "127.0.0.1", port);
    let fixed: SocketAddr = "192.0.2.1:4444".parse().unwrap();
    let body = http_announce(addr, "/announce", &HASH_A, QB, 7001);
    let interval = int_after(&body, "8:interval");
    assert!((1801..=1860).contains(&interval), "{}", shown(&body));
    let intervals = (interval, interval - 900);
    assert_eq!(
        shown(&body),
        v4_reply(1, 1, intervals, &[fixed]),
        "the IPv4 fixed peer only, counted as a seeder; min interval moved by the same delta"
    );
    let again = http_announce(addr, "/announce", &HASH_A, QB, 7001);
    assert_eq!(
        shown(&again),
        shown(&body),
        "the same client sees the same interval"
    );
}

#[test]
fn interval_variation_and_fixed_peers_over_udp_ipv6() {
    let port = free_port("::1");
    let (_tracker, addr) = start(&config("::1", port, VARY_AND_FIX), "::1", port);
    let mut udp = Client::connect(addr);
    let announce = udp_announce(HASH_A, TR, 7001);
    let reply = udp.announce(&announce);
    assert!((1801..=1860).contains(&reply.interval), "{reply:?}");
    assert_eq!(
        reply.peers,
        ["[2001:db8::1]:4444".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!((reply.seeders, reply.leechers), (1, 1));
    assert_eq!(udp.announce(&announce), reply, "stable for one client");
}

/// Rewrites the config file the running tracker was started with.
fn rewrite(path: &Path, yaml: &str) {
    std::fs::write(path, support::metrics_off_unless_set(yaml)).unwrap();
}

fn start_reloadable(yaml: &str, port: u16) -> (Running, SocketAddr, std::path::PathBuf) {
    let file = write_config(yaml);
    let path = file.path.clone();
    let mut tracker = Running::start(Some(file), &[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tracker.wait_listening("http", addr);
    tracker.wait_listening("udp", addr);
    (tracker, addr, path)
}

#[test]
fn sighup_applies_a_changed_whitelist_and_keeps_the_swarm() {
    let port = free_port("127.0.0.1");
    let (tracker, addr, path) = start_reloadable(
        &config("127.0.0.1", port, &client_whitelist("qB4520")),
        port,
    );
    let qb_at = SocketAddr::new(addr.ip(), 7001);
    http_announce(addr, "/announce", &HASH_A, QB, 7001);
    let refused = http_announce(addr, "/announce", &HASH_A, TR, 7002);
    assert_eq!(shown(&refused), failure("unapproved client"));

    let changed = config("127.0.0.1", port, &client_whitelist("TR3000")).replacen(
        "  udp:\n",
        "    max_numwant: 99\n  udp:\n",
        1,
    );
    rewrite(&path, &changed);
    tracker.signal(SIGHUP);
    tracker.wait_log("configuration reloaded");

    let now = http_announce(addr, "/announce", &HASH_A, TR, 7002);
    assert_eq!(
        shown(&now),
        v4_reply(0, 2, (1800, 900), &[qb_at]),
        "the peer announced before the reload is still in the swarm"
    );
    let mut udp = Client::connect(addr);
    let qb = udp_announce(HASH_A, QB, 7003);
    assert_eq!(udp.try_announce(&qb), Err("unapproved client".into()));
    let log = tracker.stderr();
    assert!(
        log.contains("changes to http need a restart and are not applied"),
        "{log}"
    );
}

#[test]
fn sigusr1_with_a_broken_config_keeps_the_old_chain() {
    let port = free_port("127.0.0.1");
    let good = config("127.0.0.1", port, &client_whitelist("qB4520"));
    let (mut tracker, addr, path) = start_reloadable(&good, port);
    let broken = good.replace(
        "whitelist: [\"qB4520\"]",
        "whitelist: [\"qB4520\"]\n        blacklist: [\"TR3000\"]",
    );
    rewrite(&path, &broken);
    tracker.signal(SIGUSR1);
    tracker.wait_log("reload refused");
    let log = tracker.stderr();
    assert!(
        log.contains("chihaya.prehooks[0] (client approval): whitelist and blacklist are both set"),
        "{log}"
    );
    assert!(tracker.is_running());
    let refused = http_announce(addr, "/announce", &HASH_A, TR, 7002);
    assert_eq!(
        shown(&refused),
        failure("unapproved client"),
        "old chain in force"
    );
    let ok = http_announce(addr, "/announce", &HASH_A, QB, 7001);
    assert_eq!(shown(&ok), v4_reply(0, 1, (1800, 900), &[]));
    assert!(!log.contains("configuration reloaded"), "{log}");
}

#[test]
fn a_bad_hook_stops_the_start_with_a_message_naming_it() {
    let port = free_port("127.0.0.1");
    let bad = config(
        "127.0.0.1",
        port,
        "  prehooks:\n    - name: \"fixed peers\"\n      options:\n        fixed_peers: [\"192.0.2.1\"]\n",
    );
    let file = write_config(&bad);
    let out = run_to_end(&["-c", file.path.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "error: chihaya.prehooks[0] (fixed peers): fixed_peers[0]: \"192.0.2.1\" is not ip:port"
        ),
        "{}",
        out.stderr
    );
    let unknown = write_config(&config(
        "127.0.0.1",
        port,
        "  posthooks:\n    - name: \"no such hook\"\n",
    ));
    let out = run_to_end(&["-c", unknown.path.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "error: chihaya.posthooks[0]: unknown hook \"no such hook\"; known hooks: \"client approval\""
        ),
        "{}",
        out.stderr
    );
}
