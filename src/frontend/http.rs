//! The HTTP(S) frontend. Stub: the contract the server codes against.
use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::HttpConfig;
use crate::middleware::Tracker;

/// The bound HTTP and HTTPS listeners, not yet serving.
pub struct HttpFrontend {
    addrs: Vec<SocketAddr>,
}

impl HttpFrontend {
    /// Binds `addr` and `https_addr` (loading the TLS files); errors name the address or file.
    pub async fn bind(_config: &HttpConfig) -> anyhow::Result<Self> {
        Ok(HttpFrontend { addrs: Vec::new() })
    }

    /// Where it actually listens (useful when a port was 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Serves until `shutdown` fires, then stops accepting and returns once
    /// in-flight requests are answered.
    pub async fn serve(
        self,
        _tracker: Arc<Tracker>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        shutdown.cancelled().await;
        Ok(())
    }
}
