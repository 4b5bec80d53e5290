//! One swarm of a million peers (a flash crowd, or someone filling a swarm
//! on purpose) must still be answered in bounded time: an announce costs
//! O(numwant), not O(swarm), and a garbage-collection pass stays linear.
//!
//! `SWARM_PEERS` overrides the size (default 1,000,000).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime};

use chihaya::config::{MemoryConfig, StorageConfig};
use chihaya::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId};
use chihaya::storage::Storage;

const HASH: InfoHash = InfoHash(*b"one-very-large-swarm");

fn peers() -> u32 {
    std::env::var("SWARM_PEERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// Peer `n`: its own address and port, a leecher or (every 4th) a seeder.
fn request(n: u32, numwant: u32) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: HASH,
        peer_id: PeerId([7; 20]),
        ip: IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | (n >> 4))),
        port: 1000 + (n & 15) as u16,
        uploaded: 0,
        downloaded: 0,
        left: u64::from(!n.is_multiple_of(4)),
        event: Event::Started,
        numwant,
        key: None,
        params: Params::default(),
        selection: Default::default(),
    }
}

#[tokio::test]
async fn a_million_peer_swarm_answers_in_bounded_time() {
    let storage = Storage::open(&StorageConfig::Memory(MemoryConfig {
        shard_count: 1,
        ..MemoryConfig::default()
    }))
    .await
    .unwrap();
    let n = peers();
    let filled = Instant::now();
    for i in 0..n {
        storage.announce(&request(i, 0)).await.unwrap();
    }
    eprintln!("{n} peers announced in {:?}", filled.elapsed());

    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let started = Instant::now();
        let outcome = storage.announce(&request(i * 997, 1000)).await.unwrap();
        slowest = slowest.max(started.elapsed());
        assert_eq!(outcome.peers.len(), 1000);
        assert_eq!(outcome.counts.complete + outcome.counts.incomplete, n);
    }
    eprintln!("slowest of 200 announces (numwant 1000) in a swarm of {n}: {slowest:?}");
    assert!(slowest < Duration::from_millis(50), "{slowest:?}");

    let scrape = Instant::now();
    let counts = storage.scrape(&[HASH]).await.unwrap();
    assert_eq!(counts[0].complete, n.div_ceil(4));
    assert!(scrape.elapsed() < Duration::from_millis(50));

    let gc = Instant::now();
    let later = SystemTime::now() + Duration::from_secs(24 * 3600);
    let swept = storage.collect_garbage(later).await.unwrap();
    eprintln!("gc of {n} peers took {:?}", gc.elapsed());
    assert_eq!(swept.peers_removed, u64::from(n));
    assert!(gc.elapsed() < Duration::from_secs(10), "{:?}", gc.elapsed());
}
