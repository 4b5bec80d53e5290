//! Announces per second and latency of private tracking against public
//! tracking, in one process, under the same load, runs alternating
//! public / private / public / private.
//!
//! Both modes send announces through [`Tracker::announce`], the call every
//! frontend makes, over a fresh memory storage per run:
//! - public: `Chain::without_hooks`;
//! - private: the same chain `.with_private(..)` holding the hook of a real
//!   [`Private`] service, started by `Private::start` exactly as the server
//!   does: a database (a fresh SQLite file per run by default, or
//!   `--database postgres://...`, emptied first) holding `--users` users and
//!   `--torrents` torrents, the journal, the sessions and ledger, and the
//!   flusher writing one batch per `--flush-secs`. The run's figures include
//!   what the flusher costs while the announces go on; after the timed window
//!   the service is finished (the last batch written) and the database is
//!   read back: batches, rows, and whether every announce and every byte
//!   arrived exactly once.
//!
//! The load: `torrents × peers_per_torrent` clients; client `c` is on
//! torrent `c % torrents`, belongs to a user picked by a hash of `c` (so a
//! user has clients on several torrents, sometimes two on one), and one in
//! four clients of each torrent is a seeder. Each client's first announce is
//! `started`, then its counters grow by a fixed step per announce (uploads
//! for everyone, downloads for leechers, which never complete), so every
//! delta is non-zero. numwant 50. `--tasks` concurrent announcers each own
//! a share of the clients and announce them round-robin, yielding to the
//! runtime every `--yield-every` announces as a frontend task does at its
//! socket (without it the flusher's timer would never get a worker). Every
//! run is bounded by `--announces` and `--secs`. Run by `bench/private.sh`.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe, Row};
use tokio_util::sync::CancellationToken;

use chihaya::config::{Config, PrivateConfig};
use chihaya::middleware::{Chain, Tracker};
use chihaya::private::batch::BatchId;
use chihaya::private::db::Database;
use chihaya::private::flusher::FlushStatus;
use chihaya::private::hook::PrivateHook;
use chihaya::private::journal::Journal;
use chihaya::private::ledger::Ledger;
use chihaya::private::model::{Freeleech, Passkey, Torrent, TorrentId, User, UserId};
use chihaya::private::registry::Registry;
use chihaya::private::service::Private;
use chihaya::private::sessions::Sessions;
use chihaya::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId};
use chihaya::storage::Storage;

#[derive(Parser, Clone)]
struct Args {
    /// Public/private pairs of runs.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Length of each timed run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// At most this many announces per run (the time bound usually comes first).
    #[arg(long, default_value_t = 50_000_000)]
    announces: u64,
    #[arg(long, default_value_t = 64)]
    tasks: u64,
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    #[arg(long, default_value_t = 1_000)]
    torrents: u64,
    #[arg(long, default_value_t = 64)]
    peers_per_torrent: u64,
    /// The flusher's interval (the default config's is 3 s).
    #[arg(long, default_value_t = 3.0)]
    flush_secs: f64,
    /// `postgres://...` to use a server (its tables are emptied before each
    /// private run); default: a fresh SQLite file per run in `--dir`.
    #[arg(long)]
    database: Option<String>,
    /// Where the SQLite files and journals go; default: a temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    yield_every: u64,
    /// The modes each round runs, in order: `public`, `private`, and `hook`
    /// (the private hook over its registry, sessions and ledger, the ledger
    /// drained and thrown away every flush interval: no journal, no
    /// database; it separates the hook's own cost from the flusher's).
    #[arg(long, value_delimiter = ',', default_value = "public,private")]
    modes: Vec<String>,
    /// After the rounds, time one full batch through the journal and the
    /// database with no announce load beside it.
    #[arg(long)]
    probe: bool,
}

const UP_STEP: u64 = 16 * 1024;
const DOWN_STEP: u64 = 64 * 1024;
/// Leechers' torrent size: large enough never to complete in a run.
const SIZE: u64 = 1 << 50;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Who announces what: pure functions of the client number.
#[derive(Clone, Copy)]
struct Load {
    users: u64,
    torrents: u64,
    clients: u64,
}

