//! Private tracking as a running service: started before the frontends
//! bind, stopped after they have finished, so the last announce of a run is
//! in its last batch.
//!
//! Start-up order matters for "nothing lost, nothing twice": the journal is
//! replayed into the database first (exactly once), and only then are the
//! session baselines read from the database, so they include every batch the
//! previous run wrote, whether it reached the database or only the journal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::db::{Database, DbError};
use super::flusher::{self, FlushStatus};
use super::hook::PrivateHook;
use super::journal::Journal;
use super::ledger::Ledger;
use super::registry::Registry;
use super::sessions::Sessions;
use super::unix_now;
use crate::config::PrivateConfig;
use crate::config::private::redacted_url;
use crate::middleware::hook::Hook;

/// How long a clean stop waits for the last batch to reach the database
/// before leaving it in the journal for the next start.
const FINAL_FLUSH: Duration = Duration::from_secs(10);

/// What the admin API, metrics and stats read and change.
pub struct PrivateState {
    pub registry: Arc<Registry>,
    pub sessions: Arc<Sessions>,
    pub db: Database,
    pub status: Arc<FlushStatus>,
    pub hook: Arc<PrivateHook>,
}

impl PrivateState {
    /// Users and torrents re-read from the database now.
    pub async fn reload(&self) -> Result<bool, DbError> {
        reload(&self.registry, &self.db).await
    }
}

/// The running service: its state and its tasks.
pub struct Private {
    pub state: Arc<PrivateState>,
    /// Cancelled after the frontends stopped: the flusher then writes the last batch.
    flusher_stop: CancellationToken,
    flusher: JoinHandle<()>,
    maintenance: JoinHandle<()>,
}

impl Private {
    /// Opens the journal and the database (waiting for it, with backoff,
    /// until it answers or `stop` fires), replays the journal, loads users,
    /// torrents and session baselines, and starts the flusher and the
    /// periodic reload. `peer_lifetime` is the swarm's: a session silent for
    /// longer is gone.
    pub async fn start(
        config: &PrivateConfig,
        peer_lifetime: Duration,
        stop: &CancellationToken,
    ) -> anyhow::Result<Private> {
        let journal = Journal::open(config.journal_path.as_ref()).with_context(|| {
            format!(
                "chihaya.private.journal_path: cannot open {}",
                config.journal_path
            )
        })?;
        let db = connect(config, stop).await?;
        // Logs what it replayed itself.
        flusher::replay(&journal, &db)
            .await
            .context("replaying the private journal into the database")?;
        let registry = Arc::new(Registry::default());
        reload(&registry, &db)
            .await
            .context("loading users and torrents")?;
        let sessions = Arc::new(Sessions::new(peer_lifetime.as_secs()));
        let since = unix_now().saturating_sub(peer_lifetime.as_secs() as i64);
        let rows = db.load_peers(since).await.context("loading sessions")?;
        let loaded = rows.len();
        sessions.load(rows);
        let (users, torrents) = registry.counts();
        info!(
            users,
            torrents,
            sessions = loaded,
            database = %redacted_url(&config.database),
            "private tracking ready"
        );

        let ledger = Arc::new(Ledger::default());
        let status = Arc::new(FlushStatus::default());
        let flusher_stop = CancellationToken::new();
        let flusher = flusher::spawn(
            ledger.clone(),
            db.clone(),
            journal,
            config,
            status.clone(),
            flusher_stop.clone(),
        );
        let maintenance = tokio::spawn(maintain(
            registry.clone(),
            sessions.clone(),
            ledger.clone(),
            db.clone(),
            config.reload_interval,
            peer_lifetime,
            stop.clone(),
        ));
        let hook = Arc::new(PrivateHook::new(
            registry.clone(),
            sessions.clone(),
            ledger.clone(),
            config.global_freeleech,
        ));
        Ok(Private {
            state: Arc::new(PrivateState {
                registry,
                sessions,
                db,
                status,
                hook,
            }),
            flusher_stop,
            flusher,
            maintenance,
        })
    }

    /// The hook the chain runs in front of every prehook.
    pub fn chain_hook(&self) -> Arc<dyn Hook> {
        self.state.hook.clone()
    }

    /// Call once the frontends have stopped: the last batch is written (or
    /// left in the journal when the database does not take it in time).
    pub async fn finish(self) {
        self.maintenance.abort();
        self.flusher_stop.cancel();
        if tokio::time::timeout(FINAL_FLUSH + Duration::from_secs(2), self.flusher)
            .await
            .is_err()
        {
            warn!("private flusher did not stop in time; the journal keeps what it had");
        }
    }
}

/// The database, waited for: a private tracker that cannot load its users
/// would refuse every announce, so it does not serve until it can.
async fn connect(config: &PrivateConfig, stop: &CancellationToken) -> anyhow::Result<Database> {
    let mut wait = config.flush_interval;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match Database::connect(&config.database).await {
            Ok(db) => return Ok(db),
            Err(DbError::Unavailable(e)) => warn!(
                attempt,
                database = %redacted_url(&config.database),
                retry_in = ?wait,
                "private database unavailable; waiting for it before serving: {e}"
            ),
            Err(e) => {
                return Err(anyhow!(
                    "chihaya.private.database: {}: {e}",
                    redacted_url(&config.database)
                ));
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return Err(anyhow!("stopped while waiting for the private database")),
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(config.max_retry_backoff);
    }
}

/// Users and torrents from the database into the registry, unless the admin
/// API changed something meanwhile (then false; the next reload catches up).
async fn reload(registry: &Registry, db: &Database) -> Result<bool, DbError> {
    let version = registry.version();
    let users = db.load_users().await?;
    let torrents = db.load_torrents().await?;
    Ok(registry.replace(version, users, torrents))
}

/// Expires silent sessions every so often and reloads the registry and
/// prunes stale session rows every `reload_interval`.
async fn maintain(
    registry: Arc<Registry>,
    sessions: Arc<Sessions>,
    ledger: Arc<Ledger>,
    db: Database,
    reload_interval: Duration,
    peer_lifetime: Duration,
    stop: CancellationToken,
) {
    let expire_every = (peer_lifetime / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut expire = tokio::time::interval(expire_every);
    let mut reloads = tokio::time::interval(reload_interval);
    reloads.tick().await; // the first tick is now: start-up just loaded
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = expire.tick() => {
                for key in sessions.expire(unix_now()) {
                    ledger.record_gone(key);
                }
            }
            _ = reloads.tick() => {
                match reload(&registry, &db).await {
                    Ok(true) => {
                        let (users, torrents) = registry.counts();
                        tracing::debug!(users, torrents, "private registry reloaded");
                    }
                    Ok(false) => tracing::debug!("private reload skipped: the admin API changed the registry meanwhile"),
                    Err(e) => warn!("private reload failed; keeping what is loaded: {e}"),
                }
                let before = unix_now().saturating_sub(peer_lifetime.as_secs() as i64);
                if let Err(e) = db.prune_peers(before).await {
                    tracing::debug!("pruning stale session rows failed: {e}");
                }
            }
        }
    }
}
