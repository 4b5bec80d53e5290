//! The configured frontends behind one type, so the server starts and stops
//! them the same way whatever protocol they speak.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::frontend::http::HttpFrontend;
use crate::frontend::udp::UdpFrontend;
use crate::middleware::Tracker;

/// A bound frontend, not yet serving.
pub enum Frontend {
    Http(HttpFrontend),
    Udp(UdpFrontend),
}

/// Binds every configured frontend before any serves, so a port already in
/// use stops the start-up before a single request is answered.
pub async fn bind_all(config: &Config) -> anyhow::Result<Vec<Frontend>> {
    let mut bound = Vec::new();
    if let Some(http) = &config.http {
        let addrs = [http.addr, http.https_addr];
        let frontend = HttpFrontend::bind(http)
            .await
            .with_context(|| bind_failure("HTTP", &addrs))?;
        bound.push(Frontend::Http(frontend.with_swarm(config.swarm)));
    }
    if let Some(udp) = &config.udp {
        let frontend = UdpFrontend::bind(udp)
            .await
            .with_context(|| bind_failure("UDP", &[udp.addr]))?;
        bound.push(Frontend::Udp(frontend.with_swarm(config.swarm)));
    }
    Ok(bound)
}

/// The frontend's own error says why; this says which listener.
fn bind_failure(name: &str, addrs: &[Option<SocketAddr>]) -> String {
    let addrs: Vec<String> = addrs.iter().flatten().map(|a| a.to_string()).collect();
    format!(
        "cannot start the {name} frontend on {}",
        addrs.join(" and ")
    )
}

impl Frontend {
    pub fn name(&self) -> &'static str {
        match self {
            Frontend::Http(_) => "http",
            Frontend::Udp(_) => "udp",
        }
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        match self {
            Frontend::Http(f) => f.local_addrs(),
            Frontend::Udp(f) => f.local_addrs(),
        }
    }

    /// Serves until `stop` fires; the result carries the name for the logs.
    pub async fn serve(
        self,
        tracker: Arc<Tracker>,
        stop: CancellationToken,
    ) -> (&'static str, anyhow::Result<()>) {
        let name = self.name();
        let result = match self {
            Frontend::Http(f) => f.serve(tracker, stop).await,
            Frontend::Udp(f) => f.serve(tracker, stop).await,
        };
        (name, result)
    }
}
