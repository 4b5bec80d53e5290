//! The UDP frontend (BEP 15, BEP 41): one socket per core, each served by a
//! thread of its own that reads and answers datagrams by the batch.
//!
//! A worker thread blocks in `recvmmsg` on its socket, answers every
//! datagram of the batch, and sends the replies with one `sendmmsg` (see
//! [`worker`] and [`batch`]). With more than one core the sockets share the
//! port through `SO_REUSEPORT` and the kernel spreads clients over them;
//! pinned to one core there is one socket and one thread, and nothing to
//! hand datagrams between. All buffers belong to a worker and are reused, so
//! the hot path allocates only what the request itself needs.
//!
//! Nothing but a well-formed connect is answered before the sender has proven
//! its address with a connection ID (see [`connection_id`]): a tracker that
//! answered spoofed packets would be a traffic amplifier.

mod batch;
pub mod connection_id;
mod worker;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;

use crate::config::{SwarmConfig, UdpConfig};
use crate::metrics::{self, Action, Answered, Frontend, Reason, reasons};
use crate::middleware::{Tracker, TrackerError};
use crate::protocol::udp::{self, Family, Limits, Request};
use crate::protocol::{AnnounceRequest, ScrapeRequest, canonical_ip};
use crate::storage::Storage;
use connection_id::ConnectionIds;
use worker::{Slot, Worker};

/// Asked of the kernel for each direction; it may grant less (net.core.rmem_max).
const SOCKET_BUFFER_BYTES: usize = 8 << 20;
/// How long a worker blocked on an idle socket takes to notice a shutdown.
const IDLE_WAKEUP: Duration = Duration::from_millis(100);

/// The bound UDP sockets, not yet serving.
pub struct UdpFrontend {
    sockets: Vec<std::net::UdpSocket>,
    addr: SocketAddr,
    ids: ConnectionIds,
    limits: Limits,
    request_timing: bool,
}

