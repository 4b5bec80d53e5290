//! The private tracking database, journal and flusher against SQLite (a
//! temporary file) and a real PostgreSQL (a throwaway cluster of Debian's
//! binaries on a loopback port): every check runs on both.
//!
//! The checks read the database with their own SQL, as a site would.

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chihaya::config::PrivateConfig;
use chihaya::private::batch::{Batch, BatchId, PeerKey, PeerRow, Snatch, Transfer};
use chihaya::private::db::{Applied, CHUNK_ROWS, Database, DbError};
use chihaya::private::flusher::{self, FlushStatus};
use chihaya::private::journal::Journal;
use chihaya::private::ledger::{Entry, Ledger};
use chihaya::private::model::{Freeleech, Passkey, Torrent, TorrentId, User, UserId};
use chihaya::protocol::{InfoHash, PeerId};
use sqlx::{AnyPool, Row};
use tokio_util::sync::CancellationToken;

use support::postgres::PostgresServer;

/// A database of either kind, with a second pool for the checks' own SQL.
struct Fixture {
    db: Database,
    check: AnyPool,
    url: String,
    _keep: Keep,
}

enum Keep {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(PostgresServer),
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("private.sqlite").display());
        Fixture::open(url, Keep::Sqlite(dir)).await
    }

    async fn postgres() -> Fixture {
        let server = PostgresServer::new();
        let url = server.create_database();
        Fixture::open(url, Keep::Postgres(server)).await
    }

    async fn open(url: String, keep: Keep) -> Fixture {
        let db = Database::connect(&url).await.unwrap();
        let check = AnyPool::connect(&url).await.unwrap();
        Fixture {
            db,
            check,
            url,
            _keep: keep,
        }
    }

    fn server(&mut self) -> &mut PostgresServer {
        match &mut self._keep {
            Keep::Postgres(server) => server,
            Keep::Sqlite(_) => panic!("not a PostgreSQL fixture"),
        }
    }

    /// One BIGINT from the checks' own SQL.
    async fn number(&self, sql: &'static str) -> i64 {
        sqlx::query(sql)
            .fetch_one(&self.check)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .try_get(0)
            .unwrap()
    }

    /// A user's accounting columns.
    async fn totals(&self, user: i64) -> [i64; 5] {
        let row = sqlx::query(
            "SELECT uploaded, downloaded, raw_uploaded, raw_downloaded, seed_time \
             FROM users WHERE id = $1",
        )
        .bind(user)
        .fetch_one(&self.check)
        .await
        .unwrap();
        [0, 1, 2, 3, 4].map(|i| row.try_get::<i64, _>(i).unwrap())
    }

    /// One (user, torrent) row of `transfers`, if there is one.
    async fn transfer(&self, user: i64, torrent: i64) -> Option<[i64; 6]> {
        let row = sqlx::query(
            "SELECT uploaded, downloaded, raw_uploaded, raw_downloaded, seed_time, announces \
             FROM transfers WHERE user_id = $1 AND torrent_id = $2",
        )
        .bind(user)
        .bind(torrent)
        .fetch_optional(&self.check)
        .await
        .unwrap()?;
        Some([0, 1, 2, 3, 4, 5].map(|i| row.try_get::<i64, _>(i).unwrap()))
    }
}

/// Runs one async check against SQLite and against PostgreSQL.
macro_rules! on_both {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$check(super::Fixture::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$check(super::Fixture::postgres().await).await;
            }
        }
    )*};
}

on_both!(
    a_batch_applied_twice_counts_once,
    user_totals_are_the_sum_of_their_transfers,
    batches_larger_than_a_chunk_land_whole,
    gone_rows_go_and_state_rows_are_overwritten,
    a_taken_passkey_or_info_hash_is_a_conflict,
    users_and_torrents_round_trip,
    huge_counters_are_clamped,
    replaying_a_committed_batch_does_not_double_count,
    the_flusher_writes_the_ledger_and_flushes_on_stop,
);

fn user(id: i64, passkey: &str) -> User {
    User {
        id: UserId(id),
        passkey: Passkey::new(passkey).unwrap(),
        can_leech: true,
        upload_multiplier: 1.0,
        download_multiplier: 1.0,
    }
}

