//! The real binary on Redis storage: two tracker processes share one Redis
//! (HTTP on one, UDP on the other), a Redis outage in the middle of a run, and
//! a Redis that is not there at start, and `/stats` with the Redis engine.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use support::ops::Tracker;
use support::redis::{RedisServer, free_redis_port};
use support::udp::{Announce, Client, EVENT_STARTED, ScrapeCounts};
use support::{Running, STARTUP, free_port};

const HASH: [u8; 20] = *b"redis-binary-test-ha";

/// HTTP and UDP on 127.0.0.1:`port`, swarms in Redis at `broker`. The Redis
/// timeouts are short so an outage answers well within the client's patience.
fn config(port: u16, broker: &str) -> String {
    format!(
        "chihaya:\n  announce_interval: 30m\n  min_announce_interval: 15m\n  http:\n    addr: \"127.0.0.1:{port}\"\n  udp:\n    addr: \"127.0.0.1:{port}\"\n    private_key: \"test key\"\n  storage:\n    name: redis\n    config:\n      redis_broker: \"{broker}\"\n      redis_read_timeout: 300ms\n      redis_write_timeout: 300ms\n      redis_connect_timeout: 300ms\n      gc_interval: 1s\n"
    )
}

fn start_tracker(broker: &str) -> (Running, SocketAddr) {
    let port = free_port("127.0.0.1");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut tracker = Running::with_config(&config(port, broker));
    tracker.wait_listening("http", addr);
    tracker.wait_listening("udp", addr);
    (tracker, addr)
}

fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// One HTTP GET; returns the body.
fn get(tracker: SocketAddr, target: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect_timeout(&tracker, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    reply[split + 4..].to_vec()
}

fn http_announce(tracker: SocketAddr, peer_port: u16, left: u64) -> String {
    let target = format!(
        "/announce?info_hash={}&peer_id={}&port={peer_port}&uploaded=0&downloaded=0&left={left}&event=started&compact=1",
        escape(&HASH),
        escape(&[peer_port as u8; 20]),
    );
    String::from_utf8_lossy(&get(tracker, &target)).into_owned()
}

fn udp_leecher(port: u16) -> Announce {
    Announce {
        info_hash: HASH,
        peer_id: [port as u8; 20],
        left: 100,
        event: EVENT_STARTED,
        port,
    }
}

#[test]
fn two_trackers_share_one_redis() {
    let redis = RedisServer::start();
    let (_a, a) = start_tracker(&redis.url());
    let (_b, b) = start_tracker(&redis.url());

    let seeded = http_announce(a, 7001, 0);
    assert!(seeded.contains("8:completei1e"), "{seeded}");
    let reply = Client::connect(b).announce(&udp_leecher(7002));
    let seeder: SocketAddr = "127.0.0.1:7001".parse().unwrap();
    assert_eq!(
        reply.peers,
        vec![seeder],
        "B must hand out the peer announced to A"
    );
    assert_eq!((reply.seeders, reply.leechers), (1, 1));

    let want = ScrapeCounts {
        seeders: 1,
        completed: 0,
        leechers: 1,
    };
    assert_eq!(Client::connect(a).scrape(HASH), want);
    assert_eq!(Client::connect(b).scrape(HASH), want);
    let scrape = format!("/scrape?info_hash={}", escape(&HASH));
    let (from_a, from_b) = (get(a, &scrape), get(b, &scrape));
    assert_eq!(from_a, from_b, "HTTP scrapes of the two trackers differ");
    assert!(
        String::from_utf8_lossy(&from_a).contains("8:completei1e"),
        "{}",
        String::from_utf8_lossy(&from_a)
    );
}

#[test]
fn a_redis_outage_fails_requests_is_logged_once_and_heals() {
    let mut redis = RedisServer::start();
    let (tracker, addr) = start_tracker(&redis.url());
    let mut udp = Client::connect(addr);
    udp.announce(&udp_leecher(7001));

    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let body = http_announce(addr, 7002, 100);
        assert!(
            body.contains("14:failure reason") && body.contains("storage unavailable"),
            "{body}"
        );
        // Three 300 ms timeouts bound a request.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let error = udp.try_announce(&udp_leecher(7003)).unwrap_err();
        assert!(error.contains("storage unavailable"), "{error}");
    }
    tracker.wait_log("redis storage unavailable");

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while udp.try_announce(&udp_leecher(7004)).is_err() {
        assert!(
            Instant::now() < deadline,
            "not healed 10s after redis came back:\n{}",
            tracker.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    tracker.wait_log("redis storage reachable again");
    let log = tracker.stderr();
    assert_eq!(
        log.matches("redis storage unavailable").count(),
        1,
        "one outage, one log line:\n{log}"
    );
    assert_eq!(log.matches("reachable again").count(), 1, "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn unreachable_redis_at_start_exits_1_naming_the_broker() {
    let redis_port = free_redis_port();
    let port = free_port("127.0.0.1");
    let broker = format!("redis://127.0.0.1:{redis_port}/0");
    let mut tracker = Running::with_config(&config(port, &broker));
    let status = tracker
        .wait_exit(STARTUP)
        .expect("the tracker did not exit");
    assert_eq!(status.code(), Some(1), "{}", tracker.stderr());
    let log = tracker.stderr();
    assert!(log.contains(&format!("127.0.0.1:{redis_port}")), "{log}");
}

/// `/stats` of a tracker on Redis shows what the Redis engine counts: torrents,
/// snatches, the per-family breakdown and the largest swarms. The HTTP
/// frontend takes `ip=` here, so one loopback client can be an IPv6 peer.
#[test]
fn stats_show_the_redis_swarms_per_family() {
    let redis = RedisServer::start();
    let storage = format!(
        "name: redis\n    config:\n      redis_broker: \"{}\"\n      prometheus_reporting_interval: 100ms",
        redis.url()
    );
    let t = Tracker::start_with("    allow_ip_spoofing: true\n", &storage);
    t.http_announce(&HASH, 1, 0, "&event=completed");
    t.http_announce(&HASH, 2, 100, "&ip=2001:db8::2");
    t.http_announce(&[0x11; 20], 3, 100, "");
    let s = t.stats();
    assert_eq!(
        (
            &s["torrents"],
            &s["seeders"],
            &s["leechers"],
            &s["snatches"]
        ),
        (&2.into(), &1.into(), &2.into(), &1.into()),
        "{s:#}"
    );
    let family = |f: &str| {
        let f = &s[f];
        (
            f["swarms"].clone(),
            f["seeders"].clone(),
            f["leechers"].clone(),
        )
    };
    assert_eq!(family("ipv4"), (2.into(), 1.into(), 1.into()), "{s:#}");
    assert_eq!(family("ipv6"), (1.into(), 0.into(), 1.into()), "{s:#}");
    let top = s["top_swarms"].as_array().unwrap();
    assert_eq!(top.len(), 2, "{s:#}");
    assert_eq!(
        top[0]["info_hash"],
        hex(&HASH),
        "the larger swarm first: {s:#}"
    );
    assert_eq!(
        (&top[0]["peers"], &top[0]["snatches"]),
        (&2.into(), &1.into())
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
