//! The UDP frontend. Stub: the contract the server codes against.
use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::UdpConfig;
use crate::middleware::Tracker;

/// The bound UDP socket, not yet serving.
pub struct UdpFrontend {
    addrs: Vec<SocketAddr>,
}

impl UdpFrontend {
    /// Binds `addr` (dual-stack for `[::]`); an empty private_key is warned about and replaced by a random one.
    pub async fn bind(_config: &UdpConfig) -> anyhow::Result<Self> {
        Ok(UdpFrontend { addrs: Vec::new() })
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
