//! The memory engine's hot paths: an announce into a small and a large swarm,
//! a scrape, a garbage collection pass over 100k peers in 10k torrents, and
//! one over a single swarm of 200k peers (a shard's lock is held for the
//! whole of one swarm's sweep, so that is the longest a request can wait),
//! and a UDP-sized batch of announces into a million torrents, with and
//! without prefetching: two peers each, and shaped like the UDP bench's load
//! (`aquatic_udp_load_test`'s torrent weights, which put most announces into
//! a few thousand large swarms).
//!
//! `cargo bench --bench storage -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use chihaya::config::MemoryConfig;
use chihaya::protocol::udp::{AnnounceWriter, Family};
use chihaya::protocol::{AnnounceRequest, AnnounceSummary, Event, InfoHash, Params, PeerId};
use chihaya::storage::memory::MemoryStorage;
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};

fn store() -> MemoryStorage {
    MemoryStorage::new(&MemoryConfig::default())
}

fn hash(n: u32) -> InfoHash {
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&n.to_be_bytes());
    InfoHash(h)
}

/// Peer `n` of a torrent: a distinct address per peer, half of them seeders.
fn request(torrent: u32, n: u32) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: hash(torrent),
        peer_id: PeerId([n as u8; 20]),
        ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: u64::from(n % 2),
        event: Event::None,
        numwant: 50,
        key: None,
        params: Params::default(),
        selection: Default::default(),
    }
}

fn fill(store: &MemoryStorage, torrents: u32, peers_each: u32) {
    let now = SystemTime::now();
    for t in 0..torrents {
        for n in 0..peers_each {
            store.announce(&request(t, n), now);
        }
    }
}

fn announce(c: &mut Criterion) {
    let mut group = c.benchmark_group("announce");
    for swarm in [10, 1000] {
        let s = store();
        fill(&s, 1, swarm);
        // A leecher of the swarm re-announcing: update plus 50 peers (or all 9).
        let req = request(0, 1);
        group.bench_function(format!("refresh_in_swarm_of_{swarm}"), |b| {
            b.iter(|| black_box(s.announce(black_box(&req), SystemTime::now())))
        });
    }
    let s = store();
    fill(&s, 1000, 1);
    let mut n = 0u32;
    group.bench_function("join_and_stop_in_1000_torrents", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let mut req = request(n % 1000, 1000 + n % 1000);
            s.announce(&req, SystemTime::now());
            req.event = Event::Stopped;
            black_box(s.announce(&req, SystemTime::now()))
        })
    });
    group.finish();
}

fn scrape(c: &mut Criterion) {
    let s = store();
    fill(&s, 10_000, 3);
    let hashes: Vec<InfoHash> = (0..74).map(|i| hash(i * 97 % 12_000)).collect();
    c.bench_function("scrape/74_hashes_of_10k_torrents", |b| {
        b.iter(|| black_box(s.scrape(black_box(&hashes))))
    });
}

