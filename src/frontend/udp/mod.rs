//! The UDP frontend (BEP 15, BEP 41): one socket, several receive tasks.
//!
//! Each task owns its receive and reply buffers and answers one datagram at a
//! time, so the hot path allocates only what the request itself needs; several
//! tasks share the socket so one slow request never holds up the others.
//!
//! Nothing but a well-formed connect is answered before the sender has proven
//! its address with a connection ID (see [`connection_id`]): a tracker that
//! answered spoofed packets would be a traffic amplifier.

pub mod connection_id;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{SwarmConfig, UdpConfig};
use crate::metrics::{self, Action, Answered, Frontend, Reason, reasons};
use crate::middleware::{Tracker, TrackerError};
use crate::protocol::canonical_ip;
use crate::protocol::udp::{self, Family, Limits, Request};
use connection_id::{ConnectionIds, unix_now};

/// Asked of the kernel for each direction; it may grant less (net.core.rmem_max).
const SOCKET_BUFFER_BYTES: usize = 8 << 20;
/// Large enough for any datagram, so nothing is ever silently truncated.
const RECV_BUFFER_BYTES: usize = 65_536;

/// The bound UDP socket, not yet serving.
pub struct UdpFrontend {
    socket: Arc<UdpSocket>,
    addr: SocketAddr,
    ids: ConnectionIds,
    limits: Limits,
    request_timing: bool,
}

impl UdpFrontend {
    /// Binds `addr` (dual-stack for `[::]`); an empty private_key is warned about and replaced by a random one.
    pub async fn bind(config: &UdpConfig) -> anyhow::Result<Self> {
        let addr = config
            .addr
            .context("udp.addr is not set: nowhere to listen")?;
        let socket = bind_socket(addr).with_context(|| format!("udp: cannot bind {addr}"))?;
        let addr = socket
            .local_addr()
            .context("udp: bound socket has no address")?;
        Ok(UdpFrontend {
            socket: Arc::new(socket),
            addr,
            ids: ConnectionIds::new(
                &config.private_key,
                config.connection_id_lifetime,
                config.max_clock_skew,
            ),
            limits: Limits::from(config),
            request_timing: config.enable_request_timing,
        })
    }

    /// Announces are parsed under `swarm` (port 0 may be a query; the
    /// selection each starts with) instead of plain BitTorrent's rules.
    pub fn with_swarm(self, swarm: SwarmConfig) -> Self {
        UdpFrontend {
            limits: self.limits.with_swarm(swarm),
            ..self
        }
    }

    /// Where it actually listens (useful when a port was 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        vec![self.addr]
    }

    /// Serves until `shutdown` fires, then stops accepting and returns once
    /// in-flight requests are answered.
    pub async fn serve(
        self,
        tracker: Arc<Tracker>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let workers = receive_tasks();
        // The server logs the address at info; this adds only the worker count.
        tracing::debug!(addr = %self.addr, workers, "udp frontend serving");
        let shared = Arc::new(Shared {
            socket: self.socket,
            tracker,
            ids: self.ids,
            limits: self.limits,
            request_timing: self.request_timing,
            dropped: AtomicU64::new(0),
        });
        let tasks = TaskTracker::new();
        for _ in 0..workers {
            tasks.spawn(Arc::clone(&shared).receive_loop(shutdown.clone()));
        }
        tasks.close();
        tasks.wait().await;
        tracing::info!(
            addr = %self.addr,
            dropped = shared.dropped.load(Ordering::Relaxed),
            "udp frontend stopped"
        );
        Ok(())
    }
}

/// One per core, but at least two, so a slow storage call never stalls the socket.
fn receive_tasks() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

