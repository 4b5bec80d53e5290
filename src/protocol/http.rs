//! The HTTP tracker protocol (BEP 3, 7, 23, 48) without the I/O: a decoded
//! query becomes an [`AnnounceRequest`] / [`ScrapeRequest`], and a reply
//! becomes the exact bencoded bytes a client reads.
//!
//! Every error here is a [`ClientError`] whose text the client sees as
//! `failure reason`, so the texts name the parameter at fault.

use std::net::IpAddr;

use crate::config::{HttpConfig, SwarmConfig};
use crate::protocol::bencode::Dict;
use crate::protocol::query::Query;
use crate::protocol::{
    AnnounceRequest, AnnounceResponse, ClientError, Event, InfoHash, Params, Peer, PeerId,
    ScrapeRequest, ScrapeResponse, canonical_ip,
};

/// The frontend settings an announce is parsed against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnounceOptions {
    pub default_numwant: u32,
    pub max_numwant: u32,
    /// Whether `ip=` / `ipv4=` / `ipv6=` may replace the address the
    /// connection came from.
    pub allow_ip_spoofing: bool,
    /// Which ports are valid and the selection each announce starts with.
    pub swarm: SwarmConfig,
}

impl From<&HttpConfig> for AnnounceOptions {
    /// With plain BitTorrent swarms; see [`AnnounceOptions::with_swarm`].
    fn from(c: &HttpConfig) -> Self {
        AnnounceOptions {
            default_numwant: c.default_numwant,
            max_numwant: c.max_numwant,
            allow_ip_spoofing: c.allow_ip_spoofing,
            swarm: SwarmConfig::DEFAULT,
        }
    }
}

impl AnnounceOptions {
    pub fn with_swarm(self, swarm: SwarmConfig) -> Self {
        AnnounceOptions { swarm, ..self }
    }
}

/// How the client wants its peer list (BEP 23 `compact`, and `no_peer_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerListFormat {
    /// 6/18-byte binary entries in `peers` / `peers6`; the default, as every
    /// modern client asks for it.
    pub compact: bool,
    /// In the dictionary form, leave out `peer id`.
    pub no_peer_id: bool,
}

impl Default for PeerListFormat {
    fn default() -> Self {
        PeerListFormat {
            compact: true,
            no_peer_id: false,
        }
    }
}

/// Parses an announce.
///
/// `raw_query` is kept in [`Params::query`] for hooks; `ip` is the address the
/// frontend decided with [`client_ip`], replaced by a client-given one only
/// when `options.allow_ip_spoofing` is set.
pub fn parse_announce(
    query: &Query<'_>,
    raw_query: &[u8],
    route: Vec<(String, String)>,
    ip: IpAddr,
    options: &AnnounceOptions,
) -> Result<(AnnounceRequest, PeerListFormat), ClientError> {
    let ip = match options.allow_ip_spoofing {
        true => spoofed_ip(query).unwrap_or(ip),
        false => ip,
    };
    let fields = AnnounceFields::of(query);
    let mut request = AnnounceRequest {
        info_hash: InfoHash::from_slice(required(fields.info_hash, "info_hash")?)?,
        peer_id: PeerId::from_slice(required(fields.peer_id, "peer_id")?)?,
        ip: canonical_ip(ip),
        port: parse_port(fields.port, &options.swarm)?,
        uploaded: required_u64(fields.uploaded, "uploaded")?,
        downloaded: required_u64(fields.downloaded, "downloaded")?,
        left: required_u64(fields.left, "left")?,
        event: fields.event.map_or(Ok(Event::None), Event::from_http)?,
        numwant: parse_numwant(fields.numwant, options)?,
        key: fields.key.and_then(parse_key),
        params: Params {
            route,
            query: raw_query.to_vec(),
        },
        selection: Default::default(),
    };
    request.selection = options.swarm.selection(request.port);
    let format = PeerListFormat {
        compact: fields.compact != Some(b"0"),
        no_peer_id: fields.no_peer_id == Some(b"1"),
    };
    Ok((request, format))
}

