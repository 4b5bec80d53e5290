//! BEP 15 (UDP tracker protocol) and BEP 41 (URL data) packets, both ways.
//!
//! Pure functions, no I/O. The server side parses requests and writes replies;
//! the client side (requests out, replies in) exists so the `e2e` self-test and
//! the property tests exercise exactly the bytes the server reads.
//!
//! Parsing borrows the datagram and allocates only what the request must own
//! (scraped hashes, BEP 41 URL data); writers fill a caller-owned buffer so a
//! receive loop can reuse one buffer for every reply.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::{SwarmConfig, UdpConfig};
use crate::protocol::{
    AnnounceRequest, AnnounceResponse, AnnounceSummary, ClientError, Event, InfoHash, Params,
    PeerId, PeerSink, Scrape, ScrapeRequest, ScrapeResponse, canonical_ip,
};

/// The magic a connect request carries where other requests carry a connection id.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

pub const ACTION_CONNECT: u32 = 0;
pub const ACTION_ANNOUNCE: u32 = 1;
pub const ACTION_SCRAPE: u32 = 2;
pub const ACTION_ERROR: u32 = 3;

/// connection id (8) + action (4) + transaction id (4).
pub const HEADER_LEN: usize = 16;
/// An announce without BEP 41 options.
pub const ANNOUNCE_LEN: usize = 98;
/// Replies are sized to fit, with their IP and UDP headers, in one 1500-byte
/// Ethernet frame: a fragmented reply is lost whenever any fragment is, and
/// big replies to small requests are what amplification attacks feed on.
pub const MTU: usize = 1500;
/// The most a scrape reply answers: 8 + 12n bytes must fit the IPv6 payload
/// (the smaller one), whichever family asked.
pub const MAX_SCRAPE_REPLY_HASHES: usize = (Family::V6.max_payload() - 8) / 12;

const OPTION_END: u8 = 0;
const OPTION_NOP: u8 = 1;
const OPTION_URL_DATA: u8 = 2;

/// The route parameter under which a BEP 41 URLData path reaches the hooks.
pub const PATH_PARAM: &str = "path";

/// The frontend's limits, applied while turning packets into requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub default_numwant: u32,
    pub max_numwant: u32,
    pub max_scrape_infohashes: u32,
    pub allow_ip_spoofing: bool,
    /// Which ports are valid and the selection each announce starts with.
    pub swarm: SwarmConfig,
}

impl From<&UdpConfig> for Limits {
    /// With plain BitTorrent swarms; see [`Limits::with_swarm`].
    fn from(c: &UdpConfig) -> Self {
        Limits {
            default_numwant: c.default_numwant,
            max_numwant: c.max_numwant,
            max_scrape_infohashes: c.max_scrape_infohashes,
            allow_ip_spoofing: c.allow_ip_spoofing,
            swarm: SwarmConfig::DEFAULT,
        }
    }
}

impl Limits {
    pub fn with_swarm(self, swarm: SwarmConfig) -> Self {
        Limits { swarm, ..self }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&UdpConfig::default())
    }
}

/// Which compact peer format a reply uses: that of the announcer's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// 6-byte peers (address, port).
    V4,
    /// 18-byte peers (address, port).
    V6,
}

impl Family {
    /// The UDP payload that fits in one [`MTU`]: minus the IP header (20 or
    /// 40 bytes) and the UDP header (8).
    pub const fn max_payload(self) -> usize {
        match self {
            Family::V4 => MTU - 20 - 8,
            Family::V6 => MTU - 40 - 8,
        }
    }

    /// The most peers one announce reply carries: 242 (IPv4) or 79 (IPv6).
    pub const fn max_peers(self) -> usize {
        let peer_len = match self {
            Family::V4 => 6,
            Family::V6 => 18,
        };
        (self.max_payload() - 20) / peer_len
    }

    pub fn of(ip: IpAddr) -> Self {
        match canonical_ip(ip) {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// The first 16 bytes every request starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// For a connect this is [`PROTOCOL_ID`].
    pub connection_id: u64,
    pub action: u32,
    pub transaction_id: u32,
}

impl Header {
    /// `None` when the packet cannot even carry a transaction id: nothing can be answered.
    pub fn parse(packet: &[u8]) -> Option<Self> {
        (packet.len() >= HEADER_LEN).then(|| Header {
            connection_id: be_u64(packet, 0),
            action: be_u32(packet, 8),
            transaction_id: be_u32(packet, 12),
        })
    }

    fn write(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.connection_id.to_be_bytes());
        buf.extend_from_slice(&self.action.to_be_bytes());
        buf.extend_from_slice(&self.transaction_id.to_be_bytes());
    }
}

/// A request as it arrived; the frontend checks its connection id before acting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Connect(ConnectRequest),
    Announce(UdpAnnounce),
    Scrape(UdpScrape),
}

impl Request {
    pub fn transaction_id(&self) -> u32 {
        match self {
            Request::Connect(c) => c.transaction_id,
            Request::Announce(a) => a.transaction_id,
            Request::Scrape(s) => s.transaction_id,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub transaction_id: u32,
}

/// An announce packet's fields as sent, before the frontend's policy applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpAnnounce {
    pub connection_id: u64,
    pub transaction_id: u32,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub downloaded: u64,
    pub left: u64,
    pub uploaded: u64,
    pub event: Event,
    /// The IPv4 address field; `None` when zero (the usual "use my source address").
    pub ip: Option<Ipv4Addr>,
    pub key: u32,
    /// Negative (normally -1) asks for the default.
    pub num_want: i32,
    pub port: u16,
    /// BEP 41 URLData: the path as route param [`PATH_PARAM`], the raw query in `query`.
    pub params: Params,
}

impl UdpAnnounce {
    /// Applies the frontend's policy: the address is the packet's source unless
    /// spoofing is allowed (IPv4 announcers only), and numwant is resolved.
    pub fn into_request(self, source: IpAddr, limits: &Limits) -> AnnounceRequest {
        let source = canonical_ip(source);
        let ip = match (self.ip, source) {
            (Some(claimed), IpAddr::V4(_)) if limits.allow_ip_spoofing => IpAddr::V4(claimed),
            _ => source,
        };
        AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.peer_id,
            ip,
            port: self.port,
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            left: self.left,
            event: self.event,
            numwant: resolve_numwant(self.num_want, limits),
            key: Some(self.key),
            params: self.params,
            selection: limits.swarm.selection(self.port),
        }
    }
}

