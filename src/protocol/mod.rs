//! The shared vocabulary of the tracker: what an announce and a scrape are,
//! independent of the wire they arrived on.
//!
//! Everything here is pure (no I/O), so the codecs can be hit by property tests
//! and fuzzers directly. Frontends turn bytes into these types; the middleware
//! chain and storage only ever see these types.

pub mod bencode;
pub mod http;
pub mod query;
pub mod udp;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A 20-byte BitTorrent v1 info hash (or a v2 hash truncated to 20 bytes, as BEP 52 announces it).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct InfoHash(pub [u8; 20]);

/// The 20 bytes in one write. The derived impl hashes the array as a
/// slice: a length prefix first, 28 bytes through two writes, which made
/// SipHash a block longer on every table lookup (the memory engine hashes
/// each announce's info hash twice, to prefetch and to find it).
impl std::hash::Hash for InfoHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

/// A 20-byte peer id as chosen by the client.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PeerId(pub [u8; 20]);

macro_rules! twenty_bytes {
    ($t:ident, $what:literal) => {
        impl $t {
            /// Takes exactly 20 bytes; anything else is the client's error.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, ClientError> {
                <[u8; 20]>::try_from(bytes)
                    .map($t)
                    .map_err(|_| ClientError::new(concat!("invalid ", $what, ": must be 20 bytes")))
            }

            pub fn as_bytes(&self) -> &[u8; 20] {
                &self.0
            }

            /// Lower-case hex, for logs and the e2e report.
            pub fn to_hex(&self) -> String {
                self.0.iter().map(|b| format!("{b:02x}")).collect()
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.to_hex())
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

twenty_bytes!(InfoHash, "info_hash");
twenty_bytes!(PeerId, "peer_id");

/// What the client says happened since its last announce.
///
/// `Paused` (BEP 21) comes from partial seeds; the swarm treats it like `None`
/// but hooks may want to see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Event {
    #[default]
    None,
    Started,
    Completed,
    Stopped,
    Paused,
}

impl Event {
    /// The HTTP spelling (`event=` value); `None` is the empty string.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::None => "",
            Event::Started => "started",
            Event::Completed => "completed",
            Event::Stopped => "stopped",
            Event::Paused => "paused",
        }
    }

    /// Parses the HTTP `event=` value. An unknown event is an error rather than
    /// `None`, so a typo in a client never silently turns a `stopped` into a refresh.
    pub fn from_http(value: &[u8]) -> Result<Self, ClientError> {
        match value {
            b"" | b"empty" | b"none" => Ok(Event::None),
            b"started" => Ok(Event::Started),
            b"completed" => Ok(Event::Completed),
            b"stopped" => Ok(Event::Stopped),
            b"paused" => Ok(Event::Paused),
            _ => Err(ClientError::new("invalid event")),
        }
    }
}

/// Makes an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) the IPv4 address it is.
/// Done before anything else looks at an address, so a dual-stack socket never
/// puts an IPv4 client into the IPv6 swarm.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// A peer as handed out to other peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// `None` where nobody knows it: the memory engine does not keep peer
    /// ids, and `fixed_peers` entries never had one. Only BEP 3's
    /// non-compact reply shows it, and leaves the key out when it is `None`.
    pub id: Option<PeerId>,
    pub ip: IpAddr,
    pub port: u16,
}

/// Where a storage engine puts the peers it picks for an announcer, one by
/// one, while it holds the swarm.
///
/// Why not just a `Vec<Peer>`: a `Peer` is 40 bytes (its optional id and
/// an `IpAddr`), so thirty of them are a 1,200-byte allocation per announce
/// that the UDP frontend only turns into 6-byte records again. A UDP reply
/// is a sink of its own ([`udp::AnnounceWriter`]) and takes the peers
/// straight from the swarm; everything that wants the list uses the
/// `Vec<Peer>` sink.
pub trait PeerSink {
    /// Up to `n` peers are on their way (a hint: a list makes room once).
    fn reserve(&mut self, _n: usize) {}

