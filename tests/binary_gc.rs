//! The garbage collector runs in the real binary: a peer that stops
//! announcing disappears after peer_lifetime, and the sweep is logged.

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use support::udp::{Announce, Client, EVENT_STARTED, ScrapeCounts};
use support::{Running, write_config};

#[test]
fn silent_peers_are_swept_after_their_lifetime() {
    let port = support::free_port("127.0.0.1");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let config = write_config(&format!(
        "chihaya:\n  udp:\n    addr: \"{addr}\"\n  storage:\n    name: memory\n    config:\n      gc_interval: 250ms\n      peer_lifetime: 1s\n      prometheus_reporting_interval: 100ms\n"
    ));
    let mut tracker = Running::start(Some(config), &["--debug"]);
    tracker.wait_listening("udp", addr);

    let hash = *b"gc-binary-test-hash!";
    let mut client = Client::connect(addr);
    client.announce(&Announce {
        info_hash: hash,
        peer_id: *b"-XX0001-gc-peer00001",
        left: 5,
        event: EVENT_STARTED,
        port: 6881,
    });
    let announced = Instant::now();
    assert_eq!(client.scrape(hash).leechers, 1);
    tracker.wait_log("swarms torrents=1 seeders=0 leechers=1");

    let gone = ScrapeCounts {
        seeders: 0,
        completed: 0,
        leechers: 0,
    };
    // Lifetime 1 s, timestamps rounded to whole seconds, a sweep every 250 ms:
    // gone within about 2.5 s; 8 s leaves room for a loaded machine.
    while client.scrape(hash) != gone {
        assert!(
            announced.elapsed() < Duration::from_secs(8),
            "peer never collected:\n{}",
            tracker.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        announced.elapsed() >= Duration::from_millis(900),
        "collected before its lifetime ran out"
    );
    tracker.wait_log("garbage collected peers_removed=1 swarms_removed=1");
}
