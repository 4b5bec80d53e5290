//! An HTTP request target (`path?query`) and a proxy header, as a client
//! controls them, through everything the tracker does with them before the
//! swarm: bytewise query decoding, announce and scrape parsing, the client
//! address. Nothing may panic, and what parses must respect the limits.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use chihaya::config::SwarmConfig;
use chihaya::protocol::http::{AnnounceOptions, client_ip, parse_announce, parse_scrape};
use chihaya::protocol::query::Query;
use libfuzzer_sys::fuzz_target;

const SOCKET_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const MAX_SCRAPE: u32 = 50;

fuzz_target!(|data: &[u8]| {
    // The first line is an X-Forwarded-For value, the rest the request target.
    let (header, target) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (Some(&data[..at]), &data[at + 1..]),
        None => (None, data),
    };
    let raw_query = match target.iter().position(|&b| b == b'?') {
        Some(at) => &target[at + 1..],
        None => target,
    };
    let ip = client_ip(SOCKET_IP, "X-Forwarded-For", header).unwrap_or(SOCKET_IP);
    assert!(
        !matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()),
        "not canonical"
    );
    let Ok(query) = Query::parse(raw_query) else {
        return;
    };
    let lbry = SwarmConfig {
        all_peers: true,
        query_only_below_port: 1,
    };
    for (spoofing, swarm) in [
        (false, SwarmConfig::DEFAULT),
        (true, SwarmConfig::DEFAULT),
        (false, lbry),
    ] {
        let options = AnnounceOptions {
            default_numwant: 50,
            max_numwant: 100,
            allow_ip_spoofing: spoofing,
            swarm,
        };
        if let Ok((request, _)) = parse_announce(&query, raw_query, Vec::new(), ip, &options) {
            assert!(request.numwant <= options.max_numwant);
            assert!(swarm.accepts_port(request.port), "port 0 let through");
            if request.port < swarm.query_only_below_port {
                assert!(request.selection.query_only, "a low port would be stored");
            }
            assert_eq!(request.params.query, raw_query);
        }
    }
    if let Ok(scrape) = parse_scrape(&query, raw_query, Vec::new(), ip, MAX_SCRAPE) {
        let hashes = &scrape.info_hashes;
        assert!(!hashes.is_empty() && hashes.len() <= MAX_SCRAPE as usize);
        for (i, hash) in hashes.iter().enumerate() {
            assert!(!hashes[..i].contains(hash), "duplicate hash kept");
        }
    }
});
