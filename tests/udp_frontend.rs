//! The UDP frontend over real loopback sockets: a bound server, a plain
//! `UdpSocket` as the client, packets built and read with the codec.
//!
//! Assertions about what the swarm returns (peers, counts) hold for any
//! correct storage engine; with a stub engine that returns nothing they are
//! the ones that fail, never the protocol ones.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chihaya::config::{Config, StorageConfig, UdpConfig};
use chihaya::frontend::udp::UdpFrontend;
use chihaya::middleware::Tracker;
use chihaya::protocol::udp::{
    self, AnnounceReply, Family, Response, ScrapeReply, UdpAnnounce, UdpScrape,
};
use chihaya::protocol::{Event, InfoHash, Params, PeerId};
use chihaya::storage::Storage;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const ANSWER_WAIT: Duration = Duration::from_secs(5);
const SILENCE_WAIT: Duration = Duration::from_millis(300);

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(bind: &str) -> Server {
        Self::start_with(UdpConfig {
            addr: Some(bind.parse().unwrap()),
            private_key: "test key".into(),
            enable_request_timing: true,
            ..UdpConfig::default()
        })
        .await
    }

    async fn start_with(config: UdpConfig) -> Server {
        let storage = Arc::new(Storage::open(&StorageConfig::default()).await.unwrap());
        let tracker = Arc::new(Tracker::new(&Config::default(), storage));
        let frontend = UdpFrontend::bind(&config).await.expect("bind");
        let addr = frontend.local_addrs()[0];
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(frontend.serve(tracker, shutdown.clone()));
        Server {
            addr,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        timeout(ANSWER_WAIT, self.task)
            .await
            .expect("serve returns promptly after shutdown")
            .expect("serve task")
            .expect("serve result");
    }
}

/// A client socket `connect`ed to the server, so it only sees the server's packets.
struct Client {
    socket: UdpSocket,
    family: Family,
    next_txid: Cell<u32>,
}

impl Client {
    async fn new(bind: &str, server: SocketAddr) -> Client {
        let socket = UdpSocket::bind(bind).await.unwrap();
        socket.connect(server).await.unwrap();
        let family = Family::of(socket.local_addr().unwrap().ip());
        Client {
            socket,
            family,
            next_txid: Cell::new(0x5EED_0000),
        }
    }

    fn txid(&self) -> u32 {
        self.next_txid.set(self.next_txid.get() + 1);
        self.next_txid.get()
    }

    async fn exchange(&self, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
        self.socket.send(packet).await.unwrap();
        let mut buf = vec![0u8; 65_536];
        let len = timeout(wait, self.socket.recv(&mut buf))
            .await
            .ok()?
            .unwrap();
        buf.truncate(len);
        Some(buf)
    }

    async fn request(&self, packet: &[u8]) -> Response {
        let reply = self.exchange(packet, ANSWER_WAIT).await.expect("an answer");
        udp::parse_response(&reply, self.family).expect("a well-formed reply")
    }

    async fn assert_silence(&self, packet: &[u8], what: &str) {
        let reply = self.exchange(packet, SILENCE_WAIT).await;
        assert_eq!(reply, None, "{what} must not be answered");
    }

    async fn connect(&self) -> u64 {
        let txid = self.txid();
        let mut p = Vec::new();
        udp::write_connect_request(&mut p, txid);
        match self.request(&p).await {
            Response::Connect {
                transaction_id,
                connection_id,
            } => {
                assert_eq!(transaction_id, txid);
                connection_id
            }
            other => panic!("connect answered with {other:?}"),
        }
    }

    async fn announce(&self, a: UdpAnnounce) -> AnnounceReply {
        let mut p = Vec::new();
        udp::write_announce_request(&mut p, &a);
        match self.request(&p).await {
            Response::Announce(r) => {
                assert_eq!(r.transaction_id, a.transaction_id);
                r
            }
            other => panic!("announce answered with {other:?}"),
        }
    }

    async fn scrape(&self, connection_id: u64, hashes: &[InfoHash]) -> ScrapeReply {
        let s = UdpScrape {
            connection_id,
            transaction_id: self.txid(),
            info_hashes: hashes.to_vec(),
        };
        let mut p = Vec::new();
        udp::write_scrape_request(&mut p, &s);
        match self.request(&p).await {
            Response::Scrape(r) => {
                assert_eq!(r.transaction_id, s.transaction_id);
                r
            }
            other => panic!("scrape answered with {other:?}"),
        }
    }

