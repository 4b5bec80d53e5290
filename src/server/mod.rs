//! Wiring: config → storage → hook chain → tracker → frontends, reloads on
//! SIGUSR1 / SIGHUP, and a clean stop.
//!
//! [`run`] owns every long-running task of the tracker. They all watch one
//! cancellation token; when it fires (a signal, or a frontend that died),
//! frontends stop accepting and finish what is in flight, maintenance stops,
//! and `run` returns within [`SHUTDOWN_GRACE`] no matter what a task does.

mod frontends;
pub mod gc;
pub mod limits;
pub mod reload;
pub mod signals;
mod snapshot;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::metrics;
use crate::middleware::{Chain, Tracker};
use crate::ops::{Ops, OpsServer};
use crate::private::service::Private;
use crate::storage::Storage;

use gc::GcTotals;
pub use reload::ConfigSource;
use signals::ReloadSignals;

/// How long in-flight requests get to finish once shutdown starts. Clients
/// retry announces, so a slow straggler is cut off rather than waited for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Runs the tracker until `shutdown` is cancelled (or a frontend fails).
/// `config` was read from `source`, which a reload reads again.
///
/// Returns an error if a hook refuses its options (the message names the
/// hook), if a frontend cannot bind (it names the address) or stops on its
/// own; `Ok` after an orderly shutdown.
pub async fn run(
    config: Config,
    source: ConfigSource,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let started = Instant::now();
    info!(version = env!("CARGO_PKG_VERSION"), "chihaya starting");
    limits::raise_open_files_and_log();
    // First, so a reload signal during start-up does not kill the process.
    let reloads = ReloadSignals::install()
        .map_err(|e| anyhow!("cannot install the reload signal handlers: {e}"))?;
    // A child token, so a failing frontend can stop the others without
    // pretending the caller asked for shutdown.
    let stop = shutdown.child_token();
    let chain = Chain::build(&config, &stop, &Default::default()).await?;
    log_hooks(&chain);
    let storage = Arc::new(Storage::open(&config.storage).await?);
    snapshot::restore(&storage).await;
    // Before the frontends bind: a private tracker does not answer until it
    // knows its users, and it has replayed its journal.
    let private = match &config.private {
        Some(p) => Some(Private::start(p, config.storage.peer_lifetime(), &stop).await?),
        None => None,
    };
    if let Some(p) = &private {
        metrics::global().show_private(p.state.clone());
    }
    let chain = chain.with_private(private.as_ref().map(Private::chain_hook));
    let tracker = Arc::new(Tracker::with_chain(chain, storage.clone()));
    let frontends = frontends::bind_all(&config).await?;
    if frontends.is_empty() {
        return Err(anyhow!(
            "no frontend configured: add an `http:` or `udp:` section under `chihaya:`"
        ));
    }

    let ops = bind_ops(&config).await?;

    let mut serving = JoinSet::new();
    for frontend in frontends {
        for addr in frontend.local_addrs() {
            info!(frontend = frontend.name(), %addr, "listening");
        }
        serving.spawn(frontend.serve(tracker.clone(), stop.clone()));
    }
    let collector = Arc::new(gc::Collector::new(
        storage.clone(),
        config.storage.peer_lifetime(),
    ));
    let admin = admin_api(&config, &tracker, &collector)?
        .map(|a| a.with_private(private.as_ref().map(|p| p.state.clone())));
    let ops = ops.map(|server| {
        info!(addr = %server.local_addr(), "ops server listening (metrics, stats, health)");
        let state = Ops::new(storage.clone(), metrics::global()).with_admin(admin);
        tokio::spawn(server.serve(Arc::new(state), stop.clone()))
    });
    let gc = tokio::spawn(gc::run(
        collector,
        config.storage.gc_interval(),
        stop.clone(),
    ));
    let stats = tokio::spawn(stats::run(
        storage.clone(),
        config.storage.prometheus_reporting_interval(),
        stop.clone(),
    ));

    let reloading = tokio::spawn(reload::run(
        reloads,
        source,
        config.clone(),
        tracker.clone(),
        stop.clone(),
    ));

    let failure = first_failure(&mut serving, &stop).await;
    stop.cancel();
    info!("shutting down: no new requests, finishing those in flight");
    reloading.abort();
    let gc_totals = drain(serving, gc, stats).await;
    // The frontends are done: the last announce is in the last batch.
    if let Some(p) = private {
        p.finish().await;
    }
    snapshot::save(&storage).await;
    if let Some(ops) = ops
        && tokio::time::timeout(SHUTDOWN_GRACE, ops).await.is_err()
    {
        warn!("ops server did not stop in time");
    }
    summarize(&storage, started, gc_totals).await;
    failure.map_or(Ok(()), Err)
}

