//! The real binary over UDP (BEP 15), with every packet laid out by hand, on
//! 127.0.0.1 and on ::1: two peers find each other, scrape counts follow
//! started / completed / stopped.

mod support;

use std::net::SocketAddr;

use support::udp::{
    Announce, AnnounceReply, Client, EVENT_COMPLETED, EVENT_NONE, EVENT_STARTED, EVENT_STOPPED,
    INTERVAL, ScrapeCounts,
};
use support::{Running, both_frontends, free_port};

fn counts(seeders: u32, completed: u32, leechers: u32) -> ScrapeCounts {
    ScrapeCounts {
        seeders,
        completed,
        leechers,
    }
}

fn two_peers_meet_and_counts_follow(ip: &str) {
    let port = free_port(ip);
    let mut tracker = Running::with_config(&both_frontends(ip, port));
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    tracker.wait_listening("udp", addr);

    let hash = *b"udp-binary-test-hash";
    let mut leecher = Client::connect(addr);
    let mut seeder = Client::connect(addr);
    let leecher_at = SocketAddr::new(addr.ip(), 6881);
    let seeder_at = SocketAddr::new(addr.ip(), 6882);
    let as_leecher = |event| Announce {
        info_hash: hash,
        peer_id: *b"-XX0001-leecher00001",
        left: 1000,
        event,
        port: 6881,
    };
    let as_seeder = |event| Announce {
        info_hash: hash,
        peer_id: *b"-XX0001-seeder000001",
        left: 0,
        event,
        port: 6882,
    };

    let first = leecher.announce(&as_leecher(EVENT_STARTED));
    assert_eq!(
        first,
        AnnounceReply {
            interval: INTERVAL,
            leechers: 1,
            seeders: 0,
            peers: vec![],
        },
        "alone in the swarm, never given itself"
    );
    let second = seeder.announce(&as_seeder(EVENT_STARTED));
    assert_eq!((second.seeders, second.leechers), (1, 1));
    assert_eq!(second.peers, [leecher_at], "the seeder sees the leecher");
    let again = leecher.announce(&as_leecher(EVENT_NONE));
    assert_eq!(again.peers, [seeder_at], "the leecher sees the seeder");
    assert_eq!(leecher.scrape(hash), counts(1, 0, 1));

    let done = Announce {
        left: 0,
        ..as_leecher(EVENT_COMPLETED)
    };
    let completed = leecher.announce(&done);
    assert_eq!((completed.seeders, completed.leechers), (2, 0));
    assert_eq!(seeder.scrape(hash), counts(2, 1, 0));

    seeder.announce(&as_seeder(EVENT_STOPPED));
    assert_eq!(leecher.scrape(hash), counts(1, 1, 0));
    assert_eq!(leecher.scrape(*b"never-announced-hash"), counts(0, 0, 0));
}

#[test]
fn ipv4_peers_meet_and_scrape_counts_follow_events() {
    two_peers_meet_and_counts_follow("127.0.0.1");
}

#[test]
fn ipv6_peers_meet_and_scrape_counts_follow_events() {
    two_peers_meet_and_counts_follow("::1");
}
