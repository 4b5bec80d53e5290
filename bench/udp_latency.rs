//! Round-trip times of a UDP tracker at a fixed request rate (open loop).
//!
//! Sends requests on a fixed schedule, `--rate` per second, whatever the
//! server does: the mix of `aquatic_udp_load_test` as bench/udp_vs_aquatic.sh
//! configures it (per 102 requests: 1 connect, 100 announces, 1 scrape of 10
//! hashes), announces from `--peers` simulated peers over `--torrents`
//! torrents, 30 peers wanted. Each reply's round trip is measured from the
//! time its request was *due*, so a generator that falls behind shows up in
//! the figures instead of hiding the server's queueing (no coordinated
//! omission). Bounded: `--rate * --secs` requests, then at most
//! `--drain-ms` for the last replies.
//!
//! One thread, a busy loop (pin it to a core of its own): send what is due,
//! then read every reply waiting. Prints one line of `key=value` pairs that
//! bench/udp_vs_aquatic.sh reads.
//!
//! Replies are matched by transaction id (the request's sequence number), so
//! a reply counts only if it answers a request of this run; error replies are
//! counted apart and their round trips left out.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use clap::Parser;

use chihaya::protocol::udp::{self, Family, UdpAnnounce, UdpScrape};

#[path = "udp_common.rs"]
mod udp_common;
use udp_common::info_hash;

#[derive(Parser)]
struct Args {
    /// The tracker, e.g. 127.0.0.1:6969.
    #[arg(long)]
    server: SocketAddr,
    /// Requests per second.
    #[arg(long)]
    rate: u64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    #[arg(long, default_value_t = 2_000_000)]
    peers: u64,
    #[arg(long, default_value_t = 1_000_000)]
    torrents: u64,
    /// How long to wait for the last replies after the last request.
    #[arg(long, default_value_t = 1_000)]
    drain_ms: u64,
}