fn torrent(id: i64) -> Torrent {
    Torrent {
        id: TorrentId(id),
        info_hash: InfoHash([id as u8; 20]),
        info_hash_v2: None,
        freeleech: Freeleech::Normal,
        upload_multiplier: 1.0,
        download_multiplier: 1.0,
    }
}

fn transfer(up: u64, down: u64) -> Transfer {
    Transfer {
        uploaded: up,
        downloaded: down,
        raw_uploaded: up * 2,
        raw_downloaded: down * 2,
        seed_time: up % 7,
        announces: 1,
    }
}

fn key(user: i64, torrent: i64, n: u32) -> PeerKey {
    let mut id = [b'x'; 20];
    id[..4].copy_from_slice(&n.to_be_bytes());
    PeerKey {
        user: UserId(user),
        torrent: TorrentId(torrent),
        peer_id: PeerId(id),
    }
}

fn peer(key: PeerKey, uploaded: u64, at: i64) -> PeerRow {
    PeerRow {
        key,
        ip: "192.0.2.7".parse().unwrap(),
        port: 6881,
        uploaded,
        downloaded: 3,
        left: 0,
        last_announce: at,
    }
}

fn empty_batch() -> Batch {
    Batch {
        id: BatchId::random(),
        created: 1_700_000_000,
        transfers: vec![],
        peers: vec![],
        gone: vec![],
        snatches: vec![],
    }
}

async fn a_batch_applied_twice_counts_once(f: Fixture) {
    f.db.upsert_user(&user(1, "one")).await.unwrap();
    f.db.upsert_user(&user(2, "two")).await.unwrap();
    f.db.upsert_torrent(&torrent(10)).await.unwrap();
    let mut b = empty_batch();
    b.transfers = vec![
        (UserId(1), TorrentId(10), transfer(100, 10)),
        (UserId(1), TorrentId(11), transfer(5, 1)),
        (UserId(2), TorrentId(10), transfer(0, 700)),
    ];
    b.peers = vec![peer(key(1, 10, 1), 100, 50)];
    b.snatches = vec![Snatch {
        user: UserId(2),
        torrent: TorrentId(10),
        at: 60,
    }];
    assert_eq!(f.db.apply(&b).await.unwrap(), Applied::Committed);
    assert_eq!(f.db.apply(&b).await.unwrap(), Applied::AlreadyApplied);
    // A copy under a new id is a new batch.
    let mut again = b.clone();
    again.id = BatchId(b.id.0 ^ 1);
    assert_eq!(f.db.apply(&again).await.unwrap(), Applied::Committed);
    assert_eq!(f.db.apply(&again).await.unwrap(), Applied::AlreadyApplied);

    assert_eq!(f.totals(1).await, [210, 22, 420, 44, 14]);
    assert_eq!(f.totals(2).await, [0, 1400, 0, 2800, 0]);
    assert_eq!(f.transfer(1, 10).await, Some([200, 20, 400, 40, 4, 2]));
    assert_eq!(f.transfer(1, 11).await, Some([10, 2, 20, 4, 10, 2]));
    assert_eq!(
        f.number("SELECT snatched FROM torrents WHERE id = 10")
            .await,
        2
    );
    assert_eq!(f.number("SELECT COUNT(*) FROM snatches").await, 2);
    assert_eq!(f.number("SELECT COUNT(*) FROM applied_batches").await, 2);
    assert_eq!(f.number("SELECT COUNT(*) FROM peers").await, 1);
}

