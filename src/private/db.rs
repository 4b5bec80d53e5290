//! The database: PostgreSQL in production, SQLite (a file) embedded.
//!
//! One code path for both, through sqlx's `Any` driver, and one schema
//! (`migrations/`, portable DDL both run, applied at connect). Every query is
//! plain SQL with `$N` placeholders, which both backends accept (but for
//! SQLite's multi-row statements, see [`placeholders`]); multi-row
//! statements are built in chunks of [`CHUNK_ROWS`] rows so a batch of any
//! size is a handful of statements, far under either backend's limit on
//! bound parameters (SQLite 32766, PostgreSQL 65535).
//!
//! Exactly once: [`Database::apply`] records the batch id in
//! `applied_batches` in the same transaction as the batch's rows. A batch
//! replayed after it committed (the tracker died between the commit and
//! removing the batch from the journal) finds its id there and changes
//! nothing. See the module doc of [`super::batch`] for which rows are
//! additive and which are state.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AssertSqlSafe, Executor, Row, SqlSafeStr, Transaction};
use tracing::warn;

use super::batch::{Batch, PeerKey, PeerRow, Transfer};
use super::model::{Freeleech, Passkey, Torrent, TorrentId, User, UserId, parse_hex_hash};
use crate::protocol::{InfoHash, PeerId};

/// Rows per multi-row statement. Peers have the widest rows (9 values), so a
/// statement binds at most 4500 parameters.
pub const CHUNK_ROWS: usize = 500;

/// How long a query waits for a connection before the database counts as
/// unavailable. sqlx keeps retrying a refused connection until then, so a
/// quick restart of the server is not even noticed.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite: how long a writer waits for another's lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

/// The shipped migrations, embedded in the binary.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "private tracking",
    include_str!("../../migrations/0001_private_tracking.sql"),
)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postgres,
    Sqlite,
}

/// A pool of connections to the private tracking database. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached (connection refused or lost, I/O,
    /// timeouts, a busy SQLite file): worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique value (passkey, info hash) already belongs to another row.
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Other(String),
}

/// What [`Database::apply`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The batch's rows are in the database now.
    Committed,
    /// Its id was already recorded: nothing was changed.
    AlreadyApplied,
}