/// What one request was, so its reply can be checked.
#[derive(Clone, Copy, Default)]
struct Sent {
    /// Nanoseconds after the start when the request was due; 0 = answered (or never sent).
    due_ns: u64,
    action: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.rate > 0 && args.secs > 0, "rate and secs must be > 0");
    anyhow::ensure!(
        args.peers > 0 && args.torrents > 0,
        "peers and torrents must be > 0"
    );
    let total = args
        .rate
        .checked_mul(args.secs)
        .expect("rate * secs fits u64");
    anyhow::ensure!(total < u64::from(u32::MAX), "at most 2^32 - 1 requests");
    let bind = if args.server.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let socket = UdpSocket::bind(bind)?;
    socket.connect(args.server)?;
    let family = Family::of(socket.local_addr()?.ip());
    let mut connection_id = first_connection_id(&socket, family)?;
    socket.set_nonblocking(true)?;

    let mut sent: Vec<Sent> = vec![Sent::default(); total as usize];
    let mut rtts_ns: Vec<u64> = Vec::with_capacity(total as usize);
    let (mut answered, mut errors, mut late_or_unknown) = (0u64, 0u64, 0u64);
    let mut packet = Vec::with_capacity(256);
    let mut buf = [0u8; 2048];
    let interval_ns = 1e9 / args.rate as f64;
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let start = Instant::now();
    let mut next = 0u64;
    let sending_ends = Duration::from_secs(args.secs);
    let mut last_sent = None;
    loop {
        let now_ns = start.elapsed().as_nanos() as u64;
        // Everything due by now, in order.
        while next < total && (next as f64 * interval_ns) as u64 <= now_ns {
            let due_ns = (next as f64 * interval_ns) as u64;
            let txid = next as u32;
            let action = match next % 102 {
                0 => {
                    udp::write_connect_request(&mut packet, txid);
                    udp::ACTION_CONNECT
                }
                1 => {
                    let hashes = (0..10).map(|_| info_hash(xorshift(&mut rng) % args.torrents));
                    udp::write_scrape_request(
                        &mut packet,
                        &UdpScrape {
                            connection_id,
                            transaction_id: txid,
                            info_hashes: hashes.collect(),
                        },
                    );
                    udp::ACTION_SCRAPE
                }
                _ => {
                    let peer = xorshift(&mut rng) % args.peers;
                    udp::write_announce_request(
                        &mut packet,
                        &announce(connection_id, txid, peer, &args),
                    );
                    udp::ACTION_ANNOUNCE
                }
            };
            match socket.send(&packet) {
                // `due_ns + 1`: a request due at 0 must not read as answered.
                Ok(_) => {
                    sent[next as usize] = Sent {
                        due_ns: due_ns + 1,
                        action,
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
            next += 1;
            if next == total {
                last_sent = Some(Instant::now());
            }
        }
        // Every reply waiting.
        loop {
            let len = match socket.recv(&mut buf) {
                Ok(len) => len,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // ICMP port unreachable from a server that is gone.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
                Err(e) => return Err(e.into()),
            };
            let at_ns = start.elapsed().as_nanos() as u64;
            let Ok(reply) = udp::parse_response(&buf[..len], family) else {
                late_or_unknown += 1;
                continue;
            };
            let (txid, action) = match &reply {
                udp::Response::Connect {
                    transaction_id,
                    connection_id: id,
                } => {
                    connection_id = *id;
                    (*transaction_id, udp::ACTION_CONNECT)
                }
                udp::Response::Announce(a) => (a.transaction_id, udp::ACTION_ANNOUNCE),
                udp::Response::Scrape(s) => (s.transaction_id, udp::ACTION_SCRAPE),
                udp::Response::Error { transaction_id, .. } => (*transaction_id, udp::ACTION_ERROR),
            };
            let Some(slot) = sent.get_mut(txid as usize).filter(|s| s.due_ns != 0) else {
                late_or_unknown += 1;
                continue;
            };
            if action == udp::ACTION_ERROR {
                errors += 1;
            } else if action == slot.action {
                answered += 1;
                rtts_ns.push(at_ns.saturating_sub(slot.due_ns - 1));
            } else {
                late_or_unknown += 1;
            }
            slot.due_ns = 0;
        }
        if let Some(t) = last_sent {
            let everything_back = answered + errors == total;
            if everything_back || t.elapsed() >= Duration::from_millis(args.drain_ms) {
                break;
            }
        } else if start.elapsed() > sending_ends + Duration::from_secs(args.secs) {
            // The generator itself cannot keep the rate: stop rather than run on.
            break;
        }
        std::hint::spin_loop();
    }
    let send_secs = last_sent
        .map_or(start.elapsed(), |t| t - start)
        .as_secs_f64();
    rtts_ns.sort_unstable();
    let pct = |p: f64| -> f64 {
        if rtts_ns.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * (rtts_ns.len() - 1) as f64).round() as usize;
        rtts_ns[i] as f64 / 1e3
    };
    println!(
        "sent={next} answered={answered} errors={errors} unknown={late_or_unknown} lost={} \
         send_rate={:.0} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1}",
        next - answered - errors,
        next as f64 / send_secs,
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(99.9),
        pct(100.0),
    );
    Ok(())
}

/// A connection ID before the clock starts (5 tries, 1 s each).
fn first_connection_id(socket: &UdpSocket, family: Family) -> anyhow::Result<u64> {
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut packet = Vec::new();
    let mut buf = [0u8; 2048];
    for _ in 0..5 {
        udp::write_connect_request(&mut packet, u32::MAX);
        socket.send(&packet)?;
        if let Ok(len) = socket.recv(&mut buf)
            && let Ok(udp::Response::Connect { connection_id, .. }) =
                udp::parse_response(&buf[..len], family)
        {
            return Ok(connection_id);
        }
    }
    anyhow::bail!("no connect reply from {:?}", socket.peer_addr()?)
}

/// Peer `peer` announces on torrent `peer % torrents` from its own port, a
/// seeder one time in four.
fn announce(connection_id: u64, transaction_id: u32, peer: u64, args: &Args) -> UdpAnnounce {
    udp_common::announce(
        connection_id,
        transaction_id,
        peer % args.torrents,
        1024 + (peer / args.torrents % 60_000) as u16,
        peer.is_multiple_of(4),
    )
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
