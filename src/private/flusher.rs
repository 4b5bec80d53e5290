//! The flusher: ledger → batch → journal → database, every `flush_interval`.
//!
//! Each interval the ledger is drained into one batch (an empty one is
//! skipped), the batch is journaled first, then queued; queued batches are
//! applied to the database one at a time, in order (state rows must not
//! regress, so a newer batch never overtakes an older one). While the
//! database is down the loop keeps draining and journaling every interval
//! and retries the oldest batch with a backoff that doubles from
//! `flush_interval` up to `max_retry_backoff`; the outage is logged once and
//! the recovery once. A kill -9 at any moment loses nothing that reached the
//! journal: [`replay`] applies it at the next start, exactly once.
//!
//! A batch whose journal write failed (disk full) stays in memory, is still
//! sent to the database, and its journal write is retried every interval.
//! Journaled batches behind the one being applied are not kept in memory:
//! they are read back from the journal when their turn comes, so an outage
//! of hours costs disk, not memory.
//!
//! On stop: one last drain and journal write, then at most a few seconds of
//! trying the database; whatever is left stays journaled for the next start.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::batch::{Batch, BatchId};
use super::db::{Applied, Database, DbError};
use super::journal::Journal;
use super::ledger::Ledger;
use crate::config::private::PrivateConfig;

/// The longest one apply may take before it counts as failed (and is
/// retried: if it did commit after all, the retry finds it applied).
const APPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stop waits for the database before leaving the rest journaled.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(3);

/// What the flusher has done, for metrics and the stats page.
#[derive(Debug, Default)]
pub struct FlushStatus {
    /// Batches made but not yet in the database.
    pub pending_batches: AtomicU64,
    /// Batches the database has (committed now, or found already applied).
    pub committed_batches: AtomicU64,
    /// Apply attempts that failed (each retry counts).
    pub failed_attempts: AtomicU64,
    /// Unix seconds of the last commit (0: none yet).
    pub last_commit_unix: AtomicI64,
    /// Journal writes that failed.
    pub journal_errors: AtomicU64,
}

fn journal_error(e: std::io::Error) -> DbError {
    DbError::Other(format!("private journal: {e}"))
}

/// Runs blocking journal work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Before serving: applies every journaled batch, in order, and removes it.
/// A batch that had committed before the crash is found applied and changes
/// nothing; an unreadable file is set aside (`*.corrupt`) and skipped.
/// Returns how many batches were replayed; stops at the first database error
/// (the rest stay journaled, and [`spawn`] picks them up). Batches are read
/// one at a time, so a long journal is never all in memory.
pub async fn replay(journal: &Journal, db: &Database) -> Result<usize, DbError> {
    let j = journal.clone();
    let ids = blocking(move || j.pending()).await.map_err(journal_error)?;
    let (mut replayed, mut already) = (0, 0);
    for id in ids {
        let j = journal.clone();
        let batch = match blocking(move || j.read(id)).await {
            Ok(batch) => batch,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => continue,
            Err(e) => return Err(journal_error(e)),
        };
        if db.apply(&batch).await? == Applied::AlreadyApplied {
            already += 1;
        }
        let j = journal.clone();
        blocking(move || j.remove(id))
            .await
            .map_err(journal_error)?;
        replayed += 1;
    }
    if replayed > 0 {
        info!(
            replayed,
            already_applied = already,
            "private: journal replayed"
        );
    }
    Ok(replayed)
}

/// Starts the flush loop; it stops (after a last flush) when `shutdown` is
/// cancelled. Batches still journaled at spawn (a replay that failed or was
/// skipped) are applied first.
pub fn spawn(
    ledger: Arc<Ledger>,
    db: Database,
    journal: Journal,
    config: &PrivateConfig,
    status: Arc<FlushStatus>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let flusher = Flusher {
        ledger,
        db,
        journal,
        status,
        queue: VecDeque::new(),
        interval: config.flush_interval,
        max_backoff: config.max_retry_backoff.max(config.flush_interval),
        backoff: config.flush_interval,
        attempt_started: Instant::now(),
        outage: None,
        journal_failing: false,
    };
    tokio::spawn(flusher.run(shutdown))
}

