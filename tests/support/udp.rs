//! A BEP 15 client with every packet laid out by hand, for the binary tests.

#![allow(dead_code)] // each test file uses a different part of this

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

/// BEP 15's magic constant that opens every connect request.
const PROTOCOL_ID: u64 = 0x41727101980;
const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_SCRAPE: u32 = 2;
const ACTION_ERROR: u32 = 3;
pub const EVENT_NONE: u32 = 0;
pub const EVENT_COMPLETED: u32 = 1;
pub const EVENT_STARTED: u32 = 2;
pub const EVENT_STOPPED: u32 = 3;
/// `announce_interval: 30m` in the test config, in seconds.
pub const INTERVAL: u32 = 1800;

/// One client socket with the connection ID the tracker gave it.
pub struct Client {
    socket: UdpSocket,
    tracker: SocketAddr,
    connection_id: u64,
    next_transaction: u32,
}

/// Announce fields, in BEP 15's names.
pub struct Announce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub left: u64,
    pub event: u32,
    pub port: u16,
}

/// Every field of a BEP 15 announce after the header, for clients (such as
/// lbry-sdk) whose key and num_want must be reproduced byte for byte.
pub struct RawAnnounce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub downloaded: u64,
    pub left: u64,
    pub uploaded: u64,
    pub event: u32,
    pub ip: u32,
    pub key: u32,
    pub num_want: i32,
    pub port: u16,
}

impl From<&Announce> for RawAnnounce {
    /// What a typical client sends: nothing transferred, key 0x5eed, default num_want.
    fn from(a: &Announce) -> Self {
        RawAnnounce {
            info_hash: a.info_hash,
            peer_id: a.peer_id,
            downloaded: 0,
            left: a.left,
            uploaded: 0,
            event: a.event,
            ip: 0,
            key: 0x5eed,
            num_want: -1,
            port: a.port,
        }
    }
}

/// What an announce reply carried.
#[derive(Debug, PartialEq, Eq)]
pub struct AnnounceReply {
    pub interval: u32,
    pub leechers: u32,
    pub seeders: u32,
    pub peers: Vec<SocketAddr>,
}

/// Seeders, completed, leechers: BEP 15's scrape order (not the announce order).
#[derive(Debug, PartialEq, Eq)]
pub struct ScrapeCounts {
    pub seeders: u32,
    pub completed: u32,
    pub leechers: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

impl Client {
    pub fn connect(tracker: SocketAddr) -> Client {
        Client::connect_from(tracker, tracker.ip())
    }

    /// A client on its own address (127.0.0.2, 127.0.0.3, ... are all
    /// loopback on Linux), so several hosts can be emulated on one machine.
    pub fn connect_from(tracker: SocketAddr, local: IpAddr) -> Client {
        let socket = UdpSocket::bind(SocketAddr::new(local, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut client = Client {
            socket,
            tracker,
            connection_id: 0,
            next_transaction: 0x1000,
        };
        let tid = client.transaction();
        let mut packet = Vec::with_capacity(16);
        packet.extend_from_slice(&PROTOCOL_ID.to_be_bytes()); // 0..8   protocol id
        packet.extend_from_slice(&ACTION_CONNECT.to_be_bytes()); // 8..12  action
        packet.extend_from_slice(&tid.to_be_bytes()); // 12..16 transaction id
        let reply = client.exchange(&packet);
        assert_eq!(reply.len(), 16, "connect reply is 16 bytes: {reply:?}");
        assert_eq!(u32_at(&reply, 0), ACTION_CONNECT);
        assert_eq!(u32_at(&reply, 4), tid);
        client.connection_id = u64::from_be_bytes(reply[8..16].try_into().unwrap());
        client
    }

    fn transaction(&mut self) -> u32 {
        self.next_transaction += 1;
        self.next_transaction
    }

    /// Sends and waits for the reply; a lost datagram is retried, boundedly.
    fn exchange(&self, packet: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            self.socket.send_to(packet, self.tracker).unwrap();
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                assert_eq!(from, self.tracker);
                return buf[..n].to_vec();
            }
        }
        panic!("no reply from {} after 3 tries", self.tracker);
    }

    /// An announce the tracker must answer normally.
    pub fn announce(&mut self, a: &Announce) -> AnnounceReply {
        self.announce_raw(&RawAnnounce::from(a))
    }

    /// An announce that may be refused: `Err` holds the error packet's message.
    pub fn try_announce(&mut self, a: &Announce) -> Result<AnnounceReply, String> {
        self.try_announce_raw(&RawAnnounce::from(a))
    }

    pub fn announce_raw(&mut self, a: &RawAnnounce) -> AnnounceReply {
        self.try_announce_raw(a)
            .unwrap_or_else(|e| panic!("error packet instead of an announce reply: {e:?}"))
    }

