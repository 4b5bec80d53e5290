//! The memory engine against the shared conformance suite, and under real
//! parallelism (threads, not just tasks on one thread).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime};

use super::MemoryStorage;
use crate::config::MemoryConfig;
use crate::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId};
use crate::storage::{Storage, conformance};

fn memory(shard_count: usize) -> MemoryStorage {
    MemoryStorage::new(&MemoryConfig {
        shard_count,
        ..MemoryConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_with_one_shard() {
    conformance::run_all(|| async { Storage::Memory(memory(1)) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_with_1024_shards() {
    conformance::run_all(|| async { Storage::Memory(memory(1024)) }).await;
}

fn request(hash: u8, thread: u8, n: u16, seeder: bool) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([hash; 20]),
        peer_id: PeerId([thread; 20]),
        ip: IpAddr::V4(Ipv4Addr::new(10, 1, thread, 1)),
        port: n,
        uploaded: 0,
        downloaded: 0,
        left: if seeder { 0 } else { 1 },
        event: Event::Started,
        numwant: 30,
        key: None,
        params: Params::default(),
        selection: Default::default(),
    }
}

/// Runs `work` on `threads` threads and fails instead of hanging if they do
/// not all finish within a generous bound: a deadlock shows up as a failure.
fn on_threads(threads: u8, work: impl Fn(u8) + Send + Sync + 'static) {
    let work = Arc::new(work);
    let (done, finished) = mpsc::channel();
    for t in 0..threads {
        let (work, done) = (Arc::clone(&work), done.clone());
        thread::spawn(move || {
            work(t);
            done.send(()).expect("test harness gone");
        });
    }
    for _ in 0..threads {
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("threads did not finish: deadlock?");
    }
}

#[test]
fn parallel_announces_to_one_torrent_are_counted_exactly() {
    let store = Arc::new(memory(16));
    let s = Arc::clone(&store);
    on_threads(4, move |t| {
        for n in 0..2000u16 {
            s.announce(&request(1, t, n, n % 4 == 0), SystemTime::now());
        }
    });
    let counts = store.scrape(&[InfoHash([1; 20])])[0];
    assert_eq!((counts.complete, counts.incomplete), (4 * 500, 4 * 1500));
    let stats = store.stats();
    assert_eq!(
        (stats.torrents, stats.seeders, stats.leechers),
        (1, 2000, 6000)
    );
}

#[test]
fn gc_running_alongside_announces_neither_deadlocks_nor_miscounts() {
    let store = Arc::new(memory(8));
    let s = Arc::clone(&store);
    on_threads(3, move |t| {
        if t == 0 {
            // Collect everything over and over while the others announce.
            for _ in 0..200 {
                s.collect_garbage(SystemTime::now() + Duration::from_secs(3600));
            }
        } else {
            for n in 0..3000u16 {
                s.announce(&request((n % 50) as u8, t, n, false), SystemTime::now());
            }
        }
    });
    // Whatever survived, the running totals must match a fresh count.
    let stats = store.stats();
    let hashes: Vec<InfoHash> = (0..50).map(|h| InfoHash([h; 20])).collect();
    let counted: u64 = store
        .scrape(&hashes)
        .iter()
        .map(|c| u64::from(c.incomplete))
        .sum();
    assert_eq!(
        stats.leechers, counted,
        "running totals drifted from the swarms"
    );
    assert_eq!(stats.seeders, 0);
    let gc = store.collect_garbage(SystemTime::now() + Duration::from_secs(3600));
    assert_eq!(gc.peers_removed, counted);
    assert_eq!(store.stats().torrents, 0);
}

#[test]
fn shards_spread_torrents() {
    let store = memory(64);
    for h in 0..=255u8 {
        store.announce(&request(h, 0, 1, false), SystemTime::now());
    }
    let busiest = store.shards.iter().map(|s| s.lock().stats().torrents).max();
    // 256 torrents over 64 shards average 4; a router that ignores the hash
    // would put all 256 in one.
    assert!(
        busiest < Some(24),
        "one shard holds {busiest:?} of 256 torrents"
    );
}

/// Prefetching is a hint: on an empty store, for unknown and known
/// torrents alike, it changes nothing a request or the stats can see.
#[test]
fn prefetch_changes_nothing() {
    let store = memory(4);
    let hashes: Vec<InfoHash> = (0..100).map(|n| InfoHash([n; 20])).collect();
    store.prefetch(&hashes);
    assert_eq!(store.stats().torrents, 0);
    let now = SystemTime::now();
    for n in 0..50 {
        store.announce(&request(n, 1, 6881, false), now);
    }
    let before = store.stats();
    store.prefetch(&hashes);
    store.prefetch(&[]);
    assert_eq!(store.stats(), before);
    assert_eq!(before.torrents, 50);
    let counts = store.scrape(&hashes[..60]);
    assert!(counts[..50].iter().all(|c| c.incomplete == 1));
    assert!(counts[50..].iter().all(|c| c.incomplete == 0));
}
