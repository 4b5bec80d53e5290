//! Private tracking: passkeys, registered torrents, per-user accounting
//! written to a database in batches. Off unless `private:` is configured; a
//! public tracker never runs any of this.
//!
//! The request path touches memory only: [`model`] users and torrents are
//! loaded at start and kept current (admin API, periodic reload), each
//! announce's deltas go to the [`ledger`], and the [`flusher`] turns the
//! ledger into one [`batch`] per `flush_interval`, journals it
//! ([`journal`]) and writes it to the [`db`] exactly once.

pub mod batch;
pub mod db;
pub mod flusher;
pub mod journal;
pub mod ledger;
pub mod model;