fn gc(c: &mut Criterion) {
    let mut group = c.benchmark_group("gc_100k_peers");
    group.sample_size(10);
    let past = SystemTime::now() - Duration::from_secs(3600);
    let kept = store();
    fill(&kept, 10_000, 10);
    group.bench_function("keep_all", |b| {
        b.iter(|| black_box(kept.collect_garbage(past)))
    });
    group.bench_function("remove_all", |b| {
        b.iter_batched(
            || {
                let s = store();
                fill(&s, 10_000, 10);
                s
            },
            |s| {
                let future = SystemTime::now() + Duration::from_secs(3600);
                black_box(s.collect_garbage(future));
                s
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// One swarm of 200k peers, `stale_every`-th of them last seen an hour ago:
/// a quarter exercises the compaction (and index rebuild) path, a
/// sixteenth the one-by-one removal path.
fn gc_one_large_swarm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gc_one_swarm_of_200k");
    group.sample_size(10);
    let now = SystemTime::now();
    let hour_ago = now - Duration::from_secs(3600);
    let cutoff = now - Duration::from_secs(1800);
    for (name, stale_every) in [("remove_a_quarter", 4), ("remove_a_sixteenth", 16)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let s = MemoryStorage::new(&MemoryConfig {
                        shard_count: 1,
                        ..MemoryConfig::default()
                    });
                    for n in 0..200_000u32 {
                        let seen = if n % stale_every == 0 { hour_ago } else { now };
                        s.announce(&request(0, n), seen);
                    }
                    s
                },
                |s| {
                    black_box(s.collect_garbage(cutoff));
                    s
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// What the UDP frontend does with a batch: 64 announces to torrents picked
/// at random from a million (two peers each, far more than the caches
/// hold), with and without telling the store first ([`MemoryStorage::prefetch`]).
/// The difference is the cache misses that prefetching hides.
fn batch_in_a_million_torrents(c: &mut Criterion) {
    const TORRENTS: u32 = 1_000_000;
    let mut group = c.benchmark_group("batch_of_64_in_1m_torrents");
    let s = store();
    fill(&s, TORRENTS, 2);
    // A fixed pseudo-random walk, the same for both variants.
    let mut x = 0x9e37_79b9_u32;
    let next_batch = move || {
        (0..64)
            .map(|_| {
                let x = xorshift(&mut x);
                request(x % TORRENTS, x / TORRENTS % 2)
            })
            .collect::<Vec<_>>()
    };
    one_by_one_and_prefetched(&mut group, &s, next_batch, |req, now| {
        black_box(s.announce(req, now));
    });
    group.finish();
}

/// Benchmarks `serve` over the batches `next_batch` makes, as `one_by_one`
/// and, with the batch prefetch first, as `prefetched`.
fn one_by_one_and_prefetched(
    group: &mut BenchmarkGroup<'_, WallTime>,
    store: &MemoryStorage,
    mut next_batch: impl FnMut() -> Vec<AnnounceRequest>,
    mut serve: impl FnMut(&AnnounceRequest, SystemTime),
) {
    for prefetch in [false, true] {
        let name = if prefetch { "prefetched" } else { "one_by_one" };
        let mut hashes = Vec::with_capacity(64);
        group.bench_function(name, |b| {
            b.iter_batched(
                &mut next_batch,
                |batch| {
                    let now = SystemTime::now();
                    if prefetch {
                        hashes.clear();
                        hashes.extend(batch.iter().map(|r| r.info_hash));
                        store.prefetch(&hashes);
                    }
                    for req in &batch {
                        serve(req, now);
                    }
                    batch
                },
                BatchSize::SmallInput,
            )
        });
    }
}

/// A xorshift step: the same pseudo-random walk on every run.
fn xorshift(x: &mut u32) -> u32 {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    *x
}

/// The torrent of each of `peers` peers over `torrents`, drawn with
/// `aquatic_udp_load_test` 0.9.0's weights (`floor + exp(6.5 - 500 i / N)`,
/// floor = torrents / peers): about 73% of the peers land in the first ~1.4%
/// of the torrents, in swarms of up to ~700.
fn tester_torrents(torrents: u32, peers: u32) -> Vec<u32> {
    let n = f64::from(torrents);
    let floor = n / f64::from(peers);
    let mut cumulative = Vec::with_capacity(torrents as usize);
    let mut sum = 0.0;
    for i in 0..torrents {
        sum += floor + (6.5 - 500.0 * f64::from(i) / n).exp();
        cumulative.push(sum);
    }
    let mut x = 0x2545_f491_u32;
    (0..peers)
        .map(|_| {
            let at = f64::from(xorshift(&mut x)) / f64::from(u32::MAX) * sum;
            cumulative
                .partition_point(|&c| c < at)
                .min(torrents as usize - 1) as u32
        })
        .collect()
}

/// Peer `n` (of the tester's load) announcing to `torrent`: a completed
/// seeder three times in four, else a starting leecher, as the tester sends.
fn tester_request(torrent: u32, n: u32, seeder: bool) -> AnnounceRequest {
    AnnounceRequest {
        port: n as u16,
        ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (n >> 16))),
        left: if seeder { 0 } else { 50 },
        event: if seeder {
            Event::Completed
        } else {
            Event::Started
        },
        numwant: 30,
        ..request(torrent, n)
    }
}

/// 64 announces as the UDP bench sends them (2 million peers over a million
/// torrents, the tester's weights, peers in turn, 30 wanted), each answered
/// into a UDP reply, with and without the batch prefetch. Against
/// `batch_of_64_in_1m_torrents` (two peers each), the difference is the cost
/// of the large swarms: their indexes and entries, which the prefetch does
/// not reach.
fn batch_shaped_like_the_udp_bench(c: &mut Criterion) {
    const TORRENTS: u32 = 1_000_000;
    const PEERS: u32 = 2_000_000;
    let torrents = tester_torrents(TORRENTS, PEERS);
    let s = store();
    let now = SystemTime::now();
    let mut x = 0x9e37_79b9_u32;
    let mut seeder = move || !xorshift(&mut x).is_multiple_of(4);
    for (n, &t) in torrents.iter().enumerate() {
        s.announce(&tester_request(t, n as u32, seeder()), now);
    }
    let mut group = c.benchmark_group("batch_of_64_shaped_like_the_udp_bench");
    let mut next = 0u32;
    let next_batch = move || {
        (0..64)
            .map(|_| {
                let n = next;
                next = (next + 1) % PEERS;
                tester_request(torrents[n as usize], n, seeder())
            })
            .collect::<Vec<_>>()
    };
    let mut reply = Vec::with_capacity(1500);
    one_by_one_and_prefetched(&mut group, &s, next_batch, |req, now| {
        let mut writer = AnnounceWriter::new(&mut reply, 1, Family::V4);
        let counts = s.announce_into(req, now, &mut writer);
        writer.finish(&AnnounceSummary {
            complete: counts.complete,
            incomplete: counts.incomplete,
            ..AnnounceSummary::default()
        });
        black_box(&reply);
    });
    group.finish();
}

criterion_group!(
    benches,
    announce,
    scrape,
    gc,
    gc_one_large_swarm,
    batch_in_a_million_torrents,
    batch_shaped_like_the_udp_bench
);
criterion_main!(benches);
