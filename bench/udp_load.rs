//! A UDP load generator that a tracker on one core cannot outrun.
//!
//! aquatic_udp_load_test moves one datagram per system call (a `send` per
//! request, a `recv` per socket per loop, most of them finding nothing when
//! the server keeps up) and parses every reply in full. On this machine its
//! own core runs out near 200-240k replies/s, the bare echo server's rate:
//! a tracker faster than that measures the tester (docs/performance.md).
//! This generator keeps the tester's load, the same requests to the same
//! swarms, and spends as little as it can per datagram: requests go out by
//! the batch (`sendmmsg`), replies come in by the batch (`recvmmsg`), and a
//! reply is read only as far as its action (and, for an announce, its
//! length: the number of peers). So the server it drives is the bottleneck.
//! That is measured, not assumed: bench/udp_vs_aquatic.sh runs the bare echo
//! server under it too, which must answer well above any tracker.
//!
//! The load, as bench/udp_vs_aquatic.sh configures aquatic_udp_load_test
//! (0.9.0, read in its source):
//! - per request, at random: a connect (weight 1), an announce (100), a
//!   scrape (1) of 1 to 10 torrents;
//! - `--peers` peers, each with its own port and one torrent of `--torrents`
//!   drawn with the tester's weights (torrent i weighs `torrents / peers +
//!   exp(6.5 - 500 i / torrents)`: most peers crowd into the first 1% of
//!   torrents, the rest spread evenly) and a port of 1-65535 (the tester's
//!   ports include 0, which trackers refuse); announces take the peers in turn;
//! - an announce is a seeder's (completed, 0 left) three times in four,
//!   else a leecher's (started), and wants 30 peers;
//! - four sockets on 127.0.0.1, each with its own connection ID, which a
//!   connect reply on that socket renews. (The tester ties each peer to one
//!   socket; a tracker knows a UDP peer by address and announced port, and
//!   every socket has the same address, so here a peer takes whichever
//!   socket has room.)
//!
//! Closed loop: each socket keeps at most `--window` requests in flight, so
//! the server's receive queue never overflows and every reply counts. A
//! window that gets no reply for 100 ms is written off as lost (a server
//! that drops datagrams) and refilled. Bounded by `--secs`. Prints one line
//! of `key=value` pairs that bench/udp_vs_aquatic.sh reads.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage};

use chihaya::protocol::udp::{self, UdpScrape};

#[path = "udp_common.rs"]
mod udp_common;
use udp_common::info_hash;

/// Datagrams per system call, as in chihaya's and the echo server's loops.
const BATCH: usize = 64;
/// Longer than any reply this load asks for (30 IPv6 peers: 560 bytes).
const REPLY_BYTES: usize = 2048;
/// A window that hears nothing for this long is written off as lost.
const LOST_AFTER: Duration = Duration::from_millis(100);
/// aquatic_udp_load_test's request weights: connect, announce, scrape.
const WEIGHTS: [u64; 3] = [1, 100, 1];

#[derive(Parser)]
struct Args {
    /// The tracker, e.g. 127.0.0.1:6969.
    #[arg(long)]
    server: SocketAddr,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    #[arg(long, default_value_t = 2_000_000)]
    peers: u32,
    #[arg(long, default_value_t = 1_000_000)]
    torrents: u32,
    #[arg(long, default_value_t = 4)]
    sockets: usize,
    /// Requests in flight per socket, at most.
    #[arg(long, default_value_t = 128)]
    window: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!((1..=3600).contains(&args.secs), "secs must be 1-3600");
    anyhow::ensure!(
        args.peers > 0 && args.torrents > 0,
        "peers and torrents must be > 0"
    );
    anyhow::ensure!(
        (1..=64).contains(&args.sockets) && args.window > 0,
        "sockets must be 1-64 and window > 0"
    );
    let mut load = Load::new(args.peers, args.torrents);
    let mut lanes = (0..args.sockets)
        .map(|_| Lane::open(args.server))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut io = Io::default();
    let mut counts = Counts::default();
    let start = Instant::now();
    let end = start + Duration::from_secs(args.secs);
    let mut now = start;
    while now < end {
        for lane in &mut lanes {
            let room = (args.window - lane.in_flight).min(BATCH);
            if room > 0 {
                for packet in &mut io.packets[..room] {
                    load.write_request(packet, lane.connection_id);
                }
                let sent = io.send(&lane.socket, room)?;
                lane.in_flight += sent;
                counts.sent += sent as u64;
            }
            let got = io.recv(lane, &mut counts)?;
            now = Instant::now();
            if got > 0 {
                lane.last_reply = now;
            } else if lane.in_flight > 0 && now - lane.last_reply > LOST_AFTER {
                counts.lost += lane.in_flight as u64;
                lane.in_flight = 0;
                lane.last_reply = now;
            }
        }
    }
    counts.print(start.elapsed().as_secs_f64());
    Ok(())
}