async fn user_totals_are_the_sum_of_their_transfers(f: Fixture) {
    for id in 1..=5 {
        f.db.upsert_user(&user(id, &format!("pk{id}")))
            .await
            .unwrap();
    }
    // Users 98 and 99 are not registered (deleted between announce and flush).
    let mut seed = 0x2545_f491_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % 1_000_000
    };
    for _ in 0..6 {
        let mut b = empty_batch();
        for u in [1, 2, 3, 5, 98, 99] {
            for t in 1..=4 {
                if next() % 3 != 0 {
                    b.transfers
                        .push((UserId(u), TorrentId(t), transfer(next(), next())));
                }
            }
        }
        assert_eq!(f.db.apply(&b).await.unwrap(), Applied::Committed);
    }
    let rows = sqlx::query(
        "SELECT u.id, u.uploaded, u.downloaded, u.raw_uploaded, u.raw_downloaded, u.seed_time, \
         CAST(COALESCE(SUM(t.uploaded), 0) AS BIGINT), \
         CAST(COALESCE(SUM(t.downloaded), 0) AS BIGINT), \
         CAST(COALESCE(SUM(t.raw_uploaded), 0) AS BIGINT), \
         CAST(COALESCE(SUM(t.raw_downloaded), 0) AS BIGINT), \
         CAST(COALESCE(SUM(t.seed_time), 0) AS BIGINT) \
         FROM users u LEFT JOIN transfers t ON t.user_id = u.id \
         GROUP BY u.id, u.uploaded, u.downloaded, u.raw_uploaded, u.raw_downloaded, u.seed_time \
         ORDER BY u.id",
    )
    .fetch_all(&f.check)
    .await
    .unwrap();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let v: Vec<i64> = (0..11).map(|i| row.try_get(i).unwrap()).collect();
        assert_eq!(v[1..6], v[6..11], "user {}", v[0]);
        if v[0] == 4 {
            assert_eq!(v[1..6], [0; 5]);
        } else {
            assert!(v[1] > 0, "user {} moved bytes", v[0]);
        }
    }
    // The unregistered users' transfers landed; no user row was made for them.
    assert!(
        f.number("SELECT COUNT(*) FROM transfers WHERE user_id IN (98, 99)")
            .await
            > 0
    );
    assert_eq!(f.number("SELECT COUNT(*) FROM users").await, 5);
}

async fn batches_larger_than_a_chunk_land_whole(f: Fixture) {
    // More rows than a chunk in every statement, users' totals included.
    let users = CHUNK_ROWS as i64 + 101;
    let mut insert = String::from("INSERT INTO users (id, passkey) VALUES ");
    for u in 1..=users {
        if u > 1 {
            insert.push_str(", ");
        }
        insert.push_str(&format!("({u}, 'key{u}')"));
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(insert))
        .execute(&f.check)
        .await
        .unwrap();
    f.db.upsert_torrent(&torrent(1)).await.unwrap();
    f.db.upsert_torrent(&torrent(2)).await.unwrap();

    let mut first = empty_batch();
    for u in 1..=users {
        for t in 1..=2 {
            first
                .transfers
                .push((UserId(u), TorrentId(t), transfer(u as u64, t as u64)));
            first.peers.push(peer(key(u, t, 0), u as u64, 1_000 + u));
        }
        first.snatches.push(Snatch {
            user: UserId(u),
            torrent: TorrentId(1 + u % 2),
            at: 5,
        });
    }
    assert!(first.transfers.len() > 2 * CHUNK_ROWS);
    assert_eq!(f.db.apply(&first).await.unwrap(), Applied::Committed);

    let n = users;
    assert_eq!(f.number("SELECT COUNT(*) FROM transfers").await, 2 * n);
    assert_eq!(f.number("SELECT COUNT(*) FROM peers").await, 2 * n);
    assert_eq!(f.number("SELECT COUNT(*) FROM snatches").await, n);
    assert_eq!(
        f.number("SELECT CAST(SUM(snatched) AS BIGINT) FROM torrents")
            .await,
        n
    );
    // Every user got its two rows: uploaded u twice, downloaded 1 + 2.
    assert_eq!(
        f.number("SELECT COUNT(*) FROM users WHERE uploaded = 2 * id AND downloaded = 3")
            .await,
        n
    );
    assert_eq!(
        f.number("SELECT CAST(SUM(uploaded) AS BIGINT) FROM transfers")
            .await,
        n * (n + 1)
    );

    // A second batch: every session of torrent 1 gone, every one of torrent 2 updated.
    let mut second = empty_batch();
    for u in 1..=users {
        second.gone.push(key(u, 1, 0));
        second.peers.push(peer(key(u, 2, 0), 10 * u as u64, 2_000));
    }
    assert_eq!(f.db.apply(&second).await.unwrap(), Applied::Committed);
    assert_eq!(
        f.number("SELECT COUNT(*) FROM peers WHERE torrent_id = 1")
            .await,
        0
    );
    assert_eq!(
        f.number("SELECT COUNT(*) FROM peers WHERE torrent_id = 2 AND uploaded = 10 * user_id AND last_announce = 2000")
            .await,
        n
    );
}

