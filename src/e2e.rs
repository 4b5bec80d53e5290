//! `chihaya e2e`: a self-test against a running tracker (Go chihaya's `e2e`).
//!
//! For each frontend given (HTTP and/or UDP): peer 1 announces a random info
//! hash, then after `delay` peer 2 announces it and must receive peer 1; peer 1
//! announces again and must receive peer 2; both then announce `stopped` so
//! the swarm is left empty. Every step prints one line saying what was checked
//! and, on failure, what was expected and what arrived. Every network wait is
//! bounded, so a dead tracker fails quickly with a clear message.
//!
//! The replies are read with the project's own codecs (the strict bencode
//! decoder and the UDP client-side packet codec), so this also checks that the
//! tracker speaks exactly what the codecs expect.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::protocol::udp::{self as udp_codec, Family, Response, UdpAnnounce};
use crate::protocol::{Event, InfoHash, Params, PeerId, bencode, canonical_ip};

/// What `chihaya e2e` was asked to test. An empty address skips that frontend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E2eArgs {
    /// e.g. `http://127.0.0.1:6969/announce`
    pub http_addr: String,
    /// e.g. `udp://127.0.0.1:6969`
    pub udp_addr: String,
    /// Wait between peer 1's and peer 2's announce.
    pub delay: Duration,
}

/// The longest any single request (connect, send, reply) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// UDP is lossy: a request is sent this many times before giving up.
const UDP_ATTEMPTS: u32 = 3;
/// Largest HTTP reply read (an announce reply for two peers is tiny).
const MAX_HTTP_REPLY: u64 = 1 << 20;

/// Runs the checks and prints a report; 0 when every check passed, 1 otherwise.
pub async fn run(args: &E2eArgs) -> i32 {
    let mut failed = 0;
    let mut ran = 0;
    if !args.http_addr.is_empty() {
        ran += 1;
        if let Err(e) = check_frontend("http", &args.http_addr, args.delay).await {
            println!("http: FAILED: {e}");
            failed += 1;
        }
    }
    if !args.udp_addr.is_empty() {
        ran += 1;
        if let Err(e) = check_frontend("udp", &args.udp_addr, args.delay).await {
            println!("udp: FAILED: {e}");
            failed += 1;
        }
    }
    if ran == 0 {
        println!("e2e: FAILED: nothing to test (give --httpaddr and/or --udpaddr)");
        return 1;
    }
    if failed == 0 {
        println!("e2e: all checks passed");
        0
    } else {
        println!("e2e: FAILED ({failed} of {ran} frontends)");
        1
    }
}

/// A step's failure: the whole message the operator reads.
#[derive(Debug)]
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(msg.into()))
}

/// Where to send announces, parsed from the URL the operator gave.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Http {
        /// `host:port` for resolving and for the Host header.
        authority: String,
        /// Path of the announce route, e.g. `/announce`.
        path: String,
    },
    Udp {
        authority: String,
        /// BEP 41 URLData path, empty when the URL has none.
        path: String,
    },
}