impl UdpFrontend {
    /// Binds `addr` (dual-stack for `[::]`), one socket per core; an empty
    /// private_key is warned about and replaced by a random one.
    pub async fn bind(config: &UdpConfig) -> anyhow::Result<Self> {
        let addr = config
            .addr
            .context("udp.addr is not set: nowhere to listen")?;
        let sockets =
            bind_sockets(addr, workers()).with_context(|| format!("udp: cannot bind {addr}"))?;
        let addr = sockets[0]
            .local_addr()
            .context("udp: bound socket has no address")?;
        Ok(UdpFrontend {
            sockets,
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

    /// Serves until `shutdown` fires, then stops receiving and returns once
    /// every worker has answered the batch in its hands.
    pub async fn serve(
        self,
        tracker: Arc<Tracker>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let workers = self.sockets.len();
        // The server logs the address at info; this adds only the worker count.
        tracing::debug!(addr = %self.addr, workers, "udp frontend serving");
        // Engines that wait on the network get a batch's calls run concurrently.
        let concurrent = !matches!(**tracker.storage(), Storage::Memory(_));
        let shared = Arc::new(Shared {
            tracker,
            ids: self.ids,
            limits: self.limits,
            request_timing: self.request_timing,
            dropped: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Handle::current();
        let mut threads = Vec::with_capacity(workers);
        for (i, socket) in self.sockets.into_iter().enumerate() {
            let worker = Worker {
                shared: Arc::clone(&shared),
                socket,
                runtime: runtime.clone(),
                concurrent,
            };
            let (done, finished) = tokio::sync::oneshot::channel::<()>();
            let worker_stop = Arc::clone(&stop);
            let spawned = std::thread::Builder::new()
                .name(format!("udp-worker-{i}"))
                .spawn(move || {
                    worker.run(&worker_stop);
                    let _ = done.send(());
                });
            match spawned {
                Ok(thread) => threads.push((thread, finished)),
                Err(e) => {
                    stop.store(true, Ordering::Release);
                    wait_all(threads).await;
                    return Err(e).context("udp: cannot start a worker thread");
                }
            }
        }
        shutdown.cancelled().await;
        stop.store(true, Ordering::Release);
        let panicked = wait_all(threads).await;
        tracing::info!(
            addr = %self.addr,
            dropped = shared.dropped.load(Ordering::Relaxed),
            "udp frontend stopped"
        );
        anyhow::ensure!(panicked == 0, "udp: {panicked} worker thread(s) panicked");
        Ok(())
    }
}

/// Waits for every worker to end; returns how many panicked.
async fn wait_all(
    threads: Vec<(
        std::thread::JoinHandle<()>,
        tokio::sync::oneshot::Receiver<()>,
    )>,
) -> usize {
    let mut panicked = 0;
    for (thread, finished) in threads {
        // The sender is dropped unsent when the worker panicked.
        if finished.await.is_err() {
            panicked += 1;
        }
        // It has returned (or unwound) by now; joining only reaps it.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    panicked
}

/// One per core this process may run on: 1 when pinned to one core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `n` blocking sockets on `addr`; `[::]` (and any IPv6 address) also takes
/// IPv4 traffic, arriving as IPv4-mapped addresses.
///
/// Several sockets share the port with `SO_REUSEPORT`. That option would
/// also let a second tracker started by mistake on the same port quietly take
/// half the traffic, so the port is first bound without it: if anyone holds
/// it, that bind fails and says so. (Its port is then bound again, with the
/// option, by every socket.)
fn bind_sockets(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<std::net::UdpSocket>> {
    let exclusive = new_socket(addr, false)?;
    exclusive.bind(&addr.into())?;
    if n <= 1 {
        return Ok(vec![exclusive.into()]);
    }
    let addr = exclusive
        .local_addr()?
        .as_socket()
        .context("not an IP socket")?;
    drop(exclusive);
    (0..n)
        .map(|_| {
            let socket = new_socket(addr, true)?;
            socket.bind(&addr.into())?;
            Ok(socket.into())
        })
        .collect()
}

fn new_socket(addr: SocketAddr, reuse_port: bool) -> anyhow::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
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
    // Blocking, but never for long: a worker must notice a shutdown.
    socket.set_read_timeout(Some(IDLE_WAKEUP))?;
    socket.set_write_timeout(Some(IDLE_WAKEUP))?;
    Ok(socket)
}

/// A request that needs the tracker, parsed and authenticated.
pub(crate) enum Work {
    Announce {
        req: AnnounceRequest,
        transaction_id: u32,
        family: Family,
    },
    Scrape {
        req: ScrapeRequest,
        transaction_id: u32,
    },
}

/// What every worker shares.
struct Shared {
    tracker: Arc<Tracker>,
    ids: ConnectionIds,
    limits: Limits,
    request_timing: bool,
    /// Packets not answered for want of a valid connection ID (or any header).
    dropped: AtomicU64,
}

impl Shared {
    /// Everything short of the tracker: parses, checks the connection ID,
    /// answers connects and malformed requests in `slot.reply`, or leaves
    /// the request in `slot.work` for [`Shared::finish`]. `now` is the
    /// batch's clock (unix seconds). `slot` arrives cleared.
    fn begin(&self, packet: &[u8], from: SocketAddr, now: u32, slot: &mut Slot) {
        let ip = canonical_ip(from.ip());
        match udp::parse_request(packet, &self.limits) {
            Ok(Request::Connect(c)) => {
                udp::write_connect(&mut slot.reply, c.transaction_id, self.ids.issue(ip, now));
                slot.answered = Some((Action::Connect, reasons::NONE));
            }
            Ok(Request::Announce(a)) if self.authentic(a.connection_id, ip, now, from) => {
                let transaction_id = a.transaction_id;
                let req = a.into_request(ip, &self.limits);
                slot.work = Some(Work::Announce {
                    family: Family::of(req.ip),
                    req,
                    transaction_id,
                });
            }
            Ok(Request::Scrape(s)) if self.authentic(s.connection_id, ip, now, from) => {
                slot.work = Some(Work::Scrape {
                    transaction_id: s.transaction_id,
                    req: s.into_request(ip),
                });
            }
            // An announce or scrape whose connection ID failed; `authentic` counted it.
            Ok(_) => {}
            Err(e) => match e.reply_to() {
                Some(h) => {
                    if !self.authentic(h.connection_id, ip, now, from) {
                        return;
                    }
                    udp::write_error(&mut slot.reply, h.transaction_id, &e.error.0);
                    let action = match h.action {
                        udp::ACTION_SCRAPE => Action::Scrape,
                        _ => Action::Announce,
                    };
                    slot.answered = Some((action, metrics::global().reason(&e.error.into())));
                }
                None => self.count_drop(from, "short packet or malformed connect"),
            },
        }
    }

    /// The tracker's part of the request `begin` left in `slot.work`: the
    /// reply goes to `slot.reply`, what was answered to `slot.answered`.
    /// `received`: the batch's wall clock (see the `worker` module).
    async fn finish(&self, slot: &mut Slot, received: SystemTime) {
        // Borrowed, not taken: a request is about 170 bytes, and moving it out
        // of the slot was a copy per request.
        slot.answered = match &slot.work {
            Some(Work::Announce {
                req,
                transaction_id,
                family,
            }) => {
                let (transaction_id, family) = (*transaction_id, *family);
                let mut reply = udp::AnnounceWriter::new(&mut slot.reply, transaction_id, family);
                let reason = match self.tracker.announce_into(req, received, &mut reply).await {
                    Ok(summary) => {
                        reply.finish(&summary);
                        reasons::NONE
                    }
                    Err(e) => write_failure(&mut slot.reply, transaction_id, &e),
                };
                Some((Action::Announce, reason))
            }
            Some(Work::Scrape {
                req,
                transaction_id,
            }) => {
                let transaction_id = *transaction_id;
                let reason = match self.tracker.scrape(req).await {
                    Ok(resp) => {
                        udp::write_scrape(&mut slot.reply, transaction_id, &resp);
                        reasons::NONE
                    }
                    Err(e) => write_failure(&mut slot.reply, transaction_id, &e),
                };
                Some((Action::Scrape, reason))
            }
            None => slot.answered,
        };
        slot.work = None;
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

    /// The metrics of one batch: bytes in and out once, then the answered
    /// requests, all with the batch's response time (received at `started`,
    /// every reply ready at `answered_at`), in runs (see
    /// [`Metrics::record_all`](metrics::Metrics::record_all)).
    fn record(&self, slots: &[Slot], started: Instant, answered_at: Instant) {
        let metrics = metrics::global();
        let (received, sent) = slots.iter().fold((0, 0), |(r, s), slot| {
            (r + slot.received as u64, s + slot.reply.len() as u64)
        });
        metrics.requests().add_bytes(Frontend::Udp, received, sent);
        let elapsed = answered_at.saturating_duration_since(started);
        let micros = elapsed.as_micros() as u64;
        metrics.record_all(slots.iter().filter_map(|slot| {
            let (action, reason) = slot.answered?;
            Some(Answered {
                frontend: Frontend::Udp,
                action,
                family: metrics::Family::of(slot.from.ip()),
                reason,
                micros,
            })
        }));
        if self.request_timing {
            for slot in slots {
                tracing::debug!(from = %slot.from, ?elapsed, "udp request");
            }
        }
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