async fn gone_rows_go_and_state_rows_are_overwritten(f: Fixture) {
    let (a, b, c) = (key(1, 1, 1), key(1, 1, 2), key(2, 1, 1));
    let mut first = empty_batch();
    first.peers = vec![peer(a, 10, 100), peer(b, 20, 100), peer(c, 30, 150)];
    f.db.apply(&first).await.unwrap();

    let mut second = empty_batch();
    let mut moved = peer(a, 15, 200);
    moved.ip = "2001:db8::1".parse::<IpAddr>().unwrap();
    moved.port = 51413;
    moved.left = 77;
    second.peers = vec![moved];
    second.gone = vec![b, key(9, 9, 9)]; // a row that never existed: nothing happens
    assert_eq!(f.db.apply(&second).await.unwrap(), Applied::Committed);
    // Replaying state is harmless, and here refused anyway.
    assert_eq!(f.db.apply(&second).await.unwrap(), Applied::AlreadyApplied);

    assert_eq!(
        f.db.load_peers(0).await.unwrap(),
        vec![moved, peer(c, 30, 150)]
    );
    assert_eq!(f.db.load_peers(151).await.unwrap(), vec![moved]);
    assert_eq!(f.db.load_peers(201).await.unwrap(), vec![]);
    assert_eq!(f.db.prune_peers(200).await.unwrap(), 1);
    assert_eq!(f.db.load_peers(0).await.unwrap(), vec![moved]);
}