/// Parses `http://host[:port]/path` or `udp://host:port[/path]`.
fn parse_target(kind: &str, url: &str) -> Result<Target, Failure> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        Failure(format!(
            "{url:?} is not a URL (expected {kind}://HOST:PORT...)"
        ))
    })?;
    if scheme != kind {
        return fail(format!(
            "{url:?}: expected a {kind}:// URL, got {scheme}://"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return fail(format!("{url:?}: no host"));
    }
    if path.contains('?') || path.contains('#') {
        return fail(format!(
            "{url:?}: a query or fragment is not supported here"
        ));
    }
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    match kind {
        "http" => Ok(Target::Http {
            authority: if has_port {
                authority.to_string()
            } else {
                format!("{authority}:80")
            },
            path: if path.is_empty() { "/announce" } else { path }.to_string(),
        }),
        _ => {
            if !has_port {
                return fail(format!("{url:?}: a UDP tracker URL needs a port"));
            }
            Ok(Target::Udp {
                authority: authority.to_string(),
                path: if path == "/" { "" } else { path }.to_string(),
            })
        }
    }
}

/// One of the two test peers.
struct TestPeer {
    number: u8,
    id: PeerId,
    port: u16,
    left: u64,
}

/// What an announce got back.
struct Reply {
    peers: Vec<SocketAddr>,
    /// The address we sent from, as our side of the socket sees it.
    local_ip: IpAddr,
}

async fn check_frontend(kind: &str, url: &str, delay: Duration) -> Result<(), Failure> {
    let target = parse_target(kind, url)?;
    let addr = resolve(&target).await?;
    let info_hash = InfoHash(rand::random());
    println!("{kind}: tracker {url} ({addr}), random info_hash {info_hash}");

    // Two distinct ports so the peers are distinct (ip, port) entries.
    let port1 = rand::random_range(20_000..40_000u16);
    let port2 = port1 + 1 + rand::random_range(0..20_000u16);
    let peer1 = TestPeer {
        number: 1,
        id: peer_id(),
        port: port1,
        left: 0,
    };
    let peer2 = TestPeer {
        number: 2,
        id: peer_id(),
        port: port2,
        left: 1000,
    };

    let step = |what: &str| format!("{kind}: {what}");
    let announce = |peer: &TestPeer, event: Event| {
        let target = target.clone();
        let id = peer.id;
        let (port, left) = (peer.port, peer.left);
        async move {
            match &target {
                Target::Http { authority, path } => {
                    http_announce(addr, authority, path, info_hash, id, port, left, event).await
                }
                Target::Udp { path, .. } => {
                    udp_announce(addr, path, info_hash, id, port, left, event).await
                }
            }
        }
    };

    let first = announce(&peer1, Event::Started)
        .await
        .map_err(|e| Failure(format!("peer 1 announce failed: {e}")))?;
    println!(
        "{}",
        step(&format!(
            "peer 1 announced (port {}): ok, {} peers",
            peer1.port,
            first.peers.len()
        ))
    );
    let mut ok = expect_no_self(kind, &peer1, &first);

    if !delay.is_zero() {
        println!("{}", step(&format!("waiting {delay:?}")));
        tokio::time::sleep(delay).await;
    }

    let second = announce(&peer2, Event::Started)
        .await
        .map_err(|e| Failure(format!("peer 2 announce failed: {e}")))?;
    ok &= expect_no_self(kind, &peer2, &second);
    ok &= expect_peer(kind, &peer2, &second, &peer1, first.local_ip);

    let again = announce(&peer1, Event::None)
        .await
        .map_err(|e| Failure(format!("peer 1 re-announce failed: {e}")))?;
    ok &= expect_no_self(kind, &peer1, &again);
    ok &= expect_peer(kind, &peer1, &again, &peer2, second.local_ip);

    // Leave the swarm empty; a failure here is reported but the checks stand.
    for peer in [&peer1, &peer2] {
        match announce(peer, Event::Stopped).await {
            Ok(_) => println!("{}", step(&format!("peer {} stopped: ok", peer.number))),
            Err(e) => {
                println!(
                    "{}",
                    step(&format!("peer {} stop failed: {e}", peer.number))
                );
                ok = false;
            }
        }
    }
    if ok {
        println!("{kind}: ok");
        Ok(())
    } else {
        fail("one or more checks failed (see the lines above)")
    }
}

/// `receiver` must have got exactly `sent` back (by the address it announced from).
fn expect_peer(
    kind: &str,
    receiver: &TestPeer,
    reply: &Reply,
    sent: &TestPeer,
    sent_from: IpAddr,
) -> bool {
    let want = SocketAddr::new(canonical_ip(sent_from), sent.port);
    let got: Vec<SocketAddr> = reply
        .peers
        .iter()
        .map(|p| SocketAddr::new(canonical_ip(p.ip()), p.port()))
        .collect();
    let check = format!("peer {} received peer {}", receiver.number, sent.number);
    if got.contains(&want) {
        println!("{kind}: {check}: ok");
        true
    } else if got.iter().any(|p| p.port() == sent.port) {
        // Behind NAT or a proxy the tracker may see another address for us.
        println!(
            "{kind}: {check}: ok (port {} matches; the tracker sees {:?}, we sent from {})",
            sent.port, got, sent_from
        );
        true
    } else {
        println!("{kind}: {check}: FAILED: expected {want}, received {got:?}");
        false
    }
}

/// Nobody may be handed their own address.
fn expect_no_self(kind: &str, peer: &TestPeer, reply: &Reply) -> bool {
    let me = SocketAddr::new(canonical_ip(reply.local_ip), peer.port);
    if reply
        .peers
        .iter()
        .any(|p| SocketAddr::new(canonical_ip(p.ip()), p.port()) == me)
    {
        println!(
            "{kind}: peer {} was not handed itself: FAILED: received {:?} including its own {me}",
            peer.number, reply.peers
        );
        false
    } else {
        true
    }
}

fn peer_id() -> PeerId {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = *b"-CY0001-000000000000";
    for b in &mut id[8..] {
        *b = ALPHABET[rand::random_range(0..ALPHABET.len())];
    }
    PeerId(id)
}

async fn resolve(target: &Target) -> Result<SocketAddr, Failure> {
    let authority = match target {
        Target::Http { authority, .. } | Target::Udp { authority, .. } => authority,
    };
    let mut addrs = timeout(REQUEST_TIMEOUT, tokio::net::lookup_host(authority.as_str()))
        .await
        .map_err(|_| Failure(format!("resolving {authority} timed out")))?
        .map_err(|e| Failure(format!("cannot resolve {authority}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| Failure(format!("{authority} resolves to no address")))
}

// ---------------------------------------------------------------- HTTP

/// Percent-encodes every byte that is not unreserved (RFC 3986).
fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn http_announce(
    addr: SocketAddr,
    authority: &str,
    path: &str,
    info_hash: InfoHash,
    peer_id: PeerId,
    port: u16,
    left: u64,
    event: Event,
) -> Result<Reply, String> {
    let mut query = format!(
        "info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}&compact=1&numwant=50",
        url_encode(&info_hash.0),
        url_encode(&peer_id.0),
    );
    if event != Event::None {
        query.push_str("&event=");
        query.push_str(event.as_str());
    }
    let request = format!(
        "GET {path}?{query} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: chihaya-e2e\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
    );
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let local_ip = stream.local_addr().map_err(|e| e.to_string())?.ip();
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("sending the request to {addr}: {e}"))?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_HTTP_REPLY)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("reading the reply from {addr}: {e}"))?;
        Ok::<_, String>((local_ip, raw))
    };
    let (local_ip, raw) = timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no complete HTTP reply from {addr} within {REQUEST_TIMEOUT:?}"))??;
    let body = http_body(&raw)?;
    let peers = parse_announce_body(&body)?;
    Ok(Reply { peers, local_ip })
}