fn resolve_numwant(num_want: i32, limits: &Limits) -> u32 {
    match u32::try_from(num_want) {
        Ok(n) => n.min(limits.max_numwant),
        Err(_) => limits.default_numwant.min(limits.max_numwant),
    }
}

/// A scrape packet; `info_hashes` is already capped at the frontend's maximum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpScrape {
    pub connection_id: u64,
    pub transaction_id: u32,
    pub info_hashes: Vec<InfoHash>,
}

impl UdpScrape {
    pub fn into_request(self, source: IpAddr) -> ScrapeRequest {
        ScrapeRequest {
            info_hashes: self.info_hashes,
            ip: canonical_ip(source),
            params: Params::default(),
        }
    }
}

/// A packet that is not a valid request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    /// `None` when the packet was too short to carry a transaction id.
    pub header: Option<Header>,
    /// The text an error reply carries.
    pub error: ClientError,
}

impl RequestError {
    fn new(header: Option<Header>, reason: &str) -> Self {
        RequestError {
            header,
            error: ClientError::new(reason),
        }
    }

    /// The header an error reply may answer, once its connection id checks out.
    /// `None` for packets nobody can be authenticated from: too short to carry a
    /// transaction id, or a malformed connect (answering those would make the
    /// tracker a reflector for spoofed sources).
    pub fn reply_to(&self) -> Option<Header> {
        self.header.filter(|h| h.action != ACTION_CONNECT)
    }
}

/// Parses one datagram. Trailing bytes after a complete request are ignored;
/// a scrape keeps at most `limits.max_scrape_infohashes` hashes.
pub fn parse_request(packet: &[u8], limits: &Limits) -> Result<Request, RequestError> {
    let header =
        Header::parse(packet).ok_or_else(|| RequestError::new(None, "packet too short"))?;
    let fail = |reason| RequestError::new(Some(header), reason);
    match header.action {
        ACTION_CONNECT if header.connection_id == PROTOCOL_ID => {
            Ok(Request::Connect(ConnectRequest {
                transaction_id: header.transaction_id,
            }))
        }
        ACTION_CONNECT => Err(fail("invalid protocol id")),
        ACTION_ANNOUNCE => parse_announce(header, packet, &limits.swarm)
            .map(Request::Announce)
            .map_err(fail),
        ACTION_SCRAPE => parse_scrape(header, packet, limits)
            .map(Request::Scrape)
            .map_err(fail),
        _ => Err(fail("invalid action")),
    }
}

/// Port 0 is taken only where the swarm answers it as a query (LBRY).
fn parse_announce(
    header: Header,
    p: &[u8],
    swarm: &SwarmConfig,
) -> Result<UdpAnnounce, &'static str> {
    if p.len() < ANNOUNCE_LEN {
        return Err("packet too short");
    }
    let event = event_from_wire(be_u32(p, 80)).ok_or("invalid event")?;
    let port = be_u16(p, 96);
    if !swarm.accepts_port(port) {
        return Err("invalid port");
    }
    let ip = Ipv4Addr::from(be_u32(p, 84));
    Ok(UdpAnnounce {
        connection_id: header.connection_id,
        transaction_id: header.transaction_id,
        info_hash: InfoHash(bytes20(p, 16)),
        peer_id: PeerId(bytes20(p, 36)),
        downloaded: be_u64(p, 56),
        left: be_u64(p, 64),
        uploaded: be_u64(p, 72),
        event,
        ip: (!ip.is_unspecified()).then_some(ip),
        key: be_u32(p, 88),
        num_want: be_u32(p, 92) as i32,
        port,
        params: parse_options(&p[ANNOUNCE_LEN..]),
    })
}

fn parse_scrape(header: Header, p: &[u8], limits: &Limits) -> Result<UdpScrape, &'static str> {
    let max = usize::try_from(limits.max_scrape_infohashes)
        .unwrap_or(usize::MAX)
        .min(MAX_SCRAPE_REPLY_HASHES);
    let info_hashes: Vec<InfoHash> = p[HEADER_LEN..]
        .chunks_exact(20)
        .take(max)
        .map(|c| InfoHash(c.try_into().expect("chunks of 20")))
        .collect();
    if info_hashes.is_empty() {
        return Err("scrape without info hashes");
    }
    Ok(UdpScrape {
        connection_id: header.connection_id,
        transaction_id: header.transaction_id,
        info_hashes,
    })
}

/// BEP 41 options. URLData chunks are concatenated and split like an HTTP
/// path and query. Unknown options are skipped by their length; a truncated
/// option ends parsing, since a client that cut it short meant no harm.
fn parse_options(mut opts: &[u8]) -> Params {
    let mut url = Vec::new();
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            OPTION_END => break,
            OPTION_NOP => opts = rest,
            _ => {
                let Some((&len, rest)) = rest.split_first() else {
                    break;
                };
                let Some((data, rest)) = rest.split_at_checked(usize::from(len)) else {
                    break;
                };
                if kind == OPTION_URL_DATA {
                    url.extend_from_slice(data);
                }
                opts = rest;
            }
        }
    }
    url_params(&url)
}

fn url_params(url: &[u8]) -> Params {
    let (path, query) = match url.iter().position(|&b| b == b'?') {
        Some(q) => (&url[..q], &url[q + 1..]),
        None => (url, &[][..]),
    };
    let mut params = Params {
        route: Vec::new(),
        query: query.to_vec(),
    };
    if !path.is_empty() {
        let path = String::from_utf8_lossy(path).into_owned();
        params.route.push((PATH_PARAM.to_owned(), path));
    }
    params
}