async fn a_taken_passkey_or_info_hash_is_a_conflict(f: Fixture) {
    f.db.upsert_user(&user(1, "alpha")).await.unwrap();
    f.db.upsert_user(&user(2, "bravo")).await.unwrap();
    match f.db.upsert_user(&user(2, "alpha")).await {
        Err(DbError::Conflict(text)) => {
            assert_eq!(text, "the passkey belongs to another user");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The same user may keep (or re-send) its own passkey.
    f.db.upsert_user(&user(1, "alpha")).await.unwrap();

    let mut t1 = torrent(1);
    t1.info_hash_v2 = Some(InfoHash([0xee; 20]));
    f.db.upsert_torrent(&t1).await.unwrap();
    f.db.upsert_torrent(&torrent(2)).await.unwrap();
    // Torrent 2 taking torrent 1's v1 hash, or its v2 hash as its v1 hash.
    let mut clash = torrent(2);
    clash.info_hash = t1.info_hash;
    let mut cross = torrent(2);
    cross.info_hash = InfoHash([0xee; 20]);
    let mut v2 = torrent(2);
    v2.info_hash_v2 = Some(InfoHash([0xee; 20]));
    for bad in [clash, cross, v2] {
        match f.db.upsert_torrent(&bad).await {
            Err(DbError::Conflict(text)) => {
                assert_eq!(text, "the info hash belongs to torrent 1")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    // Nothing changed by the refusals.
    assert_eq!(
        f.db.load_torrents().await.unwrap(),
        vec![t1.clone(), torrent(2)]
    );
    assert_eq!(
        f.db.load_users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.passkey.as_str().to_string())
            .collect::<Vec<_>>(),
        ["alpha", "bravo"]
    );
}

async fn users_and_torrents_round_trip(f: Fixture) {
    let u1 = User {
        id: UserId(7),
        passkey: Passkey::new("aB3_-x").unwrap(),
        can_leech: false,
        upload_multiplier: 2.5,
        download_multiplier: 0.0,
    };
    let u2 = user(i64::MAX, "max");
    f.db.upsert_user(&u2).await.unwrap();
    f.db.upsert_user(&u1).await.unwrap();
    assert_eq!(
        f.db.load_users().await.unwrap(),
        vec![u1.clone(), u2.clone()]
    );

    // Accounting survives an update of the registration.
    let mut b = empty_batch();
    b.transfers = vec![(UserId(7), TorrentId(1), transfer(9, 8))];
    f.db.apply(&b).await.unwrap();
    let mut changed = u1.clone();
    changed.passkey = Passkey::new("new-key").unwrap();
    changed.can_leech = true;
    f.db.upsert_user(&changed).await.unwrap();
    assert_eq!(f.totals(7).await, [9, 8, 18, 16, 2]);
    assert_eq!(f.db.load_users().await.unwrap(), vec![changed, u2]);

    let t = Torrent {
        id: TorrentId(3),
        info_hash: InfoHash(*b"\x00\x01\x02\x03\xfe\xff0123456789abcd"),
        info_hash_v2: Some(InfoHash([0xab; 20])),
        freeleech: Freeleech::Neutral,
        upload_multiplier: 1.5,
        download_multiplier: 0.5,
    };
    let mut free = torrent(4);
    free.freeleech = Freeleech::Free;
    f.db.upsert_torrent(&free).await.unwrap();
    f.db.upsert_torrent(&t).await.unwrap();
    assert_eq!(
        f.db.load_torrents().await.unwrap(),
        vec![t.clone(), free.clone()]
    );
    // Hashes are stored as lower-case hex, as documented.
    let stored: String = sqlx::query("SELECT info_hash FROM torrents WHERE id = 3")
        .fetch_one(&f.check)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(stored, "00010203feff3031323334353637383961626364");

    // Deletes report whether there was something, and take the sessions along.
    let mut b = empty_batch();
    b.peers = vec![peer(key(7, 3, 1), 1, 10), peer(key(8, 4, 1), 1, 10)];
    b.snatches = vec![Snatch {
        user: UserId(8),
        torrent: TorrentId(3),
        at: 1,
    }];
    f.db.apply(&b).await.unwrap();
    assert_eq!(
        f.number("SELECT snatched FROM torrents WHERE id = 3").await,
        1
    );
    assert!(f.db.delete_user(UserId(7)).await.unwrap());
    assert!(!f.db.delete_user(UserId(7)).await.unwrap());
    assert!(f.db.delete_torrent(TorrentId(4)).await.unwrap());
    assert!(!f.db.delete_torrent(TorrentId(4)).await.unwrap());
    assert_eq!(f.db.load_peers(0).await.unwrap(), vec![]);
    assert_eq!(f.db.load_torrents().await.unwrap(), vec![t]);
    assert_eq!(f.db.load_users().await.unwrap().len(), 1);
    // The history stays.
    assert_eq!(f.transfer(7, 1).await, Some([9, 8, 18, 16, 2, 1]));

    // Connecting again finds the schema in place.
    let again = Database::connect(&f.url).await.unwrap();
    assert_eq!(again.load_users().await.unwrap().len(), 1);
}

async fn huge_counters_are_clamped(f: Fixture) {
    f.db.upsert_user(&user(1, "big")).await.unwrap();
    let mut b = empty_batch();
    let huge = Transfer {
        uploaded: u64::MAX,
        downloaded: i64::MAX as u64 + 1,
        raw_uploaded: 1,
        raw_downloaded: 2,
        seed_time: 3,
        announces: 4,
    };
    b.transfers = vec![(UserId(1), TorrentId(1), huge)];
    let mut p = peer(key(1, 1, 1), u64::MAX, 5);
    p.left = u64::MAX;
    b.peers = vec![p];
    assert_eq!(f.db.apply(&b).await.unwrap(), Applied::Committed);
    assert_eq!(f.totals(1).await, [i64::MAX, i64::MAX, 1, 2, 3]);
    let loaded = f.db.load_peers(0).await.unwrap();
    assert_eq!(loaded[0].uploaded, i64::MAX as u64);
    assert_eq!(loaded[0].left, i64::MAX as u64);
}

async fn replaying_a_committed_batch_does_not_double_count(f: Fixture) {
    f.db.upsert_user(&user(1, "one")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let mut committed = empty_batch();
    committed.transfers = vec![(UserId(1), TorrentId(1), transfer(1000, 0))];
    let mut pending = empty_batch();
    pending.transfers = vec![(UserId(1), TorrentId(1), transfer(1, 0))];
    // Journaled, committed, then a crash before the journal forgot it; and
    // one more journaled that never reached the database.
    journal.append(&committed).unwrap();
    journal.append(&pending).unwrap();
    assert_eq!(f.db.apply(&committed).await.unwrap(), Applied::Committed);

    let journal = Journal::open(dir.path()).unwrap();
    assert_eq!(flusher::replay(&journal, &f.db).await.unwrap(), 2);
    assert_eq!(f.totals(1).await[0], 1001);
    assert!(journal.load().unwrap().is_empty());
    assert_eq!(flusher::replay(&journal, &f.db).await.unwrap(), 0);
    assert_eq!(f.totals(1).await[0], 1001);
}

fn short_intervals() -> PrivateConfig {
    PrivateConfig {
        flush_interval: Duration::from_millis(100),
        max_retry_backoff: Duration::from_millis(400),
        ..PrivateConfig::default()
    }
}

/// What one announce adds, with the session's new state.
fn entry(user: i64, torrent: i64, up: u64, at: i64) -> Entry {
    Entry {
        transfer: transfer(up, 0),
        state: Ok(peer(key(user, torrent, 1), up, at)),
        snatch: None,
    }
}

/// The flusher's log lines in the test's output (shown when a test fails).
fn show_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("chihaya=debug")
        .with_test_writer()
        .try_init();
}

async fn wait_until<F: FnMut() -> bool>(limit: Duration, what: &str, mut done: F) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn journal_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .ends_with(".batch")
        })
        .count()
}

/// A flusher started on a journal in a directory of its own, and what a
/// test watches and stops it by.
struct Running {
    dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    status: Arc<FlushStatus>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(db: &Database) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::default());
        let status = Arc::new(FlushStatus::default());
        let stop = CancellationToken::new();
        let task = flusher::spawn(
            ledger.clone(),
            db.clone(),
            Journal::open(dir.path()).unwrap(),
            &short_intervals(),
            status.clone(),
            stop.clone(),
        );
        Running {
            dir,
            ledger,
            status,
            stop,
            task,
        }
    }

    fn journaled(&self) -> usize {
        journal_files(self.dir.path())
    }

    fn committed(&self) -> u64 {
        self.status.committed_batches.load(Ordering::Relaxed)
    }

    /// Cancels it and waits until it has stopped; the journal stays.
    async fn stop(self) -> (tempfile::TempDir, Arc<FlushStatus>) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the flusher stops")
            .unwrap();
        (self.dir, self.status)
    }
}

