//! The hook chain between the frontends and the swarm.
//!
//! Frontends hand a parsed request to [`Tracker`]; it runs the current
//! [`Chain`]: every prehook's `before_*`, the one storage operation, every
//! prehook's `after_*`, and hands the reply back; posthooks then run on a copy
//! in a task of their own. Hooks are configured by name (`prehooks:` /
//! `posthooks:`), built by [`registry`], and live one per file beside this one.
//! A reload builds a whole new chain and swaps it in.

pub mod approvals;
pub mod chain;
pub mod client_approval;
pub mod fixed_peers;
pub mod hook;
pub mod interval_variation;
pub mod jwt;
mod options;
pub mod posthooks;
pub mod prefer_subnet;
pub mod registry;
pub mod torrent_approval;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::protocol::{
    AnnounceRequest, AnnounceResponse, AnnounceSummary, ClientError, InfoHash, PeerSink,
    ScrapeRequest, ScrapeResponse,
};
use crate::storage::{Storage, StorageError};

pub use chain::Chain;
use posthooks::Posthooks;

/// Why a request got no normal answer.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The client's fault; the text goes back to it.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Ours; the client sees a generic message and the operator a log line.
    #[error("internal error: {0}")]
    Internal(String),
    /// The storage backend failed (e.g. Redis unreachable). The engine logs
    /// the outage once; frontends do not log it per request.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl TrackerError {
    /// What the client is told.
    pub fn client_message(&self) -> &str {
        match self {
            TrackerError::Client(e) => &e.0,
            TrackerError::Internal(_) => "internal server error",
            TrackerError::Storage(_) => "storage unavailable, try again later",
        }
    }
}

/// The protocol-agnostic tracker: what every frontend calls.
///
/// The chain sits behind an [`ArcSwap`], so every request reads the current
/// generation without a lock and a reload swaps in a new one while requests
/// in flight finish on the old.
pub struct Tracker {
    storage: Arc<Storage>,
    chain: ArcSwap<Chain>,
    posthooks: Posthooks,
}

impl Tracker {
    /// The config's intervals and no hooks: what the frontends' own tests
    /// need. The server builds the configured hooks with [`Chain::build`]
    /// and uses [`Tracker::with_chain`].
    pub fn new(config: &Config, storage: Arc<Storage>) -> Self {
        Tracker::with_chain(Chain::without_hooks(config), storage)
    }

    pub fn with_chain(chain: Chain, storage: Arc<Storage>) -> Self {
        Tracker {
            storage,
            chain: ArcSwap::from_pointee(chain),
            posthooks: Posthooks::new(posthooks::MAX_PENDING),
        }
    }

    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Puts `chain` in force for every request from now on; the old
    /// generation's background tasks are told to stop. Swarms are untouched.
    /// Private tracking, if any, carries over to the new generation.
    pub fn replace_chain(&self, chain: Chain) {
        let private = self.chain.load().private().cloned();
        let chain = match chain.private() {
            Some(_) => chain,
            None => chain.with_private(private),
        };
        let old = self.chain.swap(Arc::new(chain));
        old.retire();
    }

    /// The admin API's runtime changes to the approval lists: the same for
    /// every generation, so they survive a reload (see [`approvals`]).
    pub fn approvals(&self) -> Arc<approvals::Approvals> {
        self.chain.load().approvals().clone()
    }

    /// The generation in force, e.g. to log its hooks.
    pub fn chain(&self) -> Arc<Chain> {
        self.chain.load_full()
    }

    pub async fn announce(&self, req: &AnnounceRequest) -> Result<AnnounceResponse, TrackerError> {
        self.announce_on(self.chain.load_full(), req).await
    }

    /// [`Tracker::announce`] on the generation `chain` (already loaded by
    /// the caller).
    async fn announce_on(
        &self,
        chain: Arc<Chain>,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        let (req, resp) = chain.announce(&self.storage, req).await?;
        if chain.has_posthooks() {
            let (req, copy) = (req.into_owned(), resp.clone());
            self.posthooks
                .spawn(move || chain.announce_posthooks(req, copy));
        }
        Ok(resp)
    }

    /// As [`Tracker::announce`], the peers handed to `sink` and the rest
    /// returned. With no hook in the chain (the common public tracker)
    /// nothing needs the peers as a list, so storage hands them to `sink`
    /// directly and stamps the announcer as seen at `received` (the
    /// frontend's one clock reading for the batch the request came in, see
    /// [`Storage::announce_into`]); otherwise the hooks run as always, the
    /// announce is stamped when storage gets it, and the final list goes to
    /// `sink`.
    pub async fn announce_into(
        &self,
        req: &AnnounceRequest,
        received: SystemTime,
        sink: &mut impl PeerSink,
    ) -> Result<AnnounceSummary, TrackerError> {
        let chain = self.chain.load_full();
        if chain.is_bare() {
            let counts = self.storage.announce_into(req, received, sink).await?;
            return Ok(chain.bare_summary(counts));
        }
        let resp = self.announce_on(chain, req).await?;
        sink.reserve(resp.peers.len());
        for peer in &resp.peers {
            sink.peer(peer);
        }
        Ok(resp.summary())
    }

    /// Tells storage which torrents a batch of requests is about, before
    /// the batch is served (see [`Storage::prefetch`]).
    pub fn prefetch(&self, hashes: &[InfoHash]) {
        self.storage.prefetch(hashes);
    }

    pub async fn scrape(&self, req: &ScrapeRequest) -> Result<ScrapeResponse, TrackerError> {
        let chain = self.chain.load_full();
        let (req, resp) = chain.scrape(&self.storage, req).await?;
        if chain.has_posthooks() {
            let (req, copy) = (req.into_owned(), resp.clone());
            self.posthooks
                .spawn(move || chain.scrape_posthooks(req, copy));
        }
        Ok(resp)
    }

    /// The intervals, for error replies that should still make clients back off.
    pub fn intervals(&self) -> (u32, u32) {
        self.chain.load().intervals()
    }

    /// Requests whose posthooks were dropped because posthooks fell behind.
    pub fn posthooks_dropped(&self) -> u64 {
        self.posthooks.dropped()
    }
}