/// The body of a complete HTTP/1.1 response read to EOF; non-200 is an error.
fn http_body(raw: &[u8]) -> Result<Vec<u8>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            format!(
                "not an HTTP reply: {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(80)])
            )
        })?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split(' ').nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!("HTTP status {status:?}, expected 200"));
    }
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        }
    }
    let rest = &raw[end + 4..];
    if chunked {
        return dechunk(rest);
    }
    match length {
        Some(n) if rest.len() < n => Err(format!("body cut short: {} of {n} bytes", rest.len())),
        Some(n) => Ok(rest[..n].to_vec()),
        None => Ok(rest.to_vec()),
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body cut short")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err("chunked body cut short".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Reads the peers of a bencoded announce reply (compact `peers`/`peers6`
/// strings or the dictionary list); a `failure reason` is an error.
fn parse_announce_body(body: &[u8]) -> Result<Vec<SocketAddr>, String> {
    let value = bencode::decode(body).map_err(|e| {
        format!(
            "reply is not valid bencode ({e}): {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    if let Some(reason) = value.get(b"failure reason") {
        return Err(format!(
            "tracker said: {}",
            String::from_utf8_lossy(reason.as_bytes().unwrap_or(b"?"))
        ));
    }
    if value.get(b"interval").and_then(|v| v.as_int()).is_none() {
        return Err("reply has no integer `interval`".into());
    }
    let mut peers = Vec::new();
    match value.get(b"peers") {
        None => {}
        Some(v) if v.as_bytes().is_some() => {
            let bytes = v.as_bytes().unwrap_or_default();
            if bytes.len() % 6 != 0 {
                return Err(format!(
                    "compact `peers` is {} bytes, not a multiple of 6",
                    bytes.len()
                ));
            }
            for c in bytes.chunks_exact(6) {
                let ip = IpAddr::from([c[0], c[1], c[2], c[3]]);
                peers.push(SocketAddr::new(ip, u16::from_be_bytes([c[4], c[5]])));
            }
        }
        Some(v) => {
            let list = v
                .as_list()
                .ok_or("`peers` is neither a string nor a list")?;
            for p in list {
                let ip = p
                    .get(b"ip")
                    .and_then(|ip| ip.as_str())
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
                    .ok_or("a peer dictionary has no valid `ip`")?;
                let port = p
                    .get(b"port")
                    .and_then(|port| port.as_int())
                    .and_then(|port| u16::try_from(port).ok())
                    .ok_or("a peer dictionary has no valid `port`")?;
                peers.push(SocketAddr::new(ip, port));
            }
        }
    }
    if let Some(v) = value.get(b"peers6") {
        let bytes = v.as_bytes().ok_or("`peers6` is not a string")?;
        if bytes.len() % 18 != 0 {
            return Err(format!(
                "`peers6` is {} bytes, not a multiple of 18",
                bytes.len()
            ));
        }
        for c in bytes.chunks_exact(18) {
            let ip: [u8; 16] = c[..16].try_into().expect("16 bytes");
            peers.push(SocketAddr::new(
                IpAddr::from(ip),
                u16::from_be_bytes([c[16], c[17]]),
            ));
        }
    }
    Ok(peers)
}

// ---------------------------------------------------------------- UDP

async fn udp_announce(
    addr: SocketAddr,
    path: &str,
    info_hash: InfoHash,
    peer_id: PeerId,
    port: u16,
    left: u64,
    event: Event,
) -> Result<Reply, String> {
    let bind: SocketAddr = match addr {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // A connected socket reports ICMP "port unreachable" as an error, so a
    // closed port fails at once instead of after every retry.
    sock.connect(addr)
        .await
        .map_err(|e| format!("cannot reach {addr}: {e}"))?;
    let local_ip = sock.local_addr().map_err(|e| e.to_string())?.ip();
    let family = Family::of(addr.ip());

    let mut buf = Vec::with_capacity(128);
    let tid = rand::random();
    udp_codec::write_connect_request(&mut buf, tid);
    let connection_id = match udp_exchange(&sock, addr, &buf, tid, family).await? {
        Response::Connect { connection_id, .. } => connection_id,
        other => return Err(format!("expected a connect reply, got {other:?}")),
    };

    let tid = rand::random();
    let mut params = Params::default();
    if !path.is_empty() {
        params
            .route
            .push((udp_codec::PATH_PARAM.to_string(), path.to_string()));
    }
    let announce = UdpAnnounce {
        connection_id,
        transaction_id: tid,
        info_hash,
        peer_id,
        downloaded: 0,
        left,
        uploaded: 0,
        event,
        ip: None,
        key: rand::random(),
        num_want: 50,
        port,
        params,
    };
    udp_codec::write_announce_request(&mut buf, &announce);
    match udp_exchange(&sock, addr, &buf, tid, family).await? {
        Response::Announce(reply) => Ok(Reply {
            peers: reply.peers,
            local_ip,
        }),
        other => Err(format!("expected an announce reply, got {other:?}")),
    }
}

/// Sends `packet` until the reply with `tid` arrives (bounded: UDP_ATTEMPTS
/// sends, REQUEST_TIMEOUT / UDP_ATTEMPTS each). Tracker errors are errors.
async fn udp_exchange(
    sock: &UdpSocket,
    addr: SocketAddr,
    packet: &[u8],
    tid: u32,
    family: Family,
) -> Result<Response, String> {
    let per_attempt = REQUEST_TIMEOUT / UDP_ATTEMPTS;
    let mut reply = vec![0u8; 2048];
    for _ in 0..UDP_ATTEMPTS {
        sock.send(packet)
            .await
            .map_err(|e| format!("sending to {addr}: {e}"))?;
        let deadline = tokio::time::Instant::now() + per_attempt;
        loop {
            let n = match tokio::time::timeout_at(deadline, sock.recv(&mut reply)).await {
                Err(_) => break, // this attempt timed out: send again
                Ok(Err(e)) => {
                    return Err(format!("no reply from {addr}: {e}"));
                }
                Ok(Ok(n)) => n,
            };
            let response = udp_codec::parse_response(&reply[..n], family)
                .map_err(|e| format!("unreadable reply ({e}): {:02x?}", &reply[..n.min(64)]))?;
            let rtid = match &response {
                Response::Connect { transaction_id, .. }
                | Response::Error { transaction_id, .. } => *transaction_id,
                Response::Announce(a) => a.transaction_id,
                Response::Scrape(s) => s.transaction_id,
            };
            if rtid != tid {
                continue; // a late reply to an earlier attempt
            }
            if let Response::Error { message, .. } = response {
                return Err(format!("tracker said: {message}"));
            }
            return Ok(response);
        }
    }
    Err(format!(
        "no reply from {addr} after {UDP_ATTEMPTS} attempts within {REQUEST_TIMEOUT:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            parse_target("http", "http://127.0.0.1:6969/announce").unwrap(),
            Target::Http {
                authority: "127.0.0.1:6969".into(),
                path: "/announce".into()
            }
        );
        assert_eq!(
            parse_target("http", "http://tracker.example").unwrap(),
            Target::Http {
                authority: "tracker.example:80".into(),
                path: "/announce".into()
            }
        );
        assert_eq!(
            parse_target("udp", "udp://[::1]:6969").unwrap(),
            Target::Udp {
                authority: "[::1]:6969".into(),
                path: "".into()
            }
        );
        assert_eq!(
            parse_target("udp", "udp://[::1]:6969/abc/announce").unwrap(),
            Target::Udp {
                authority: "[::1]:6969".into(),
                path: "/abc/announce".into()
            }
        );
        assert!(parse_target("udp", "udp://[::1]").is_err());
        assert!(parse_target("udp", "http://127.0.0.1:6969").is_err());
        assert!(parse_target("http", "127.0.0.1:6969").is_err());
        assert!(parse_target("http", "https://127.0.0.1/announce").is_err());
    }

    #[test]
    fn http_bodies_are_unframed() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(http_body(raw).unwrap(), b"hello");
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n";
        assert_eq!(http_body(raw).unwrap(), b"hello");
        let raw = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert!(http_body(raw).unwrap_err().contains("404"));
        assert!(http_body(b"garbage").is_err());
    }

    #[test]
    fn announce_bodies_give_peers() {
        let body = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe16:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2e";
        let peers = parse_announce_body(body).unwrap();
        assert_eq!(
            peers,
            vec![
                "127.0.0.1:6881".parse::<SocketAddr>().unwrap(),
                "[::1]:6882".parse().unwrap()
            ]
        );
        let body = b"d8:intervali1800e5:peersld2:ip9:127.0.0.14:porti6881eeee";
        assert_eq!(
            parse_announce_body(body).unwrap(),
            vec!["127.0.0.1:6881".parse::<SocketAddr>().unwrap()]
        );
        let err = parse_announce_body(b"d14:failure reason3:nahe").unwrap_err();
        assert_eq!(err, "tracker said: nah");
        assert!(
            parse_announce_body(b"d5:peers0:e")
                .unwrap_err()
                .contains("interval")
        );
        assert!(parse_announce_body(b"d8:intervali1e5:peers5:12345e").is_err());
    }

    #[test]
    fn url_encoding_escapes_everything_reserved() {
        assert_eq!(url_encode(b"a-Z_0.~"), "a-Z_0.~");
        assert_eq!(url_encode(&[0, b' ', b'+', 0xff]), "%00%20%2B%FF");
    }
}
