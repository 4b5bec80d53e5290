//! Latency of an HTTP tracker at a fixed announce rate (open loop).
//!
//! Announces are due on a fixed schedule, `--rate` per second for `--secs`,
//! whatever the server does. Each one is the request bench/http_announce.lua
//! sends: a random torrent of `--torrents`, a random peer of `--peers` (its
//! own peer_id and port), one peer in four a seeder, `numwant=50`, compact.
//! Its latency is counted from the time it was *due*, not from when it was
//! written: a request that waits for a free connection, or for a server that
//! fell behind, shows that wait in the figures (no coordinated omission).
//!
//! One thread (a current-thread tokio runtime; pin it to a core of its own),
//! one task per connection. A free task takes the next due time from the
//! shared schedule, waits for it (a timer until 2 ms before, then yielding
//! until it is due: tokio's timer can wake up to 2 ms late, which would
//! otherwise be counted as the server's latency), sends the
//! announce and reads the whole reply (Content-Length). `--connections`
//! keep-alive connections are opened before the clock starts; with `--close`
//! each announce opens a new connection and asks the server to close it, and
//! `--connections` bounds how many are in flight.
//!
//! A reply counts as answered only if it is HTTP 200 with a body that is one
//! bencoded dictionary without `failure reason` (trailing CR LF allowed:
//! aquatic_http 0.9.0 ends its bodies with one, inside Content-Length);
//! anything else (a refused
//! connection, a reset, another status, a failure reply) is an error and the
//! connection is opened anew. A request not answered within `--timeout-ms`
//! of its due time is lost, whether it was written or still waiting for a
//! connection (`unsent`). Bounded: `rate * secs` requests, each over by its
//! due time plus the timeout. Prints one line of `key=value` pairs that
//! bench/http_vs_aquatic.sh reads; the first error's text goes to stderr.
//!
//! `gen_late_p99_us` checks the generator itself: how late it started the
//! requests that had a free connection before they were due. If that is not
//! far below p50, the figures measure the generator, not the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout_at};

use chihaya::protocol::bencode;

#[derive(Parser)]
struct Args {
    /// The tracker, e.g. 127.0.0.1:6969 (announces go to /announce).
    #[arg(long)]
    server: SocketAddr,
    /// Announces per second.
    #[arg(long)]
    rate: u64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Keep-alive connections (with --close: announces in flight at most).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// A new connection per announce, with `Connection: close`.
    #[arg(long)]
    close: bool,
    #[arg(long, default_value_t = 10_000)]
    torrents: u64,
    /// At most 64,000, so that every peer has a port of its own.
    #[arg(long, default_value_t = 60_000)]
    peers: u64,
    /// A request not answered this long after its due time is lost.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
}

/// A reply's header and body are refused beyond these sizes.
const MAX_HEAD: usize = 8 * 1024;
const MAX_BODY: usize = 64 * 1024;

/// What every connection task reads.
struct Shared {
    server: SocketAddr,
    close: bool,
    torrents: u64,
    peers: u64,
    start: Instant,
    interval_ns: f64,
    total: u64,
    timeout: Duration,
    /// The next index of the schedule nobody has taken yet.
    next: AtomicU64,
}

/// What one connection task saw.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    /// Due time to start, for requests taken by a free task before they were due.
    late_ns: Vec<u64>,
    errors: u64,
    lost: u64,
    unsent: u64,
    first_error: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.rate > 0 && args.secs > 0, "rate and secs must be > 0");
    ensure!(
        (1..=10_000).contains(&args.connections),
        "connections must be 1-10000"
    );
    ensure!(
        args.torrents > 0 && (1..=64_000).contains(&args.peers),
        "torrents must be > 0, peers 1-64000"
    );
    let total = args
        .rate
        .checked_mul(args.secs)
        .filter(|&t| t <= 100_000_000)
        .context("at most 100,000,000 requests")?;
    let timeout = Duration::from_millis(args.timeout_ms);

    // Keep-alive connections are all open before the clock starts.
    let mut streams = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        streams.push(if args.close {
            None
        } else {
            Some(connect(args.server).await?)
        });
    }
    let shared = Arc::new(Shared {
        server: args.server,
        close: args.close,
        torrents: args.torrents,
        peers: args.peers,
        // Room for every task to start before the first request is due.
        start: Instant::now() + Duration::from_millis(20),
        interval_ns: 1e9 / args.rate as f64,
        total,
        timeout,
        next: AtomicU64::new(0),
    });
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(id, stream)| tokio::spawn(connection(id as u64, stream, shared.clone())))
        .collect();
    // Every request is over by its due time plus the timeout; this bound is
    // for a generator that could not even keep up with its own schedule.
    let end = shared.start + Duration::from_secs(args.secs) + timeout + Duration::from_secs(5);
    let mut all = Tally::default();
    for task in tasks {
        let tally = timeout_at(end, task)
            .await
            .context("the generator overran its time bound")??;
        all.latencies_ns.extend(tally.latencies_ns);
        all.late_ns.extend(tally.late_ns);
        all.errors += tally.errors;
        all.lost += tally.lost;
        all.unsent += tally.unsent;
        all.first_error = all.first_error.or(tally.first_error);
    }
    if let Some(e) = &all.first_error {
        eprintln!("first error: {e}");
    }
    let mut rtts = all.latencies_ns;
    rtts.sort_unstable();
    let mut late = all.late_ns;
    late.sort_unstable();
    let pct = |p: f64| percentile_us(&rtts, p);
    println!(
        "sent={total} answered={} errors={} lost={} unsent={} p50_us={:.1} p90_us={:.1} \
         p99_us={:.1} p999_us={:.1} max_us={:.1} gen_late_p99_us={:.1}",
        rtts.len(),
        all.errors,
        all.lost,
        all.unsent,
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(99.9),
        pct(100.0),
        percentile_us(&late, 99.0),
    );
    Ok(())
}