/// A batch waiting for the database.
struct Queued {
    id: BatchId,
    /// In memory until journaled; then only the front keeps it, the rest are
    /// read back from the journal when their turn comes, so a long outage
    /// costs disk, not memory.
    body: Option<Arc<Batch>>,
    journaled: bool,
}

/// Why an attempt on the front batch did not land.
enum Failure {
    Db(DbError),
    /// Its journal file no longer reads as a batch (set aside): skipped.
    Unreadable(std::io::Error),
}

type Attempt = JoinHandle<Result<Applied, Failure>>;

struct Flusher {
    ledger: Arc<Ledger>,
    db: Database,
    journal: Journal,
    status: Arc<FlushStatus>,
    /// Oldest first; only the front is ever being applied.
    queue: VecDeque<Queued>,
    interval: Duration,
    max_backoff: Duration,
    backoff: Duration,
    /// When the attempt in flight started.
    attempt_started: Instant,
    /// Since when the database has been failing (the start of the first
    /// failed attempt).
    outage: Option<Instant>,
    journal_failing: bool,
}

impl Flusher {
    async fn run(mut self, shutdown: CancellationToken) {
        let journal = self.journal.clone();
        match blocking(move || journal.pending()).await {
            Ok(left) => {
                if !left.is_empty() {
                    info!(
                        batches = left.len(),
                        "private: batches left in the journal go first"
                    );
                }
                self.queue.extend(left.into_iter().map(|id| Queued {
                    id,
                    body: None,
                    journaled: true,
                }));
            }
            Err(e) => error!(error = %e, "private: cannot read the journal"),
        }
        let mut ticker = tokio::time::interval_at(Instant::now() + self.interval, self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut attempt: Option<Attempt> = None;
        let mut retry_at: Option<Instant> = None;
        loop {
            if attempt.is_none() && retry_at.is_none() {
                attempt = self.start_front();
            }
            self.publish();
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                res = async { attempt.as_mut().expect("guarded").await }, if attempt.is_some() => {
                    attempt = None;
                    retry_at = self.settle(res).await;
                }
                _ = ticker.tick() => self.collect().await,
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    retry_at = None;
                }
            }
        }
        self.finish(attempt).await;
    }

    fn publish(&self) {
        self.status
            .pending_batches
            .store(self.queue.len() as u64, Ordering::Relaxed);
    }

    /// Starts applying the oldest batch, if any (read back from the journal
    /// if it is not in memory).
    fn start_front(&mut self) -> Option<Attempt> {
        let front = self.queue.front()?;
        let (id, body) = (front.id, front.body.clone());
        let (db, journal) = (self.db.clone(), self.journal.clone());
        self.attempt_started = Instant::now();
        Some(tokio::spawn(async move {
            let batch = match body {
                Some(batch) => batch,
                None => match blocking(move || journal.read(id)).await {
                    Ok(batch) => Arc::new(batch),
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        return Err(Failure::Unreadable(e));
                    }
                    Err(e) => return Err(Failure::Db(journal_error(e))),
                },
            };
            match tokio::time::timeout(APPLY_TIMEOUT, db.apply(&batch)).await {
                Ok(result) => result.map_err(Failure::Db),
                Err(_) => Err(Failure::Db(DbError::Unavailable(format!(
                    "no answer within {APPLY_TIMEOUT:?}"
                )))),
            }
        }))
    }

    /// Drains the ledger into a batch (skipped when empty) and journals
    /// whatever is not journaled yet.
    async fn collect(&mut self) {
        let batch = self.ledger.drain(BatchId::random(), super::unix_now());
        if !batch.is_empty() {
            self.queue.push_back(Queued {
                id: batch.id,
                body: Some(Arc::new(batch)),
                journaled: false,
            });
        }
        self.journal_pending().await;
        self.publish();
    }

    /// Journals unjournaled batches oldest first, stopping at a failure so
    /// the journal's order stays the queue's. A journaled batch behind the
    /// front lets go of its body.
    async fn journal_pending(&mut self) {
        for (i, queued) in self.queue.iter_mut().enumerate() {
            if queued.journaled {
                continue;
            }
            let journal = self.journal.clone();
            let batch = queued.body.clone().expect("unjournaled batches are held");
            match blocking(move || journal.append(&batch)).await {
                Ok(()) => {
                    queued.journaled = true;
                    if i > 0 {
                        queued.body = None;
                    }
                }
                Err(e) => {
                    self.status.journal_errors.fetch_add(1, Ordering::Relaxed);
                    if !self.journal_failing {
                        error!(
                            error = %e,
                            dir = %self.journal.dir().display(),
                            "private: cannot write the journal; batches kept in memory and retried"
                        );
                        self.journal_failing = true;
                    }
                    return;
                }
            }
        }
        if self.journal_failing {
            info!("private: the journal is writable again");
            self.journal_failing = false;
        }
    }

    /// Books the result of an attempt on the front batch; returns when to
    /// retry if it failed.
    async fn settle(
        &mut self,
        result: Result<Result<Applied, Failure>, tokio::task::JoinError>,
    ) -> Option<Instant> {
        let result = result.unwrap_or_else(|e| Err(Failure::Db(DbError::Other(e.to_string()))));
        match result {
            Ok(applied) => {
                let done = self.queue.pop_front().expect("an attempt is on the front");
                if applied == Applied::AlreadyApplied {
                    debug!(batch = done.id.0, "private: batch was already applied");
                }
                if done.journaled {
                    let journal = self.journal.clone();
                    if let Err(e) = blocking(move || journal.remove(done.id)).await {
                        // Harmless: a replay finds the batch applied.
                        warn!(error = %e, "private: cannot remove a committed batch from the journal");
                    }
                }
                self.status
                    .committed_batches
                    .fetch_add(1, Ordering::Relaxed);
                self.status
                    .last_commit_unix
                    .store(super::unix_now(), Ordering::Relaxed);
                if let Some(since) = self.outage.take() {
                    info!(
                        down_for = ?since.elapsed(),
                        pending = self.queue.len() + 1,
                        "private: database back; pending batches being written"
                    );
                }
                self.backoff = self.interval;
                self.publish();
                None
            }
            Err(Failure::Unreadable(e)) => {
                let lost = self.queue.pop_front().expect("an attempt is on the front");
                error!(
                    batch = lost.id.0,
                    error = %e,
                    "private: a journaled batch no longer reads back; skipped"
                );
                self.publish();
                None
            }
            Err(Failure::Db(e)) => {
                self.status.failed_attempts.fetch_add(1, Ordering::Relaxed);
                if self.outage.is_none() {
                    error!(
                        error = %e,
                        pending = self.queue.len(),
                        "private: cannot write to the database; batches kept in the journal and retried"
                    );
                    self.outage = Some(self.attempt_started);
                } else {
                    debug!(error = %e, retry_in = ?self.backoff, "private: database still failing");
                }
                let wait = self.backoff;
                self.backoff = (self.backoff * 2).min(self.max_backoff);
                Some(Instant::now() + wait)
            }
        }
    }

    /// The stop: one last drain, then a bounded try at the database.
    async fn finish(mut self, attempt: Option<Attempt>) {
        self.collect().await;
        let deadline = Instant::now() + SHUTDOWN_BUDGET;
        let mut attempt = attempt;
        loop {
            let Some(handle) = attempt.take().or_else(|| self.start_front()) else {
                break;
            };
            match tokio::time::timeout_at(deadline, handle).await {
                Ok(result) => {
                    if self.settle(result).await.is_some() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        self.publish();
        if self.queue.is_empty() {
            info!("private: flusher stopped, every batch committed");
            return;
        }
        let lost = self.queue.iter().filter(|q| !q.journaled).count();
        if lost > 0 {
            error!(
                batches = lost,
                "private: batches neither committed nor journaled are lost"
            );
        }
        warn!(
            batches = self.queue.len() - lost,
            dir = %self.journal.dir().display(),
            "private: flusher stopped with batches left in the journal; replayed at the next start"
        );
    }
}
