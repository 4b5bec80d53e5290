//! The Redis engine against real `redis-server` processes: the shared
//! conformance suite on one server and on a three-node cluster, the peer
//! selection modes, two stores sharing swarms, totals exact under concurrent
//! announces, an outage survived, and the garbage collector sweeping it.

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use chihaya::config::{RedisConfig, StorageConfig};
use chihaya::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId, PeerSelection};
use chihaya::server::gc::Collector;
use chihaya::storage::{FamilyStats, Storage, StoreStats, TopSwarm, conformance};

use support::redis::{RedisCluster, RedisServer};

/// A store on `url` with a key prefix of its own, so every store is empty
/// even on a shared server (the conformance suite asks for that).
async fn store(url: &str) -> Storage {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let prefix = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    store_with_prefix(url, &prefix).await
}

async fn store_with_prefix(url: &str, prefix: &str) -> Storage {
    let config = RedisConfig {
        redis_broker: url.to_string(),
        redis_key_prefix: prefix.to_string(),
        redis_read_timeout: Duration::from_secs(1),
        redis_write_timeout: Duration::from_secs(1),
        redis_connect_timeout: Duration::from_secs(1),
        ..RedisConfig::default()
    };
    Storage::open(&StorageConfig::Redis(config))
        .await
        .expect("connect to the test redis")
}

fn announce(ip: &str, port: u16, left: u64, numwant: u32) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0x42; 20]),
        peer_id: PeerId([port as u8; 20]),
        ip: ip.parse().unwrap(),
        port,
        uploaded: 0,
        downloaded: 0,
        left,
        event: Event::None,
        numwant,
        key: None,
        params: Params::default(),
        selection: PeerSelection::default(),
    }
}

fn ips(out: &[chihaya::protocol::Peer]) -> Vec<IpAddr> {
    out.iter().map(|p| p.ip).collect()
}

#[tokio::test]
async fn conformance_on_one_server() {
    let server = RedisServer::start();
    let url = server.url();
    conformance::run_all(|| store(&url)).await;
}

#[tokio::test]
async fn conformance_on_a_cluster() {
    let cluster = RedisCluster::start();
    let url = cluster.url();
    conformance::run_all(|| store(&url)).await;
    // Torrents land on every node: announces really go through the cluster.
    let s = store(&url).await;
    for first in 0..=255u8 {
        let mut req = announce("10.0.0.1", 6881, 10, 0);
        req.info_hash.0[0] = first;
        s.announce(&req).await.unwrap();
    }
    for node in &cluster.nodes {
        let keys: u64 = node.cli(&["DBSIZE"]).trim().parse().unwrap();
        assert!(keys > 0, "node {} holds no key", node.port);
    }
    assert_eq!(s.stats().await.unwrap().torrents, 256);
}