/// What the generator sends: the peers, their torrents, the request mix.
struct Load {
    rng: Rng,
    torrents: TorrentDist,
    /// Peer i announces on torrent `peer_torrents[i]` from port `ports[i]`.
    peer_torrents: Vec<u32>,
    ports: Vec<u16>,
    next_peer: usize,
    transaction_id: u32,
}

impl Load {
    fn new(peers: u32, torrents: u32) -> Load {
        let mut rng = Rng(0xc3aa_8be6_17b3_acce);
        let dist = TorrentDist::new(torrents, peers);
        let peer_torrents = (0..peers).map(|_| dist.sample(&mut rng)).collect();
        // Never port 0: trackers refuse it (or, like LBRY's, treat it as
        // "query only"), and the swarms are to fill.
        let ports = (0..peers)
            .map(|_| 1 + (rng.next() % 65_535) as u16)
            .collect();
        Load {
            rng,
            torrents: dist,
            peer_torrents,
            ports,
            next_peer: 0,
            transaction_id: 0,
        }
    }

    /// The next request, at random by the tester's weights.
    fn write_request(&mut self, packet: &mut Vec<u8>, connection_id: u64) {
        self.transaction_id = self.transaction_id.wrapping_add(1);
        let transaction_id = self.transaction_id;
        let total: u64 = WEIGHTS.iter().sum();
        let pick = self.rng.next() % total;
        if pick < WEIGHTS[0] {
            udp::write_connect_request(packet, transaction_id);
        } else if pick < WEIGHTS[0] + WEIGHTS[1] {
            let peer = self.take_peer();
            let seeder = !self.rng.next().is_multiple_of(4);
            let torrent = u64::from(self.peer_torrents[peer]);
            let announce = udp_common::announce(
                connection_id,
                transaction_id,
                torrent,
                self.ports[peer],
                seeder,
            );
            udp::write_announce_request(packet, &announce);
        } else {
            self.take_peer();
            let count = 1 + self.rng.next() % 10;
            let info_hashes = (0..count)
                .map(|_| info_hash(u64::from(self.torrents.sample(&mut self.rng))))
                .collect();
            udp::write_scrape_request(
                packet,
                &UdpScrape {
                    connection_id,
                    transaction_id,
                    info_hashes,
                },
            );
        }
    }

    fn take_peer(&mut self) -> usize {
        let peer = self.next_peer;
        self.next_peer = (peer + 1) % self.peer_torrents.len();
        peer
    }
}

/// aquatic_udp_load_test's torrent weights: torrent i weighs
/// `torrents / peers + exp(6.5 - 500 i / torrents)`, a flat part plus an
/// exponential one, drawn here as the mixture of the two they are.
struct TorrentDist {
    torrents: u32,
    /// The flat part's share of the total weight.
    flat_share: f64,
}

impl TorrentDist {
    fn new(torrents: u32, peers: u32) -> TorrentDist {
        let n = f64::from(torrents);
        let flat = n * (n / f64::from(peers));
        // The sum over i of exp(6.5 - 500 i / n), a geometric series.
        let steep = 6.5f64.exp() * (1.0 - (-500.0f64).exp()) / (1.0 - (-500.0 / n).exp());
        TorrentDist {
            torrents,
            flat_share: flat / (flat + steep),
        }
    }

    fn sample(&self, rng: &mut Rng) -> u32 {
        let n = f64::from(self.torrents);
        if rng.unit() < self.flat_share {
            return (rng.unit() * n) as u32 % self.torrents;
        }
        // P(i) proportional to exp(-500 i / n): the floor of an exponential
        // variable of rate 500 / n; past the last torrent (e^-500), draw again.
        loop {
            let i = -(1.0 - rng.unit()).ln() * n / 500.0;
            if i < n {
                return i as u32;
            }
        }
    }
}