/// The `p`th percentile of sorted nanoseconds, in microseconds.
fn percentile_us(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted_ns.len() - 1) as f64).round() as usize;
    sorted_ns[i] as f64 / 1e3
}

/// One connection task: take the next due request, send it when due, read
/// its reply; until the schedule is used up.
async fn connection(id: u64, mut stream: Option<TcpStream>, shared: Arc<Shared>) -> Tally {
    let mut tally = Tally::default();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ (id + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mut request = Vec::with_capacity(512);
    let mut reply = Vec::with_capacity(4096);
    let host = shared.server.to_string();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.total {
            return tally;
        }
        let due = shared.start + Duration::from_nanos((i as f64 * shared.interval_ns) as u64);
        let deadline = due + shared.timeout;
        let free_in_time = Instant::now() <= due;
        wait_until(due).await;
        let started = Instant::now();
        if free_in_time {
            tally.late_ns.push((started - due).as_nanos() as u64);
        }
        if started >= deadline {
            // No connection was free in time: lost without being written.
            tally.unsent += 1;
            tally.lost += 1;
            continue;
        }
        write_request(&mut request, &mut rng, &shared, &host);
        let exchange = exchange(&mut stream, &shared, &request, &mut reply);
        match timeout_at(deadline, exchange).await {
            Ok(Ok(())) => tally
                .latencies_ns
                .push((Instant::now() - due).as_nanos() as u64),
            Ok(Err(e)) => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                stream = None;
            }
            Err(_) => {
                tally.lost += 1;
                stream = None;
            }
        }
        if shared.close {
            stream = None;
        }
    }
}

/// Sleeps on the timer until 2 ms before `due` (the timer has 1 ms ticks, its
/// deadlines are rounded up and its clock down), then yields to the other
/// tasks (and the I/O driver) until it is due.
async fn wait_until(due: Instant) {
    if let Some(early) = due.checked_sub(Duration::from_millis(2))
        && Instant::now() < early
    {
        sleep_until(early).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

async fn connect(server: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(server)
        .await
        .with_context(|| format!("connect to {server}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends one announce (on a new connection if there is none) and reads its
/// reply whole.
async fn exchange(
    stream: &mut Option<TcpStream>,
    shared: &Shared,
    request: &[u8],
    reply: &mut Vec<u8>,
) -> anyhow::Result<()> {
    if stream.is_none() {
        *stream = Some(connect(shared.server).await?);
    }
    let s = stream.as_mut().expect("connected above");
    s.write_all(request).await.context("write")?;
    read_reply(s, reply).await
}

/// Reads one HTTP/1.1 response (header, then Content-Length bytes of body)
/// and checks it is a 200 whose body is a bencoded dictionary without
/// `failure reason`.
async fn read_reply(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.clear();
    let head_len = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        ensure!(
            buf.len() < MAX_HEAD,
            "response header over {MAX_HEAD} bytes"
        );
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_len]).context("response header not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    ensure!(
        status.starts_with("HTTP/1.") && status.split(' ').nth(1) == Some("200"),
        "status line {status:?}"
    );
    let Some(body_len) = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
    }) else {
        bail!("no Content-Length");
    };
    let body_len = body_len.context("bad Content-Length")?;
    ensure!(body_len <= MAX_BODY, "body of {body_len} bytes");
    while buf.len() < head_len + body_len {
        read_more(stream, buf).await?;
    }
    ensure!(buf.len() == head_len + body_len, "bytes after the response");
    let body = &buf[head_len..];
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    let body = bencode::decode(body).context("body")?;
    ensure!(body.as_dict().is_some(), "body is not a dictionary");
    if let Some(reason) = body.get(b"failure reason") {
        bail!("failure reason {reason:?}");
    }
    Ok(())
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.reserve(4096);
    let n = stream.read_buf(buf).await.context("read")?;
    ensure!(
        n > 0,
        "connection closed after {} bytes of response",
        buf.len()
    );
    Ok(())
}

/// The announce bench/http_announce.lua sends: every byte of the hash and
/// the peer id percent-escaped, the peer's own port, one in four a seeder.
fn write_request(out: &mut Vec<u8>, rng: &mut u64, shared: &Shared, host: &str) {
    use std::io::Write;
    let torrent = xorshift(rng) % shared.torrents;
    let peer = xorshift(rng) % shared.peers;
    out.clear();
    out.extend_from_slice(b"GET /announce?info_hash=");
    escape(out, &bytes20(torrent, 1));
    out.extend_from_slice(b"&peer_id=");
    escape(out, &bytes20(peer, 2));
    let left = if peer.is_multiple_of(4) { 0 } else { 1_048_576 };
    write!(
        out,
        "&port={}&uploaded=0&downloaded=0&left={left}&compact=1&numwant=50 HTTP/1.1\r\n\
         Host: {host}\r\n",
        1025 + peer % 64_000,
    )
    .expect("writing to a Vec");
    if shared.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
    }
}

/// 20 bytes that stand for torrent or peer `n` (`kind` keeps the two apart).
fn bytes20(n: u64, kind: u64) -> [u8; 20] {
    let mut out = [0u8; 20];
    let mut x =
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ kind.wrapping_mul(0x94d0_49bb_1331_11eb) | 1;
    for chunk in out.chunks_mut(8) {
        x = x.rotate_left(17).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    out
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