    /// An announce the tracker must refuse: the error reply's text.
    pub fn announce_refused(&mut self, a: &RawAnnounce) -> String {
        match self.try_announce_raw(a) {
            Err(message) => message,
            Ok(reply) => panic!("not refused: {reply:?}"),
        }
    }

    fn try_announce_raw(&mut self, a: &RawAnnounce) -> Result<AnnounceReply, String> {
        self.try_announce_url(a, b"")
    }

    /// An announce carrying `url_data` as BEP 41 URLData options (split in
    /// 255-byte options, as clients do), e.g. `/PASSKEY/announce`.
    pub fn try_announce_url(
        &mut self,
        a: &RawAnnounce,
        url_data: &[u8],
    ) -> Result<AnnounceReply, String> {
        let (reply, tid) = self.announce_exchange(a, url_data);
        assert!(reply.len() >= 8, "reply too short: {reply:?}");
        assert_eq!(u32_at(&reply, 4), tid);
        if u32_at(&reply, 0) == ACTION_ERROR {
            return Err(String::from_utf8_lossy(&reply[8..]).into_owned());
        }
        assert!(reply.len() >= 20, "announce reply too short: {reply:?}");
        assert_eq!(u32_at(&reply, 0), ACTION_ANNOUNCE, "reply: {reply:?}");
        Ok(AnnounceReply {
            interval: u32_at(&reply, 8),
            leechers: u32_at(&reply, 12),
            seeders: u32_at(&reply, 16),
            peers: peers(&reply[20..], self.tracker.ip()),
        })
    }

    /// Sends the announce; the reply and the transaction id it must carry.
    fn announce_exchange(&mut self, a: &RawAnnounce, url_data: &[u8]) -> (Vec<u8>, u32) {
        let tid = self.transaction();
        let mut p = Vec::with_capacity(98);
        p.extend_from_slice(&self.connection_id.to_be_bytes()); //  0..8  connection id
        p.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes()); //  8..12 action
        p.extend_from_slice(&tid.to_be_bytes()); // 12..16 transaction id
        p.extend_from_slice(&a.info_hash); // 16..36 info_hash
        p.extend_from_slice(&a.peer_id); // 36..56 peer_id
        p.extend_from_slice(&a.downloaded.to_be_bytes()); // 56..64 downloaded
        p.extend_from_slice(&a.left.to_be_bytes()); // 64..72 left
        p.extend_from_slice(&a.uploaded.to_be_bytes()); // 72..80 uploaded
        p.extend_from_slice(&a.event.to_be_bytes()); // 80..84 event
        p.extend_from_slice(&a.ip.to_be_bytes()); // 84..88 ip (0: the sender's)
        p.extend_from_slice(&a.key.to_be_bytes()); // 88..92 key
        p.extend_from_slice(&a.num_want.to_be_bytes()); // 92..96 num_want (-1: default)
        p.extend_from_slice(&a.port.to_be_bytes()); // 96..98 port
        assert_eq!(p.len(), 98);
        for chunk in url_data.chunks(255) {
            p.push(2); // URLData
            p.push(chunk.len() as u8);
            p.extend_from_slice(chunk);
        }
        (self.exchange(&p), tid)
    }

    pub fn scrape(&mut self, info_hash: [u8; 20]) -> ScrapeCounts {
        let tid = self.transaction();
        let mut p = Vec::with_capacity(36);
        p.extend_from_slice(&self.connection_id.to_be_bytes()); //  0..8  connection id
        p.extend_from_slice(&ACTION_SCRAPE.to_be_bytes()); //  8..12 action
        p.extend_from_slice(&tid.to_be_bytes()); // 12..16 transaction id
        p.extend_from_slice(&info_hash); // 16..36 info_hash
        let reply = self.exchange(&p);
        assert_eq!(reply.len(), 8 + 12, "one torrent's counts: {reply:?}");
        assert_eq!(u32_at(&reply, 0), ACTION_SCRAPE);
        assert_eq!(u32_at(&reply, 4), tid);
        ScrapeCounts {
            seeders: u32_at(&reply, 8),
            completed: u32_at(&reply, 12),
            leechers: u32_at(&reply, 16),
        }
    }
}

/// Compact peers: 4-byte address + port for IPv4 clients, 16 + 2 for IPv6.
fn peers(bytes: &[u8], family: IpAddr) -> Vec<SocketAddr> {
    let size = if family.is_ipv4() { 6 } else { 18 };
    assert_eq!(
        bytes.len() % size,
        0,
        "peer list of {size}-byte entries: {bytes:?}"
    );
    bytes
        .chunks(size)
        .map(|c| {
            let (ip, port) = c.split_at(size - 2);
            let ip: IpAddr = match ip.len() {
                4 => <[u8; 4]>::try_from(ip).unwrap().into(),
                _ => <[u8; 16]>::try_from(ip).unwrap().into(),
            };
            SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]]))
        })
        .collect()
}