/// One of the generator's sockets and what it has in flight.
struct Lane {
    socket: UdpSocket,
    connection_id: u64,
    in_flight: usize,
    last_reply: Instant,
    /// Replies carry 18-byte peers, not 6.
    v6: bool,
}

impl Lane {
    /// A socket connected to `server`, with a connection ID (5 tries, 1 s each).
    fn open(server: SocketAddr) -> anyhow::Result<Lane> {
        let bind = if server.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(server)?;
        socket.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut packet = Vec::new();
        let mut buf = [0u8; REPLY_BYTES];
        for _ in 0..5 {
            udp::write_connect_request(&mut packet, u32::MAX);
            socket.send(&packet)?;
            if let Ok(len) = socket.recv(&mut buf)
                && let Some(id) = connection_id(&buf[..len])
            {
                return Ok(Lane {
                    socket,
                    connection_id: id,
                    in_flight: 0,
                    last_reply: Instant::now(),
                    v6: server.is_ipv6(),
                });
            }
        }
        anyhow::bail!("no connect reply from {server}")
    }
}

/// The connection ID of a connect reply (action 0, 16 bytes).
fn connection_id(reply: &[u8]) -> Option<u64> {
    let action = u32::from_be_bytes(reply.get(..4)?.try_into().ok()?);
    let id = reply.get(8..16)?;
    (action == udp::ACTION_CONNECT && reply.len() == 16)
        .then(|| u64::from_be_bytes(id.try_into().unwrap()))
}

/// The buffers and kernel headers of one batch, reused for every batch.
struct Io {
    packets: Vec<Vec<u8>>,
    replies: Vec<u8>,
    send_headers: MultiHeaders<SockaddrStorage>,
    recv_headers: MultiHeaders<SockaddrStorage>,
}

