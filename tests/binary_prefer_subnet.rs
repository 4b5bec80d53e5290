//! The `prefer subnet` hook in the real binary, over HTTP and UDP: an
//! announcer's neighbours (its /24) come first in its reply, and it is the
//! hook that puts them there: reloaded away, the same announces get a mix.
//!
//! Hosts are emulated by binding client sockets to addresses of 127.0.0.0/8,
//! all loopback on Linux: 127.0.1.x are the asker's neighbours, 127.0.2.x are
//! not. IPv6 has only `::1` as loopback, so the /64 side cannot be varied by
//! address here; the storage engine's unit tests (swarm selection) and the
//! hook's own tests cover it.

mod support;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use support::http::{escape, get_from};
use support::udp::{Announce, Client, EVENT_STARTED, RawAnnounce};
use support::{Running, both_frontends, free_port, write_config};

const SIGHUP: i32 = 1;
const HASH: [u8; 20] = *b"prefer-subnet-test-!";
const PREFER_SUBNET: &str = "  prehooks:\n    - name: prefer subnet\n      options: {ipv4_prefix_len: 24, ipv6_prefix_len: 64}\n";
/// Announces repeated per check: each reply starts its walk of the swarm at
/// a random position, so one lucky reply proves little.
const ROUNDS: usize = 10;

/// One emulated host: where it announces from, the port it gives, and how
/// much it still needs (0: a seeder).
#[derive(Clone, Copy)]
struct Peer {
    ip: Ipv4Addr,
    port: u16,
    left: u64,
}

impl Peer {
    fn peer_id(&self) -> [u8; 20] {
        let id = format!("-PS0001-{:06}{:06}", u32::from(self.ip) & 0xffff, self.port);
        id.into_bytes().try_into().unwrap()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip.into(), self.port)
    }
}

fn seeders(third_octet: u8, count: u8, first_port: u16) -> Vec<Peer> {
    (1..=count)
        .map(|i| Peer {
            ip: Ipv4Addr::new(127, 0, third_octet, i),
            port: first_port + u16::from(i),
            left: 0,
        })
        .collect()
}

/// Six seeders outside the asker's /24, announced first, then three inside it.
struct Swarm {
    far: Vec<Peer>,
    near: Vec<Peer>,
    asker: Peer,
}

impl Swarm {
    fn new() -> Swarm {
        Swarm {
            far: seeders(2, 6, 7000),
            near: seeders(1, 3, 7100),
            asker: Peer {
                ip: Ipv4Addr::new(127, 0, 1, 200),
                port: 7200,
                left: 10,
            },
        }
    }

    fn addrs(peers: &[Peer]) -> HashSet<SocketAddr> {
        peers.iter().map(Peer::addr).collect()
    }
}

/// An announce of `HASH` by `peer` wanting `numwant` peers, over one
/// protocol; the reply's peers in the order they were sent.
type AnnounceFn<'a> = dyn FnMut(&Peer, u32) -> Vec<SocketAddr> + 'a;

fn udp(tracker: SocketAddr) -> impl FnMut(&Peer, u32) -> Vec<SocketAddr> {
    move |peer, numwant| {
        let mut client = Client::connect_from(tracker, peer.ip.into());
        let announce = Announce {
            info_hash: HASH,
            peer_id: peer.peer_id(),
            left: peer.left,
            event: EVENT_STARTED,
            port: peer.port,
        };
        let raw = RawAnnounce {
            num_want: numwant as i32,
            ..RawAnnounce::from(&announce)
        };
        client.announce_raw(&raw).peers
    }
}

fn http(tracker: SocketAddr) -> impl FnMut(&Peer, u32) -> Vec<SocketAddr> {
    move |peer, numwant| {
        let target = format!(
            "/announce?info_hash={}&peer_id={}&port={}&uploaded=0&downloaded=0&left={}&event=started&compact=1&numwant={numwant}",
            escape(&HASH),
            escape(&peer.peer_id()),
            peer.port,
            peer.left,
        );
        let (status, body) = get_from(tracker, peer.ip.into(), &target);
        assert_eq!(status, "HTTP/1.1 200 OK", "{}", body.escape_ascii());
        compact_peers(&body)
    }
}

