//! The real binary against hostile UDP traffic: a flood of garbage and of
//! well-formed packets with forged or stolen connection IDs gets no reply at
//! all (an unanswered packet cannot be used to amplify or reflect traffic),
//! the tracker keeps serving afterwards, and a reply never outgrows one
//! 1500-byte Ethernet frame even when a client asks for 1000 peers.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rand::RngExt;
use support::udp::{Announce, Client, EVENT_STARTED};
use support::{Running, free_port};

const PROTOCOL_ID: u64 = 0x0417_2710_1980;
const FLOOD_PACKETS: usize = 50_000;

fn config(ip: &str, port: u16) -> String {
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!(
        "chihaya:\n  udp:\n    addr: \"{host}:{port}\"\n    private_key: \"hostile test\"\n    max_numwant: 1000\n    default_numwant: 1000\n    max_scrape_infohashes: 1000\n"
    )
}

fn start(ip: &str) -> (Running, SocketAddr) {
    let port = free_port(ip);
    let mut tracker = Running::with_config(&config(ip, port));
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    tracker.wait_listening("udp", addr);
    (tracker, addr)
}

/// One hostile packet: random bytes of a random length, or a well-formed
/// header (announce, scrape, connect with a wrong magic, unknown actions)
/// carrying a random connection ID.
fn hostile_packet(rng: &mut impl RngExt) -> Vec<u8> {
    let len = match rng.random_range(0..10) {
        0 => rng.random_range(0..16),
        1..=6 => rng.random_range(16..200),
        _ => rng.random_range(200..1500),
    };
    let mut packet: Vec<u8> = (0..len).map(|_| rng.random()).collect();
    if packet.len() >= 16 && rng.random_bool(0.6) {
        let action: u32 = rng.random_range(0..5);
        let mut id: u64 = rng.random();
        if action == 0 && id == PROTOCOL_ID {
            id ^= 1; // a connect with the real magic would rightly be answered
        }
        packet[..8].copy_from_slice(&id.to_be_bytes());
        packet[8..12].copy_from_slice(&action.to_be_bytes());
        if action == 1 && packet.len() < 98 {
            packet.resize(98, 0x42); // a complete announce, only the ID is wrong
        }
    }
    packet
}

/// Everything `socket` receives until it has been quiet for `quiet`.
fn drain(socket: &UdpSocket, quiet: Duration) -> Vec<Vec<u8>> {
    socket.set_read_timeout(Some(quiet)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65_536];
    for _ in 0..10_000 {
        match socket.recv(&mut buf) {
            Ok(n) => got.push(buf[..n].to_vec()),
            Err(_) => break,
        }
    }
    got
}

#[test]
fn garbage_and_forged_ids_get_no_reply_and_service_goes_on() {
    let (tracker, addr) = start("127.0.0.1");
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker.connect(addr).unwrap();
    let mut rng = rand::rng();
    let started = Instant::now();
    let mut replies = Vec::new();
    for i in 0..FLOOD_PACKETS {
        // The kernel may drop some of the flood; that is allowed, replies are not.
        let _ = attacker.send(&hostile_packet(&mut rng));
        if i % 1000 == 999 {
            replies.extend(drain(&attacker, Duration::from_millis(1)));
        }
    }
    replies.extend(drain(&attacker, Duration::from_millis(500)));
    eprintln!(
        "flood of {FLOOD_PACKETS} packets sent in {:?}",
        started.elapsed()
    );
    assert!(
        replies.is_empty(),
        "replies to garbage: {:?}",
        &replies[..1]
    );

    // A connection ID that is genuine, but was issued to another address,
    // must not work from here: the ID proves the address, not the client.
    let victim = Client::connect(addr);
    let stolen = victim_connection_id(addr);
    let thief = UdpSocket::bind("127.0.0.2:0").unwrap();
    thief.connect(addr).unwrap();
    for action in [1u32, 2, 7] {
        let mut p = announce_packet(stolen, *b"stolen-id-test-hash!", 7000, 10);
        p[8..12].copy_from_slice(&action.to_be_bytes());
        thief.send(&p).unwrap();
    }
    let to_thief = drain(&thief, Duration::from_millis(500));
    assert!(
        to_thief.is_empty(),
        "a stolen ID was honoured: {to_thief:?}"
    );

    let mut client = Client::connect(addr);
    let reply = client.announce(&Announce {
        info_hash: *b"after-the-flood-hash",
        peer_id: *b"-XX0001-after0000001",
        left: 1,
        event: EVENT_STARTED,
        port: 6881,
    });
    assert_eq!((reply.seeders, reply.leechers), (0, 1));
    drop(victim);
    drop(tracker);
}