/// The first value of each parameter an announce reads, found in one pass
/// over the query rather than one pass per parameter.
#[derive(Default)]
struct AnnounceFields<'q> {
    info_hash: Option<&'q [u8]>,
    peer_id: Option<&'q [u8]>,
    port: Option<&'q [u8]>,
    uploaded: Option<&'q [u8]>,
    downloaded: Option<&'q [u8]>,
    left: Option<&'q [u8]>,
    event: Option<&'q [u8]>,
    numwant: Option<&'q [u8]>,
    key: Option<&'q [u8]>,
    compact: Option<&'q [u8]>,
    no_peer_id: Option<&'q [u8]>,
}

impl<'q> AnnounceFields<'q> {
    fn of(query: &'q Query<'_>) -> Self {
        let mut fields = AnnounceFields::default();
        for (key, value) in query.iter() {
            let slot = match key {
                b"info_hash" => &mut fields.info_hash,
                b"peer_id" => &mut fields.peer_id,
                b"port" => &mut fields.port,
                b"uploaded" => &mut fields.uploaded,
                b"downloaded" => &mut fields.downloaded,
                b"left" => &mut fields.left,
                b"event" => &mut fields.event,
                b"numwant" => &mut fields.numwant,
                b"key" => &mut fields.key,
                b"compact" => &mut fields.compact,
                b"no_peer_id" => &mut fields.no_peer_id,
                _ => continue,
            };
            // The first value given counts, as with `Query::first`.
            slot.get_or_insert(value);
        }
        fields
    }
}

/// Parses a scrape: the first `max_infohashes` distinct `info_hash` values,
/// in request order (0: no cap beyond the request size limit). A scrape
/// without any hash is refused: full scrapes would hand out the whole
/// tracker's contents.
pub fn parse_scrape(
    query: &Query<'_>,
    raw_query: &[u8],
    route: Vec<(String, String)>,
    ip: IpAddr,
    max_infohashes: u32,
) -> Result<ScrapeRequest, ClientError> {
    let cap = match max_infohashes {
        0 => usize::MAX,
        n => n as usize,
    };
    let mut info_hashes: Vec<InfoHash> = Vec::new();
    for raw in query.all(b"info_hash") {
        if info_hashes.len() == cap {
            break;
        }
        let hash = InfoHash::from_slice(raw)?;
        if !info_hashes.contains(&hash) {
            info_hashes.push(hash);
        }
    }
    if info_hashes.is_empty() {
        return Err(ClientError::new("no info_hash given"));
    }
    Ok(ScrapeRequest {
        info_hashes,
        ip: canonical_ip(ip),
        params: Params {
            route,
            query: raw_query.to_vec(),
        },
    })
}

/// The announcer's address from the connection and, when the operator runs a
/// proxy, from its header (`real_ip_header`).
///
/// `header` is the value of the configured header, `None` when it is not
/// configured or not present. For an `X-Forwarded-For` chain
/// (`client, proxy1, proxy2`) the RIGHT-most address is taken: it is the one
/// the operator's own proxy appended, while everything left of it was sent by
/// the client and can be forged. A configured header that is present but not
/// an address is the client's error rather than a silent fallback, so a
/// misconfigured proxy shows up at once. The result is always canonical
/// (IPv4-mapped IPv6 becomes IPv4).
pub fn client_ip(
    socket_ip: IpAddr,
    header_name: &str,
    header: Option<&[u8]>,
) -> Result<IpAddr, ClientError> {
    let Some(value) = header else {
        return Ok(canonical_ip(socket_ip));
    };
    let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
    std::str::from_utf8(last)
        .ok()
        .and_then(|text| parse_address(text.trim()))
        .map(canonical_ip)
        .ok_or_else(|| ClientError::new(format!("invalid {header_name} header")))
}

/// A bare address, or one with a port as some proxies write it
/// (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// The first parsable `ip=`, then `ipv4=`, then `ipv6=` (as Go chihaya orders
/// them). Unparsable values (BEP 3 allows DNS names in `ip=`) are skipped:
/// the connection's address is a better answer than a failure.
fn spoofed_ip(query: &Query<'_>) -> Option<IpAddr> {
    [&b"ip"[..], b"ipv4", b"ipv6"].iter().find_map(|key| {
        query
            .all(key)
            .find_map(|v| parse_address(std::str::from_utf8(v).ok()?))
    })
}