async fn the_flusher_writes_the_ledger_and_flushes_on_stop(f: Fixture) {
    show_logs();
    f.db.upsert_user(&user(1, "one")).await.unwrap();
    let run = Running::start(&f.db);
    run.ledger
        .record(UserId(1), TorrentId(1), entry(1, 1, 10, 100));
    run.ledger
        .record(UserId(1), TorrentId(1), entry(1, 1, 5, 101));
    wait_until(Duration::from_secs(20), "first commit", || {
        run.committed() >= 1
    })
    .await;
    assert_eq!(f.totals(1).await[0], 15);
    assert_eq!(f.transfer(1, 1).await.unwrap()[5], 2, "two announces");
    assert!(run.status.last_commit_unix.load(Ordering::Relaxed) > 0);
    // Recorded right before the stop: the last drain takes it.
    run.ledger
        .record(UserId(1), TorrentId(2), entry(1, 2, 7, 102));
    let (dir, status) = run.stop().await;
    assert_eq!(f.totals(1).await[0], 22);
    assert_eq!(journal_files(dir.path()), 0);
    assert_eq!(status.pending_batches.load(Ordering::Relaxed), 0);
    assert_eq!(status.failed_attempts.load(Ordering::Relaxed), 0);
    assert_eq!(
        f.db.load_peers(0).await.unwrap(),
        vec![peer(key(1, 1, 1), 5, 101), peer(key(1, 2, 1), 7, 102)]
    );
}