#[tokio::test]
async fn all_peers_hands_seeders_to_seeders() {
    let server = RedisServer::start();
    let s = store(&server.url()).await;
    s.announce(&announce("10.0.0.1", 1, 0, 50)).await.unwrap();
    let plain = s.announce(&announce("10.0.0.2", 2, 0, 50)).await.unwrap();
    assert!(plain.peers.is_empty(), "a plain seeder got seeders");
    let mut lbry = announce("10.0.0.2", 2, 0, 50);
    lbry.selection.all_peers = true;
    let out = s.announce(&lbry).await.unwrap();
    assert_eq!(ips(&out.peers), vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
}

#[tokio::test]
async fn query_only_answers_without_recording() {
    let server = RedisServer::start();
    let s = store(&server.url()).await;
    s.announce(&announce("10.0.0.1", 1, 0, 50)).await.unwrap();
    let mut query = announce("10.0.0.2", 2, 10, 50);
    query.selection.query_only = true;
    for _ in 0..2 {
        let out = s.announce(&query).await.unwrap();
        assert_eq!(ips(&out.peers), vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!((out.counts.complete, out.counts.incomplete), (1, 0));
    }
    let stats = s.stats().await.unwrap();
    assert_eq!(
        (stats.seeders, stats.leechers),
        (1, 0),
        "query_only was stored"
    );
    // Even on a torrent nobody announced, it creates nothing.
    query.info_hash = InfoHash([7; 20]);
    assert!(s.announce(&query).await.unwrap().peers.is_empty());
    assert_eq!(s.stats().await.unwrap().torrents, 1);
}

#[tokio::test]
async fn prefer_subnet_puts_near_peers_first() {
    let server = RedisServer::start();
    let s = store(&server.url()).await;
    // Eight far seeders, two near ones (same /16 as the announcer).
    for n in 1..=8u16 {
        let ip = format!("10.{n}.0.1");
        s.announce(&announce(&ip, n, 0, 0)).await.unwrap();
    }
    for n in [20u16, 21] {
        let ip = format!("10.99.{n}.1");
        s.announce(&announce(&ip, n, 0, 0)).await.unwrap();
    }
    let mut me = announce("10.99.7.7", 99, 10, 2);
    me.selection.prefer_subnet = Some((16, 64));
    for _ in 0..20 {
        let out = s.announce(&me).await.unwrap();
        let mut got: Vec<String> = out.peers.iter().map(|p| p.ip.to_string()).collect();
        got.sort();
        assert_eq!(
            got,
            ["10.99.20.1", "10.99.21.1"],
            "near peers must come first"
        );
    }
    // Without the preference, far peers are handed out too.
    me.selection.prefer_subnet = None;
    let mut far = false;
    for _ in 0..50 {
        let out = s.announce(&me).await.unwrap();
        far |= out
            .peers
            .iter()
            .any(|p| !p.ip.to_string().starts_with("10.99."));
    }
    assert!(far, "without a preference only near peers came back");
}

#[tokio::test]
async fn two_stores_on_one_redis_share_swarms() {
    let server = RedisServer::start();
    let (a, b) = (
        store_with_prefix(&server.url(), "shared").await,
        store_with_prefix(&server.url(), "shared").await,
    );
    a.announce(&announce("10.0.0.1", 1, 0, 50)).await.unwrap();
    let out = b.announce(&announce("10.0.0.2", 2, 10, 50)).await.unwrap();
    assert_eq!(ips(&out.peers), vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
    let hash = [InfoHash([0x42; 20])];
    assert_eq!(
        a.scrape(&hash).await.unwrap(),
        b.scrape(&hash).await.unwrap()
    );
    // A different prefix is a different set of swarms.
    let other = store_with_prefix(&server.url(), "other").await;
    assert_eq!(other.scrape(&hash).await.unwrap()[0].complete, 0);
}

#[tokio::test]
async fn an_outage_fails_requests_quickly_and_heals_by_itself() {
    let mut server = RedisServer::start();
    let s = store(&server.url()).await;
    s.announce(&announce("10.0.0.1", 1, 0, 50)).await.unwrap();
    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let failed = s.announce(&announce("10.0.0.2", 2, 10, 50)).await;
        assert!(failed.is_err(), "an announce succeeded with redis down");
        // connect + write + read timeouts are 1s each: the bound is 3s.
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    }
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.announce(&announce("10.0.0.2", 2, 10, 50)).await {
            Ok(out) => {
                // A restarted server without persistence starts empty.
                assert_eq!(out.counts.incomplete, 1);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("still failing 10s after redis came back: {e}"),
        }
    }
}

#[tokio::test]
async fn unreachable_redis_is_an_error_naming_the_broker() {
    let port = support::redis::free_redis_port();
    let config = RedisConfig {
        redis_broker: format!("redis://user:secret@127.0.0.1:{port}/0"),
        redis_connect_timeout: Duration::from_secs(1),
        ..RedisConfig::default()
    };
    let started = Instant::now();
    let Err(e) = Storage::open(&StorageConfig::Redis(config)).await else {
        panic!("connected to nothing");
    };
    let text = e.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret"), "the password leaked: {text}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// What one peer is in one torrent, after its task's last announce there.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Gone,
    Seeder,
    Leecher,
}

/// Torrent `t` of the concurrency test: two buckets (first byte 0 or 1), two
/// torrents in each, so scripts contend on the same bucket totals.
fn torrent(t: u8) -> InfoHash {
    let mut hash = InfoHash([t + 1; 20]);
    hash.0[0] = t % 2;
    hash
}

/// Peer `p` of task `k`: even peers IPv4, odd peers IPv6, none shared
/// between tasks, so each peer's final role is its own task's last word.
fn concurrent_peer(k: u8, p: u8) -> String {
    if p.is_multiple_of(2) {
        format!("10.0.{k}.{p}")
    } else {
        format!("2001:db8::{k}:{p}")
    }
}

/// One task's announces: a fixed pseudo-random walk over leech, seed,
/// complete and stop; returns each (peer, torrent)'s final role.
async fn churn(store: Arc<Storage>, k: u8) -> Vec<((u8, u8), Role)> {
    let mut roles: Vec<((u8, u8), Role)> = Vec::new();
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(k);
    for _ in 0..150 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let (p, t, op) = ((x % 6) as u8, ((x >> 8) % 4) as u8, (x >> 16) % 4);
        let mut req = announce(&concurrent_peer(k, p), 7000 + u16::from(p), 10, 5);
        req.info_hash = torrent(t);
        let role = match op {
            0 => Role::Leecher,
            1 => {
                req.left = 0;
                Role::Seeder
            }
            2 => {
                req.event = Event::Completed;
                Role::Seeder
            }
            _ => {
                req.event = Event::Stopped;
                Role::Gone
            }
        };
        store.announce(&req).await.expect("announce failed");
        roles.retain(|(at, _)| *at != (p, t));
        roles.push(((p, t), role));
    }
    roles
}

/// Many announces at once from two stores (two connections), both families,
/// four torrents in two buckets: the running totals must equal a recount of
/// what is left, `top_swarms` must agree with scrapes, and after a full
/// sweep every total (snatches and swarms per family too) is back at zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn totals_stay_exact_under_concurrent_announces() {
    let server = RedisServer::start();
    let a = Arc::new(store_with_prefix(&server.url(), "busy").await);
    let b = Arc::new(store_with_prefix(&server.url(), "busy").await);
    let tasks: Vec<_> = (0..8u8)
        .map(|k| {
            tokio::spawn(churn(
                Arc::clone(if k.is_multiple_of(2) { &a } else { &b }),
                k,
            ))
        })
        .collect();
    let mut want = StoreStats::default();
    let mut per_torrent = [[[0u32; 2]; 2]; 4]; // [torrent][family][seeder?]
    for task in tasks {
        for ((p, t), role) in task.await.unwrap() {
            let (family, seeder) = (usize::from(p % 2), usize::from(role == Role::Seeder));
            if role != Role::Gone {
                per_torrent[usize::from(t)][family][seeder] += 1;
            }
        }
    }
    let hashes: Vec<InfoHash> = (0..4).map(torrent).collect();
    let scrapes = a.scrape(&hashes).await.unwrap();
    for (t, counts) in per_torrent.iter().enumerate() {
        let [v4, v6] = counts.map(|[l, s]| FamilyStats {
            swarms: u64::from(s + l > 0),
            seeders: u64::from(s),
            leechers: u64::from(l),
        });
        assert_eq!(
            (scrapes[t].complete, scrapes[t].incomplete),
            (counts[0][1] + counts[1][1], counts[0][0] + counts[1][0]),
            "torrent {t}"
        );
        want.add(&StoreStats {
            torrents: u64::from(v4.swarms + v6.swarms > 0),
            seeders: v4.seeders + v6.seeders,
            leechers: v4.leechers + v6.leechers,
            snatches: u64::from(scrapes[t].downloaded),
            ipv4: v4,
            ipv6: v6,
        });
    }
    assert!(want.ipv4.swarms > 0 && want.ipv6.swarms > 0 && want.snatches > 0);
    assert_eq!(
        a.stats().await.unwrap(),
        want,
        "totals differ from a recount"
    );

    let top = b.top_swarms(4).await.unwrap();
    let mut recount: Vec<TopSwarm> = hashes
        .iter()
        .zip(&scrapes)
        .filter(|(_, s)| s.complete + s.incomplete > 0)
        .map(|(h, s)| TopSwarm {
            info_hash: *h,
            counts: *s,
        })
        .collect();
    recount.sort_by_key(|t| (std::cmp::Reverse(t.peers()), t.info_hash));
    assert_eq!(top, recount);

    let cutoff = SystemTime::now() + Duration::from_secs(3600);
    a.collect_garbage(cutoff).await.unwrap();
    assert_eq!(b.stats().await.unwrap(), StoreStats::default());
    assert!(b.top_swarms(4).await.unwrap().is_empty());
}