fn required<'q>(value: Option<&'q [u8]>, name: &'static str) -> Result<&'q [u8], ClientError> {
    value.ok_or_else(|| ClientError::new(format!("missing {name}")))
}

fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn required_u64(value: Option<&[u8]>, name: &'static str) -> Result<u64, ClientError> {
    parse_u64(required(value, name)?).ok_or_else(|| ClientError::new(format!("invalid {name}")))
}

/// Port 0 only where the swarm takes it as a query (see [`SwarmConfig`]).
fn parse_port(value: Option<&[u8]>, swarm: &SwarmConfig) -> Result<u16, ClientError> {
    parse_u64(required(value, "port")?)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|&p| swarm.accepts_port(p))
        .ok_or_else(|| ClientError::new("invalid port"))
}

/// Absent: the default. Larger than the maximum (even beyond `u64`): the
/// maximum. `0` is valid and means "no peers" (libtorrent sends it with `stopped`).
fn parse_numwant(value: Option<&[u8]>, options: &AnnounceOptions) -> Result<u32, ClientError> {
    let Some(text) = value else {
        return Ok(options.default_numwant.min(options.max_numwant));
    };
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(ClientError::new("invalid numwant"));
    }
    let wanted = parse_u64(text).unwrap_or(u64::MAX);
    Ok(wanted.min(u64::from(options.max_numwant)) as u32)
}

/// libtorrent sends `key` as 8 hex digits; shorter hex works too. Other
/// forms are not an error (the key is optional and only helps identify a
/// client across address changes), they just give no key.
fn parse_key(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 8 {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(text).ok()?, 16).ok()
}

/// Writes an announce reply: keys `complete`, `incomplete`, `interval`,
/// `min interval`, `peers` (always, even empty) and, in compact form with IPv6
/// peers, `peers6`.
///
/// The compact form is sized first and written into exactly that much room,
/// so a fresh `out` is allocated once and never grown or trimmed.
pub fn write_announce(out: &mut Vec<u8>, reply: &AnnounceResponse, format: PeerListFormat) {
    if format.compact {
        out.reserve_exact(compact_announce_len(reply));
    }
    let mut d = Dict::new(out);
    d.int(b"complete", reply.complete.into())
        .int(b"incomplete", reply.incomplete.into())
        .int(b"interval", reply.interval.into())
        .int(b"min interval", reply.min_interval.into());
    if format.compact {
        write_compact_peers(&mut d, reply);
    } else {
        write_peer_dicts(&mut d, &reply.peers, format.no_peer_id);
    }
}

/// The exact length of [`write_announce`]'s compact form.
fn compact_announce_len(reply: &AnnounceResponse) -> usize {
    fn int(n: u32) -> usize {
        decimal_len(n.into()) + 2
    }
    fn bytes(len: usize) -> usize {
        decimal_len(len as u64) + 1 + len
    }
    let v4 = reply.peers_v4().count();
    let v6 = reply.peers.len() - v4;
    let keys = bytes(8) + bytes(10) + bytes(8) + bytes(12) + bytes(5);
    let ints =
        int(reply.complete) + int(reply.incomplete) + int(reply.interval) + int(reply.min_interval);
    let peers6 = if v6 > 0 { bytes(6) + bytes(v6 * 18) } else { 0 };
    2 + keys + ints + bytes(v4 * 6) + peers6
}

fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// BEP 23 / BEP 7: 4-byte address + 2-byte port, 16 + 2 for IPv6, big-endian,
/// written straight into the reply without a temporary buffer.
fn write_compact_peers(d: &mut Dict<'_, '_>, reply: &AnnounceResponse) {
    let v4 = reply.peers_v4().count();
    d.bytes_header(b"peers", v4 * 6);
    for (ip, peer) in reply.peers_v4() {
        d.raw().extend_from_slice(&ip.octets());
        d.raw().extend_from_slice(&peer.port.to_be_bytes());
    }
    let v6 = reply.peers.len() - v4;
    if v6 > 0 {
        d.bytes_header(b"peers6", v6 * 18);
        for (ip, peer) in reply.peers_v6() {
            d.raw().extend_from_slice(&ip.octets());
            d.raw().extend_from_slice(&peer.port.to_be_bytes());
        }
    }
}