fn event_from_wire(code: u32) -> Option<Event> {
    Some(match code {
        0 => Event::None,
        1 => Event::Completed,
        2 => Event::Started,
        3 => Event::Stopped,
        4 => Event::Paused,
        _ => return None,
    })
}

fn event_to_wire(event: Event) -> u32 {
    match event {
        Event::None => 0,
        Event::Completed => 1,
        Event::Started => 2,
        Event::Stopped => 3,
        Event::Paused => 4,
    }
}

// ---- server side: replies -------------------------------------------------

/// Replaces `buf` with a connect reply.
pub fn write_connect(buf: &mut Vec<u8>, transaction_id: u32, connection_id: u64) {
    buf.clear();
    put_u32(buf, ACTION_CONNECT);
    put_u32(buf, transaction_id);
    buf.extend_from_slice(&connection_id.to_be_bytes());
}

/// Replaces `buf` with an announce reply carrying the peers of `family`
/// (at most [`Family::max_peers`], so the reply fits in one [`MTU`]).
pub fn write_announce(
    buf: &mut Vec<u8>,
    transaction_id: u32,
    resp: &AnnounceResponse,
    family: Family,
) {
    let mut reply = AnnounceWriter::new(buf, transaction_id, family);
    for peer in &resp.peers {
        reply.peer(peer);
    }
    reply.finish(&resp.summary());
}

/// An announce reply written while storage hands out the peers (see
/// [`PeerSink`]): the header goes first with its counts left blank, each
/// peer of `family` is appended as it comes (others are skipped, and so is
/// any beyond [`Family::max_peers`]), and [`AnnounceWriter::finish`] fills
/// in the counts. Until then `buf` is not a valid reply.
pub struct AnnounceWriter<'b> {
    buf: &'b mut Vec<u8>,
    family: Family,
    /// Peers that still fit.
    room: usize,
}

impl<'b> AnnounceWriter<'b> {
    /// Replaces `buf`'s contents with the start of the reply.
    pub fn new(buf: &'b mut Vec<u8>, transaction_id: u32, family: Family) -> Self {
        buf.clear();
        put_u32(buf, ACTION_ANNOUNCE);
        put_u32(buf, transaction_id);
        buf.extend_from_slice(&[0; 12]);
        AnnounceWriter {
            buf,
            family,
            room: family.max_peers(),
        }
    }

    /// Completes the reply: interval, leechers, seeders.
    pub fn finish(self, summary: &AnnounceSummary) {
        self.buf[8..12].copy_from_slice(&summary.interval.to_be_bytes());
        self.buf[12..16].copy_from_slice(&summary.incomplete.to_be_bytes());
        self.buf[16..20].copy_from_slice(&summary.complete.to_be_bytes());
    }

    /// Appends as many of `peers` as still fit, `N` bytes each as `record`
    /// writes them (address then port, as one array): the room is checked
    /// and the buffer grown once per run, not per peer or field.
    fn push_run<P, const N: usize>(
        &mut self,
        family: Family,
        peers: impl ExactSizeIterator<Item = P>,
        record: impl Fn(P) -> [u8; N],
    ) {
        if family != self.family {
            return;
        }
        let n = peers.len().min(self.room);
        self.room -= n;
        let start = self.buf.len();
        self.buf.resize(start + n * N, 0);
        let out = self.buf[start..].chunks_exact_mut(N);
        for (slot, peer) in out.zip(peers) {
            slot.copy_from_slice(&record(peer));
        }
    }
}

/// An IPv4 peer as a compact record: address, then port, big-endian.
fn compact_v4((ip, port): (Ipv4Addr, u16)) -> [u8; 6] {
    let (a, p) = (ip.octets(), port.to_be_bytes());
    [a[0], a[1], a[2], a[3], p[0], p[1]]
}

/// An IPv6 peer as a compact record: address, then port, big-endian.
fn compact_v6((ip, port): (Ipv6Addr, u16)) -> [u8; 18] {
    let mut peer = [0; 18];
    peer[..16].copy_from_slice(&ip.octets());
    peer[16..].copy_from_slice(&port.to_be_bytes());
    peer
}

impl PeerSink for AnnounceWriter<'_> {
    fn v4(&mut self, ip: Ipv4Addr, port: u16) {
        self.push_run(Family::V4, std::iter::once((ip, port)), compact_v4);
    }

    fn v6(&mut self, ip: Ipv6Addr, port: u16) {
        self.push_run(Family::V6, std::iter::once((ip, port)), compact_v6);
    }

    fn v4_run(&mut self, peers: impl ExactSizeIterator<Item = (Ipv4Addr, u16)>) {
        self.push_run(Family::V4, peers, compact_v4);
    }

    fn v6_run(&mut self, peers: impl ExactSizeIterator<Item = (Ipv6Addr, u16)>) {
        self.push_run(Family::V6, peers, compact_v6);
    }
}

/// Replaces `buf` with a scrape reply: per hash seeders, completed, leechers
/// (at most [`MAX_SCRAPE_REPLY_HASHES`]).
pub fn write_scrape(buf: &mut Vec<u8>, transaction_id: u32, resp: &ScrapeResponse) {
    buf.clear();
    put_u32(buf, ACTION_SCRAPE);
    put_u32(buf, transaction_id);
    for (_, s) in resp.files.iter().take(MAX_SCRAPE_REPLY_HASHES) {
        put_u32(buf, s.complete);
        put_u32(buf, s.downloaded);
        put_u32(buf, s.incomplete);
    }
}

/// Replaces `buf` with an error reply; the text is what the client shows,
/// cut to fit one [`MTU`].
pub fn write_error(buf: &mut Vec<u8>, transaction_id: u32, message: &str) {
    buf.clear();
    put_u32(buf, ACTION_ERROR);
    put_u32(buf, transaction_id);
    let text = message.as_bytes();
    buf.extend_from_slice(&text[..text.len().min(Family::V6.max_payload() - 8)]);
}