/// A non-blocking socket; `[::]` (and any IPv6 address) also takes IPv4
/// traffic, arriving as IPv4-mapped addresses.
fn bind_socket(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    for (what, result) in [
        (
            "SO_RCVBUF",
            socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES),
        ),
        (
            "SO_SNDBUF",
            socket.set_send_buffer_size(SOCKET_BUFFER_BYTES),
        ),
    ] {
        if let Err(e) = result {
            tracing::warn!(%addr, "udp: cannot set {what}: {e}");
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(UdpSocket::from_std(socket.into())?)
}

/// What every receive task shares.
struct Shared {
    socket: Arc<UdpSocket>,
    tracker: Arc<Tracker>,
    ids: ConnectionIds,
    limits: Limits,
    request_timing: bool,
    /// Packets not answered for want of a valid connection ID (or any header).
    dropped: AtomicU64,
}

impl Shared {
    /// Receives until `shutdown`; a request already received is answered first.
    async fn receive_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut packet = vec![0u8; RECV_BUFFER_BYTES];
        let mut reply = Vec::with_capacity(2048);
        loop {
            let received = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                r = self.socket.recv_from(&mut packet) => r,
            };
            let (len, from) = match received {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("udp: receive failed: {e}");
                    continue;
                }
            };
            let started = Instant::now();
            let answered = self.answer(&packet[..len], from, &mut reply).await;
            record(answered, from, started, len, reply.len());
            if !reply.is_empty()
                && let Err(e) = self.socket.send_to(&reply, from).await
            {
                tracing::debug!(%from, "udp: send failed: {e}");
            }
            if self.request_timing {
                tracing::debug!(%from, elapsed = ?started.elapsed(), "udp request");
            }
        }
    }

    /// Leaves the reply in `reply`, or `reply` empty when nothing may be
    /// answered; returns what was answered, for the metrics.
    async fn answer(
        &self,
        packet: &[u8],
        from: SocketAddr,
        reply: &mut Vec<u8>,
    ) -> Option<(Action, Reason)> {
        reply.clear();
        let ip = canonical_ip(from.ip());
        let now = unix_now();
        match udp::parse_request(packet, &self.limits) {
            Ok(Request::Connect(c)) => {
                udp::write_connect(reply, c.transaction_id, self.ids.issue(ip, now));
                Some((Action::Connect, reasons::NONE))
            }
            Ok(Request::Announce(a)) if self.authentic(a.connection_id, ip, now, from) => {
                let txid = a.transaction_id;
                let req = a.into_request(ip, &self.limits);
                let reason = match self.tracker.announce(&req).await {
                    Ok(resp) => {
                        udp::write_announce(reply, txid, &resp, Family::of(req.ip));
                        reasons::NONE
                    }
                    Err(e) => write_failure(reply, txid, &e),
                };
                Some((Action::Announce, reason))
            }
            Ok(Request::Scrape(s)) if self.authentic(s.connection_id, ip, now, from) => {
                let txid = s.transaction_id;
                let reason = match self.tracker.scrape(&s.into_request(ip)).await {
                    Ok(resp) => {
                        udp::write_scrape(reply, txid, &resp);
                        reasons::NONE
                    }
                    Err(e) => write_failure(reply, txid, &e),
                };
                Some((Action::Scrape, reason))
            }
            // An announce or scrape whose connection ID failed; `authentic` counted it.
            Ok(_) => None,
            Err(e) => match e.reply_to() {
                Some(h) => {
                    if !self.authentic(h.connection_id, ip, now, from) {
                        return None;
                    }
                    udp::write_error(reply, h.transaction_id, &e.error.0);
                    let action = match h.action {
                        udp::ACTION_SCRAPE => Action::Scrape,
                        _ => Action::Announce,
                    };
                    Some((action, metrics::global().reason(&e.error.into())))
                }
                None => {
                    self.count_drop(from, "short packet or malformed connect");
                    None
                }
            },
        }
    }

    fn authentic(&self, id: u64, ip: IpAddr, now: u32, from: SocketAddr) -> bool {
        let ok = self.ids.verify(id, ip, now);
        if !ok {
            self.count_drop(from, "invalid connection id");
        }
        ok
    }

    fn count_drop(&self, from: SocketAddr, why: &str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(%from, dropped, "udp: not answered: {why}");
    }
}

/// Client errors go back verbatim; internal ones are logged and hidden.
/// Returns the failure's metrics label.
fn write_failure(reply: &mut Vec<u8>, transaction_id: u32, e: &TrackerError) -> Reason {
    if let TrackerError::Internal(detail) = e {
        tracing::warn!("udp: request failed: {detail}");
    }
    udp::write_error(reply, transaction_id, e.client_message());
    metrics::global().reason(e)
}

/// One call into the metrics per datagram: bytes always, the request when one was answered.
fn record(
    answered: Option<(Action, Reason)>,
    from: SocketAddr,
    started: Instant,
    received: usize,
    sent: usize,
) {
    let metrics = metrics::global();
    metrics
        .requests()
        .add_bytes(Frontend::Udp, received as u64, sent as u64);
    if let Some((action, reason)) = answered {
        metrics.record(Answered {
            frontend: Frontend::Udp,
            action,
            family: metrics::Family::of(from.ip()),
            reason,
            micros: started.elapsed().as_micros() as u64,
        });
    }
}
