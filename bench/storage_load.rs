//! Announces per second and latency of one storage engine under the same load.
//!
//! `tasks` concurrent announcers each send `announces / tasks` announces
//! (a mix of leechers and seeders over `torrents` swarms of up to 64
//! peers, numwant 50) straight to the engine, bounded by `--max-secs`. Run by
//! `bench/storage.sh`, which starts a throwaway redis-server on loopback.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use chihaya::config::{MemoryConfig, RedisConfig, StorageConfig};
use chihaya::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId};
use chihaya::storage::Storage;

#[derive(Parser)]
struct Args {
    /// `memory` or `redis`.
    #[arg(long)]
    engine: String,
    /// The Redis broker URL (redis engine only).
    #[arg(long, default_value = "redis://127.0.0.1:6379/0")]
    broker: String,
    #[arg(long, default_value_t = 100_000)]
    announces: u64,
    #[arg(long, default_value_t = 64)]
    tasks: u64,
    #[arg(long, default_value_t = 1_000)]
    torrents: u32,
    /// Stop early after this long, whatever is left.
    #[arg(long, default_value_t = 60)]
    max_secs: u64,
}

fn request(n: u64, torrents: u32) -> AnnounceRequest {
    let torrent = (n % u64::from(torrents)) as u32;
    let peer = ((n / u64::from(torrents)) % 64) as u8;
    let mut hash = [0u8; 20];
    hash[..4].copy_from_slice(&torrent.to_be_bytes());
    hash[0] ^= (torrent % 251) as u8; // spread over the 256 buckets
    AnnounceRequest {
        info_hash: InfoHash(hash),
        peer_id: PeerId([peer; 20]),
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, (torrent % 200) as u8, peer)),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: if peer.is_multiple_of(4) { 0 } else { 1000 },
        event: Event::None,
        numwant: 50,
        key: None,
        params: Params::default(),
        selection: Default::default(),
    }
}

async fn open(args: &Args) -> Storage {
    let config = match args.engine.as_str() {
        "memory" => StorageConfig::Memory(MemoryConfig::default()),
        "redis" => StorageConfig::Redis(RedisConfig {
            redis_broker: args.broker.clone(),
            redis_key_prefix: "bench".into(),
            ..RedisConfig::default()
        }),
        other => panic!("unknown engine {other:?}: memory or redis"),
    };
    Storage::open(&config).await.expect("open the storage")
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let storage = Arc::new(open(&args).await);
    let deadline = Instant::now() + Duration::from_secs(args.max_secs);
    let per_task = args.announces / args.tasks;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..args.tasks {
        let (storage, torrents) = (storage.clone(), args.torrents);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_task as usize);
            for i in 0..per_task {
                if Instant::now() > deadline {
                    break;
                }
                let req = request(t * per_task + i, torrents);
                let one = Instant::now();
                storage.announce(&req).await.expect("announce");
                latencies.push(one.elapsed());
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.expect("announcer task"));
    }
    report(&args.engine, &mut all, started.elapsed());
}

fn report(engine: &str, latencies: &mut [Duration], took: Duration) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{engine}: {} announces in {:.2}s = {:.0}/s; p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        took.as_secs_f64(),
        latencies.len() as f64 / took.as_secs_f64(),
        at(0.50),
        at(0.99),
        latencies[latencies.len() - 1],
    );
}