impl Default for Io {
    fn default() -> Self {
        Io {
            packets: (0..BATCH).map(|_| Vec::with_capacity(256)).collect(),
            replies: vec![0; BATCH * REPLY_BYTES],
            send_headers: MultiHeaders::preallocate(BATCH, None),
            recv_headers: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

impl Io {
    /// Sends the first `n` packets on a connected socket; how many went.
    fn send(&mut self, socket: &UdpSocket, n: usize) -> anyhow::Result<usize> {
        let mut packets = self.packets.iter();
        let iovs: [[IoSlice<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSlice::new(packets.next().expect("BATCH packets"))]);
        let to: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
        match nix::sys::socket::sendmmsg(
            socket.as_raw_fd(),
            &mut self.send_headers,
            iovs[..n].iter(),
            &to[..n],
            [],
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(sent) => Ok(sent.count()),
            // The socket's send queue is full: the server is behind.
            Err(Errno::EAGAIN) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes every reply waiting on the lane's socket (up to a batch) and
    /// counts it by its action; how many.
    fn recv(&mut self, lane: &mut Lane, counts: &mut Counts) -> anyhow::Result<usize> {
        counts.polls += 1;
        let mut chunks = self.replies.chunks_exact_mut(REPLY_BYTES);
        let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().expect("BATCH buffers"))]);
        let mut lens = [0usize; BATCH];
        let mut n = 0;
        match nix::sys::socket::recvmmsg(
            lane.socket.as_raw_fd(),
            &mut self.recv_headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(got) => {
                for msg in got {
                    lens[n] = msg.bytes;
                    n += 1;
                }
            }
            Err(Errno::EAGAIN) => {}
            // ICMP port unreachable: the server is gone.
            Err(Errno::ECONNREFUSED) => anyhow::bail!("the server is gone (connection refused)"),
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            counts.empty_polls += 1;
        }
        for (i, &len) in lens[..n].iter().enumerate() {
            let reply = &self.replies[i * REPLY_BYTES..][..len.min(REPLY_BYTES)];
            counts.count(reply, lane.v6);
            if let Some(id) = connection_id(reply) {
                lane.connection_id = id;
            }
        }
        lane.in_flight = lane.in_flight.saturating_sub(n);
        Ok(n)
    }
}

/// What came back, by action.
#[derive(Default)]
struct Counts {
    sent: u64,
    connect: u64,
    announce: u64,
    scrape: u64,
    error: u64,
    /// Too short to be a reply, or an action BEP 15 does not have.
    unknown: u64,
    /// Requests of windows written off (see [`LOST_AFTER`]).
    lost: u64,
    /// Peers in all announce replies.
    peers: u64,
    /// `recvmmsg` calls that found nothing: the generator waiting for the server.
    empty_polls: u64,
    polls: u64,
    /// The message of the first error reply, for the report.
    first_error: Option<String>,
}

impl Counts {
    fn count(&mut self, reply: &[u8], v6: bool) {
        let Some(action) = reply.get(..4) else {
            self.unknown += 1;
            return;
        };
        match u32::from_be_bytes(action.try_into().expect("4 bytes")) {
            udp::ACTION_CONNECT => self.connect += 1,
            udp::ACTION_ANNOUNCE if reply.len() >= 20 => {
                self.announce += 1;
                self.peers += ((reply.len() - 20) / if v6 { 18 } else { 6 }) as u64;
            }
            udp::ACTION_SCRAPE => self.scrape += 1,
            udp::ACTION_ERROR => {
                self.error += 1;
                if self.first_error.is_none() {
                    let message = String::from_utf8_lossy(reply.get(8..).unwrap_or_default());
                    self.first_error = Some(message.into_owned());
                }
            }
            _ => self.unknown += 1,
        }
    }

    fn print(&self, secs: f64) {
        let answered = self.connect + self.announce + self.scrape;
        println!(
            "secs={secs:.3} sent={} responses={answered} rate={:.0} connect={} announce={} \
             scrape={} error={} unknown={} lost={} peers_per_announce={:.2} empty_polls={:.3}",
            self.sent,
            answered as f64 / secs,
            self.connect,
            self.announce,
            self.scrape,
            self.error,
            self.unknown,
            self.lost,
            self.peers as f64 / self.announce.max(1) as f64,
            self.empty_polls as f64 / self.polls.max(1) as f64,
        );
        if let Some(message) = &self.first_error {
            eprintln!("first error reply: {message}");
        }
    }
}

/// xorshift64*: fast, and the same sequence in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The share of draws that land in `range`, and what the tester's
    /// weights give it.
    fn shares(dist: &TorrentDist, peers: u32, range: std::ops::Range<u32>) -> (f64, f64) {
        let n = f64::from(dist.torrents);
        let weight = |i: u32| n / f64::from(peers) + (6.5 - 500.0 * f64::from(i) / n).exp();
        let total: f64 = (0..dist.torrents).map(weight).sum();
        let expected = range.clone().map(weight).sum::<f64>() / total;
        let mut rng = Rng(7);
        let draws = 400_000;
        let hits = (0..draws)
            .filter(|_| range.contains(&dist.sample(&mut rng)))
            .count();
        (hits as f64 / f64::from(draws), expected)
    }

    #[test]
    fn torrents_are_drawn_with_the_testers_weights() {
        let (torrents, peers) = (1_000_000, 2_000_000);
        let dist = TorrentDist::new(torrents, peers);
        for range in [0..1, 0..100, 100..2_000, 2_000..20_000, 20_000..torrents] {
            let (seen, expected) = shares(&dist, peers, range.clone());
            assert!(
                (seen - expected).abs() < 0.01 + expected * 0.05,
                "{range:?}: drew {seen:.4}, weights say {expected:.4}"
            );
        }
    }

    #[test]
    fn a_reply_is_counted_by_its_action() {
        let mut counts = Counts::default();
        let mut announce = vec![0, 0, 0, 1];
        announce.extend([0; 16]);
        announce.extend([1; 30 * 6]);
        counts.count(&announce, false);
        let mut error = vec![0, 0, 0, 3, 0, 0, 0, 9];
        error.extend(b"invalid port");
        counts.count(&error, false);
        counts.count(&[0, 0], false);
        counts.count(&[0, 0, 0, 9, 0, 0, 0, 0], false);
        assert_eq!((counts.announce, counts.peers), (1, 30));
        assert_eq!(counts.error, 1);
        assert_eq!(counts.first_error.as_deref(), Some("invalid port"));
        assert_eq!(counts.unknown, 2);
        let mut connect = vec![0, 0, 0, 0, 0, 0, 0, 5];
        connect.extend(42u64.to_be_bytes());
        assert_eq!(connection_id(&connect), Some(42));
        assert_eq!(connection_id(&announce), None);
    }
}