impl Load {
    fn new(a: &Args) -> Load {
        assert!(a.torrents < 1 << 24 && a.torrents * a.peers_per_torrent < 1 << 24);
        Load {
            users: a.users,
            torrents: a.torrents,
            clients: a.torrents * a.peers_per_torrent,
        }
    }

    fn user_of(&self, c: u64) -> u64 {
        splitmix(c) % self.users
    }

    fn torrent_of(&self, c: u64) -> u64 {
        c % self.torrents
    }

    fn seeder(&self, c: u64) -> bool {
        (c / self.torrents).is_multiple_of(4)
    }

    /// The up and down steps of one announce: a few speeds, by client.
    fn steps(&self, c: u64) -> (u64, u64) {
        let up = UP_STEP * (1 + c % 8);
        let down = if self.seeder(c) {
            0
        } else {
            DOWN_STEP * (1 + c % 4)
        };
        (up, down)
    }

    fn info_hash(t: u64) -> InfoHash {
        let t = t as u32;
        let mut hash = [0xab_u8; 20];
        hash[..4].copy_from_slice(&t.to_be_bytes());
        hash[0] ^= (t % 251) as u8; // unique for t < 2^24, spread over shards
        InfoHash(hash)
    }

    fn passkey(u: u64) -> String {
        format!("{:016x}{:016x}", splitmix(u), splitmix(u ^ 0x5555))
    }

    fn request(&self, c: u64) -> AnnounceRequest {
        let mut peer_id = *b"-BN0001-000000000000";
        peer_id[8..].copy_from_slice(format!("{c:012}").as_bytes());
        AnnounceRequest {
            info_hash: Load::info_hash(self.torrent_of(c)),
            peer_id: PeerId(peer_id),
            ip: IpAddr::V4(Ipv4Addr::new(10, (c >> 16) as u8, (c >> 8) as u8, c as u8)),
            port: 6881,
            uploaded: 0,
            downloaded: 0,
            left: if self.seeder(c) { 0 } else { SIZE },
            event: Event::Started,
            numwant: 50,
            key: None,
            params: Params {
                route: vec![("passkey".into(), Load::passkey(self.user_of(c)))],
                query: Vec::new(),
            },
            selection: Default::default(),
        }
    }
}

/// Latencies in nanoseconds, log-linear buckets (64 per octave, ~1.5%).
struct Histogram(Vec<u64>);

impl Histogram {
    const BUCKETS: usize = 128 + 57 * 64;

    fn new() -> Histogram {
        Histogram(vec![0; Self::BUCKETS])
    }

    fn index(v: u64) -> usize {
        if v < 128 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros() as usize; // 7..=63
        let m = ((v >> (e - 6)) - 64) as usize;
        128 + (e - 7) * 64 + m
    }

    fn lower(i: usize) -> u64 {
        if i < 128 {
            return i as u64;
        }
        let (e, m) = ((i - 128) / 64 + 7, (i - 128) % 64);
        (64 + m as u64) << (e - 6)
    }

    fn record(&mut self, d: Duration) {
        self.0[Self::index(d.as_nanos() as u64)] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }

    fn quantile(&self, q: f64) -> Duration {
        let total: u64 = self.0.iter().sum();
        let want = ((total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= want {
                return Duration::from_nanos(Self::lower(i));
            }
        }
        Duration::ZERO
    }

    fn max(&self) -> Duration {
        let i = self.0.iter().rposition(|&n| n > 0).unwrap_or(0);
        Duration::from_nanos(Self::lower(i))
    }
}

/// What one announcer task did.
struct TaskResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    peers_returned: u64,
    /// Raw bytes the tracker should account: each client's counters at its
    /// last successful announce (every client started from zero).
    expect_up: u64,
    expect_down: u64,
    latencies: Histogram,
}

