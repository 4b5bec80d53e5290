//! Sizing: how much memory the memory engine needs per peer, and how long a
//! snapshot of it takes to save and load.
//!
//! Fills the engine with `PEERS` IPv4 peers spread evenly over `SWARMS`
//! torrents (default 1M over 100k), then reports the growth of the process's
//! resident set (Linux: /proc/self/status) and the snapshot's size and times.
//!
//! `cargo run --release --example memory_per_peer [PEERS] [SWARMS]`

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Instant, SystemTime};

use chihaya::config::MemoryConfig;
use chihaya::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId};
use chihaya::storage::memory::MemoryStorage;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u32>().expect("a count"));
    let peers = args.next().unwrap_or(1_000_000);
    let swarms = args.next().unwrap_or(100_000).clamp(1, peers.max(1));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = MemoryConfig {
        snapshot_path: dir.path().join("swarms.snap").display().to_string(),
        ..MemoryConfig::default()
    };

    let before = rss_kib();
    let store = MemoryStorage::new(&config);
    let started = Instant::now();
    let now = SystemTime::now();
    for n in 0..peers {
        store.announce(&request(n % swarms, n), now);
    }
    let filled = started.elapsed();
    let grown = rss_kib().saturating_sub(before);
    let stats = store.stats();
    println!(
        "{} torrents, {} seeders, {} leechers filled in {filled:.2?}",
        stats.torrents, stats.seeders, stats.leechers
    );
    println!(
        "resident set grew {} MiB: {} bytes per peer (incl. torrent overhead)",
        grown / 1024,
        grown * 1024 / u64::from(peers.max(1))
    );

    let started = Instant::now();
    store.save_snapshot();
    let size = std::fs::metadata(&config.snapshot_path).map_or(0, |m| m.len());
    println!(
        "snapshot saved in {:.2?}: {} MiB",
        started.elapsed(),
        size / (1 << 20)
    );
    let again = MemoryStorage::new(&config);
    let started = Instant::now();
    again.restore_snapshot();
    println!(
        "snapshot loaded in {:.2?}: {} torrents",
        started.elapsed(),
        again.stats().torrents
    );
}

/// Peer `n`: its own address, one in four a seeder.
fn request(torrent: u32, n: u32) -> AnnounceRequest {
    let mut hash = [0u8; 20];
    hash[..4].copy_from_slice(&torrent.to_be_bytes());
    AnnounceRequest {
        info_hash: InfoHash(hash),
        peer_id: PeerId([n as u8; 20]),
        ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: u64::from(!n.is_multiple_of(4)),
        event: Event::None,
        numwant: 0,
        key: None,
        params: Params::default(),
        selection: Default::default(),
    }
}

/// The resident set in KiB, from /proc/self/status (0 where there is none).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