/// u64 counters are stored as BIGINT; anything above i64::MAX is clamped.
fn clamp(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// A BIGINT read back as a counter: negative values (written by something
/// else) count as zero.
fn counter(v: i64) -> u64 {
    v.max(0) as u64
}

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` values, or `(?, ?), (?, ?)`
/// for SQLite: sqlx binds a named or numbered SQLite parameter by asking for
/// its name, which SQLite finds by a linear scan, so a 500-row statement of
/// `$N` costs O(n²) to bind (8.7 s against 0.17 s for 64,000 rows, measured
/// by `bench/private_load.rs --probe`). Anonymous `?` bind by position. The
/// multi-row statements use each value once and in order, so both mean the same.
fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            n += 1;
            match backend {
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                Backend::Sqlite => out.push('?'),
            }
        }
        out.push(')');
    }
    out
}

fn sql(text: String) -> impl SqlSafeStr {
    // Only ever placeholders and fixed text: every value is bound.
    AssertSqlSafe(text)
}

impl Database {
    /// `sqlite://PATH` (the file is created if missing) or
    /// `postgres://USER:PASSWORD@HOST/DB`; runs the shipped migrations.
    pub async fn connect(url: &str) -> Result<Database, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::Other(
                "the database URL must start with sqlite: or postgres://".into(),
            ));
        };
        let mut url = url.to_string();
        if backend == Backend::Sqlite && !url.contains("mode=") {
            // Read-write-create: the embedded database is made on first start.
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("mode=rwc");
        }
        let options = AnyPoolOptions::new()
            .max_connections(match backend {
                // One writer at a time anyway; readers share the WAL.
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            })
            .acquire_timeout(ACQUIRE_TIMEOUT);
        // `sqlite::memory:` (tests): every connection would be a database of
        // its own, and the last one closing would drop it.
        let options = if backend == Backend::Sqlite && url.contains(":memory:") {
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            options
        };
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    let pragmas = format!(
                        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA synchronous = FULL"
                    );
                    conn.execute(sql(pragmas)).await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| classify(backend, e))?;
        let db = Database { pool, backend };
        if backend == Backend::Sqlite {
            // Persistent in the file; set once, before anything else writes.
            // FULL sync in WAL mode: a commit survives power loss, which the
            // journal relies on (it forgets a batch once committed).
            db.pool
                .execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(|e| db.err(e))?;
        }
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, description, text)| {
                Migration::new(
                    *version,
                    (*description).into(),
                    MigrationType::Simple,
                    (*text).into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&db.pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => db.err(e),
                other => DbError::Other(format!("migrations: {other}")),
            })?;
        Ok(db)
    }

    /// Closes every connection (waits for the ones in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn err(&self, e: sqlx::Error) -> DbError {
        classify(self.backend, e)
    }

    /// Applies one batch in one transaction, exactly once per batch id.
    pub async fn apply(&self, batch: &Batch) -> Result<Applied, DbError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let recorded = sqlx::query(
            "INSERT INTO applied_batches (id, applied_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(batch.id.0)
        .bind(super::unix_now())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if recorded.rows_affected() == 0 {
            tx.rollback().await.map_err(|e| self.err(e))?;
            return Ok(Applied::AlreadyApplied);
        }
        self.apply_rows(&mut tx, batch)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Applied::Committed)
    }

    async fn apply_rows(
        &self,
        tx: &mut Transaction<'static, Any>,
        batch: &Batch,
    ) -> Result<(), sqlx::Error> {
        // One row per pair: a statement must not touch a row twice
        // (PostgreSQL refuses that in ON CONFLICT DO UPDATE).
        let mut transfers: BTreeMap<(UserId, TorrentId), Transfer> = BTreeMap::new();
        for (user, torrent, t) in &batch.transfers {
            transfers.entry((*user, *torrent)).or_default().add(t);
        }
        let transfers: Vec<_> = transfers.into_iter().collect();
        for chunk in transfers.chunks(CHUNK_ROWS) {
            let text = format!(
                "INSERT INTO transfers (user_id, torrent_id, uploaded, downloaded, \
                 raw_uploaded, raw_downloaded, seed_time, announces) VALUES {} \
                 ON CONFLICT (user_id, torrent_id) DO UPDATE SET \
                 uploaded = transfers.uploaded + excluded.uploaded, \
                 downloaded = transfers.downloaded + excluded.downloaded, \
                 raw_uploaded = transfers.raw_uploaded + excluded.raw_uploaded, \
                 raw_downloaded = transfers.raw_downloaded + excluded.raw_downloaded, \
                 seed_time = transfers.seed_time + excluded.seed_time, \
                 announces = transfers.announces + excluded.announces",
                placeholders(self.backend, chunk.len(), 8)
            );
            let mut q = sqlx::query(sql(text));
            for ((user, torrent), t) in chunk {
                q = q
                    .bind(user.0)
                    .bind(torrent.0)
                    .bind(clamp(t.uploaded))
                    .bind(clamp(t.downloaded))
                    .bind(clamp(t.raw_uploaded))
                    .bind(clamp(t.raw_downloaded))
                    .bind(clamp(t.seed_time))
                    .bind(clamp(t.announces));
            }
            q.execute(&mut **tx).await?;
        }

        // Users' totals: only users that exist (UPDATE ... FROM a VALUES list).
        let mut totals: BTreeMap<UserId, Transfer> = BTreeMap::new();
        for ((user, _), t) in &transfers {
            totals.entry(*user).or_default().add(t);
        }
        let totals: Vec<_> = totals.into_iter().collect();
        for chunk in totals.chunks(CHUNK_ROWS) {
            let text = format!(
                "WITH v (id, uploaded, downloaded, raw_uploaded, raw_downloaded, seed_time) \
                 AS (VALUES {}) \
                 UPDATE users SET \
                 uploaded = users.uploaded + v.uploaded, \
                 downloaded = users.downloaded + v.downloaded, \
                 raw_uploaded = users.raw_uploaded + v.raw_uploaded, \
                 raw_downloaded = users.raw_downloaded + v.raw_downloaded, \
                 seed_time = users.seed_time + v.seed_time \
                 FROM v WHERE users.id = v.id",
                placeholders(self.backend, chunk.len(), 6)
            );
            let mut q = sqlx::query(sql(text));
            for (user, t) in chunk {
                q = q
                    .bind(user.0)
                    .bind(clamp(t.uploaded))
                    .bind(clamp(t.downloaded))
                    .bind(clamp(t.raw_uploaded))
                    .bind(clamp(t.raw_downloaded))
                    .bind(clamp(t.seed_time));
            }
            q.execute(&mut **tx).await?;
        }

        // State: sessions that ended go, then the latest state of the rest.
        for chunk in batch.gone.chunks(CHUNK_ROWS) {
            let text = format!(
                "DELETE FROM peers WHERE (user_id, torrent_id, peer_id) IN (VALUES {})",
                placeholders(self.backend, chunk.len(), 3)
            );
            let mut q = sqlx::query(sql(text));
            for key in chunk {
                q = q
                    .bind(key.user.0)
                    .bind(key.torrent.0)
                    .bind(key.peer_id.to_hex());
            }
            q.execute(&mut **tx).await?;
        }
        let mut peers: BTreeMap<PeerKey, &PeerRow> = BTreeMap::new();
        for row in &batch.peers {
            peers.insert(row.key, row);
        }
        let peers: Vec<_> = peers.into_values().collect();
        for chunk in peers.chunks(CHUNK_ROWS) {
            let text = format!(
                "INSERT INTO peers (user_id, torrent_id, peer_id, ip, port, uploaded, \
                 downloaded, left_bytes, last_announce) VALUES {} \
                 ON CONFLICT (user_id, torrent_id, peer_id) DO UPDATE SET \
                 ip = excluded.ip, port = excluded.port, uploaded = excluded.uploaded, \
                 downloaded = excluded.downloaded, left_bytes = excluded.left_bytes, \
                 last_announce = excluded.last_announce",
                placeholders(self.backend, chunk.len(), 9)
            );
            let mut q = sqlx::query(sql(text));
            for row in chunk {
                q = q
                    .bind(row.key.user.0)
                    .bind(row.key.torrent.0)
                    .bind(row.key.peer_id.to_hex())
                    .bind(row.ip.to_string())
                    .bind(row.port as i32)
                    .bind(clamp(row.uploaded))
                    .bind(clamp(row.downloaded))
                    .bind(clamp(row.left))
                    .bind(row.last_announce);
            }
            q.execute(&mut **tx).await?;
        }

        // Snatches: one row each, and each torrent's counter.
        for chunk in batch.snatches.chunks(CHUNK_ROWS) {
            let text = format!(
                "INSERT INTO snatches (user_id, torrent_id, completed_at, batch_id) VALUES {}",
                placeholders(self.backend, chunk.len(), 4)
            );
            let mut q = sqlx::query(sql(text));
            for s in chunk {
                q = q
                    .bind(s.user.0)
                    .bind(s.torrent.0)
                    .bind(s.at)
                    .bind(batch.id.0);
            }
            q.execute(&mut **tx).await?;
        }
        let mut counts: BTreeMap<TorrentId, i64> = BTreeMap::new();
        for s in &batch.snatches {
            *counts.entry(s.torrent).or_default() += 1;
        }
        let counts: Vec<_> = counts.into_iter().collect();
        for chunk in counts.chunks(CHUNK_ROWS) {
            let text = format!(
                "WITH v (id, n) AS (VALUES {}) \
                 UPDATE torrents SET snatched = torrents.snatched + v.n \
                 FROM v WHERE torrents.id = v.id",
                placeholders(self.backend, chunk.len(), 2)
            );
            let mut q = sqlx::query(sql(text));
            for (torrent, n) in chunk {
                q = q.bind(torrent.0).bind(*n);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Every user. A row the tracker cannot use (a passkey with characters
    /// outside `[A-Za-z0-9_-]`) is skipped with a warning, not fatal.
    pub async fn load_users(&self) -> Result<Vec<User>, DbError> {
        let rows = sqlx::query(
            "SELECT id, passkey, can_leech, upload_multiplier, download_multiplier \
             FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut users = Vec::with_capacity(rows.len());
        for row in &rows {
            match user_from_row(row) {
                Ok(u) => users.push(u),
                Err(problem) => warn!(%problem, "private: a users row skipped"),
            }
        }
        Ok(users)
    }

    /// Every torrent. A row with a malformed hash is skipped with a warning.
    pub async fn load_torrents(&self) -> Result<Vec<Torrent>, DbError> {
        let rows = sqlx::query(
            "SELECT id, info_hash, info_hash_v2, freeleech, upload_multiplier, \
             download_multiplier FROM torrents ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut torrents = Vec::with_capacity(rows.len());
        for row in &rows {
            match torrent_from_row(row) {
                Ok(t) => torrents.push(t),
                Err(problem) => warn!(%problem, "private: a torrents row skipped"),
            }
        }
        Ok(torrents)
    }

    /// The sessions whose last announce is at or after `since` (unix seconds).
    pub async fn load_peers(&self, since: i64) -> Result<Vec<PeerRow>, DbError> {
        let rows = sqlx::query(
            "SELECT user_id, torrent_id, peer_id, ip, port, uploaded, downloaded, \
             left_bytes, last_announce FROM peers WHERE last_announce >= $1 \
             ORDER BY user_id, torrent_id, peer_id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut peers = Vec::with_capacity(rows.len());
        for row in &rows {
            match peer_from_row(row) {
                Ok(p) => peers.push(p),
                Err(problem) => warn!(%problem, "private: a peers row skipped"),
            }
        }
        Ok(peers)
    }

    /// Deletes the sessions last seen before `before` (unix seconds).
    pub async fn prune_peers(&self, before: i64) -> Result<u64, DbError> {
        let done = sqlx::query("DELETE FROM peers WHERE last_announce < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }

    /// Adds or updates a user's registration columns (never its accounting).
    pub async fn upsert_user(&self, user: &User) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO users (id, passkey, can_leech, upload_multiplier, download_multiplier) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET passkey = excluded.passkey, \
             can_leech = excluded.can_leech, \
             upload_multiplier = excluded.upload_multiplier, \
             download_multiplier = excluded.download_multiplier",
        )
        .bind(user.id.0)
        .bind(user.passkey.as_str().to_string())
        .bind(i32::from(user.can_leech))
        .bind(user.upload_multiplier)
        .bind(user.download_multiplier)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes a user and its sessions; its accounting history stays.
    pub async fn delete_user(&self, id: UserId) -> Result<bool, DbError> {
        self.delete_with_sessions("users", "user_id", id.0).await
    }

    /// Deletes row `id` of `table` and, in the same transaction, the
    /// sessions (`peers` rows) whose `peers_column` is `id`; whether the row
    /// was there. Both names are fixed by the callers, never input.
    async fn delete_with_sessions(
        &self,
        table: &'static str,
        peers_column: &'static str,
        id: i64,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let done = sqlx::query(sql(format!("DELETE FROM {table} WHERE id = $1")))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        sqlx::query(sql(format!("DELETE FROM peers WHERE {peers_column} = $1")))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds or updates a torrent's registration columns (never `snatched`).
    /// A hash (v1 or v2) that is either hash of another torrent is a
    /// [`DbError::Conflict`]: both hashes name one swarm.
    pub async fn upsert_torrent(&self, torrent: &Torrent) -> Result<(), DbError> {
        let v1 = torrent.info_hash.to_hex();
        let v2 = torrent.info_hash_v2.map(|h| h.to_hex());
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let taken = sqlx::query(
            "SELECT id FROM torrents WHERE id <> $1 AND \
             (info_hash IN ($2, $3) OR info_hash_v2 IN ($2, $3))",
        )
        .bind(torrent.id.0)
        .bind(v1.clone())
        .bind(v2.clone().unwrap_or_else(|| v1.clone()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if let Some(row) = taken {
            let other: i64 = row.try_get(0).map_err(|e| self.err(e))?;
            return Err(DbError::Conflict(format!(
                "the info hash belongs to torrent {other}"
            )));
        }
        sqlx::query(
            "INSERT INTO torrents (id, info_hash, info_hash_v2, freeleech, upload_multiplier, \
             download_multiplier) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET info_hash = excluded.info_hash, \
             info_hash_v2 = excluded.info_hash_v2, freeleech = excluded.freeleech, \
             upload_multiplier = excluded.upload_multiplier, \
             download_multiplier = excluded.download_multiplier",
        )
        .bind(torrent.id.0)
        .bind(v1)
        .bind(v2)
        .bind(torrent.freeleech.as_str())
        .bind(torrent.upload_multiplier)
        .bind(torrent.download_multiplier)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes a torrent and its sessions; the accounting history stays.
    pub async fn delete_torrent(&self, id: TorrentId) -> Result<bool, DbError> {
        self.delete_with_sessions("torrents", "torrent_id", id.0)
            .await
    }
}

fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T, String>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(column).map_err(|e| format!("{column}: {e}"))
}

fn user_from_row(row: &AnyRow) -> Result<User, String> {
    let id: i64 = get(row, "id")?;
    let passkey: String = get(row, "passkey")?;
    Ok(User {
        id: UserId(id),
        passkey: Passkey::new(&passkey).map_err(|e| format!("user {id}: {e}"))?,
        can_leech: get::<i64>(row, "can_leech")? != 0,
        upload_multiplier: get(row, "upload_multiplier")?,
        download_multiplier: get(row, "download_multiplier")?,
    })
}

fn torrent_from_row(row: &AnyRow) -> Result<Torrent, String> {
    let id: i64 = get(row, "id")?;
    let hash = |text: String| parse_hex_hash(&text).map_err(|e| format!("torrent {id}: {e}"));
    let v2: Option<String> = get(row, "info_hash_v2")?;
    Ok(Torrent {
        id: TorrentId(id),
        info_hash: hash(get(row, "info_hash")?)?,
        info_hash_v2: v2.map(hash).transpose()?,
        freeleech: Freeleech::parse(&get::<String>(row, "freeleech")?)
            .map_err(|e| format!("torrent {id}: {e}"))?,
        upload_multiplier: get(row, "upload_multiplier")?,
        download_multiplier: get(row, "download_multiplier")?,
    })
}

fn peer_from_row(row: &AnyRow) -> Result<PeerRow, String> {
    let user: i64 = get(row, "user_id")?;
    let torrent: i64 = get(row, "torrent_id")?;
    let peer_id: String = get(row, "peer_id")?;
    let InfoHash(bytes) = parse_hex_hash(&peer_id)
        .map_err(|_| format!("peer id {peer_id:?} is not 40 hex digits"))?;
    let ip: String = get(row, "ip")?;
    let port: i64 = get(row, "port")?;
    Ok(PeerRow {
        key: PeerKey {
            user: UserId(user),
            torrent: TorrentId(torrent),
            peer_id: PeerId(bytes),
        },
        ip: ip
            .parse()
            .map_err(|_| format!("ip {ip:?} is not an address"))?,
        port: u16::try_from(port).map_err(|_| format!("port {port} out of range"))?,
        uploaded: counter(get(row, "uploaded")?),
        downloaded: counter(get(row, "downloaded")?),
        left: counter(get(row, "left_bytes")?),
        last_announce: get(row, "last_announce")?,
    })
}

/// Sorts an error into what the caller can do about it.
fn classify(backend: Backend, e: sqlx::Error) -> DbError {
    use sqlx::Error as E;
    match e {
        E::PoolTimedOut => DbError::Unavailable(format!(
            "no connection within {ACQUIRE_TIMEOUT:?} (the server refuses or does not answer, \
             or every connection is busy)"
        )),
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolClosed | E::WorkerCrashed => {
            DbError::Unavailable(e.to_string())
        }
        E::Database(db) => {
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation {
                let what = db.constraint().unwrap_or(db.message()).to_string();
                return DbError::Conflict(conflict_text(&what));
            }
            let code = db.code().unwrap_or_default().to_string();
            let transient = match backend {
                // Connection exceptions, operator intervention (shutdown,
                // restart), insufficient resources, serialization failures.
                Backend::Postgres => ["08", "57P", "53", "40001", "40P01"]
                    .iter()
                    .any(|p| code.starts_with(p)),
                // BUSY, LOCKED, IOERR, FULL, CANTOPEN (primary codes).
                Backend::Sqlite => code
                    .parse::<i32>()
                    .map(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
                    .unwrap_or(false),
            };
            if transient {
                DbError::Unavailable(db.to_string())
            } else {
                DbError::Other(db.to_string())
            }
        }
        other => DbError::Other(other.to_string()),
    }
}

/// The message of a unique violation, naming the value's kind, never the
/// value itself (a passkey must not reach a log).
fn conflict_text(constraint_or_message: &str) -> String {
    if constraint_or_message.contains("passkey") {
        "the passkey belongs to another user".into()
    } else if constraint_or_message.contains("info_hash") {
        "the info hash belongs to another torrent".into()
    } else {
        format!("a unique value is taken ({constraint_or_message})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_value_once() {
        assert_eq!(placeholders(Backend::Postgres, 1, 1), "($1)");
        assert_eq!(
            placeholders(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn huge_counters_are_clamped_not_wrapped() {
        assert_eq!(clamp(u64::MAX), i64::MAX);
        assert_eq!(clamp(7), 7);
        assert_eq!(counter(-5), 0);
    }

    #[tokio::test]
    async fn an_in_memory_sqlite_database_is_one_database() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let user = User {
            id: UserId(1),
            passkey: Passkey::new("k").unwrap(),
            can_leech: false,
            upload_multiplier: 1.0,
            download_multiplier: 2.0,
        };
        db.upsert_user(&user).await.unwrap();
        assert_eq!(db.load_users().await.unwrap(), vec![user]);
        assert!(matches!(
            Database::connect("mysql://x").await,
            Err(DbError::Other(_))
        ));
    }

    #[test]
    fn conflicts_never_echo_the_value() {
        let t = conflict_text("UNIQUE constraint failed: users.passkey");
        assert_eq!(t, "the passkey belongs to another user");
        assert_eq!(
            conflict_text("torrents_info_hash_v2_key"),
            "the info hash belongs to another torrent"
        );
    }
}
