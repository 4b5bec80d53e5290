//! The operations server on `metrics_addr`: Prometheus metrics, JSON stats,
//! a stats page, and health checks, apart from the tracker's own ports so it
//! can be firewalled off from the public.
//!
//! - `GET /metrics`: everything in [`crate::metrics`], for Prometheus;
//! - `GET /stats`, `GET /stats/history`: JSON (see [`stats`], [`history`]);
//! - `GET /`: a page that draws the two above, refreshing by itself;
//! - `GET /healthz` (the process answers) and `GET /readyz` (storage answers);
//! - `/api/...`: the admin API ([`api`]), when a token is configured.

pub mod api;
mod history;
mod routes;
mod sampler;
mod stats;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::storage::Storage;
use history::History;

/// Slow or idle clients of the ops port are cut off after this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// In-flight ops requests get this long once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// What every ops request reads.
pub struct Ops {
    storage: Arc<Storage>,
    metrics: &'static Metrics,
    history: Mutex<History>,
    started: Instant,
    /// Unix time of `started`, seconds.
    started_at: u64,
    /// `None`: no token configured, the API is off.
    admin: Option<api::Admin>,
}

impl Ops {
    pub fn new(storage: Arc<Storage>, metrics: &'static Metrics) -> Self {
        Ops {
            storage,
            metrics,
            history: Mutex::new(History::default()),
            started: Instant::now(),
            started_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            admin: None,
        }
    }

    /// Serves the admin API under `/api/` too.
    pub fn with_admin(self, admin: Option<api::Admin>) -> Self {
        Ops { admin, ..self }
    }
}

/// The bound ops listener, not yet serving.
pub struct OpsServer {
    listener: TcpListener,
    addr: SocketAddr,
}

impl OpsServer {
    /// Binds `addr`; the error names it and the config key.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("chihaya.metrics_addr: cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        Ok(OpsServer { listener, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves, and samples for the rates and history, until `stop`.
    pub async fn serve(self, ops: Arc<Ops>, stop: CancellationToken) {
        let sampling = tokio::spawn(sampler::run(ops.clone(), stop.clone()));
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(connection(stream, ops.clone(), stop.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(addr = %self.addr, error = %e, "ops accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(self.listener);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            connections.shutdown().await;
        }
        let _ = sampling.await;
        tracing::info!(addr = %self.addr, "ops server stopped");
    }
}

async fn connection(stream: tokio::net::TcpStream, ops: Arc<Ops>, stop: CancellationToken) {
    let service = service_fn(move |request| {
        let ops = ops.clone();
        async move { Ok::<_, Infallible>(routes::respond(&ops, request).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::debug!(error = %e, "ops connection ended with an error");
    }
}