/// BEP 3's original form: a list of `{ip, peer id, port}` dictionaries, both
/// address families in the one list. `peer id` is left out where it is not
/// known (the memory engine does not keep it, fixed peers never had one), as
/// with `no_peer_id`: libtorrent and Transmission read such entries.
fn write_peer_dicts(d: &mut Dict<'_, '_>, peers: &[Peer], no_peer_id: bool) {
    let mut list = d.list(b"peers");
    for peer in peers {
        let mut entry = list.dict();
        entry.bytes(b"ip", peer.ip.to_string().as_bytes());
        if let (false, Some(id)) = (no_peer_id, peer.id) {
            entry.bytes(b"peer id", id.as_bytes());
        }
        entry.int(b"port", peer.port.into());
    }
}

/// Writes a scrape reply: `files` maps each raw 20-byte hash to its counts.
/// Hashes are written sorted (dictionary keys must be) and once each.
pub fn write_scrape(out: &mut Vec<u8>, reply: &ScrapeResponse) {
    let mut files: Vec<_> = reply.files.iter().collect();
    files.sort_unstable_by_key(|(hash, _)| *hash);
    files.dedup_by(|a, b| a.0 == b.0);
    let mut d = Dict::new(out);
    let mut by_hash = d.dict(b"files");
    for (hash, scrape) in files {
        by_hash
            .dict(hash.as_bytes())
            .int(b"complete", scrape.complete.into())
            .int(b"downloaded", scrape.downloaded.into())
            .int(b"incomplete", scrape.incomplete.into());
    }
}