async fn announcer(
    tracker: Arc<Tracker>,
    load: Load,
    task: u64,
    args: Args,
    deadline: Instant,
) -> TaskResult {
    let mine: Vec<u64> = (task..load.clients).step_by(args.tasks as usize).collect();
    let mut reqs: Vec<AnnounceRequest> = mine.iter().map(|&c| load.request(c)).collect();
    let mut last_ok = vec![(0u64, 0u64); mine.len()];
    let per_task = args.announces / args.tasks;
    let mut r = TaskResult {
        ok: 0,
        errors: 0,
        first_error: None,
        peers_returned: 0,
        expect_up: 0,
        expect_down: 0,
        latencies: Histogram::new(),
    };
    for i in 0..per_task {
        if i % args.yield_every == 0 {
            tokio::task::yield_now().await;
        }
        let j = (i % mine.len() as u64) as usize;
        let round = i / mine.len() as u64;
        let (up, down) = load.steps(mine[j]);
        let req = &mut reqs[j];
        req.event = if round == 0 {
            Event::Started
        } else {
            Event::None
        };
        req.uploaded = round * up;
        req.downloaded = round * down;
        if req.left > 0 {
            req.left = SIZE - req.downloaded;
        }
        let start = Instant::now();
        let res = tracker.announce(req).await;
        let end = Instant::now();
        r.latencies.record(end - start);
        match res {
            Ok(resp) => {
                r.ok += 1;
                r.peers_returned += resp.peers.len() as u64;
                last_ok[j] = (req.uploaded, req.downloaded);
            }
            Err(e) => {
                r.errors += 1;
                r.first_error
                    .get_or_insert_with(|| e.client_message().to_string());
            }
        }
        if end >= deadline {
            break;
        }
    }
    r.expect_up = last_ok.iter().map(|x| x.0).sum();
    r.expect_down = last_ok.iter().map(|x| x.1).sum();
    r
}

/// One run's load figures.
struct Run {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    took: Duration,
    latencies: Histogram,
    peers_returned: u64,
    expect_up: u64,
    expect_down: u64,
    rss_mb: f64,
    /// CPU time of the whole process (every thread: announcers, flusher,
    /// SQLite's) over the run.
    cpu: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.took.as_secs_f64()
    }

    /// Announces per second of CPU the process got: steadier than the rate
    /// on a machine others share, as it divides out how much CPU we were given.
    fn per_cpu_second(&self) -> f64 {
        self.ok as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

/// utime + stime of every thread of this process (USER_HZ is 100 in /proc).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn drive(tracker: Arc<Tracker>, load: Load, args: &Args) -> Run {
    let cpu_before = process_cpu();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.secs);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..args.tasks {
        tasks.spawn(announcer(tracker.clone(), load, t, args.clone(), deadline));
    }
    let mut run = Run {
        ok: 0,
        errors: 0,
        first_error: None,
        took: Duration::ZERO,
        latencies: Histogram::new(),
        peers_returned: 0,
        expect_up: 0,
        expect_down: 0,
        rss_mb: 0.0,
        cpu: Duration::ZERO,
    };
    while let Some(done) = tasks.join_next().await {
        let r = done.expect("announcer task");
        run.ok += r.ok;
        run.errors += r.errors;
        run.first_error = run.first_error.or(r.first_error);
        run.peers_returned += r.peers_returned;
        run.expect_up += r.expect_up;
        run.expect_down += r.expect_down;
        run.latencies.merge(&r.latencies);
    }
    run.took = started.elapsed();
    run.cpu = process_cpu().saturating_sub(cpu_before);
    run.rss_mb = proc_status_kb("VmRSS:") as f64 / 1024.0;
    run
}

fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn print_run(label: &str, run: &Run) {
    println!(
        "  {label:<8} {:>10} announces in {:>5.2}s = {:>9.0}/s; p50 {:>9.2?}, p99 {:>9.2?}, max {:>9.2?}; \
         {:.1} peers/reply; errors {}{}; CPU {:.1} s = {:.0} announces/CPU-s; RSS {:.0} MB",
        run.ok,
        run.took.as_secs_f64(),
        run.rate(),
        run.latencies.quantile(0.50),
        run.latencies.quantile(0.99),
        run.latencies.max(),
        run.peers_returned as f64 / run.ok.max(1) as f64,
        run.errors,
        run.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        run.cpu.as_secs_f64(),
        run.per_cpu_second(),
        run.rss_mb,
    );
}

async fn fresh_storage(config: &Config) -> Arc<Storage> {
    Arc::new(
        Storage::open(&config.storage)
            .await
            .expect("open the memory storage"),
    )
}

