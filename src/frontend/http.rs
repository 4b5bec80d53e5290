//! The HTTP(S) frontend: sockets, TLS and hyper. The protocol itself is in
//! [`crate::protocol::http`]; the per-request work (routing, client address,
//! failure replies) is in the `handler` module, the timeouts in `deadline`,
//! the cap on open connections in `admission`.
//!
//! Each listener runs an accept loop; each connection is one task. On
//! shutdown the loops stop accepting, open connections finish the request
//! they are on (hyper's graceful shutdown) and anything still open after a
//! grace period is dropped.
//!
//! `read_timeout`, `write_timeout` and `idle_timeout` are enforced on the
//! byte stream (see `deadline`) rather than with hyper's
//! `header_read_timeout`, which also runs while a keep-alive connection is
//! idle and would cut every idle connection at `read_timeout`.

mod admission;
mod deadline;
mod handler;
mod router;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use self::admission::Admission;
use self::deadline::{Deadlines, Timeouts};
use self::handler::Handler;
use crate::config::{HttpConfig, SwarmConfig};
use crate::metrics::{self, Frontend, io::Counted, io::OpenConnection};
use crate::middleware::Tracker;
use crate::protocol::canonical_ip;

/// The most a request line plus headers may take. Announces are a few hundred
/// bytes and a 50-hash scrape under 4 KiB; 8 KiB is also hyper's minimum.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// How long in-flight requests get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Kernel backlog of not-yet-accepted connections.
const LISTEN_BACKLOG: i32 = 1024;

/// The bound HTTP and HTTPS listeners, not yet serving.
pub struct HttpFrontend {
    listeners: Vec<Listener>,
    config: HttpConfig,
    swarm: SwarmConfig,
}

struct Listener {
    tcp: TcpListener,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
}

/// What every connection of a frontend is served with.
#[derive(Clone, Copy)]
struct ConnectionSettings {
    timeouts: Timeouts,
    keepalive: bool,
}

impl HttpFrontend {
    /// Binds `addr` and `https_addr` (loading the TLS files); errors name the address or file.
    pub async fn bind(config: &HttpConfig) -> anyhow::Result<Self> {
        handler::real_ip_header(config)?;
        let mut listeners = Vec::new();
        if let Some(addr) = config.addr {
            listeners.push(Listener::bind(addr, None)?);
        }
        if let Some(addr) = config.https_addr {
            let tls = tls::acceptor(&config.tls_cert_path, &config.tls_key_path)?;
            listeners.push(Listener::bind(addr, Some(tls))?);
        }
        Ok(HttpFrontend {
            listeners,
            config: config.clone(),
            swarm: SwarmConfig::DEFAULT,
        })
    }

    /// Announces are parsed under `swarm` (which ports are valid, the
    /// selection each starts with) instead of plain BitTorrent's rules.
    pub fn with_swarm(self, swarm: SwarmConfig) -> Self {
        HttpFrontend { swarm, ..self }
    }

    /// Where it actually listens (useful when a port was 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr).collect()
    }

    /// Serves until `shutdown` fires, then stops accepting and returns once
    /// in-flight requests are answered.
    pub async fn serve(
        self,
        tracker: Arc<Tracker>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let handler = Arc::new(Handler::new(&self.config, self.swarm, tracker)?);
        let settings = ConnectionSettings {
            timeouts: Timeouts {
                read: self.config.read_timeout,
                write: self.config.write_timeout,
                idle: self.config.idle_timeout,
            },
            keepalive: self.config.enable_keepalive,
        };
        let admission = Admission::new(self.config.max_connections);
        let mut loops = JoinSet::new();
        for listener in self.listeners {
            // The server logs each address at info, naming the frontend; this
            // adds only whether it speaks TLS.
            tracing::debug!(addr = %listener.addr, tls = listener.tls.is_some(), "http frontend listening");
            let accepting = listener.accept_loop(
                handler.clone(),
                settings,
                admission.clone(),
                shutdown.clone(),
            );
            loops.spawn(accepting);
        }
        while let Some(done) = loops.join_next().await {
            done.context("http accept loop panicked")?;
        }
        tracing::info!(
            refused_connections = admission.refused(),
            "http frontend served its last connection"
        );
        Ok(())
    }
}

impl Listener {
    /// Binds with socket2 so `[::]` also takes IPv4 (dual-stack, whatever the
    /// system default) and a restart can rebind while old connections linger.
    fn bind(addr: SocketAddr, tls: Option<TlsAcceptor>) -> anyhow::Result<Self> {
        let tcp = listen(addr).with_context(|| format!("cannot listen for HTTP on {addr}"))?;
        let addr = tcp.local_addr()?;
        Ok(Listener { tcp, addr, tls })
    }

    async fn accept_loop(
        self,
        handler: Arc<Handler>,
        settings: ConnectionSettings,
        admission: Admission,
        shutdown: CancellationToken,
    ) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        // Over the cap: closed here, before any task or buffer exists for it.
                        let Some(slot) = admission.admit(&stream) else { continue };
                        let tls = self.tls.clone();
                        let conn = connection(stream, peer, tls, handler.clone(), settings, shutdown.clone());
                        connections.spawn(async move {
                            conn.await;
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!(addr = %self.addr, error = %e, "http accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(self.tcp);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(addr = %self.addr, open = connections.len(), "closing http connections still open after the grace period");
            connections.shutdown().await;
        }
        tracing::info!(addr = %self.addr, "http frontend stopped");
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    // Replies are one small write; don't let Nagle hold them back. Linux
    // hands this to every accepted socket, which saves a system call per
    // connection (see `connection` for other systems).
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// One accepted connection: the TLS handshake if any (bounded by the read
/// timeout), then HTTP/1.1 until the client, a deadline or shutdown ends it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    handler: Arc<Handler>,
    settings: ConnectionSettings,
    shutdown: CancellationToken,
) {
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux only.
    #[cfg(not(target_os = "linux"))]
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve_http(stream, peer, handler, settings, shutdown).await;
    };
    match tokio::time::timeout(settings.timeouts.read, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_http(stream, peer, handler, settings, shutdown).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "tls handshake failed"),
        Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
    }
}

async fn serve_http<IO>(
    io: IO,
    peer: SocketAddr,
    handler: Arc<Handler>,
    settings: ConnectionSettings,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer_ip = canonical_ip(peer.ip());
    let requests = metrics::global().requests();
    let _open = OpenConnection::new(requests.clone());
    let service = service_fn(move |request: Request<Incoming>| {
        let handler = handler.clone();
        async move {
            if !handler::method_allowed(request.method()) {
                return Ok::<_, Infallible>(handler::method_not_allowed());
            }
            let response = handler
                .respond(request.uri(), request.headers(), peer_ip)
                .await;
            Ok(response)
        }
    });
    let io = Counted::new(io, requests.clone(), Frontend::Http);
    let io = TokioIo::new(Deadlines::new(io, settings.timeouts));
    let conn = http1::Builder::new()
        .keep_alive(settings.keepalive)
        .max_buf_size(MAX_REQUEST_BYTES)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "http connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nagle's delay would hold a reply back until the client's delayed ACK:
    /// every accepted connection must come out with TCP_NODELAY set.
    #[tokio::test]
    async fn accepted_connections_have_nodelay() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (stream, _) = accepted.unwrap();
        assert!(stream.nodelay().unwrap());
        drop(client);
    }
}
