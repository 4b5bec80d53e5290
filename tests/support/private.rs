//! A private tracker for the binary tests: the binary with a `private:`
//! section, passkey routes, the admin API (how the site registers users and
//! torrents) and the database read back with plain SQL, as a site would.

#![allow(dead_code)] // each test file uses a different part of this

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use chihaya::protocol::bencode::{Value, decode};

use super::admin::{TOKEN, request};
use super::http::{escape, get_from};
use super::{Running, free_port};

/// A tracker process whose database and journal outlive it (they belong to
/// the test), so a test can stop, kill and restart it.
pub struct PrivateTracker {
    pub running: Running,
    pub addr: SocketAddr,
    pub ops: SocketAddr,
}

impl PrivateTracker {
    /// `database` is the `private.database` URL, `journal` the journal
    /// directory; batches are flushed every `flush` (e.g. "200ms").
    pub fn start(database: &str, journal: &Path, flush: &str) -> PrivateTracker {
        let port = free_port("127.0.0.1");
        PrivateTracker::start_on(port, database, journal, flush)
    }

    /// As [`PrivateTracker::start`], on a given port (a restart keeps it).
    pub fn start_on(port: u16, database: &str, journal: &Path, flush: &str) -> PrivateTracker {
        let running = Running::start(
            Some(super::write_config(&config(port, database, journal, flush))),
            &[],
        );
        PrivateTracker::wait_up(running, port)
    }

    /// The process is started but may wait for its database; this waits
    /// until it serves.
    pub fn wait_up(mut running: Running, port: u16) -> PrivateTracker {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let ops = ops_addr(port);
        running.wait_listening("http", addr);
        running.wait_listening("udp", addr);
        running.wait_log(&format!(
            "ops server listening (metrics, stats, health) addr={ops}"
        ));
        PrivateTracker { running, addr, ops }
    }

    /// The admin API: (status, JSON body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let (status, _, text) = request(self.ops, method, path, Some(TOKEN), body);
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:?}"));
        (status, json)
    }

    /// Registers a user through the admin API; panics unless it is accepted.
    pub fn add_user(&self, id: i64, passkey: &str, extra: &str) {
        let body = format!("{{\"passkey\": \"{passkey}\"{extra}}}");
        let (status, reply) = self.api("PUT", &format!("/api/users/{id}"), Some(&body));
        assert_eq!(status, 200, "adding user {id}: {reply}");
    }

    /// Registers a torrent through the admin API.
    pub fn add_torrent(&self, id: i64, info_hash: [u8; 20], extra: &str) {
        let hex: String = info_hash.iter().map(|b| format!("{b:02x}")).collect();
        let body = format!("{{\"info_hash\": \"{hex}\"{extra}}}");
        let (status, reply) = self.api("PUT", &format!("/api/torrents/{id}"), Some(&body));
        assert_eq!(status, 200, "adding torrent {id}: {reply}");
    }

    /// An HTTP announce from `from` with the given passkey.
    pub fn announce(&self, from: IpAddr, passkey: &str, a: &Http) -> Reply {
        let target = format!(
            "/{passkey}/announce?info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&event={}&numwant=50&compact=1",
            escape(&a.info_hash),
            escape(&a.peer_id),
            a.port,
            a.uploaded,
            a.downloaded,
            a.left,
            a.event
        );
        let (status, body) = get_from(self.addr, from, &target);
        assert!(status.contains("200"), "{status}");
        let value = decode(&body).unwrap_or_else(|e| panic!("not bencode: {e:?} {body:?}"));
        if let Some(reason) = value.get(b"failure reason") {
            return Reply::Failure(reason.as_str().unwrap().to_string());
        }
        let peers = value
            .get(b"peers")
            .and_then(Value::as_bytes)
            .expect("compact peers");
        Reply::Peers(
            peers
                .chunks(6)
                .map(|c| {
                    let ip = IpAddr::from(<[u8; 4]>::try_from(&c[..4]).unwrap());
                    SocketAddr::new(ip, u16::from_be_bytes([c[4], c[5]]))
                })
                .collect(),
        )
    }

    /// Waits (bounded) until the flusher has nothing pending and has
    /// committed at least `committed` batches since start.
    pub fn wait_committed(&self, committed: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, status) = self.api("GET", "/api/private", None);
            let flush = &status["flush"];
            if flush["pending_batches"] == 0
                && flush["committed_batches"].as_u64() >= Some(committed)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "batches not committed in time: {status}\n{}",
                self.running.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The ops port is derived from the tracker's so a restart finds it again.