/// Binds `metrics_addr` before anything serves, like the frontends, so a port
/// in use stops the start-up; `None` when it is empty (off).
async fn bind_ops(config: &Config) -> anyhow::Result<Option<OpsServer>> {
    match config.metrics_socket_addr()? {
        Some(addr) => Ok(Some(OpsServer::bind(addr).await?)),
        None => Ok(None),
    }
}

/// The admin API when a token is configured; it is served by the ops
/// server, so without `metrics_addr` it is off whatever the token says.
fn admin_api(
    config: &Config,
    tracker: &Arc<Tracker>,
    collector: &Arc<gc::Collector>,
) -> anyhow::Result<Option<crate::ops::api::Admin>> {
    let Some(token) = config.admin_token()? else {
        return Ok(None);
    };
    if config.metrics_socket_addr()?.is_none() {
        warn!("admin_token is set but metrics_addr is empty: the admin API is off");
        return Ok(None);
    }
    info!("admin API enabled under /api/ on metrics_addr");
    Ok(Some(crate::ops::api::Admin::new(
        &token,
        tracker.clone(),
        collector.clone(),
    )))
}

fn log_hooks(chain: &Chain) {
    let (prehooks, posthooks) = chain.names();
    if !prehooks.is_empty() || !posthooks.is_empty() {
        info!(?prehooks, ?posthooks, "hooks ready");
    }
}

/// Waits for shutdown, or for a frontend to stop by itself (which is a failure:
/// they only return early when their socket broke).
async fn first_failure(
    serving: &mut JoinSet<Served>,
    stop: &CancellationToken,
) -> Option<anyhow::Error> {
    tokio::select! {
        biased;
        _ = stop.cancelled() => None,
        Some(done) = serving.join_next() => {
            // It may have returned because shutdown began in the meantime.
            if stop.is_cancelled() {
                report_stopped(done);
                return None;
            }
            Some(match done {
                Ok((name, Ok(()))) => anyhow!("the {name} frontend stopped unexpectedly"),
                Ok((name, Err(e))) => e.context(format!("the {name} frontend failed")),
                Err(e) => anyhow!(e).context("a frontend task panicked"),
            })
        }
    }
}

/// A frontend task's end: its name and how its serving ended.
type Served = (&'static str, anyhow::Result<()>);

fn report_stopped(done: Result<Served, tokio::task::JoinError>) {
    match done {
        Ok((name, Ok(()))) => info!(frontend = name, "frontend stopped"),
        Ok((name, Err(e))) => warn!(frontend = name, "frontend stopped with an error: {e:#}"),
        Err(e) => warn!("a frontend task failed: {e}"),
    }
}

/// Waits, bounded by [`SHUTDOWN_GRACE`], for every task; aborts stragglers.
async fn drain(
    mut serving: JoinSet<Served>,
    gc: tokio::task::JoinHandle<GcTotals>,
    stats: tokio::task::JoinHandle<()>,
) -> GcTotals {
    let frontends_done = async {
        while let Some(done) = serving.join_next().await {
            report_stopped(done);
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, frontends_done)
        .await
        .is_err()
    {
        warn!(
            "frontends did not finish within {SHUTDOWN_GRACE:?}; dropping their remaining requests"
        );
        serving.abort_all();
    }
    stats.abort();
    match tokio::time::timeout(Duration::from_secs(1), gc).await {
        Ok(Ok(totals)) => totals,
        _ => {
            warn!("garbage collector did not stop in time");
            GcTotals::default()
        }
    }
}

/// One line an operator can read after the fact: how long, how big, how much swept.
async fn summarize(storage: &Storage, started: Instant, gc: GcTotals) {
    let uptime = started.elapsed().as_secs();
    match storage.stats().await {
        Ok(s) => info!(
            uptime_secs = uptime,
            torrents = s.torrents,
            seeders = s.seeders,
            leechers = s.leechers,
            gc_runs = gc.runs,
            gc_peers_removed = gc.peers_removed,
            gc_swarms_removed = gc.swarms_removed,
            "tracker stopped"
        ),
        Err(e) => warn!(
            uptime_secs = uptime,
            "tracker stopped; final storage stats unavailable: {e}"
        ),
    }
}

#[cfg(test)]
mod tests;
