//! One socket's receive and reply loop, on a thread of its own.
//!
//! The loop blocks in `recvmmsg` (no event loop in between), answers the
//! whole batch, then sends every reply with one `sendmmsg`. The clocks are
//! read once per batch: the wall clock and the start when the batch
//! arrives, the end when its replies are ready (a reply leaves with its
//! batch, so that is when each request of the batch was answered). The
//! wall clock serves the connection IDs and stamps every announcer of the
//! batch as seen: each of its datagrams had arrived by then. (Read per
//! announce, it was about a twentieth of our own time under load.)
//!
//! The tracker is async because some storage engines wait on the network.
//! The memory engine never does: its calls finish on their first poll, so
//! they are polled right here, one after the other, with no task, waker or
//! allocation. If a call does wait (Redis), the loop hands it to the tokio
//! runtime and blocks until it is done; for such engines the calls of one
//! batch run concurrently, so a batch costs one round trip, not one per
//! request.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use tokio::runtime::Handle;

use super::Shared;
use super::batch::{BATCH, Batch};
use crate::metrics::{Action, Reason};
use crate::protocol::{InfoHash, udp};

/// What one datagram of a batch came to.
pub(super) struct Slot {
    pub from: SocketAddr,
    pub received: usize,
    /// Empty when nothing may be answered.
    pub reply: Vec<u8>,
    /// Still to do: a call into the tracker.
    pub work: Option<super::Work>,
    /// What was answered, for the metrics.
    pub answered: Option<(Action, Reason)>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            from: SocketAddr::from(([0, 0, 0, 0], 0)),
            received: 0,
            reply: Vec::with_capacity(1500),
            work: None,
            answered: None,
        }
    }
}

pub(super) struct Worker {
    pub shared: Arc<Shared>,
    pub socket: UdpSocket,
    pub runtime: Handle,
    /// Run a batch's tracker calls concurrently (engines that wait on I/O).
    pub concurrent: bool,
}

impl Worker {
    /// Serves until `stop` is set (checked after every batch and at least
    /// every socket read timeout); the batch in hand is answered first.
    pub fn run(self, stop: &AtomicBool) {
        let _runtime = self.runtime.enter();
        let mut batch = Batch::default();
        let mut slots: Vec<Slot> = (0..BATCH).map(|_| Slot::new()).collect();
        let mut hashes = Vec::with_capacity(BATCH);
        while !stop.load(Ordering::Acquire) {
            let n = match batch.recv(&self.socket) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    tracing::debug!("udp: receive failed: {e}");
                    // Whatever it is, it must not become a busy loop.
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
            };
            let started = Instant::now();
            let received = SystemTime::now();
            let now = super::connection_id::unix_secs(received);
            let slots = &mut slots[..n];
            for (i, slot) in slots.iter_mut().enumerate() {
                let (packet, from) = batch.datagram(i);
                slot.received = packet.len();
                slot.answered = None;
                slot.work = None;
                slot.reply.clear();
                match from {
                    // Cut short: only a scrape can still be read, since its
                    // hashes beyond what one reply answers are ignored anyway.
                    Some(from) if batch.truncated(i) && !is_scrape(packet) => {
                        slot.from = from;
                        self.shared.count_drop(from, "datagram too long");
                    }
                    Some(from) => {
                        slot.from = from;
                        self.shared.begin(packet, from, now, slot);
                    }
                    // Not an IP sender: nothing to answer to.
                    None => slot.from = SocketAddr::from(([0, 0, 0, 0], 0)),
                }
            }
            self.prefetch(slots, &mut hashes);
            self.finish(slots, received);
            // Counted before it is sent: a client that has its reply must
            // find it in /metrics and /stats already.
            self.shared.record(slots, started, Instant::now());
            batch.send(
                &self.socket,
                slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !s.reply.is_empty())
                    .map(|(i, s)| (i, &s.reply[..])),
            );
        }
    }

    /// Tells the tracker which torrents the batch is about, so their memory
    /// is on its way before the first request is served. `hashes` is kept
    /// between batches.
    fn prefetch(&self, slots: &[Slot], hashes: &mut Vec<InfoHash>) {
        hashes.clear();
        for slot in slots {
            match &slot.work {
                Some(super::Work::Announce { req, .. }) => hashes.push(req.info_hash),
                Some(super::Work::Scrape { req, .. }) => hashes.extend(&req.info_hashes),
                None => {}
            }
        }
        self.shared.tracker.prefetch(hashes);
    }

    /// Runs the tracker calls the batch (arrived by `received`) needs.
    fn finish(&self, slots: &mut [Slot], received: SystemTime) {
        let shared = &*self.shared;
        if self.concurrent {
            let calls = slots
                .iter_mut()
                .filter(|s| s.work.is_some())
                .map(|s| shared.finish(s, received));
            self.block_on(futures_util::future::join_all(calls));
        } else {
            for slot in slots.iter_mut().filter(|s| s.work.is_some()) {
                self.block_on(shared.finish(slot, received));
            }
        }
    }

    /// Polls `fut` once right here; only if it has to wait does the runtime
    /// drive it (this thread blocks meanwhile).
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = pin!(fut);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return out;
        }
        self.runtime.block_on(fut)
    }
}

fn is_scrape(packet: &[u8]) -> bool {
    udp::Header::parse(packet).is_some_and(|h| h.action == udp::ACTION_SCRAPE)
}