fn ops_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], port))
}

pub fn config(port: u16, database: &str, journal: &Path, flush: &str) -> String {
    config_with(port, database, journal, flush, "")
}

/// As [`config`], with `extra` (YAML lines, each indented by four spaces)
/// added to the `private:` section.
pub fn config_with(port: u16, database: &str, journal: &Path, flush: &str, extra: &str) -> String {
    let ops = ops_addr(port);
    format!(
        "chihaya:
  announce_interval: 30m
  min_announce_interval: 15m
  metrics_addr: \"{ops}\"
  admin_token: \"{TOKEN}\"
  http:
    addr: \"127.0.0.1:{port}\"
    announce_routes: [\"/:passkey/announce\"]
    scrape_routes: [\"/:passkey/scrape\"]
  udp:
    addr: \"127.0.0.1:{port}\"
    private_key: \"test key\"
  private:
    database: \"{database}\"
    journal_path: \"{}\"
    flush_interval: {flush}
    max_retry_backoff: 1s
{extra}",
        journal.display()
    )
}

/// One HTTP announce's fields.
#[derive(Clone)]
pub struct Http {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    /// `started`, `completed`, `stopped` or empty.
    pub event: &'static str,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Peers(Vec<SocketAddr>),
    Failure(String),
}

impl Reply {
    pub fn peers(self) -> Vec<SocketAddr> {
        match self {
            Reply::Peers(p) => p,
            Reply::Failure(f) => panic!("announce refused: {f}"),
        }
    }
}

/// Polls `sql` (bounded: 20 s) until it gives `want`, then once more a
/// little later so a row counted twice would show; returns what it read
/// last. The flusher writes every few hundred milliseconds: a test cannot
/// know which batch holds an announce, only what the database ends with.
pub fn query_until(database: &str, sql: &str, want: &[Vec<i64>]) -> Vec<Vec<i64>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = query(database, sql);
        if got == want {
            std::thread::sleep(Duration::from_millis(500));
            return query(database, sql);
        }
        if Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `work` on a fresh connection pool to `database`, on a runtime of
/// its own (the tests are synchronous), and closes the pool.
fn with_pool<T>(database: &str, work: impl AsyncFnOnce(&sqlx::AnyPool) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(database)
            .await
            .unwrap_or_else(|e| panic!("cannot open {database}: {e}"));
        let out = work(&pool).await;
        pool.close().await;
        out
    })
}

/// Rows of integers from the database, read as the site would read it.
pub fn query(database: &str, sql: &str) -> Vec<Vec<i64>> {
    use sqlx::Row;
    with_pool(database, async |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|r| (0..r.len()).map(|i| r.get::<i64, _>(i)).collect())
            .collect()
    })
}

/// Runs statements on the database as the site would (its own writes).
pub fn execute(database: &str, statements: &[&str]) {
    with_pool(database, async |pool| {
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    })
}

/// (id, uploaded, downloaded, raw_uploaded, raw_downloaded) of every user.
pub const USER_TOTALS: &str =
    "SELECT id, uploaded, downloaded, raw_uploaded, raw_downloaded FROM users ORDER BY id";

/// What the database ends with (polled, bounded; see [`query_until`]).
pub fn expect(database: &str, sql: &str, want: Vec<Vec<i64>>) {
    assert_eq!(query_until(database, sql, &want), want, "{sql}");
}

/// An HTTP announce of peer `peer` (peer_id all `peer`, port 6000 + peer).
pub fn http(info_hash: [u8; 20], peer: u8, counters: (u64, u64, u64), event: &'static str) -> Http {
    let (uploaded, downloaded, left) = counters;
    Http {
        info_hash,
        peer_id: [peer; 20],
        port: 6000 + u16::from(peer),
        uploaded,
        downloaded,
        left,
        event,
    }
}