// ---- client side: requests out, replies in --------------------------------

/// Replaces `buf` with a connect request.
pub fn write_connect_request(buf: &mut Vec<u8>, transaction_id: u32) {
    buf.clear();
    Header {
        connection_id: PROTOCOL_ID,
        action: ACTION_CONNECT,
        transaction_id,
    }
    .write(buf);
}

/// Replaces `buf` with an announce request; `params` become BEP 41 URLData.
pub fn write_announce_request(buf: &mut Vec<u8>, a: &UdpAnnounce) {
    buf.clear();
    Header {
        connection_id: a.connection_id,
        action: ACTION_ANNOUNCE,
        transaction_id: a.transaction_id,
    }
    .write(buf);
    buf.extend_from_slice(&a.info_hash.0);
    buf.extend_from_slice(&a.peer_id.0);
    buf.extend_from_slice(&a.downloaded.to_be_bytes());
    buf.extend_from_slice(&a.left.to_be_bytes());
    buf.extend_from_slice(&a.uploaded.to_be_bytes());
    put_u32(buf, event_to_wire(a.event));
    buf.extend_from_slice(&a.ip.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
    put_u32(buf, a.key);
    buf.extend_from_slice(&a.num_want.to_be_bytes());
    buf.extend_from_slice(&a.port.to_be_bytes());
    write_url_data(buf, &a.params);
}

/// URLData in chunks of at most 255 bytes, the path then `?query` if any.
fn write_url_data(buf: &mut Vec<u8>, params: &Params) {
    let path = params.route_param(PATH_PARAM).unwrap_or("").as_bytes();
    let mut url = path.to_vec();
    if !params.query.is_empty() {
        url.push(b'?');
        url.extend_from_slice(&params.query);
    }
    for chunk in url.chunks(255) {
        buf.push(OPTION_URL_DATA);
        buf.push(chunk.len() as u8);
        buf.extend_from_slice(chunk);
    }
}

/// Replaces `buf` with a scrape request.
pub fn write_scrape_request(buf: &mut Vec<u8>, s: &UdpScrape) {
    buf.clear();
    Header {
        connection_id: s.connection_id,
        action: ACTION_SCRAPE,
        transaction_id: s.transaction_id,
    }
    .write(buf);
    for h in &s.info_hashes {
        buf.extend_from_slice(&h.0);
    }
}

/// A tracker's reply as a client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Connect {
        transaction_id: u32,
        connection_id: u64,
    },
    Announce(AnnounceReply),
    Scrape(ScrapeReply),
    Error {
        transaction_id: u32,
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceReply {
    pub transaction_id: u32,
    pub interval: u32,
    pub leechers: u32,
    pub seeders: u32,
    pub peers: Vec<SocketAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeReply {
    pub transaction_id: u32,
    /// One per hash asked, in request order.
    pub files: Vec<Scrape>,
}

/// Parses a reply; `family` says which peer format an announce reply uses
/// (that of the address the request was sent from).
pub fn parse_response(packet: &[u8], family: Family) -> Result<Response, ClientError> {
    if packet.len() < 8 {
        return Err(ClientError::new("packet too short"));
    }
    let transaction_id = be_u32(packet, 4);
    let body = &packet[8..];
    match be_u32(packet, 0) {
        ACTION_CONNECT if body.len() >= 8 => Ok(Response::Connect {
            transaction_id,
            connection_id: be_u64(body, 0),
        }),
        ACTION_ANNOUNCE if body.len() >= 12 => Ok(Response::Announce(AnnounceReply {
            transaction_id,
            interval: be_u32(body, 0),
            leechers: be_u32(body, 4),
            seeders: be_u32(body, 8),
            peers: parse_peers(&body[12..], family),
        })),
        ACTION_SCRAPE => Ok(Response::Scrape(ScrapeReply {
            transaction_id,
            files: body
                .chunks_exact(12)
                .map(|c| Scrape {
                    complete: be_u32(c, 0),
                    downloaded: be_u32(c, 4),
                    incomplete: be_u32(c, 8),
                })
                .collect(),
        })),
        ACTION_ERROR => Ok(Response::Error {
            transaction_id,
            message: String::from_utf8_lossy(body).into_owned(),
        }),
        ACTION_CONNECT | ACTION_ANNOUNCE => Err(ClientError::new("packet too short")),
        _ => Err(ClientError::new("invalid action")),
    }
}

fn parse_peers(bytes: &[u8], family: Family) -> Vec<SocketAddr> {
    match family {
        Family::V4 => bytes
            .chunks_exact(6)
            .map(|c| SocketAddr::new(Ipv4Addr::from(be_u32(c, 0)).into(), be_u16(c, 4)))
            .collect(),
        Family::V6 => bytes
            .chunks_exact(18)
            .map(|c| {
                let ip: [u8; 16] = c[..16].try_into().expect("18-byte chunk");
                SocketAddr::new(Ipv6Addr::from(ip).into(), be_u16(c, 16))
            })
            .collect(),
    }
}

// ---- byte helpers (callers have checked the length) -----------------------

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn be_u16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

fn be_u32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(p[at..at + 4].try_into().expect("4 bytes"))
}

fn be_u64(p: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(p[at..at + 8].try_into().expect("8 bytes"))
}

fn bytes20(p: &[u8], at: usize) -> [u8; 20] {
    p[at..at + 20].try_into().expect("20 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Peer;
    use proptest::prelude::*;

    const TXID: u32 = 0x0102_0304;
    const CID: u64 = 0x1122_3344_5566_7788;

    fn announce() -> UdpAnnounce {
        UdpAnnounce {
            connection_id: CID,
            transaction_id: TXID,
            info_hash: InfoHash([0xAA; 20]),
            peer_id: PeerId([0xBB; 20]),
            downloaded: 1,
            left: 2,
            uploaded: 3,
            event: Event::Started,
            ip: None,
            key: 0xDEAD_BEEF,
            num_want: -1,
            port: 6881,
            params: Params::default(),
        }
    }

    fn packet(a: &UdpAnnounce) -> Vec<u8> {
        let mut buf = Vec::new();
        write_announce_request(&mut buf, a);
        buf
    }

    fn parse(p: &[u8]) -> Result<Request, RequestError> {
        parse_request(p, &Limits::default())
    }

    fn parse_announce(p: &[u8]) -> UdpAnnounce {
        match parse(p).expect("valid announce") {
            Request::Announce(a) => a,
            other => panic!("not an announce: {other:?}"),
        }
    }

    fn error_text(p: &[u8]) -> String {
        parse(p).expect_err("invalid packet").error.0
    }

    fn peer(addr: &str) -> Peer {
        let addr: SocketAddr = addr.parse().unwrap();
        Peer {
            id: Some(PeerId([7; 20])),
            ip: addr.ip(),
            port: addr.port(),
        }
    }

    #[test]
    fn announce_fields_are_read_in_wire_order() {
        let mut p = Vec::new();
        p.extend_from_slice(&CID.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1]);
        p.extend_from_slice(&TXID.to_be_bytes());
        p.extend_from_slice(&[0xAA; 20]);
        p.extend_from_slice(&[0xBB; 20]);
        p.extend_from_slice(&1u64.to_be_bytes()); // downloaded
        p.extend_from_slice(&2u64.to_be_bytes()); // left
        p.extend_from_slice(&3u64.to_be_bytes()); // uploaded
        p.extend_from_slice(&[0, 0, 0, 2]); // started
        p.extend_from_slice(&[0, 0, 0, 0]); // ip
        p.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]); // key
        p.extend_from_slice(&[0xFF; 4]); // num_want -1
        p.extend_from_slice(&[0x1A, 0xE1]); // port 6881
        assert_eq!(p.len(), ANNOUNCE_LEN);
        assert_eq!(parse_announce(&p), announce());
        assert_eq!(packet(&announce()), p, "the writer emits the same bytes");
    }

    #[test]
    fn connect_is_recognised_by_its_magic() {
        let mut p = vec![0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0];
        p.extend_from_slice(&TXID.to_be_bytes());
        assert_eq!(
            parse(&p).unwrap(),
            Request::Connect(ConnectRequest {
                transaction_id: TXID
            })
        );
        let mut built = Vec::new();
        write_connect_request(&mut built, TXID);
        assert_eq!(built, p);
    }

    /// LBRY mode: port 0 parses and becomes a query; elsewhere it is refused.
    #[test]
    fn port_zero_is_a_query_where_configured() {
        let lbry = Limits::default().with_swarm(SwarmConfig {
            all_peers: true,
            query_only_below_port: 1,
        });
        let source: IpAddr = "192.0.2.1".parse().unwrap();
        let asking = packet(&UdpAnnounce {
            port: 0,
            ..announce()
        });
        let Ok(Request::Announce(a)) = parse_request(&asking, &lbry) else {
            panic!("port 0 refused in LBRY mode");
        };
        let req = a.into_request(source, &lbry);
        assert_eq!((req.port, req.selection.query_only), (0, true));
        assert!(req.selection.all_peers);
        let Ok(Request::Announce(a)) = parse_request(&packet(&announce()), &lbry) else {
            panic!("a normal announce refused in LBRY mode");
        };
        let req = a.into_request(source, &lbry);
        assert_eq!((req.port, req.selection.query_only), (6881, false));
        assert!(req.selection.all_peers);
        assert_eq!(error_text(&asking), "invalid port", "port 0 by default");
    }

    #[test]
    fn error_texts() {
        let good = packet(&announce());
        assert_eq!(error_text(&good[..ANNOUNCE_LEN - 1]), "packet too short");
        assert_eq!(error_text(&good[..HEADER_LEN - 1]), "packet too short");

        let mut bad = good.clone();
        bad[80..84].copy_from_slice(&5u32.to_be_bytes());
        assert_eq!(error_text(&bad), "invalid event");

        let mut bad = good.clone();
        bad[96..98].copy_from_slice(&[0, 0]);
        assert_eq!(error_text(&bad), "invalid port");

        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(error_text(&bad), "invalid action");

        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&ACTION_ERROR.to_be_bytes());
        assert_eq!(error_text(&bad), "invalid action");

        let mut connect = Vec::new();
        write_connect_request(&mut connect, TXID);
        connect[7] ^= 1;
        assert_eq!(error_text(&connect), "invalid protocol id");

        let mut scrape = good[..HEADER_LEN].to_vec();
        scrape[8..12].copy_from_slice(&ACTION_SCRAPE.to_be_bytes());
        assert_eq!(error_text(&scrape), "scrape without info hashes");
        scrape.extend_from_slice(&[1; 19]);
        assert_eq!(error_text(&scrape), "scrape without info hashes");
    }

    #[test]
    fn only_authenticatable_errors_can_be_answered() {
        let good = packet(&announce());
        assert_eq!(parse(&good[..15]).unwrap_err().reply_to(), None);
        let mut connect = Vec::new();
        write_connect_request(&mut connect, TXID);
        connect[0] = 9;
        assert_eq!(parse(&connect).unwrap_err().reply_to(), None);
        let short = parse(&good[..50]).unwrap_err();
        assert_eq!(
            short.reply_to(),
            Some(Header {
                connection_id: CID,
                action: ACTION_ANNOUNCE,
                transaction_id: TXID
            })
        );
    }

    #[test]
    fn every_event_code_including_paused() {
        for (code, event) in [
            (0, Event::None),
            (1, Event::Completed),
            (2, Event::Started),
            (3, Event::Stopped),
            (4, Event::Paused),
        ] {
            let mut p = packet(&announce());
            p[80..84].copy_from_slice(&(code as u32).to_be_bytes());
            assert_eq!(parse_announce(&p).event, event);
        }
    }

    #[test]
    fn trailing_bytes_are_tolerated() {
        let mut connect = Vec::new();
        write_connect_request(&mut connect, TXID);
        connect.extend_from_slice(b"junk");
        assert!(matches!(parse(&connect), Ok(Request::Connect(_))));

        let mut p = packet(&announce());
        p.push(OPTION_END);
        p.extend_from_slice(b"\x02\x05ignored after the end");
        assert_eq!(parse_announce(&p), announce());

        let mut s = Vec::new();
        write_scrape_request(
            &mut s,
            &UdpScrape {
                connection_id: CID,
                transaction_id: TXID,
                info_hashes: vec![InfoHash([3; 20])],
            },
        );
        s.extend_from_slice(&[9; 7]);
        let Ok(Request::Scrape(scrape)) = parse(&s) else {
            panic!("scrape expected");
        };
        assert_eq!(scrape.info_hashes, vec![InfoHash([3; 20])]);
    }

    #[test]
    fn url_data_chunks_are_concatenated_into_path_and_query() {
        let mut p = packet(&announce());
        p.extend_from_slice(b"\x02\x0C/announce?pa");
        p.extend_from_slice(b"\x01"); // NOP: single byte, no length
        p.extend_from_slice(b"\x02\x0Bsskey=ab%20");
        p.extend_from_slice(b"\x09\x03xyz"); // unknown option, skipped by length
        p.extend_from_slice(b"\x02\x02&x");
        p.push(OPTION_END);
        let a = parse_announce(&p);
        assert_eq!(a.params.route_param(PATH_PARAM), Some("/announce"));
        assert_eq!(a.params.query, b"passkey=ab%20&x");
    }

    #[test]
    fn truncated_options_end_parsing_without_error() {
        let mut p = packet(&announce());
        p.extend_from_slice(b"\x02\x05/path");
        p.extend_from_slice(b"\x02\x09?cut"); // declares 9 bytes, has 4
        assert_eq!(
            parse_announce(&p).params.route_param(PATH_PARAM),
            Some("/path")
        );
        let mut p = packet(&announce());
        p.push(OPTION_URL_DATA); // no length byte at all
        assert_eq!(parse_announce(&p).params, Params::default());
    }

    #[test]
    fn numwant_and_spoofing_policy() {
        let limits = Limits {
            default_numwant: 50,
            max_numwant: 100,
            max_scrape_infohashes: 50,
            allow_ip_spoofing: false,
            swarm: SwarmConfig::DEFAULT,
        };
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let with = |num_want, ip| UdpAnnounce {
            num_want,
            ip,
            ..announce()
        };
        assert_eq!(with(-1, None).into_request(v4, &limits).numwant, 50);
        assert_eq!(with(-7, None).into_request(v4, &limits).numwant, 50);
        assert_eq!(with(0, None).into_request(v4, &limits).numwant, 0);
        assert_eq!(with(30, None).into_request(v4, &limits).numwant, 30);
        assert_eq!(with(1000, None).into_request(v4, &limits).numwant, 100);

        let spoofed = Ipv4Addr::new(198, 51, 100, 7);
        let claimed = Some(spoofed);
        assert_eq!(with(-1, claimed).into_request(v4, &limits).ip, v4);
        assert_eq!(with(-1, None).into_request(mapped, &limits).ip, v4);
        let spoofing = Limits {
            allow_ip_spoofing: true,
            ..limits
        };
        let req = with(-1, claimed).into_request(mapped, &spoofing);
        assert_eq!(req.ip, IpAddr::V4(spoofed));
        assert_eq!(with(-1, claimed).into_request(v6, &spoofing).ip, v6);
        assert_eq!(with(-1, None).into_request(v4, &spoofing).ip, v4);
        assert_eq!(
            with(-1, None).into_request(v4, &limits).key,
            Some(0xDEAD_BEEF)
        );
    }

    #[test]
    fn scrape_keeps_at_most_the_configured_hashes() {
        let limits = Limits {
            max_scrape_infohashes: 2,
            ..Limits::default()
        };
        let mut p = Vec::new();
        write_scrape_request(
            &mut p,
            &UdpScrape {
                connection_id: CID,
                transaction_id: TXID,
                info_hashes: (1..=5).map(|i| InfoHash([i; 20])).collect(),
            },
        );
        let Ok(Request::Scrape(s)) = parse_request(&p, &limits) else {
            panic!("scrape expected");
        };
        assert_eq!(s.info_hashes, vec![InfoHash([1; 20]), InfoHash([2; 20])]);
    }

    #[test]
    fn replies_fit_one_ethernet_frame_whatever_they_carry() {
        assert_eq!((Family::V4.max_peers(), Family::V6.max_peers()), (242, 79));
        let peers = (0..1000u32)
            .flat_map(|i| {
                let port = 1000 + i as u16;
                [
                    peer(&format!("10.{}.{}.1:{port}", i >> 8, i & 255)),
                    peer(&format!("[2001:db8::{i:x}]:{port}")),
                ]
            })
            .collect();
        let resp = AnnounceResponse {
            peers,
            ..mixed_response()
        };
        let mut buf = Vec::new();
        for (family, ip_header) in [(Family::V4, 20), (Family::V6, 40)] {
            write_announce(&mut buf, TXID, &resp, family);
            let peer_len = if family == Family::V4 { 6 } else { 18 };
            assert_eq!(buf.len(), 20 + peer_len * family.max_peers());
            assert!(
                ip_header + 8 + buf.len() <= MTU,
                "{family:?}: {}",
                buf.len()
            );
            assert!(
                ip_header + 8 + buf.len() + peer_len > MTU,
                "{family:?}: room left"
            );
        }
        let files = (0..1000u32)
            .map(|i| (InfoHash([i as u8; 20]), Scrape::default()))
            .collect();
        write_scrape(&mut buf, TXID, &ScrapeResponse { files });
        assert_eq!(buf.len(), 8 + 12 * MAX_SCRAPE_REPLY_HASHES);
        assert!(40 + 8 + buf.len() <= MTU);
        write_error(&mut buf, TXID, &"x".repeat(5000));
        assert_eq!(40 + 8 + buf.len(), MTU);
    }

    #[test]
    fn scrape_never_asks_for_more_than_one_reply_holds() {
        let limits = Limits {
            max_scrape_infohashes: 10_000,
            ..Limits::default()
        };
        let mut p = Vec::new();
        write_scrape_request(
            &mut p,
            &UdpScrape {
                connection_id: CID,
                transaction_id: TXID,
                info_hashes: (0..500u32).map(|i| InfoHash([i as u8; 20])).collect(),
            },
        );
        let Ok(Request::Scrape(s)) = parse_request(&p, &limits) else {
            panic!("scrape expected");
        };
        assert_eq!(s.info_hashes.len(), MAX_SCRAPE_REPLY_HASHES);
    }

    #[test]
    fn connect_reply_bytes() {
        let mut buf = vec![0xFF; 3];
        write_connect(&mut buf, TXID, CID);
        assert_eq!(
            buf,
            [
                0, 0, 0, 0, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88
            ]
        );
    }

    fn mixed_response() -> AnnounceResponse {
        AnnounceResponse {
            interval: 1800,
            min_interval: 900,
            complete: 3,
            incomplete: 5,
            peers: vec![peer("10.0.0.1:6881"), peer("[2001:db8::1]:51413")],
        }
    }

    /// The header of [`mixed_response`]'s announce reply.
    #[rustfmt::skip]
    const MIXED_HEADER: [u8; 20] = [
        0, 0, 0, 1, 1, 2, 3, 4, // action announce, transaction id
        0, 0, 0x07, 0x08, // interval 1800
        0, 0, 0, 5, // leechers
        0, 0, 0, 3, // seeders
    ];

    #[test]
    fn announce_reply_bytes_v4() {
        let mut buf = Vec::new();
        write_announce(&mut buf, TXID, &mixed_response(), Family::V4);
        assert_eq!(
            buf,
            [&MIXED_HEADER[..], &[10, 0, 0, 1, 0x1A, 0xE1]].concat()
        );
    }

    #[test]
    fn announce_reply_bytes_v6() {
        let mut buf = Vec::new();
        write_announce(&mut buf, TXID, &mixed_response(), Family::V6);
        #[rustfmt::skip]
        let peer = [
            0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xC8, 0xD5,
        ];
        assert_eq!(buf, [&MIXED_HEADER[..], &peer].concat());
    }

    /// Peers written one by one as storage hands them out: the other
    /// family's are skipped, an IPv4-mapped address counts as IPv4, and the
    /// counts land in the header once known.
    #[test]
    fn a_reply_written_as_peers_arrive() {
        let mut buf = vec![0xFF; 7];
        let mut reply = AnnounceWriter::new(&mut buf, TXID, Family::V4);
        reply.v6("2001:db8::1".parse().unwrap(), 1);
        reply.v4(Ipv4Addr::new(10, 0, 0, 1), 6881);
        reply.peer(&peer("[::ffff:10.0.0.2]:2"));
        reply.finish(&mixed_response().summary());
        let peers = [10, 0, 0, 1, 0x1A, 0xE1, 10, 0, 0, 2, 0, 2];
        assert_eq!(buf, [&MIXED_HEADER[..], &peers].concat());
    }

    /// Runs of peers write what one call per peer writes: the other
    /// family's run is skipped whole, and a run is cut where the reply's
    /// room ends, one peer at a time or not.
    #[test]
    fn runs_of_peers_match_peers_one_by_one() {
        let v4: Vec<(Ipv4Addr, u16)> = (0..300u16)
            .map(|i| (Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8), 6881 + i))
            .collect();
        let v6: Vec<(Ipv6Addr, u16)> = (0..100u16)
            .map(|i| (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), 1000 + i))
            .collect();
        for family in [Family::V4, Family::V6] {
            let (mut by_run, mut one_by_one) = (Vec::new(), Vec::new());
            let mut runs = AnnounceWriter::new(&mut by_run, TXID, family);
            let mut singles = AnnounceWriter::new(&mut one_by_one, TXID, family);
            runs.v4(v4[0].0, v4[0].1);
            runs.v6_run(v6[..3].iter().copied());
            runs.v4_run(v4[1..4].iter().copied());
            runs.v6_run(v6[3..].iter().copied());
            runs.v4_run(v4[4..].iter().copied());
            singles.v4(v4[0].0, v4[0].1);
            for &(ip, port) in &v6[..3] {
                singles.v6(ip, port);
            }
            for &(ip, port) in &v4[1..4] {
                singles.v4(ip, port);
            }
            for &(ip, port) in &v6[3..] {
                singles.v6(ip, port);
            }
            for &(ip, port) in &v4[4..] {
                singles.v4(ip, port);
            }
            runs.finish(&mixed_response().summary());
            singles.finish(&mixed_response().summary());
            assert_eq!(by_run, one_by_one, "{family:?}");
            let (record, offered) = match family {
                Family::V4 => (6, v4.len()),
                Family::V6 => (18, v6.len()),
            };
            let expected = 20 + record * family.max_peers().min(offered);
            assert_eq!(by_run.len(), expected, "{family:?}");
            let first: &[u8] = match family {
                Family::V4 => &[10, 0, 0, 0, 0x1A, 0xE1],
                Family::V6 => &[
                    0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xE8,
                ],
            };
            assert_eq!(&by_run[20..20 + record], first, "{family:?}");
        }
    }

    #[test]
    fn scrape_reply_bytes_are_seeders_completed_leechers() {
        let resp = ScrapeResponse {
            files: vec![
                (
                    InfoHash([1; 20]),
                    Scrape {
                        complete: 1,
                        incomplete: 2,
                        downloaded: 3,
                    },
                ),
                (InfoHash([2; 20]), Scrape::default()),
            ],
        };
        let mut buf = Vec::new();
        write_scrape(&mut buf, TXID, &resp);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 2, 1, 2, 3, 4,
            0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(buf, expected);
    }

    #[test]
    fn error_reply_bytes() {
        let mut buf = Vec::new();
        write_error(&mut buf, TXID, "invalid event");
        let mut expected = vec![0, 0, 0, 3, 1, 2, 3, 4];
        expected.extend_from_slice(b"invalid event");
        assert_eq!(buf, expected);
        assert_eq!(
            parse_response(&buf, Family::V4).unwrap(),
            Response::Error {
                transaction_id: TXID,
                message: "invalid event".into()
            }
        );
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        prop_oneof![
            Just(Event::None),
            Just(Event::Started),
            Just(Event::Completed),
            Just(Event::Stopped),
            Just(Event::Paused),
        ]
    }

    fn arb_params() -> impl Strategy<Value = Params> {
        (
            proptest::option::of("/[a-zA-Z0-9/%._-]{0,300}"),
            proptest::collection::vec(any::<u8>(), 0..600),
        )
            .prop_map(|(path, query)| Params {
                route: path.map(|p| (PATH_PARAM.into(), p)).into_iter().collect(),
                query,
            })
    }

    prop_compose! {
        fn arb_announce()(
            ids in (any::<u64>(), any::<u32>()),
            hashes in (any::<[u8; 20]>(), any::<[u8; 20]>()),
            amounts in (any::<u64>(), any::<u64>(), any::<u64>()),
            event in arb_event(),
            ip in any::<u32>(),
            key in any::<u32>(),
            num_want in any::<i32>(),
            port in 1..=u16::MAX,
            params in arb_params(),
        ) -> UdpAnnounce {
            UdpAnnounce {
                connection_id: ids.0,
                transaction_id: ids.1,
                info_hash: InfoHash(hashes.0),
                peer_id: PeerId(hashes.1),
                downloaded: amounts.0,
                left: amounts.1,
                uploaded: amounts.2,
                event,
                ip: Some(Ipv4Addr::from(ip)).filter(|ip| !ip.is_unspecified()),
                key,
                num_want,
                port,
                params,
            }
        }
    }

    proptest! {
        #[test]
        fn announce_round_trips(a in arb_announce()) {
            prop_assert_eq!(parse_announce(&packet(&a)), a);
        }

        #[test]
        fn scrape_round_trips(
            cid in any::<u64>(),
            txid in any::<u32>(),
            hashes in proptest::collection::vec(any::<[u8; 20]>(), 1..=50),
        ) {
            let s = UdpScrape {
                connection_id: cid,
                transaction_id: txid,
                info_hashes: hashes.into_iter().map(InfoHash).collect(),
            };
            let mut buf = Vec::new();
            write_scrape_request(&mut buf, &s);
            prop_assert_eq!(parse(&buf).unwrap(), Request::Scrape(s));
        }

        #[test]
        fn connect_round_trips(txid in any::<u32>(), cid in any::<u64>()) {
            let mut buf = Vec::new();
            write_connect_request(&mut buf, txid);
            prop_assert_eq!(
                parse(&buf).unwrap(),
                Request::Connect(ConnectRequest { transaction_id: txid })
            );
            write_connect(&mut buf, txid, cid);
            prop_assert_eq!(
                parse_response(&buf, Family::V4).unwrap(),
                Response::Connect { transaction_id: txid, connection_id: cid }
            );
        }

        #[test]
        fn announce_reply_round_trips(
            txid in any::<u32>(),
            counts in (any::<u32>(), any::<u32>(), any::<u32>()),
            v4 in proptest::collection::vec((any::<u32>(), any::<u16>()), 0..50),
            v6 in proptest::collection::vec((any::<u128>(), any::<u16>()), 0..50),
        ) {
            let v4: Vec<SocketAddr> =
                v4.into_iter().map(|(ip, port)| (Ipv4Addr::from(ip), port).into()).collect();
            let v6: Vec<SocketAddr> =
                v6.into_iter().map(|(ip, port)| (Ipv6Addr::from(ip), port).into()).collect();
            let resp = AnnounceResponse {
                interval: counts.0,
                min_interval: 0,
                complete: counts.1,
                incomplete: counts.2,
                peers: v4.iter().chain(&v6).map(|a| peer(&a.to_string())).collect(),
            };
            for (family, peers) in [(Family::V4, v4.clone()), (Family::V6, v6.clone())] {
                let mut buf = Vec::new();
                write_announce(&mut buf, txid, &resp, family);
                let expected = Response::Announce(AnnounceReply {
                    transaction_id: txid,
                    interval: counts.0,
                    leechers: counts.2,
                    seeders: counts.1,
                    peers,
                });
                prop_assert_eq!(parse_response(&buf, family).unwrap(), expected);
            }
        }

        #[test]
        fn scrape_reply_round_trips(
            txid in any::<u32>(),
            files in proptest::collection::vec((any::<u32>(), any::<u32>(), any::<u32>()), 0..50),
        ) {
            let files: Vec<Scrape> = files
                .into_iter()
                .map(|(complete, incomplete, downloaded)| Scrape { complete, incomplete, downloaded })
                .collect();
            let resp = ScrapeResponse {
                files: files.iter().map(|s| (InfoHash::default(), *s)).collect(),
            };
            let mut buf = Vec::new();
            write_scrape(&mut buf, txid, &resp);
            prop_assert_eq!(
                parse_response(&buf, Family::V4).unwrap(),
                Response::Scrape(ScrapeReply { transaction_id: txid, files })
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&bytes);
            let _ = parse_response(&bytes, Family::V6);
        }

        #[test]
        fn arbitrary_options_never_panic(
            a in arb_announce(),
            opts in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut p = packet(&a);
            p.extend_from_slice(&opts);
            let parsed = parse_announce(&p);
            prop_assert_eq!(parsed.info_hash, a.info_hash);
        }
    }
}