/// Equal swarms in one bucket, announced largest hash first: each bucket's
/// script cuts its own list to `n`, so it must break ties as the merge does
/// (by info hash) or the smallest hash never reaches the merge.
#[tokio::test]
async fn top_swarms_break_ties_by_hash_within_a_bucket() {
    let server = RedisServer::start();
    let s = store(&server.url()).await;
    for last in [9u8, 5, 1] {
        let mut req = announce("10.0.0.1", 1, 10, 0);
        req.info_hash.0[19] = last;
        s.announce(&req).await.unwrap();
    }
    let top = s.top_swarms(1).await.unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].info_hash.0[19], 1, "{top:?}");
}

/// The garbage collector sweeps on a blocking thread and drives the Redis
/// calls from there through the runtime's handle: on a current-thread
/// runtime (the test default) and on a multi-thread one (the tracker's).
async fn the_collector_sweeps_stale_peers() {
    let server = RedisServer::start();
    let s = Arc::new(store(&server.url()).await);
    s.announce(&announce("10.0.0.1", 1, 10, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    s.announce(&announce("10.0.0.2", 2, 10, 0)).await.unwrap();
    let collector = Collector::new(Arc::clone(&s), Duration::from_secs(1));
    let swept = collector.sweep_now().await.expect("none running").unwrap();
    assert_eq!(swept.peers_removed, 1);
    assert_eq!(s.stats().await.unwrap().leechers, 1);
}

#[tokio::test]
async fn the_collector_sweeps_redis_beside_a_current_thread_runtime() {
    the_collector_sweeps_stale_peers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_sweeps_redis_beside_a_multi_thread_runtime() {
    the_collector_sweeps_stale_peers().await;
}