    /// Sends `packet` and expects an error reply; returns its text.
    async fn error(&self, packet: &[u8]) -> String {
        let txid = u32::from_be_bytes(packet[12..16].try_into().unwrap());
        match self.request(packet).await {
            Response::Error {
                transaction_id,
                message,
            } => {
                assert_eq!(transaction_id, txid);
                message
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

fn announce(connection_id: u64, txid: u32, hash: u8, peer: u8, port: u16) -> UdpAnnounce {
    UdpAnnounce {
        connection_id,
        transaction_id: txid,
        info_hash: InfoHash([hash; 20]),
        peer_id: PeerId([peer; 20]),
        downloaded: 0,
        left: 1000,
        uploaded: 0,
        event: Event::Started,
        ip: None,
        key: u32::from(peer),
        num_want: -1,
        port,
        params: Params::default(),
    }
}

fn announce_packet(a: &UdpAnnounce) -> Vec<u8> {
    let mut p = Vec::new();
    udp::write_announce_request(&mut p, a);
    p
}

#[tokio::test]
async fn connect_and_announce_over_ipv4() {
    let server = Server::start("127.0.0.1:0").await;
    let client = Client::new("127.0.0.1:0", server.addr).await;
    let cid = client.connect().await;
    let txid = client.txid();
    let reply = client.announce(announce(cid, txid, 1, 1, 7001)).await;
    assert_eq!(
        reply.interval,
        30 * 60,
        "Config::default's announce_interval"
    );
    let me: SocketAddr = (Ipv4Addr::LOCALHOST, 7001).into();
    assert!(
        !reply.peers.contains(&me),
        "an announcer never gets itself back"
    );
    server.stop().await;
}

/// Needs the real storage engine (the stub returns no peers and zero counts).
#[tokio::test]
async fn second_peer_sees_the_first_over_ipv4() {
    let server = Server::start("127.0.0.1:0").await;
    let client = Client::new("127.0.0.1:0", server.addr).await;
    let cid = client.connect().await;

    let mut seeder = announce(cid, client.txid(), 2, 1, 7001);
    seeder.left = 0;
    let first = client.announce(seeder).await;
    assert!(first.peers.is_empty(), "alone in the swarm: {first:?}");

    let second = client
        .announce(announce(cid, client.txid(), 2, 2, 7002))
        .await;
    assert_eq!(
        second.peers,
        vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 7001))]
    );
    assert_eq!((second.seeders, second.leechers), (1, 1));
    server.stop().await;
}

/// Engine-independent framing checks first; the peer and count checks need
/// the real storage engine.
#[tokio::test]
async fn ipv6_announcers_get_18_byte_peers() {
    let server = Server::start("[::1]:0").await;
    let client = Client::new("[::1]:0", server.addr).await;
    let cid = client.connect().await;

    let first = announce_packet(&announce(cid, client.txid(), 3, 1, 7001));
    let raw = client.exchange(&first, ANSWER_WAIT).await.expect("answer");
    assert_eq!(&raw[..4], &[0, 0, 0, 1], "announce action");
    assert_eq!((raw.len() - 20) % 18, 0, "18-byte peers");

    let second = client
        .announce(announce(cid, client.txid(), 3, 2, 7002))
        .await;
    let first_peer: SocketAddr = "[::1]:7001".parse().unwrap();
    assert_eq!(second.peers, vec![first_peer]);
    assert_eq!((second.seeders, second.leechers), (0, 2));
    server.stop().await;
}

/// An IPv4 client reaching an IPv6 socket arrives as `::ffff:a.b.c.d`; it
/// must be treated as IPv4 throughout (connection ID, swarm, reply format).
/// The socket listens on the mapped loopback address only.
#[tokio::test]
async fn mapped_ipv4_clients_are_ipv4() {
    let server = Server::start("[::ffff:127.0.0.1]:0").await;
    let target: SocketAddr = (Ipv4Addr::LOCALHOST, server.addr.port()).into();
    let client = Client::new("127.0.0.1:0", target).await;
    let cid = client.connect().await;

    let first = announce_packet(&announce(cid, client.txid(), 4, 1, 7001));
    let raw = client.exchange(&first, ANSWER_WAIT).await.expect("answer");
    assert_eq!(&raw[..4], &[0, 0, 0, 1], "announce action");
    assert_eq!((raw.len() - 20) % 6, 0, "6-byte peers");

    // Needs the real storage engine.
    let second = client
        .announce(announce(cid, client.txid(), 4, 2, 7002))
        .await;
    assert_eq!(
        second.peers,
        vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 7001))]
    );
    server.stop().await;
}

