//! One generation of the configured hooks: built from the config, run for
//! each request, replaced as a whole on reload.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::TrackerError;
use super::approvals::{ApprovalList, Approvals, ListKind};
use super::hook::Hook;
use super::registry::{self, BuildError};
use crate::config::{Config, ConfigError, HookConfig};
use crate::protocol::{
    AnnounceRequest, AnnounceResponse, AnnounceSummary, Scrape, ScrapeRequest, ScrapeResponse,
};
use crate::storage::Storage;

/// The hooks and intervals in force. Built whole, so a request never sees
/// half of an old configuration and half of a new one.
pub struct Chain {
    announce_interval: u32,
    min_announce_interval: u32,
    prehooks: Vec<Arc<dyn Hook>>,
    posthooks: Vec<Arc<dyn Hook>>,
    /// Cancelled when this generation is replaced (or dropped): hooks'
    /// background tasks watch it.
    generation: CancellationToken,
    /// The runtime changes its approval hooks consult; the next generation
    /// is built with the same ones.
    approvals: Arc<Approvals>,
    /// Private tracking, when configured: its `before_*` run before every
    /// prehook and its `after_*` after them all. It holds the accounting
    /// state, so it is made once at start and handed to every generation.
    private: Option<Arc<dyn Hook>>,
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl Chain {
    /// The config's intervals and no hooks, whatever the config lists.
    pub fn without_hooks(config: &Config) -> Chain {
        Chain::from_hooks(config, Vec::new(), Vec::new())
    }

    /// Hooks built elsewhere (tests, embedders), with the config's intervals.
    pub fn from_hooks(
        config: &Config,
        prehooks: Vec<Arc<dyn Hook>>,
        posthooks: Vec<Arc<dyn Hook>>,
    ) -> Chain {
        Chain {
            announce_interval: secs(config.announce_interval),
            min_announce_interval: secs(config.min_announce_interval),
            prehooks,
            posthooks,
            generation: CancellationToken::new(),
            approvals: Arc::default(),
            private: None,
        }
    }

    /// This generation with private tracking in front (see the field).
    pub fn with_private(mut self, private: Option<Arc<dyn Hook>>) -> Chain {
        self.private = private;
        self
    }

    pub fn private(&self) -> Option<&Arc<dyn Hook>> {
        self.private.as_ref()
    }

    /// Builds every configured hook, in order. The first failure is an error
    /// naming the list, position and hook: `chihaya.prehooks[1] (client
    /// approval): whitelist and blacklist are both set`. Background tasks of
    /// the hooks stop when `parent` is cancelled, or this generation retires.
    /// The approval hooks consult `approvals` (pass the running tracker's
    /// [`Tracker::approvals`](super::Tracker::approvals) on reload, so runtime
    /// changes carry over).
    pub async fn build(
        config: &Config,
        parent: &CancellationToken,
        approvals: &Arc<Approvals>,
    ) -> Result<Chain, ConfigError> {
        let generation = parent.child_token();
        // Hooks built before a failing one must not leave tasks behind.
        let on_failure = generation.clone().drop_guard();
        let built = Built {
            generation: &generation,
            approvals,
        };
        let prehooks = build_list("prehooks", &config.prehooks, &built).await?;
        let posthooks = build_list("posthooks", &config.posthooks, &built).await?;
        on_failure.disarm();
        let mut chain = Chain::from_hooks(config, prehooks, posthooks);
        chain.generation = generation;
        chain.approvals = approvals.clone();
        Ok(chain)
    }

    pub fn approvals(&self) -> &Arc<Approvals> {
        &self.approvals
    }

    /// The lists of every approval hook of `kind`, named by their place in
    /// the config (`prehooks[0]`), for the admin API.
    pub fn approval_lists(&self, kind: ListKind) -> Vec<(String, ApprovalList)> {
        let lists = [("prehooks", &self.prehooks), ("posthooks", &self.posthooks)];
        lists
            .into_iter()
            .flat_map(|(name, hooks)| {
                hooks.iter().enumerate().filter_map(move |(i, hook)| {
                    let list = hook.approval_list().filter(|l| l.kind == kind)?;
                    Some((format!("{name}[{i}]"), list))
                })
            })
            .collect()
    }

    /// Checks every configured hook's options as [`Chain::build`] would and
    /// with the same errors, but builds nothing: no task is spawned and
    /// nothing is fetched, so `check-config` can run it anywhere.
    pub fn validate(config: &Config) -> Result<(), ConfigError> {
        for (list, configs) in [
            ("prehooks", &config.prehooks),
            ("posthooks", &config.posthooks),
        ] {
            for (i, hook) in configs.iter().enumerate() {
                registry::validate(&hook.name, &hook.options)
                    .map_err(|e| hook_error(list, i, hook, e))?;
            }
        }
        Ok(())
    }

    /// (`interval`, `min interval`) in seconds, before any hook varies them.
    pub fn intervals(&self) -> (u32, u32) {
        (self.announce_interval, self.min_announce_interval)
    }

    /// Names of the prehooks and posthooks, in order, for logs.
    pub fn names(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        let names = |hooks: &[Arc<dyn Hook>]| hooks.iter().map(|h| h.name()).collect();
        (names(&self.prehooks), names(&self.posthooks))
    }

    pub fn has_posthooks(&self) -> bool {
        !self.posthooks.is_empty()
    }

    /// No hook of any kind: an announce is the storage operation and this
    /// generation's intervals, nothing else (see [`Chain::bare_summary`]).
    pub fn is_bare(&self) -> bool {
        self.prehooks.is_empty() && self.private.is_none() && self.posthooks.is_empty()
    }

    /// What [`Chain::announce`] answers when the chain [`is_bare`](Chain::is_bare),
    /// but for the peers: the intervals and the swarm's `counts`.
    pub fn bare_summary(&self, counts: Scrape) -> AnnounceSummary {
        AnnounceSummary {
            interval: self.announce_interval,
            min_interval: self.min_announce_interval,
            complete: counts.complete,
            incomplete: counts.incomplete,
        }
    }

    /// The token this generation's hooks watch.
    #[cfg(test)]
    pub(crate) fn generation(&self) -> &CancellationToken {
        &self.generation
    }

    /// Stops this generation's background tasks (it has been replaced).
    pub fn retire(&self) {
        self.generation.cancel();
    }

    /// Every `before_announce`, the one storage operation, every
    /// `after_announce`. A rejection stops there: storage is not touched by
    /// a request a `before_announce` refused. Returns the request as the
    /// hooks left it (for the posthooks) with the reply.
    pub async fn announce<'r>(
        &self,
        storage: &Storage,
        req: &'r AnnounceRequest,
    ) -> Result<(Cow<'r, AnnounceRequest>, AnnounceResponse), TrackerError> {
        let mut req = Cow::Borrowed(req);
        let mut resp = AnnounceResponse {
            interval: self.announce_interval,
            min_interval: self.min_announce_interval,
            ..AnnounceResponse::default()
        };
        if self.private.is_some() || !self.prehooks.is_empty() {
            let req = req.to_mut();
            for hook in self.private.iter().chain(&self.prehooks) {
                hook.before_announce(req, &mut resp)?;
            }
        }
        let outcome = storage.announce(&req).await?;
        // Prehooks may have added peers or counts already; the swarm's come after.
        resp.complete = resp.complete.saturating_add(outcome.counts.complete);
        resp.incomplete = resp.incomplete.saturating_add(outcome.counts.incomplete);
        // Moved, not copied, when no prehook added peers (the usual case).
        if resp.peers.is_empty() {
            resp.peers = outcome.peers;
        } else {
            resp.peers.extend(outcome.peers);
        }
        for hook in self.prehooks.iter().chain(&self.private) {
            hook.after_announce(&req, &mut resp)?;
        }
        Ok((req, resp))
    }