/// The `peers` string of a compact IPv4 announce reply, 6 bytes a peer.
fn compact_peers(body: &[u8]) -> Vec<SocketAddr> {
    let key = b"5:peers";
    let shown = || body.escape_ascii().to_string();
    let at = body
        .windows(key.len())
        .position(|w| w == key)
        .unwrap_or_else(|| panic!("no peers in {}", shown()))
        + key.len();
    let colon = at + body[at..].iter().position(|&b| b == b':').unwrap();
    let len: usize = std::str::from_utf8(&body[at..colon])
        .unwrap()
        .parse()
        .unwrap();
    let bytes = &body[colon + 1..colon + 1 + len];
    assert_eq!(len % 6, 0, "{}", shown());
    bytes
        .chunks(6)
        .map(|c| {
            let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
            SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([c[4], c[5]]))
        })
        .collect()
}

fn start(port: u16, hooks: &str) -> (Running, std::path::PathBuf) {
    let config = write_config(&(both_frontends("127.0.0.1", port) + hooks));
    let path = config.path.clone();
    let mut tracker = Running::start(Some(config), &[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tracker.wait_listening("http", addr);
    tracker.wait_listening("udp", addr);
    (tracker, path)
}

/// With the hook: asking for fewer peers than the swarm holds, the asker
/// gets every neighbour first, then others; asking for as many as it has
/// neighbours, exactly those.
fn neighbours_come_first(swarm: &Swarm, announce: &mut AnnounceFn) {
    let (near, far) = (Swarm::addrs(&swarm.near), Swarm::addrs(&swarm.far));
    for _ in 0..ROUNDS {
        let got = announce(&swarm.asker, 5);
        assert_eq!(got.len(), 5, "{got:?}");
        let (first, rest) = got.split_at(near.len());
        assert_eq!(
            first.iter().copied().collect::<HashSet<_>>(),
            near,
            "{got:?}"
        );
        assert!(rest.iter().all(|p| far.contains(p)), "{got:?}");
        let exact = announce(&swarm.asker, near.len() as u32);
        assert_eq!(exact.into_iter().collect::<HashSet<_>>(), near);
    }
}

/// Without the hook the same announce is answered from the whole swarm:
/// within a bounded number of tries some reply holds a far peer (each try
/// has 8 chances in 9 to; all of them missing is (1/9)^30).
fn others_come_too(swarm: &Swarm, announce: &mut AnnounceFn) {
    let far = Swarm::addrs(&swarm.far);
    let mut seen = Vec::new();
    for _ in 0..30 {
        let got = announce(&swarm.asker, swarm.near.len() as u32);
        assert_eq!(got.len(), swarm.near.len(), "{got:?}");
        if got.iter().any(|p| far.contains(p)) {
            return;
        }
        seen.push(got);
    }
    panic!("only neighbours without the hook: {seen:?}");
}

/// The whole story over one protocol: build the swarm, check the hook's
/// order, reload the config without the hook, check the order is gone.
fn prefer_subnet_over(make: fn(SocketAddr) -> Box<AnnounceFn<'static>>) {
    let port = free_port("127.0.0.1");
    let (tracker, path) = start(port, PREFER_SUBNET);
    let mut announce = make(SocketAddr::from(([127, 0, 0, 1], port)));
    let swarm = Swarm::new();
    for peer in swarm.far.iter().chain(&swarm.near) {
        announce(peer, 0);
    }
    neighbours_come_first(&swarm, &mut announce);

    std::fs::write(&path, both_frontends("127.0.0.1", port)).unwrap();
    tracker.signal(SIGHUP);
    tracker.wait_log("configuration reloaded");
    others_come_too(&swarm, &mut announce);
}

#[test]
fn udp_neighbours_first_only_with_the_hook() {
    prefer_subnet_over(|tracker| Box::new(udp(tracker)));
}

#[test]
fn http_neighbours_first_only_with_the_hook() {
    prefer_subnet_over(|tracker| Box::new(http(tracker)));
}