/// A fresh connection ID issued to a socket on 127.0.0.1.
fn victim_connection_id(tracker: SocketAddr) -> u64 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(tracker).unwrap();
    connect(&socket)
}

fn connect(socket: &UdpSocket) -> u64 {
    let mut p = PROTOCOL_ID.to_be_bytes().to_vec();
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&77u32.to_be_bytes());
    let reply = exchange(socket, &p);
    assert_eq!(reply.len(), 16, "{reply:?}");
    u64::from_be_bytes(reply[8..16].try_into().unwrap())
}

/// Sends until a reply comes, at most three times.
fn exchange(socket: &UdpSocket, packet: &[u8]) -> Vec<u8> {
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 65_536];
    for _ in 0..3 {
        socket.send(packet).unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            return buf[..n].to_vec();
        }
    }
    panic!("no reply after 3 tries");
}

/// A 98-byte announce as BEP 15 lays it out (a leecher, default address).
fn announce_packet(connection_id: u64, hash: [u8; 20], port: u16, num_want: i32) -> Vec<u8> {
    let mut p = connection_id.to_be_bytes().to_vec();
    p.extend_from_slice(&1u32.to_be_bytes()); // action: announce
    p.extend_from_slice(&9u32.to_be_bytes()); // transaction id
    p.extend_from_slice(&hash);
    p.extend_from_slice(&[b'p'; 20]); // peer id
    p.extend_from_slice(&0u64.to_be_bytes()); // downloaded
    p.extend_from_slice(&100u64.to_be_bytes()); // left
    p.extend_from_slice(&0u64.to_be_bytes()); // uploaded
    p.extend_from_slice(&2u32.to_be_bytes()); // event: started
    p.extend_from_slice(&[0; 4]); // ip
    p.extend_from_slice(&[0; 4]); // key
    p.extend_from_slice(&num_want.to_be_bytes());
    p.extend_from_slice(&port.to_be_bytes());
    p
}

/// Fills one swarm with more peers than a frame holds, then asks for 1000.
fn reply_fits_one_frame(ip: &str, peers: u16, ip_header: usize, peer_len: usize) {
    let (_tracker, addr) = start(ip);
    let socket = UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).unwrap();
    socket.connect(addr).unwrap();
    let id = connect(&socket);
    let hash = *b"reply-size-test-hash";
    for port in 1..=peers {
        let reply = exchange(&socket, &announce_packet(id, hash, port, 0));
        assert_eq!(reply.len(), 20, "numwant 0: no peers");
    }
    let reply = exchange(&socket, &announce_packet(id, hash, 60_000, 1000));
    let max_peers = (1500 - ip_header - 8 - 20) / peer_len;
    assert_eq!(u32::from_be_bytes(reply[..4].try_into().unwrap()), 1);
    assert_eq!(reply.len(), 20 + max_peers * peer_len, "{ip}");
    assert!(ip_header + 8 + reply.len() <= 1500, "{ip}: {}", reply.len());
    eprintln!(
        "{ip}: numwant=1000 in a swarm of {} got a {}-byte datagram ({max_peers} peers)",
        peers + 1,
        reply.len()
    );

    // A scrape of 1000 hashes (20 KB) is answered for as many as fit.
    let mut scrape = id.to_be_bytes().to_vec();
    scrape.extend_from_slice(&2u32.to_be_bytes());
    scrape.extend_from_slice(&5u32.to_be_bytes());
    for i in 0..1000u32 {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        scrape.extend_from_slice(&h);
    }
    let reply = exchange(&socket, &scrape);
    assert!(40 + 8 + reply.len() <= 1500, "scrape reply {}", reply.len());
}

#[test]
fn ipv4_reply_with_numwant_1000_fits_1500_bytes() {
    reply_fits_one_frame("127.0.0.1", 300, 20, 6);
}

#[test]
fn ipv6_reply_with_numwant_1000_fits_1500_bytes() {
    reply_fits_one_frame("::1", 100, 40, 18);
}

#[test]
fn a_connect_is_never_answered_with_more_than_it_carried() {
    let (_tracker, addr) = start("127.0.0.1");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(addr).unwrap();
    for extra in [0usize, 1, 84, 1000] {
        let mut p = PROTOCOL_ID.to_be_bytes().to_vec();
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&5u32.to_be_bytes());
        p.resize(16 + extra, 0);
        let reply = exchange(&socket, &p);
        assert_eq!(reply.len(), 16, "connect of {} bytes", p.len());
    }
    // The magic alone, cut short, is not a connect.
    socket.send(&PROTOCOL_ID.to_be_bytes()).unwrap();
    assert!(drain(&socket, Duration::from_millis(300)).is_empty());
}