    /// As [`Chain::announce`]. The reply has one entry per hash of the
    /// request as the `before_scrape` hooks left it.
    pub async fn scrape<'r>(
        &self,
        storage: &Storage,
        req: &'r ScrapeRequest,
    ) -> Result<(Cow<'r, ScrapeRequest>, ScrapeResponse), TrackerError> {
        let mut req = Cow::Borrowed(req);
        let mut resp = ScrapeResponse::default();
        if self.private.is_some() || !self.prehooks.is_empty() {
            let req = req.to_mut();
            for hook in self.private.iter().chain(&self.prehooks) {
                hook.before_scrape(req, &mut resp)?;
            }
        }
        let counts = storage.scrape(&req.info_hashes).await?;
        resp.files = req.info_hashes.iter().copied().zip(counts).collect();
        for hook in self.prehooks.iter().chain(&self.private) {
            hook.after_scrape(&req, &mut resp)?;
        }
        Ok((req, resp))
    }

    /// The posthooks, in order, on a copy of an answered announce. They
    /// cannot change what the client got; a refusal is only logged.
    pub fn announce_posthooks(&self, mut req: AnnounceRequest, mut resp: AnnounceResponse) {
        for hook in &self.posthooks {
            let ran = hook
                .before_announce(&mut req, &mut resp)
                .and_then(|()| hook.after_announce(&req, &mut resp));
            if let Err(e) = ran {
                tracing::debug!(hook = hook.name(), "posthook refused an announce: {e}");
            }
        }
    }

    /// As [`Chain::announce_posthooks`], for a scrape.
    pub fn scrape_posthooks(&self, mut req: ScrapeRequest, mut resp: ScrapeResponse) {
        for hook in &self.posthooks {
            let ran = hook
                .before_scrape(&mut req, &mut resp)
                .and_then(|()| hook.after_scrape(&req, &mut resp));
            if let Err(e) = ran {
                tracing::debug!(hook = hook.name(), "posthook refused a scrape: {e}");
            }
        }
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.generation.cancel();
    }
}

/// What every hook of one generation is built with.
struct Built<'a> {
    generation: &'a CancellationToken,
    approvals: &'a Arc<Approvals>,
}

async fn build_list(
    list: &str,
    configs: &[HookConfig],
    with: &Built<'_>,
) -> Result<Vec<Arc<dyn Hook>>, ConfigError> {
    let mut hooks = Vec::with_capacity(configs.len());
    for (i, hook) in configs.iter().enumerate() {
        let built =
            registry::build(&hook.name, &hook.options, with.generation, with.approvals).await;
        hooks.push(built.map_err(|e| hook_error(list, i, hook, e))?);
    }
    Ok(hooks)
}

/// Names the list, position and hook: `chihaya.prehooks[1] (client
/// approval): whitelist and blacklist are both set`.
fn hook_error(list: &str, i: usize, hook: &HookConfig, e: BuildError) -> ConfigError {
    match e {
        BuildError::Unknown => ConfigError(format!(
            "chihaya.{list}[{i}]: unknown hook {:?}; known hooks: {}",
            hook.name,
            registry::known_list()
        )),
        BuildError::Options(why) => {
            ConfigError(format!("chihaya.{list}[{i}] ({}): {why}", hook.name))
        }
    }
}