/// The database as the site would leave it: every user and torrent
/// registered (the site writes these tables itself), no accounting yet.
async fn seed(url: &str, load: Load) -> AnyPool {
    // Creates the file (SQLite) and the schema, as the tracker would.
    Database::connect(url)
        .await
        .expect("database")
        .close()
        .await;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&sqlite_rwc(url))
        .await
        .expect("a pool of our own");
    let mut tx = pool.begin().await.expect("begin");
    for table in [
        "transfers",
        "peers",
        "snatches",
        "applied_batches",
        "users",
        "torrents",
    ] {
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&mut *tx)
            .await
            .expect("empty the tables");
    }
    let placeholders = |rows: usize, cols: usize| {
        (0..rows)
            .map(|r| {
                let cells: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
                format!("({})", cells.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ids: Vec<u64> = (0..load.users).collect();
    for chunk in ids.chunks(500) {
        let text = format!(
            "INSERT INTO users (id, passkey, can_leech, upload_multiplier, download_multiplier) \
             VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(AssertSqlSafe(text));
        for &u in chunk {
            q = q
                .bind(u as i64 + 1)
                .bind(Load::passkey(u))
                .bind(1_i32)
                .bind(1.0_f64)
                .bind(1.0_f64);
        }
        q.execute(&mut *tx).await.expect("insert users");
    }
    let ids: Vec<u64> = (0..load.torrents).collect();
    for chunk in ids.chunks(500) {
        let text = format!(
            "INSERT INTO torrents (id, info_hash, freeleech, upload_multiplier, download_multiplier) \
             VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(AssertSqlSafe(text));
        for &t in chunk {
            q = q
                .bind(t as i64 + 1)
                .bind(Load::info_hash(t).to_hex())
                .bind("normal")
                .bind(1.0_f64)
                .bind(1.0_f64);
        }
        q.execute(&mut *tx).await.expect("insert torrents");
    }
    tx.commit().await.expect("commit the seed");
    pool
}

fn sqlite_rwc(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    } else {
        url.to_string()
    }
}

async fn scalar(pool: &AnyPool, query: &str) -> i64 {
    sqlx::query(AssertSqlSafe(query.to_string()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .try_get::<i64, _>(0)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// What the database holds after a private run.
struct DbFigures {
    batches: i64,
    transfers: i64,
    peers: i64,
    announces: i64,
    raw_up: i64,
    raw_down: i64,
    users_credited: i64,
}

async fn db_figures(pool: &AnyPool) -> DbFigures {
    DbFigures {
        batches: scalar(pool, "SELECT COUNT(*) FROM applied_batches").await,
        transfers: scalar(pool, "SELECT COUNT(*) FROM transfers").await,
        peers: scalar(pool, "SELECT COUNT(*) FROM peers").await,
        announces: scalar(
            pool,
            "SELECT CAST(COALESCE(SUM(announces), 0) AS BIGINT) FROM transfers",
        )
        .await,
        raw_up: scalar(
            pool,
            "SELECT CAST(COALESCE(SUM(raw_uploaded), 0) AS BIGINT) FROM users",
        )
        .await,
        raw_down: scalar(
            pool,
            "SELECT CAST(COALESCE(SUM(raw_downloaded), 0) AS BIGINT) FROM users",
        )
        .await,
        users_credited: scalar(pool, "SELECT COUNT(*) FROM users WHERE uploaded > 0").await,
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Batches left in the journal after a stop, and what the unapplied ones hold.
#[derive(Default)]
struct Journaled {
    batches: usize,
    unapplied: usize,
    announces: u64,
    raw_up: u64,
    raw_down: u64,
}

/// The private side's figures of one run.
struct PrivateRun {
    committed_in_window: u64,
    pending_at_end: u64,
    failed_attempts: u64,
    db_announces_in_window: i64,
    finish: Duration,
    after: DbFigures,
    /// How long a batch in flight went on after the stop returned.
    settle: Duration,
    journaled: Journaled,
    /// Seconds from the start of the run at which each batch committed.
    commits: Vec<f64>,
    max_pending: u64,
    db_bytes: u64,
    wal_bytes: u64,
}

async fn run_private(
    args: &Args,
    load: Load,
    config: &Config,
    n: u32,
    dir: &Path,
) -> (Run, PrivateRun) {
    let (url, sqlite_file) = match &args.database {
        Some(url) => (url.clone(), None),
        None => {
            let file = dir.join(format!("private-{n}.sqlite"));
            (format!("sqlite://{}", file.display()), Some(file))
        }
    };
    let pool = seed(&url, load).await;
    if n == 0 {
        let version = match sqlite_file {
            Some(_) => "SELECT sqlite_version()",
            None => "SELECT version()",
        };
        let row = sqlx::query(version).fetch_one(&pool).await.expect(version);
        println!(
            "  database: {}",
            row.try_get::<String, _>(0).unwrap_or_default()
        );
    }
    let journal = dir.join(format!("journal-{n}"));
    let private_config = PrivateConfig {
        database: url.clone(),
        journal_path: journal.display().to_string(),
        flush_interval: Duration::from_secs_f64(args.flush_secs),
        max_retry_backoff: Duration::from_secs(60).max(Duration::from_secs_f64(args.flush_secs)),
        ..PrivateConfig::default()
    };
    let stop = CancellationToken::new();
    let private = Private::start(&private_config, config.storage.peer_lifetime(), &stop)
        .await
        .expect("start private tracking");
    let (users, torrents) = private.state.registry.counts();
    assert_eq!((users as u64, torrents as u64), (load.users, load.torrents));
    let chain = Chain::without_hooks(config).with_private(Some(private.chain_hook()));
    let tracker = Arc::new(Tracker::with_chain(chain, fresh_storage(config).await));

    let status = private.state.status.clone();
    let watching = CancellationToken::new();
    let watcher = watch(status.clone(), watching.clone());
    let run = drive(tracker.clone(), load, args).await;
    watching.cancel();
    let (commits, max_pending) = watcher.await.expect("watcher");

    let committed_in_window = status.committed_batches.load(Ordering::Relaxed);
    let pending_at_end = status.pending_batches.load(Ordering::Relaxed);
    let failed_attempts = status.failed_attempts.load(Ordering::Relaxed);
    let db_announces_in_window = scalar(
        &pool,
        "SELECT CAST(COALESCE(SUM(announces), 0) AS BIGINT) FROM transfers",
    )
    .await;
    let state = private.state.clone();
    let t = Instant::now();
    private.finish().await;
    let finish = t.elapsed();
    stop.cancel();
    drop(tracker);
    // A batch still being applied when the stop's budget ran out goes on in
    // its own task; closing the pool waits for it to end (commit or roll back).
    let t = Instant::now();
    state.db.close().await;
    let settle = t.elapsed();
    // What the stop could not write stays journaled for the next start, which
    // replays it. Count what those batches hold (minus any that committed
    // after all) so the totals can be checked without a replay.
    let left = Journal::open(&journal)
        .and_then(|j| j.load())
        .expect("read the journal");
    let applied: HashSet<i64> = sqlx::query("SELECT id FROM applied_batches")
        .fetch_all(&pool)
        .await
        .expect("applied batch ids")
        .iter()
        .map(|row| row.try_get::<i64, _>(0).expect("an id"))
        .collect();
    let mut journaled = Journaled {
        batches: left.len(),
        ..Journaled::default()
    };
    for batch in left.iter().filter(|b| !applied.contains(&b.id.0)) {
        journaled.unapplied += 1;
        for (_, _, t) in &batch.transfers {
            journaled.announces += t.announces;
            journaled.raw_up += t.raw_uploaded;
            journaled.raw_down += t.raw_downloaded;
        }
    }
    let after = db_figures(&pool).await;
    let db_bytes = match &sqlite_file {
        Some(_) => 0,
        None => scalar(&pool, "SELECT pg_database_size(current_database())").await as u64,
    };
    pool.close().await;
    let (db_bytes, wal_bytes) = match &sqlite_file {
        Some(file) => {
            let wal = PathBuf::from(format!("{}-wal", file.display()));
            (file_size(file), file_size(&wal))
        }
        None => (db_bytes, 0),
    };
    (
        run,
        PrivateRun {
            committed_in_window,
            pending_at_end,
            failed_attempts,
            db_announces_in_window,
            finish,
            after,
            settle,
            journaled,
            commits,
            max_pending,
            db_bytes,
            wal_bytes,
        },
    )
}

/// Samples the flusher's status every 50 ms during a run: when each batch
/// was committed (seconds from the start) and the longest queue seen.
fn watch(
    status: Arc<FlushStatus>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<(Vec<f64>, u64)> {
    tokio::spawn(async move {
        let start = Instant::now();
        let (mut commits, mut max_pending, mut seen) = (Vec::new(), 0, 0);
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now = status.committed_batches.load(Ordering::Relaxed);
            for _ in seen..now {
                commits.push(start.elapsed().as_secs_f64());
            }
            seen = now;
            max_pending = max_pending.max(status.pending_batches.load(Ordering::Relaxed));
        }
        (commits, max_pending)
    })
}

/// The hook alone: the same registry, sessions and ledger as the service
/// builds, the ledger drained every flush interval and the batch dropped.
/// A hook over its own registry (every user and torrent), sessions and ledger.
fn bare_hook(load: Load, config: &Config) -> (Arc<PrivateHook>, Arc<Ledger>) {
    let registry = Arc::new(Registry::default());
    for u in 0..load.users {
        registry.put_user(User {
            id: UserId(u as i64 + 1),
            passkey: Passkey::new(&Load::passkey(u)).expect("passkey"),
            can_leech: true,
            upload_multiplier: 1.0,
            download_multiplier: 1.0,
        });
    }
    for t in 0..load.torrents {
        registry.put_torrent(Torrent {
            id: TorrentId(t as i64 + 1),
            info_hash: Load::info_hash(t),
            info_hash_v2: None,
            freeleech: Freeleech::Normal,
            upload_multiplier: 1.0,
            download_multiplier: 1.0,
        });
    }
    let sessions = Arc::new(Sessions::new(config.storage.peer_lifetime().as_secs()));
    let ledger = Arc::new(Ledger::default());
    let hook = Arc::new(PrivateHook::new(registry, sessions, ledger.clone(), false));
    (hook, ledger)
}

async fn run_hook_only(args: &Args, load: Load, config: &Config) -> Run {
    let (hook, ledger) = bare_hook(load, config);
    let stop = CancellationToken::new();
    let drainer = {
        let (ledger, stop) = (ledger.clone(), stop.clone());
        let every = Duration::from_secs_f64(args.flush_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => drop(ledger.drain(BatchId::random(), 0)),
                }
            }
        })
    };
    let chain = Chain::without_hooks(config).with_private(Some(hook));
    let tracker = Arc::new(Tracker::with_chain(chain, fresh_storage(config).await));
    let run = drive(tracker, load, args).await;
    stop.cancel();
    drainer.await.expect("drainer");
    run
}

/// The database and the journal alone, with no announce load beside them:
/// one batch holding every session (what each flush carries in the runs
/// above), applied to a freshly seeded database (all rows new), then a second
/// one (all rows updated), and both journaled as the flusher does.
async fn probe(args: &Args, load: Load, config: &Config, dir: &Path) {
    let (hook, ledger) = bare_hook(load, config);
    let tracker = Tracker::with_chain(
        Chain::without_hooks(config).with_private(Some(hook)),
        fresh_storage(config).await,
    );
    let url = match &args.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.join("probe.sqlite").display()),
    };
    seed(&url, load).await.close().await;
    let db = Database::connect(&url).await.expect("database");
    let journal = Journal::open(&dir.join("probe-journal")).expect("journal");
    for (round, what) in [(1u64, "new rows"), (2, "updated rows")] {
        for c in 0..load.clients {
            let mut req = load.request(c);
            let (up, down) = load.steps(c);
            for k in (round - 1)..=round {
                req.event = if k == 0 { Event::Started } else { Event::None };
                req.uploaded = k * up;
                req.downloaded = k * down;
                if req.left > 0 {
                    req.left = SIZE - req.downloaded;
                }
                tracker.announce(&req).await.expect("announce");
            }
        }
        let t = Instant::now();
        let batch = ledger.drain(BatchId::random(), 0);
        let drained = t.elapsed();
        let rows =
            batch.transfers.len() + batch.peers.len() + batch.gone.len() + batch.snatches.len();
        let t = Instant::now();
        let j = journal.clone();
        let b = batch.clone();
        tokio::task::spawn_blocking(move || j.append(&b))
            .await
            .expect("journal task")
            .expect("journal append");
        let journaled = t.elapsed();
        let bytes: u64 = std::fs::read_dir(journal.dir())
            .expect("journal dir")
            .flatten()
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        let t = Instant::now();
        db.apply(&batch).await.expect("apply");
        let applied = t.elapsed();
        journal.remove(batch.id).expect("journal remove");
        println!(
            "  probe, {what}: one batch of {rows} rows ({} transfers, {} peers) drained in {drained:.2?}, \
             journaled ({:.1} MB JSON + fsync) in {journaled:.2?}, applied in {applied:.2?} \
             ({:.0} rows/s)",
            batch.transfers.len(),
            batch.peers.len(),
            bytes as f64 / 1e6,
            rows as f64 / applied.as_secs_f64(),
        );
    }
    db.close().await;
    if args.database.is_none() {
        placeholders_probe(dir).await;
    }
}

/// Why SQLite applies slowly: sqlx binds a `$N` parameter by asking SQLite
/// its name, which SQLite finds by a linear scan, so one statement of n
/// parameters costs O(n²). The same 64,000-row upsert (the `peers` shape,
/// 9 columns, in one transaction) with `$N` and with anonymous `?`
/// placeholders, at two statement sizes.
async fn placeholders_probe(dir: &Path) {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("placeholders.sqlite").display()
    );
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("scratch database");
    sqlx::query(
        "CREATE TABLE t (a BIGINT, b BIGINT, c TEXT, d TEXT, e INTEGER, f BIGINT, g BIGINT, \
         h BIGINT, i BIGINT, PRIMARY KEY (a, b, c))",
    )
    .execute(&pool)
    .await
    .expect("scratch table");
    for rows in [500usize, 50] {
        for anonymous in [false, true] {
            let cells = |r: usize| -> String {
                let one: Vec<String> = (1..=9)
                    .map(|c| {
                        if anonymous {
                            "?".into()
                        } else {
                            format!("${}", r * 9 + c)
                        }
                    })
                    .collect();
                format!("({})", one.join(", "))
            };
            let values: Vec<String> = (0..rows).map(cells).collect();
            let text = format!(
                "INSERT INTO t VALUES {} ON CONFLICT (a, b, c) DO UPDATE SET f = excluded.f",
                values.join(", ")
            );
            let t = Instant::now();
            let mut tx = pool.begin().await.expect("begin");
            for k in 0..64_000 / rows {
                let mut q = sqlx::query(AssertSqlSafe(text.clone()));
                for r in 0..rows {
                    let i = (k * rows + r) as i64;
                    q = q
                        .bind(i % 10_000)
                        .bind(i % 1_000)
                        .bind(format!("{i:040x}"))
                        .bind("10.0.0.1")
                        .bind(6881_i32)
                        .bind(i)
                        .bind(i)
                        .bind(i)
                        .bind(i);
                }
                q.execute(&mut *tx).await.expect("insert");
            }
            tx.commit().await.expect("commit");
            println!(
                "  probe, placeholders: 64000 rows in statements of {rows} rows with {}: {:.2?}",
                if anonymous { "?" } else { "$N" },
                t.elapsed()
            );
        }
    }
    pool.close().await;
}

fn print_private(run: &Run, p: &PrivateRun) {
    let a = &p.after;
    println!(
        "           flusher: {} batches committed in the window, {} pending at its end, \
         {} failed attempts; {} of {} announces in the database at the end of the window",
        p.committed_in_window,
        p.pending_at_end,
        p.failed_attempts,
        p.db_announces_in_window,
        run.ok,
    );
    let times: Vec<String> = p.commits.iter().map(|t| format!("{t:.1}")).collect();
    println!(
        "           commits at [{}] s into the run; at most {} batches waiting",
        times.join(", "),
        p.max_pending,
    );
    let j = &p.journaled;
    println!(
        "           stop took {:.2?} (+{:.2?} until the batch in flight ended); database: {} batches, \
         {} transfer rows, {} peer rows, {} users credited; journal: {} batches left for the \
         next start ({} not in the database)",
        p.finish,
        p.settle,
        a.batches,
        a.transfers,
        a.peers,
        a.users_credited,
        j.batches,
        j.unapplied,
    );
    println!(
        "           accounted: database + journal = {} + {} announces, {} B up, {} B down \
         (sent {}, {}, {}): {}; database file {:.1} MB (+ WAL {:.1} MB)",
        a.announces,
        j.announces,
        a.raw_up as u64 + j.raw_up,
        a.raw_down as u64 + j.raw_down,
        run.ok,
        run.expect_up,
        run.expect_down,
        if exact(run, p) { "exact" } else { "MISMATCH" },
        p.db_bytes as f64 / 1e6,
        p.wal_bytes as f64 / 1e6,
    );
}

/// Every announce and every byte sent is in the database or in a journaled
/// batch the database does not have, exactly once.
fn exact(run: &Run, p: &PrivateRun) -> bool {
    let (a, j) = (&p.after, &p.journaled);
    a.announces as u64 + j.announces == run.ok
        && a.raw_up as u64 + j.raw_up == run.expect_up
        && a.raw_down as u64 + j.raw_down == run.expect_down
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx::query=error")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args = Args::parse();
    let load = Load::new(&args);
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("the work directory");
    let config = Config::default();
    let backend = match &args.database {
        Some(url) => url.split("://").next().unwrap_or("?").to_string(),
        None => "sqlite (fresh file per run)".into(),
    };
    println!(
        "load: {} users, {} torrents, {} clients ({} per torrent, 1 in 4 seeding), numwant 50, \
         {} tasks (yield every {}), runs of {} s or {} announces; private: {backend}, flush every {} s",
        load.users,
        load.torrents,
        load.clients,
        args.peers_per_torrent,
        args.tasks,
        args.yield_every,
        args.secs,
        args.announces,
        args.flush_secs,
    );

    let mut public = Vec::new();
    let mut private = Vec::new();
    let mut hook_only = Vec::new();
    for n in 0..args.rounds {
        println!("round {}", n + 1);
        for mode in &args.modes {
            match mode.as_str() {
                "public" => {
                    let tracker = Arc::new(Tracker::with_chain(
                        Chain::without_hooks(&config),
                        fresh_storage(&config).await,
                    ));
                    let run = drive(tracker, load, &args).await;
                    print_run("public", &run);
                    public.push(run);
                }
                "private" => {
                    let (run, p) = run_private(&args, load, &config, n, &dir).await;
                    print_run("private", &run);
                    print_private(&run, &p);
                    private.push((run, p));
                }
                "hook" => {
                    let run = run_hook_only(&args, load, &config).await;
                    print_run("hook", &run);
                    hook_only.push(run);
                }
                other => panic!("unknown mode {other:?}: public, private or hook"),
            }
        }
    }

    if args.probe {
        probe(&args, load, &config, &dir).await;
    }
    if args.rounds == 0 {
        return;
    }
    let q =
        |runs: &[&Run], q: f64| median(runs.iter().map(|r| us(r.latencies.quantile(q))).collect());
    let rate = |runs: &[&Run]| median(runs.iter().map(|r| r.rate()).collect());
    let per_cpu = |runs: &[&Run]| median(runs.iter().map(|r| r.per_cpu_second()).collect());
    let pubs: Vec<&Run> = public.iter().collect();
    let privs: Vec<&Run> = private.iter().map(|(r, _)| r).collect();
    let hooks: Vec<&Run> = hook_only.iter().collect();
    let named = [
        ("public".to_string(), pubs),
        (
            format!("private ({backend}, flush {} s)", args.flush_secs),
            privs,
        ),
        (
            "private hook only (no journal, no database)".to_string(),
            hooks,
        ),
    ];
    println!("medians of {} runs each:", args.rounds);
    println!(
        "| mode | announces/s | p50 latency | p99 latency | announces per CPU-second | ratio to public (per s, per CPU-s) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, runs) in named.iter().filter(|(_, runs)| !runs.is_empty()) {
        let ratio = if public.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{:.3}, {:.3}",
                rate(runs) / rate(&named[0].1),
                per_cpu(runs) / per_cpu(&named[0].1)
            )
        };
        println!(
            "| {name} | {:.0} | {:.2} µs | {:.2} µs | {:.0} | {ratio} |",
            rate(runs),
            q(runs, 0.5),
            q(runs, 0.99),
            per_cpu(runs),
        );
    }
    println!(
        "peak RSS of the process (VmHWM): {:.0} MB",
        proc_status_kb("VmHWM:") as f64 / 1024.0
    );
    let mismatches = private.iter().filter(|(r, p)| !exact(r, p)).count();
    if mismatches > 0 {
        eprintln!("{mismatches} private run(s) did not account exactly what was sent");
        std::process::exit(1);
    }
}
