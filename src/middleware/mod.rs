//! The hook chain between the frontends and the swarm.
//!
//! Frontends hand a parsed request to [`Tracker`]; it runs the pre-hooks, does
//! the one storage operation, fills in the intervals and hands the reply back.
//! Hooks are configured by name (`prehooks:` / `posthooks:`); the hooks
//! themselves live one per file beside this one.

pub mod hook;
pub mod jwt;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, HookConfig};
use crate::protocol::{
    AnnounceRequest, AnnounceResponse, ClientError, ScrapeRequest, ScrapeResponse,
};
use crate::storage::Storage;

/// Why a request got no normal answer.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The client's fault; the text goes back to it.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Ours; the client sees a generic message and the operator a log line.
    #[error("internal error: {0}")]
    Internal(String),
}

impl TrackerError {
    /// What the client is told.
    pub fn client_message(&self) -> &str {
        match self {
            TrackerError::Client(e) => &e.0,
            TrackerError::Internal(_) => "internal server error",
        }
    }
}

/// The protocol-agnostic tracker: what every frontend calls.
pub struct Tracker {
    storage: Arc<Storage>,
    announce_interval: u32,
    min_announce_interval: u32,
    /// Kept so the chain can be built from them; see the hooks issue.
    pub prehooks: Vec<HookConfig>,
    pub posthooks: Vec<HookConfig>,
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl Tracker {
    pub fn new(config: &Config, storage: Arc<Storage>) -> Self {
        Tracker {
            storage,
            announce_interval: secs(config.announce_interval),
            min_announce_interval: secs(config.min_announce_interval),
            prehooks: config.prehooks.clone(),
            posthooks: config.posthooks.clone(),
        }
    }

    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    pub async fn announce(&self, req: &AnnounceRequest) -> Result<AnnounceResponse, TrackerError> {
        let outcome = self
            .storage
            .announce(req)
            .await
            .map_err(|e| TrackerError::Internal(e.to_string()))?;
        Ok(AnnounceResponse {
            interval: self.announce_interval,
            min_interval: self.min_announce_interval,
            complete: outcome.counts.complete,
            incomplete: outcome.counts.incomplete,
            peers: outcome.peers,
        })
    }

    pub async fn scrape(&self, req: &ScrapeRequest) -> Result<ScrapeResponse, TrackerError> {
        let counts = self
            .storage
            .scrape(&req.info_hashes)
            .await
            .map_err(|e| TrackerError::Internal(e.to_string()))?;
        Ok(ScrapeResponse {
            files: req.info_hashes.iter().copied().zip(counts).collect(),
        })
    }

    /// The intervals, for error replies that should still make clients back off.
    pub fn intervals(&self) -> (u32, u32) {
        (self.announce_interval, self.min_announce_interval)
    }
}
