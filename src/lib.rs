//! chihaya: a BitTorrent tracker.
//!
//! The path of every request: `frontend` (sockets, wire formats) → `protocol`
//! types → `middleware` (hooks) → `storage` (one operation per announce) →
//! back out the same way. See docs/ARCHITECTURE.md.

pub mod cli;
pub mod config;
pub mod e2e;
pub mod frontend;
pub mod metrics;
pub mod middleware;
pub mod ops;
pub mod private;
pub mod protocol;
pub mod server;
pub mod storage;