/// Order and framing hold for any engine; the counts need the real one.
#[tokio::test]
async fn scrape_reports_each_hash_in_order() {
    let server = Server::start("127.0.0.1:0").await;
    let client = Client::new("127.0.0.1:0", server.addr).await;
    let cid = client.connect().await;

    let mut seeder = announce(cid, client.txid(), 5, 1, 7001);
    seeder.left = 0;
    client.announce(seeder).await;
    let mut finisher = announce(cid, client.txid(), 5, 2, 7002);
    finisher.left = 0;
    finisher.event = Event::Completed;
    client.announce(finisher).await;
    client
        .announce(announce(cid, client.txid(), 5, 3, 7003))
        .await;

    let empty = InfoHash([0xEE; 20]);
    let reply = client.scrape(cid, &[empty, InfoHash([5; 20])]).await;
    assert_eq!(reply.files.len(), 2);
    assert_eq!(
        reply.files[0],
        Default::default(),
        "unknown hash counts zero"
    );
    let s = reply.files[1];
    assert_eq!((s.complete, s.downloaded, s.incomplete), (2, 1, 1));
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_with_a_valid_id_get_error_packets() {
    let server = Server::start("127.0.0.1:0").await;
    let client = Client::new("127.0.0.1:0", server.addr).await;
    let cid = client.connect().await;
    let good = announce_packet(&announce(cid, client.txid(), 6, 1, 7001));

    let mut p = good.clone();
    p[80..84].copy_from_slice(&9u32.to_be_bytes());
    assert_eq!(client.error(&p).await, "invalid event");

    let mut p = good.clone();
    p[96..98].copy_from_slice(&[0, 0]);
    assert_eq!(client.error(&p).await, "invalid port");

    assert_eq!(client.error(&good[..60]).await, "packet too short");

    let mut p = good[..16].to_vec();
    p[8..12].copy_from_slice(&42u32.to_be_bytes());
    assert_eq!(client.error(&p).await, "invalid action");

    let mut p = good[..16].to_vec();
    p[8..12].copy_from_slice(&udp::ACTION_SCRAPE.to_be_bytes());
    assert_eq!(client.error(&p).await, "scrape without info hashes");
    server.stop().await;
}

#[tokio::test]
async fn nothing_is_answered_without_a_valid_connection_id() {
    let server = Server::start("127.0.0.1:0").await;
    let client = Client::new("127.0.0.1:0", server.addr).await;
    let cid = client.connect().await;
    let forged = cid ^ 1;

    let a = announce(forged, client.txid(), 7, 1, 7001);
    client
        .assert_silence(&announce_packet(&a), "a forged-ID announce")
        .await;

    let mut scrape = Vec::new();
    let s = UdpScrape {
        connection_id: forged,
        transaction_id: client.txid(),
        info_hashes: vec![InfoHash([7; 20])],
    };
    udp::write_scrape_request(&mut scrape, &s);
    client.assert_silence(&scrape, "a forged-ID scrape").await;

    let mut bad_event = announce_packet(&a);
    bad_event[80..84].copy_from_slice(&9u32.to_be_bytes());
    client
        .assert_silence(&bad_event, "a forged-ID malformed announce")
        .await;

    let mut bad_magic = Vec::new();
    udp::write_connect_request(&mut bad_magic, client.txid());
    bad_magic[0] = 0xFF;
    client
        .assert_silence(&bad_magic, "a connect without the magic")
        .await;

    client
        .assert_silence(&[0u8; 15], "a packet without a transaction id")
        .await;

    // The server is alive and the real ID still works.
    let real = announce(cid, client.txid(), 7, 1, 7001);
    client.announce(real).await;
    server.stop().await;
}

#[tokio::test]
async fn an_id_from_another_key_is_rejected() {
    let other = Server::start_with(UdpConfig {
        addr: Some("127.0.0.1:0".parse().unwrap()),
        private_key: "another key".into(),
        ..UdpConfig::default()
    })
    .await;
    let server = Server::start("127.0.0.1:0").await;
    let to_other = Client::new("127.0.0.1:0", other.addr).await;
    let foreign_cid = to_other.connect().await;

    let client = Client::new("127.0.0.1:0", server.addr).await;
    let a = announce(foreign_cid, client.txid(), 8, 1, 7001);
    client
        .assert_silence(&announce_packet(&a), "an ID from another key")
        .await;
    other.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn bep41_url_data_and_paused_are_accepted() {
    let server = Server::start("127.0.0.1:0").await;
    let client = Client::new("127.0.0.1:0", server.addr).await;
    let cid = client.connect().await;
    let mut a = announce(cid, client.txid(), 9, 1, 7001);
    a.event = Event::Paused;
    a.params = Params {
        route: vec![("path".into(), "/announce".into())],
        query: b"passkey=abc".to_vec(),
    };
    client.announce(a).await;
    server.stop().await;
}

#[tokio::test]
async fn bind_errors_name_the_address() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = UdpConfig {
        addr: Some(addr),
        ..UdpConfig::default()
    };
    let err = UdpFrontend::bind(&config).await.err().expect("port in use");
    assert!(format!("{err:#}").contains(&addr.to_string()), "{err:#}");
}

#[tokio::test]
async fn local_addrs_report_the_chosen_port() {
    let server = Server::start("127.0.0.1:0").await;
    assert_eq!(server.addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(server.addr.port(), 0);
    server.stop().await;
}

/// Every core's socket shares the port, but nothing else may: a second
/// frontend on a port in use fails to bind instead of quietly taking a share
/// of its traffic, and the first goes on answering.
#[tokio::test]
async fn a_second_frontend_cannot_share_the_port() {
    let server = Server::start("127.0.0.1:0").await;
    let config = UdpConfig {
        addr: Some(server.addr),
        ..UdpConfig::default()
    };
    let err = UdpFrontend::bind(&config).await.err().expect("port in use");
    assert!(
        format!("{err:#}").contains(&server.addr.to_string()),
        "{err:#}"
    );
    let client = Client::new("127.0.0.1:0", server.addr).await;
    let cid = client.connect().await;
    client
        .announce(announce(cid, client.txid(), 11, 1, 7001))
        .await;
    server.stop().await;
}

/// Many clients at once, whichever socket the kernel hands each one to:
/// every one is answered, and each sees the others' announces.
#[tokio::test]
async fn every_client_is_answered() {
    let server = Server::start("127.0.0.1:0").await;
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(Client::new("127.0.0.1:0", server.addr).await);
    }
    for (i, client) in clients.iter().enumerate() {
        let cid = client.connect().await;
        let reply = client
            .announce(announce(cid, client.txid(), 12, i as u8, 7000 + i as u16))
            .await;
        assert_eq!(reply.peers.len(), i, "client {i} sees those before it");
    }
    server.stop().await;
}

/// Requests fit one Ethernet frame; the frontend takes datagrams of up to
/// 4096 bytes and answers no longer announce (it sees only its start). A
/// longer scrape is still answered: only its first hashes count anyway.
#[tokio::test]
async fn announces_over_4096_bytes_are_not_answered() {
    let server = Server::start_with(UdpConfig {
        addr: Some("127.0.0.1:0".parse().unwrap()),
        private_key: "test key".into(),
        max_scrape_infohashes: 1000,
        ..UdpConfig::default()
    })
    .await;
    let client = Client::new("127.0.0.1:0", server.addr).await;
    let cid = client.connect().await;
    // BEP 41 NOP options pad an announce to any length.
    let padded = |len: usize| {
        let mut p = announce_packet(&announce(cid, client.txid(), 13, 1, 7001));
        p.resize(len, 1);
        p
    };
    client
        .assert_silence(&padded(4097), "a 4097-byte announce")
        .await;
    client
        .assert_silence(&padded(65_507), "a 65,507-byte announce")
        .await;
    let reply = client.request(&padded(4096)).await;
    assert!(matches!(reply, Response::Announce(_)), "{reply:?}");

    let s = UdpScrape {
        connection_id: cid,
        transaction_id: client.txid(),
        info_hashes: (0..3000u32).map(|i| InfoHash([i as u8; 20])).collect(),
    };
    let mut scrape = Vec::new();
    udp::write_scrape_request(&mut scrape, &s);
    match client.request(&scrape).await {
        Response::Scrape(r) => assert_eq!(r.files.len(), udp::MAX_SCRAPE_REPLY_HASHES),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}
