//! LBRY through the real binary, run with dist/lbry.yaml (only its listen
//! address replaced by a test-picked loopback port).
//!
//! The packets are lbry-sdk's (lbry/torrent/tracker.py), byte for byte: a
//! BEP 15 connect, then announces of the first 20 bytes of a 48-byte SD hash
//! with a peer_id "LB-<version>-<node id hex>" cut to 20 bytes, downloaded,
//! left and uploaded 0, event completed (stopped when leaving), IP 0,
//! key = info_hash[:4] ^ peer_id[:4] ^ port, num_want -1, and the TCP port
//! the host serves blobs on; a host that only looks for peers sends port 0.
//! Each host has its own loopback address, as separate machines would.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;

use support::udp::{
    AnnounceReply, Client, EVENT_COMPLETED, EVENT_STOPPED, INTERVAL, RawAnnounce, ScrapeCounts,
};
use support::{Running, both_frontends, free_port, write_config};

/// The shipped LBRY configuration, and the line the test rewrites in it.
const LBRY_YAML: &str = include_str!("../dist/lbry.yaml");
const SHIPPED_ADDR: &str = "addr: \"0.0.0.0:9252\"";
/// The TCP port lbry-sdk serves blobs on by default.
const BLOB_PORT: u16 = 3333;

/// A 48-byte SD hash (SHA-384 sized); LBRY announces its first 20 bytes.
fn sd_hash() -> [u8; 48] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
}

fn info_hash() -> [u8; 20] {
    sd_hash()[..20].try_into().unwrap()
}

/// lbry-sdk's `make_peer_id`: "LB-" + version + "-" + node id hex, cut to 20.
fn lbry_peer_id(node: u8) -> [u8; 20] {
    let node_id_hex: String = (0..48).map(|i| format!("{:02x}", node ^ i)).collect();
    let text = format!("LB-0-113-0-{node_id_hex}");
    text.as_bytes()[..20].try_into().unwrap()
}

/// One LBRY host: its own address, its UDP socket, its peer id and port.
struct Host {
    client: Client,
    peer_id: [u8; 20],
    port: u16,
}

impl Host {
    fn new(tracker: SocketAddr, ip: &str, node: u8, port: u16) -> Host {
        Host {
            client: Client::connect_from(tracker, ip.parse().unwrap()),
            peer_id: lbry_peer_id(node),
            port,
        }
    }

    /// What lbry-sdk's `UDPTrackerClientProtocol.announce` sends.
    fn packet(&self, stopped: bool) -> RawAnnounce {
        let hash = info_hash();
        let be32 = |b: &[u8]| u32::from_be_bytes(b[..4].try_into().unwrap());
        RawAnnounce {
            info_hash: hash,
            peer_id: self.peer_id,
            downloaded: 0,
            left: 0,
            uploaded: 0,
            event: if stopped {
                EVENT_STOPPED
            } else {
                EVENT_COMPLETED
            },
            ip: 0,
            key: be32(&hash) ^ be32(&self.peer_id) ^ u32::from(self.port),
            num_want: -1,
            port: self.port,
        }
    }

    fn announce(&mut self) -> AnnounceReply {
        let packet = self.packet(false);
        self.client.announce_raw(&packet)
    }

    fn leave(&mut self) -> AnnounceReply {
        let packet = self.packet(true);
        self.client.announce_raw(&packet)
    }
}

fn at(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

fn set(peers: &[SocketAddr]) -> HashSet<SocketAddr> {
    let distinct: HashSet<SocketAddr> = peers.iter().copied().collect();
    assert_eq!(distinct.len(), peers.len(), "a peer twice: {peers:?}");
    distinct
}

fn counts(seeders: u32, completed: u32, leechers: u32) -> ScrapeCounts {
    ScrapeCounts {
        seeders,
        completed,
        leechers,
    }
}

fn start_lbry_tracker() -> (Running, SocketAddr) {
    assert!(
        LBRY_YAML.contains(SHIPPED_ADDR),
        "dist/lbry.yaml no longer listens on {SHIPPED_ADDR}"
    );
    let addr = at("127.0.0.1", free_port("127.0.0.1"));
    let yaml = LBRY_YAML.replace(SHIPPED_ADDR, &format!("addr: \"{addr}\""));
    let mut tracker = Running::start(Some(write_config(&yaml)), &[]);
    tracker.wait_listening("udp", addr);
    (tracker, addr)
}

#[test]
fn lbry_hosts_find_each_other_and_port_zero_askers_are_never_handed_out() {
    let (_tracker, addr) = start_lbry_tracker();
    let ips = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let mut hosts: Vec<Host> = (0..3)
        .map(|n| Host::new(addr, ips[n], n as u8, BLOB_PORT))
        .collect();
    let everyone: Vec<SocketAddr> = ips.iter().map(|ip| at(ip, BLOB_PORT)).collect();
    let others = |n: usize| -> HashSet<SocketAddr> {
        (0..3).filter(|&m| m != n).map(|m| everyone[m]).collect()
    };

    // Joining one by one: each is handed everyone already there, never itself.
    for n in 0..3 {
        let reply = hosts[n].announce();
        assert_eq!(reply.interval, INTERVAL);
        assert_eq!(set(&reply.peers), set(&everyone[..n]), "host {n} joining");
        assert_eq!((reply.seeders, reply.leechers), (n as u32 + 1, 0));
    }
    // Re-announcing (lbry-sdk does, after `interval`): each learns the other two.
    for (n, host) in hosts.iter_mut().enumerate() {
        assert_eq!(set(&host.announce().peers), others(n), "host {n}");
    }

    let mut asker = Host::new(addr, "127.0.0.5", 9, 0);
    let reply = asker.announce();
    assert_eq!(
        set(&reply.peers),
        set(&everyone),
        "the port-0 asker gets every host"
    );
    assert_eq!(
        (reply.seeders, reply.leechers),
        (3, 0),
        "and is not counted"
    );
    assert_eq!(
        asker.client.scrape(info_hash()),
        counts(3, 3, 0),
        "three completed hosts; the asker's completed is no snatch"
    );
    for (n, host) in hosts.iter_mut().enumerate() {
        let reply = host.announce();
        assert_eq!(set(&reply.peers), others(n), "host {n} after the asker");
        assert_eq!((reply.seeders, reply.leechers), (3, 0));
    }

    // A host leaves with `stopped`: nobody is handed it any more.
    let gone = hosts[2].leave();
    assert!(gone.peers.is_empty(), "a leaving host got peers: {gone:?}");
    assert_eq!(
        set(&hosts[0].announce().peers),
        HashSet::from([everyone[1]])
    );
    assert_eq!(set(&asker.announce().peers), set(&everyone[..2]));
    assert_eq!(hosts[1].client.scrape(info_hash()), counts(2, 3, 0));
}

/// Without the LBRY settings port 0 keeps meaning a broken client.
#[test]
fn plain_config_still_refuses_port_zero() {
    let port = free_port("127.0.0.1");
    let mut tracker = Running::with_config(&both_frontends("127.0.0.1", port));
    let addr = at("127.0.0.1", port);
    tracker.wait_listening("udp", addr);
    let mut asker = Host::new(addr, "127.0.0.1", 9, 0);
    let packet = asker.packet(false);
    assert_eq!(asker.client.announce_refused(&packet), "invalid port");
    let mut host = Host::new(addr, "127.0.0.1", 1, BLOB_PORT);
    assert_eq!(host.announce().seeders, 1, "a real port is still taken");
}