    fn v4(&mut self, ip: Ipv4Addr, port: u16);
    fn v6(&mut self, ip: Ipv6Addr, port: u16);

    /// A run of peers, exactly as one [`PeerSink::v4`] call each, in order.
    /// A swarm hands out consecutive entries as one run, so a sink that
    /// writes compact records checks its room and grows its buffer once per
    /// run instead of once per peer (profiled under bench/udp_load, choosing
    /// peers went from 18.7% to 16.1% of our user time; the rest is mostly
    /// waiting for the entries' memory).
    fn v4_run(&mut self, peers: impl ExactSizeIterator<Item = (Ipv4Addr, u16)>) {
        for (ip, port) in peers {
            self.v4(ip, port);
        }
    }

    /// As [`PeerSink::v4_run`], for IPv6 peers.
    fn v6_run(&mut self, peers: impl ExactSizeIterator<Item = (Ipv6Addr, u16)>) {
        for (ip, port) in peers {
            self.v6(ip, port);
        }
    }

    /// A whole [`Peer`], from an engine or hook that has them: a sink that
    /// keeps ids keeps its id.
    fn peer(&mut self, peer: &Peer) {
        match canonical_ip(peer.ip) {
            IpAddr::V4(ip) => self.v4(ip, peer.port),
            IpAddr::V6(ip) => self.v6(ip, peer.port),
        }
    }
}

impl PeerSink for Vec<Peer> {
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }

    fn v4(&mut self, ip: Ipv4Addr, port: u16) {
        self.push(Peer {
            id: None,
            ip: IpAddr::V4(ip),
            port,
        });
    }

    fn v6(&mut self, ip: Ipv6Addr, port: u16) {
        self.push(Peer {
            id: None,
            ip: IpAddr::V6(ip),
            port,
        });
    }

    fn peer(&mut self, peer: &Peer) {
        self.push(*peer);
    }
}

/// Route parameters (`/:passkey/announce`) and the raw query string (or a UDP
/// BEP 41 URLData path), kept for the hooks to read.
///
/// The query is kept raw and decoded only when a hook asks, so public tracking
/// without hooks never pays for a map of strings per request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// Named route segments in route order, e.g. `("passkey", "abc")`.
    pub route: Vec<(String, String)>,
    /// The raw (still percent-encoded) query string, without the `?`.
    pub query: Vec<u8>,
}

impl Params {
    /// A named route segment, e.g. `passkey` for a `/:passkey/announce` route.
    pub fn route_param(&self, name: &str) -> Option<&str> {
        self.route
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter, percent-decoded bytewise.
    pub fn query_param(&self, name: &str) -> Option<Vec<u8>> {
        query::Query::parse(&self.query)
            .ok()?
            .first(name.as_bytes())
            .map(|v| v.to_vec())
    }
}

/// An announce as every frontend delivers it to the middleware chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    /// The announcer's address as the tracker decided it (socket, proxy header,
    /// or `ip=` when spoofing is allowed); always canonical (see [`canonical_ip`]).
    pub ip: IpAddr,
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Event,
    /// Peers wanted, already resolved against the frontend's default and maximum.
    pub numwant: u32,
    /// The client's `key` (HTTP) or key field (UDP), if any.
    pub key: Option<u32>,
    pub params: Params,
    /// How the swarm picks this announcer's peers; hooks set it.
    pub selection: PeerSelection,
}

/// How the storage engine chooses peers for one announce and whether it
/// records the announcer. Hooks set it (`prefer subnet`, LBRY mode); engines
/// apply it while they hold the swarm, so it is a selection policy, never a
/// filter on a reply already cut to `numwant`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PeerSelection {
    /// Seeders are handed seeders too (LBRY: every peer announces left=0).
    pub all_peers: bool,
    /// Peers sharing this many leading address bits with the announcer come
    /// first: (IPv4 prefix length, IPv6 prefix length).
    pub prefer_subnet: Option<(u8, u8)>,
    /// Answer with peers and counts but do not record the announcer (LBRY's
    /// port-0 "query only" announces).
    pub query_only: bool,
}