/// While PostgreSQL is down the batches pile up in the journal; when it is
/// back every one lands, exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_batches_wait_in_the_journal_and_land_once() {
    show_logs();
    let mut f = Fixture::postgres().await;
    f.db.upsert_user(&user(1, "one")).await.unwrap();
    let run = Running::start(&f.db);
    f.server().stop();
    let mut expected = 0;
    let mut at = 1000;
    // Announces across several flush intervals while the database is down.
    for round in 0..8u64 {
        expected += round + 1;
        at += 1;
        run.ledger
            .record(UserId(1), TorrentId(1), entry(1, 1, round + 1, at));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    wait_until(Duration::from_secs(20), "batches journaled", || {
        run.journaled() >= 4 && run.status.failed_attempts.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert_eq!(run.committed(), 0);
    assert!(run.status.pending_batches.load(Ordering::Relaxed) >= 4);

    f.server().start();
    wait_until(Duration::from_secs(60), "pending batches committed", || {
        run.status.pending_batches.load(Ordering::Relaxed) == 0 && run.journaled() == 0
    })
    .await;
    assert_eq!(f.totals(1).await[0], expected as i64);
    assert_eq!(f.transfer(1, 1).await.unwrap()[5], 8, "eight announces");
    // The newest state, not an older batch's.
    assert_eq!(
        f.db.load_peers(0).await.unwrap(),
        vec![peer(key(1, 1, 1), 8, at)]
    );
    run.stop().await;
    assert_eq!(f.totals(1).await[0], expected as i64);
}

/// A crash (the task aborted, like kill -9) while PostgreSQL is down loses
/// nothing journaled: the replay at the next start applies it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_an_outage_is_replayed_exactly_once() {
    show_logs();
    let mut f = Fixture::postgres().await;
    f.db.upsert_user(&user(1, "one")).await.unwrap();
    let run = Running::start(&f.db);
    // One batch commits while the database is up...
    run.ledger
        .record(UserId(1), TorrentId(1), entry(1, 1, 100, 1));
    wait_until(Duration::from_secs(20), "first commit", || {
        run.committed() == 1
    })
    .await;
    // ...then the database goes away and three more pile up.
    f.server().stop();
    for up in [1, 2, 4] {
        run.ledger
            .record(UserId(1), TorrentId(1), entry(1, 1, up, 2));
        let before = run.journaled();
        wait_until(Duration::from_secs(20), "a batch journaled", || {
            run.journaled() > before
        })
        .await;
    }
    run.task.abort();
    let _ = run.task.await;
    assert_eq!(journal_files(run.dir.path()), 3);

    f.server().start();
    let db = Database::connect(&f.url).await.unwrap();
    let journal = Journal::open(run.dir.path()).unwrap();
    assert_eq!(flusher::replay(&journal, &db).await.unwrap(), 3);
    assert_eq!(f.totals(1).await[0], 107);
    assert_eq!(flusher::replay(&journal, &db).await.unwrap(), 0);
    assert_eq!(f.totals(1).await[0], 107);
}

/// A stop while PostgreSQL is down is bounded, and leaves the last batch
/// journaled for the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_an_outage_leaves_the_batches_journaled() {
    show_logs();
    let mut f = Fixture::postgres().await;
    f.db.upsert_user(&user(1, "one")).await.unwrap();
    f.server().stop();
    let run = Running::start(&f.db);
    run.ledger
        .record(UserId(1), TorrentId(1), entry(1, 1, 40, 1));
    wait_until(Duration::from_secs(20), "a batch journaled", || {
        run.journaled() == 1
    })
    .await;
    // Recorded right before the stop: journaled by the last drain.
    run.ledger
        .record(UserId(1), TorrentId(1), entry(1, 1, 2, 2));
    let stopping = Instant::now();
    let (dir, status) = run.stop().await;
    // The shutdown budget (3 s) plus a journal write, with room for a loaded machine.
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(journal_files(dir.path()), 2);
    assert_eq!(status.committed_batches.load(Ordering::Relaxed), 0);

    f.server().start();
    let journal = Journal::open(dir.path()).unwrap();
    assert_eq!(flusher::replay(&journal, &f.db).await.unwrap(), 2);
    assert_eq!(f.totals(1).await[0], 42);
    assert_eq!(
        f.db.load_peers(0).await.unwrap(),
        vec![peer(key(1, 1, 1), 2, 2)]
    );
}

/// The embedded default: the file and its directory entry are made on first
/// start, in WAL mode.
#[tokio::test]
async fn sqlite_creates_its_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.sqlite");
    assert!(!path.exists());
    let db = Database::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    db.upsert_user(&user(1, "x")).await.unwrap();
    let check = AnyPool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&check)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(mode, "wal");
}
