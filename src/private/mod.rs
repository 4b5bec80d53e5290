//! Private tracking: passkeys, registered torrents, per-user accounting
//! written to a database in batches. Off unless `private:` is configured; a
//! public tracker never runs any of this.
//!
//! The request path touches memory only: the [`registry`] of users and
//! torrents (loaded at start, kept current by the admin API and a periodic
//! reload), the [`sessions`] (each client's last counters, the baseline of
//! its next delta) and the [`ledger`] (deltas since the last flush), all
//! driven by the [`hook`]. The [`flusher`] turns the ledger into one
//! [`batch`] per `flush_interval`, writes it to the [`journal`] and then to
//! the [`db`] exactly once. docs/private.md is the operator's guide.

pub mod batch;
pub mod db;
pub mod flusher;
pub mod hook;
pub mod journal;
pub mod ledger;
pub mod model;
pub mod registry;
pub mod service;
pub mod sessions;

/// Unix seconds now: every time the private tracker keeps (last announce,
/// batch creation, commit, snatch) is one, as the database stores them.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