/// Writes a failure with the intervals, so clients back off instead of
/// retrying at once.
pub fn write_failure(out: &mut Vec<u8>, reason: &str, interval: u32, min_interval: u32) {
    Dict::new(out)
        .bytes(b"failure reason", reason.as_bytes())
        .int(b"interval", interval.into())
        .int(b"min interval", min_interval.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Scrape;
    use crate::protocol::bencode::{Value, decode};
    use crate::protocol::query::percent_encode;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const OPTIONS: AnnounceOptions = AnnounceOptions {
        default_numwant: 50,
        max_numwant: 100,
        allow_ip_spoofing: false,
        swarm: SwarmConfig::DEFAULT,
    };
    const SOCKET_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    fn base_query() -> String {
        format!(
            "info_hash={}&peer_id={}&port=6881&uploaded=1&downloaded=2&left=3",
            percent_encode(&[0xAB; 20]),
            percent_encode(b"-lt2080-()*!~.abcdef")
        )
    }

    fn announce_with(
        raw: &str,
        options: &AnnounceOptions,
    ) -> Result<(AnnounceRequest, PeerListFormat), ClientError> {
        let query = Query::parse(raw.as_bytes())?;
        parse_announce(&query, raw.as_bytes(), Vec::new(), SOCKET_IP, options)
    }

    fn announce(extra: &str) -> Result<(AnnounceRequest, PeerListFormat), ClientError> {
        announce_with(&format!("{}{extra}", base_query()), &OPTIONS)
    }

    fn announce_err(raw: &str) -> String {
        announce_with(raw, &OPTIONS).unwrap_err().0
    }

    #[test]
    fn parses_a_libtorrent_announce() {
        let raw = format!(
            "{}&event=started&key=0a1B2c3D&numwant=200&compact=1&supportcrypto=1&redundant=0&corrupt=0&trackerid=xyz",
            base_query()
        );
        let route = vec![("passkey".to_string(), "abc".to_string())];
        let query = Query::parse(raw.as_bytes()).unwrap();
        let (req, format) =
            parse_announce(&query, raw.as_bytes(), route.clone(), SOCKET_IP, &OPTIONS).unwrap();
        assert_eq!(req.info_hash, InfoHash([0xAB; 20]));
        assert_eq!(req.peer_id.as_bytes(), b"-lt2080-()*!~.abcdef");
        assert_eq!(req.ip, SOCKET_IP);
        assert_eq!(
            (req.port, req.uploaded, req.downloaded, req.left),
            (6881, 1, 2, 3)
        );
        assert_eq!(req.event, Event::Started);
        assert_eq!(req.numwant, 100);
        assert_eq!(req.key, Some(0x0a1b2c3d));
        assert_eq!(req.params.route, route);
        assert_eq!(req.params.query, raw.as_bytes());
        assert_eq!(
            req.params.query_param("event").as_deref(),
            Some(&b"started"[..])
        );
        assert_eq!(format, PeerListFormat::default());
    }

    #[test]
    fn the_first_of_repeated_parameters_counts() {
        let (req, format) = announce(
            "&port=7000&event=started&event=stopped&numwant=3&numwant=9&compact=0&compact=1&left=9",
        )
        .unwrap();
        assert_eq!(req.port, 6881);
        assert_eq!(req.left, 3);
        assert_eq!(req.event, Event::Started);
        assert_eq!(req.numwant, 3);
        assert!(!format.compact);
    }

    #[test]
    fn missing_and_invalid_parameters_are_named() {
        let base = base_query();
        for name in [
            "info_hash",
            "peer_id",
            "port",
            "uploaded",
            "downloaded",
            "left",
        ] {
            let without: Vec<&str> = base
                .split('&')
                .filter(|p| !p.starts_with(&format!("{name}=")))
                .collect();
            assert_eq!(announce_err(&without.join("&")), format!("missing {name}"));
        }
        for name in ["uploaded", "downloaded", "left"] {
            for bad in ["-1", "x", "", "18446744073709551616", "1.5"] {
                let raw = base.replace(&format!("{name}="), &format!("{name}={bad}&x="));
                assert_eq!(
                    announce_err(&raw),
                    format!("invalid {name}"),
                    "{name}={bad}"
                );
            }
        }
    }

    #[test]
    fn hashes_and_ids_must_be_twenty_bytes() {
        let raw = base_query().replace("info_hash=", "info_hash=%00");
        assert_eq!(announce_err(&raw), "invalid info_hash: must be 20 bytes");
        let raw = base_query().replace("peer_id=", "peer_id=x");
        assert_eq!(announce_err(&raw), "invalid peer_id: must be 20 bytes");
    }

    #[test]
    fn port_zero_and_out_of_range_are_invalid() {
        for bad in ["0", "65536", "-1", "http", ""] {
            let raw = base_query().replace("port=6881", &format!("port={bad}"));
            assert_eq!(announce_err(&raw), "invalid port", "port={bad}");
        }
        let raw = base_query().replace("port=6881", "port=65535");
        assert_eq!(announce_with(&raw, &OPTIONS).unwrap().0.port, 65535);
    }

    /// LBRY mode: port 0 is a query, other ports are stored, and every
    /// announce carries the configured selection.
    #[test]
    fn query_only_ports_are_taken_and_marked() {
        let lbry = OPTIONS.with_swarm(SwarmConfig {
            all_peers: true,
            query_only_below_port: 1,
        });
        let raw = base_query().replace("port=6881", "port=0");
        let (req, _) = announce_with(&raw, &lbry).unwrap();
        assert_eq!((req.port, req.selection.query_only), (0, true));
        assert!(req.selection.all_peers);
        let (req, _) = announce_with(&base_query(), &lbry).unwrap();
        assert_eq!((req.port, req.selection.query_only), (6881, false));
        assert!(req.selection.all_peers);
        for bad in ["65536", "-1", ""] {
            let raw = base_query().replace("port=6881", &format!("port={bad}"));
            let err = announce_with(&raw, &lbry).unwrap_err().0;
            assert_eq!(err, "invalid port", "port={bad}");
        }
        let (req, _) = announce_with(&base_query(), &OPTIONS).unwrap();
        assert_eq!(req.selection, Default::default(), "plain by default");
    }

    #[test]
    fn events() {
        for (text, event) in [
            ("started", Event::Started),
            ("completed", Event::Completed),
            ("stopped", Event::Stopped),
            ("paused", Event::Paused),
            ("empty", Event::None),
            ("", Event::None),
        ] {
            assert_eq!(announce(&format!("&event={text}")).unwrap().0.event, event);
        }
        assert_eq!(announce("").unwrap().0.event, Event::None);
        assert_eq!(announce("&event=bogus").unwrap_err().0, "invalid event");
    }

    #[test]
    fn numwant_defaults_caps_and_allows_zero() {
        assert_eq!(announce("").unwrap().0.numwant, 50);
        assert_eq!(announce("&numwant=0").unwrap().0.numwant, 0);
        assert_eq!(announce("&numwant=7").unwrap().0.numwant, 7);
        assert_eq!(announce("&numwant=101").unwrap().0.numwant, 100);
        assert_eq!(
            announce("&numwant=99999999999999999999999")
                .unwrap()
                .0
                .numwant,
            100
        );
        assert_eq!(announce("&numwant=-1").unwrap_err().0, "invalid numwant");
        assert_eq!(announce("&numwant=").unwrap_err().0, "invalid numwant");
    }

    #[test]
    fn keys_in_hex_and_tolerated_oddities() {
        assert_eq!(announce("&key=DEADBEEF").unwrap().0.key, Some(0xdeadbeef));
        assert_eq!(announce("&key=ff").unwrap().0.key, Some(0xff));
        assert_eq!(announce("&key=not-hex").unwrap().0.key, None);
        assert_eq!(announce("&key=123456789").unwrap().0.key, None);
        assert_eq!(announce("").unwrap().0.key, None);
    }

    #[test]
    fn compact_and_no_peer_id() {
        let f = |extra| announce(extra).unwrap().1;
        assert!(f("").compact);
        assert!(f("&compact=1").compact);
        assert!(!f("&compact=0").compact);
        assert!(!f("&compact=0").no_peer_id);
        assert!(f("&compact=0&no_peer_id=1").no_peer_id);
    }

    #[test]
    fn ip_parameters_need_spoofing_allowed() {
        let extra = "&ipv6=2001:db8::1&ipv6=fe80::1&ipv4=192.0.2.7&ipv4=192.0.2.8";
        assert_eq!(announce(extra).unwrap().0.ip, SOCKET_IP);
        assert_eq!(announce("&ip=192.0.2.9").unwrap().0.ip, SOCKET_IP);

        let spoof = AnnounceOptions {
            allow_ip_spoofing: true,
            ..OPTIONS
        };
        let ip = |extra: &str| {
            announce_with(&format!("{}{extra}", base_query()), &spoof)
                .unwrap()
                .0
                .ip
        };
        assert_eq!(ip(extra), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            ip("&ip=192.0.2.9&ipv4=192.0.2.7"),
            "192.0.2.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            ip("&ipv6=2001:db8::1"),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            ip("&ip=::ffff:192.0.2.1"),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(ip("&ip=tracker.example"), SOCKET_IP);
    }

    #[test]
    fn client_ip_from_socket_or_rightmost_forwarded_address() {
        let socket: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let xff = "X-Forwarded-For";
        assert_eq!(
            client_ip(socket, xff, None).unwrap(),
            IpAddr::from([127, 0, 0, 1])
        );
        let chain = b"6.6.6.6, 203.0.113.5,  198.51.100.2 ";
        assert_eq!(
            client_ip(socket, xff, Some(chain)).unwrap(),
            IpAddr::from([198, 51, 100, 2])
        );
        assert_eq!(
            client_ip(socket, xff, Some(b"[2001:db8::2]:443")).unwrap(),
            "2001:db8::2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(socket, xff, Some(b"::ffff:192.0.2.3")).unwrap(),
            IpAddr::from([192, 0, 2, 3])
        );
        for bad in [&b"1.2.3.4, garbage"[..], b"", b"\xff"] {
            assert_eq!(
                client_ip(socket, xff, Some(bad)).unwrap_err().0,
                "invalid X-Forwarded-For header"
            );
        }
    }

    fn scrape(raw: &str, max: u32) -> Result<ScrapeRequest, ClientError> {
        let query = Query::parse(raw.as_bytes())?;
        parse_scrape(&query, raw.as_bytes(), Vec::new(), SOCKET_IP, max)
    }

    fn hashes(n: u8) -> String {
        (1..=n)
            .map(|i| format!("info_hash={}", percent_encode(&[i; 20])))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn scrape_caps_dedups_and_requires_a_hash() {
        let req = scrape(&hashes(3), 50).unwrap();
        let expect: Vec<_> = (1..=3).map(|i| InfoHash([i; 20])).collect();
        assert_eq!(req.info_hashes, expect);

        let req = scrape(&format!("{}&{}", hashes(2), hashes(3)), 50).unwrap();
        assert_eq!(req.info_hashes, expect);

        let req = scrape(&format!("{}&{}", hashes(1), hashes(5)), 2).unwrap();
        assert_eq!(req.info_hashes, &expect[..2]);

        assert_eq!(scrape(&hashes(60), 0).unwrap().info_hashes.len(), 60);
        assert_eq!(scrape("", 50).unwrap_err().0, "no info_hash given");
        assert_eq!(
            scrape("info_hash=abc", 50).unwrap_err().0,
            "invalid info_hash: must be 20 bytes"
        );
    }

    fn peer(ip: &str, port: u16, id: u8) -> Peer {
        Peer {
            id: Some(PeerId([id; 20])),
            ip: ip.parse().unwrap(),
            port,
        }
    }

    fn reply(peers: Vec<Peer>) -> AnnounceResponse {
        AnnounceResponse {
            interval: 1800,
            min_interval: 900,
            complete: 1,
            incomplete: 0,
            peers,
        }
    }

    fn written(reply: &AnnounceResponse, format: PeerListFormat) -> Vec<u8> {
        let mut out = Vec::new();
        write_announce(&mut out, reply, format);
        decode(&out).expect("reply must be strict bencode");
        if format.compact {
            assert_eq!(compact_announce_len(reply), out.len(), "compact size");
        }
        out
    }

    #[test]
    fn compact_announce_reply_is_byte_exact() {
        let r = reply(vec![peer("127.0.0.1", 6881, 1)]);
        assert_eq!(
            written(&r, PeerListFormat::default()),
            b"d8:completei1e10:incompletei0e8:intervali1800e12:min intervali900e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"
        );
    }

    #[test]
    fn empty_reply_still_has_peers() {
        assert_eq!(
            written(&reply(Vec::new()), PeerListFormat::default()),
            b"d8:completei1e10:incompletei0e8:intervali1800e12:min intervali900e5:peers0:e"
        );
    }

    #[test]
    fn ipv6_peers_go_to_peers6() {
        let r = reply(vec![peer("2001:db8::1", 1, 1), peer("10.0.0.2", 2, 2)]);
        let mut expected = b"d8:completei1e10:incompletei0e8:intervali1800e12:min intervali900e5:peers6:\x0a\x00\x00\x02\x00\x02".to_vec();
        expected.extend_from_slice(b"6:peers618:\x20\x01\x0d\xb8");
        expected.extend_from_slice(&[0; 11]);
        expected.extend_from_slice(b"\x01\x00\x01e");
        assert_eq!(written(&r, PeerListFormat::default()), expected);
    }

    #[test]
    fn dictionary_peer_list_with_and_without_ids() {
        let r = reply(vec![
            peer("10.0.0.2", 80, b'a'),
            peer("2001:db8::1", 443, b'b'),
        ]);
        let full = PeerListFormat {
            compact: false,
            no_peer_id: false,
        };
        let out = written(&r, full);
        let peers = decode(&out).unwrap();
        let peers = peers
            .get(b"peers")
            .and_then(Value::as_list)
            .unwrap()
            .to_vec();
        assert_eq!(peers.len(), 2);
        assert_eq!(
            peers[0].get(b"ip").and_then(Value::as_str),
            Some("10.0.0.2")
        );
        assert_eq!(
            peers[0].get(b"peer id").and_then(Value::as_bytes),
            Some(&[b'a'; 20][..])
        );
        assert_eq!(
            peers[1].get(b"ip").and_then(Value::as_str),
            Some("2001:db8::1")
        );
        assert_eq!(peers[1].get(b"port").and_then(Value::as_int), Some(443));
        let tail = b"5:peersld2:ip8:10.0.0.27:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti80eed";
        assert!(out.windows(tail.len()).any(|w| w == tail));

        let out = written(
            &r,
            PeerListFormat {
                no_peer_id: true,
                ..full
            },
        );
        assert!(
            out.ends_with(b"5:peersld2:ip8:10.0.0.24:porti80eed2:ip11:2001:db8::14:porti443eeee")
        );

        // A peer whose id nobody kept (the memory engine's) has no `peer id`
        // key even when ids were asked for; the others keep theirs.
        let r = reply(vec![
            Peer {
                id: None,
                ..peer("10.0.0.2", 80, b'a')
            },
            peer("2001:db8::1", 443, b'b'),
        ]);
        let out = written(&r, full);
        let tail = b"5:peersld2:ip8:10.0.0.24:porti80eed2:ip11:2001:db8::17:peer id20:bbbbbbbbbbbbbbbbbbbb4:porti443eeee";
        assert!(out.ends_with(tail), "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn scrape_reply_sorts_and_dedups_hashes() {
        let counts = Scrape {
            complete: 3,
            incomplete: 2,
            downloaded: 1,
        };
        let reply = ScrapeResponse {
            files: vec![
                (InfoHash([b'b'; 20]), counts),
                (InfoHash([b'a'; 20]), Scrape::default()),
                (InfoHash([b'b'; 20]), counts),
            ],
        };
        let mut out = Vec::new();
        write_scrape(&mut out, &reply);
        let expected = format!(
            "d5:filesd20:{}d8:completei0e10:downloadedi0e10:incompletei0ee20:{}d8:completei3e10:downloadedi1e10:incompletei2eeee",
            "a".repeat(20),
            "b".repeat(20)
        );
        assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
        decode(&out).unwrap();
    }

    #[test]
    fn failure_reply_carries_intervals() {
        let mut out = Vec::new();
        write_failure(&mut out, "invalid port", 1800, 900);
        assert_eq!(
            out,
            b"d14:failure reason12:invalid port8:intervali1800e12:min intervali900ee"
        );
    }

    proptest! {
        #[test]
        fn any_hash_and_id_survive_encoding(hash in proptest::array::uniform20(any::<u8>()),
                                             id in proptest::array::uniform20(any::<u8>())) {
            let raw = format!("info_hash={}&peer_id={}&port=1&uploaded=0&downloaded=0&left=0",
                              percent_encode(&hash), percent_encode(&id));
            let (req, _) = announce_with(&raw, &OPTIONS).unwrap();
            prop_assert_eq!(req.info_hash, InfoHash(hash));
            prop_assert_eq!(req.peer_id, PeerId(id));
        }

        #[test]
        fn replies_always_decode_strictly(ports in proptest::collection::vec(1u16.., 0..80),
                                          v6 in any::<bool>(), compact in any::<bool>(),
                                          counts in proptest::array::uniform4(any::<u32>())) {
            let peers = ports.iter().enumerate().map(|(i, &port)| Peer {
                id: (i % 3 != 0).then_some(PeerId([i as u8; 20])),
                ip: if v6 && i % 2 == 0 { IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16]) }
                    else { IpAddr::from([10, 0, 0, i as u8]) },
                port,
            }).collect();
            let [complete, incomplete, interval, min_interval] = counts;
            let r = AnnounceResponse { complete, incomplete, interval, min_interval, ..reply(peers) };
            let out = written(&r, PeerListFormat { compact, no_peer_id: false });
            let v = decode(&out).unwrap();
            prop_assert!(v.get(b"peers").is_some());
        }
    }
}