impl AnnounceRequest {
    /// A peer with nothing left to download is a seeder.
    pub fn is_seeder(&self) -> bool {
        self.left == 0
    }

    /// The announcer as other peers will see it.
    pub fn peer(&self) -> Peer {
        Peer {
            id: Some(self.peer_id),
            ip: self.ip,
            port: self.port,
        }
    }
}

/// The tracker's answer to an announce.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds until the client should announce again.
    pub interval: u32,
    /// Seconds the client must wait at least before announcing again.
    pub min_interval: u32,
    /// Seeders in the swarm (both address families).
    pub complete: u32,
    /// Leechers in the swarm (both address families).
    pub incomplete: u32,
    /// Peers of the announcer's address family, never the announcer itself.
    pub peers: Vec<Peer>,
}

impl AnnounceResponse {
    /// All of it but the peers.
    pub fn summary(&self) -> AnnounceSummary {
        AnnounceSummary {
            interval: self.interval,
            min_interval: self.min_interval,
            complete: self.complete,
            incomplete: self.incomplete,
        }
    }

    pub fn peers_v4(&self) -> impl Iterator<Item = (Ipv4Addr, &Peer)> {
        self.peers.iter().filter_map(|p| match p.ip {
            IpAddr::V4(ip) => Some((ip, p)),
            IpAddr::V6(_) => None,
        })
    }

    pub fn peers_v6(&self) -> impl Iterator<Item = (Ipv6Addr, &Peer)> {
        self.peers.iter().filter_map(|p| match p.ip {
            IpAddr::V6(ip) => Some((ip, p)),
            IpAddr::V4(_) => None,
        })
    }
}

/// An [`AnnounceResponse`] without its peers: what is left to say once the
/// peers have gone to a [`PeerSink`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AnnounceSummary {
    pub interval: u32,
    pub min_interval: u32,
    pub complete: u32,
    pub incomplete: u32,
}

/// A scrape as every frontend delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeRequest {
    /// In request order; already capped at the frontend's `max_scrape_infohashes`.
    pub info_hashes: Vec<InfoHash>,
    /// The scraper's address (hooks may want it).
    pub ip: IpAddr,
    pub params: Params,
}

/// Counts for one torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Scrape {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads ever seen (snatches).
    pub downloaded: u32,
}

/// The tracker's answer to a scrape: one entry per requested hash, in request order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    pub files: Vec<(InfoHash, Scrape)>,
}

/// An error the client is meant to read: it becomes an HTTP `failure reason`
/// or a UDP error packet. The text is the whole message the client sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(pub String);

impl ClientError {
    pub fn new(reason: impl Into<String>) -> Self {
        ClientError(reason.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv6_becomes_ipv4() {
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(canonical_ip(mapped), "10.1.2.3".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(canonical_ip(v6), v6);
    }

    #[test]
    fn hashes_need_twenty_bytes() {
        assert!(InfoHash::from_slice(&[0; 20]).is_ok());
        assert_eq!(
            InfoHash::from_slice(&[0; 19]).unwrap_err().0,
            "invalid info_hash: must be 20 bytes"
        );
        assert_eq!(
            PeerId::from_slice(&[0; 21]).unwrap_err().0,
            "invalid peer_id: must be 20 bytes"
        );
    }

    #[test]
    fn events_parse_and_reject_unknown() {
        assert_eq!(Event::from_http(b"").unwrap(), Event::None);
        assert_eq!(Event::from_http(b"started").unwrap(), Event::Started);
        assert_eq!(Event::from_http(b"paused").unwrap(), Event::Paused);
        assert_eq!(Event::from_http(b"bogus").unwrap_err().0, "invalid event");
    }
}
