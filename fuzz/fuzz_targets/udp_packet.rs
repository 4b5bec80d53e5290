//! Any datagram through the UDP codec, both sides: the server's request
//! parser (with its BEP 41 options) and the client's reply parser. Nothing
//! may panic, and the anti-amplification rules must hold: only a packet of
//! at least a connect's 16 bytes can be a connect, and an unauthenticated
//! error is never answerable.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chihaya::protocol::udp::{
    Family, HEADER_LEN, Limits, MAX_SCRAPE_REPLY_HASHES, Request, parse_request, parse_response,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_scrape_infohashes: 1000,
        ..Limits::default()
    };
    match parse_request(data, &limits) {
        Ok(Request::Connect(_)) => assert!(data.len() >= HEADER_LEN),
        Ok(Request::Announce(a)) => {
            for source in [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ] {
                let request = a.clone().into_request(source, &limits);
                assert!(request.numwant <= limits.max_numwant);
            }
        }
        Ok(Request::Scrape(s)) => {
            let n = s.info_hashes.len();
            assert!(n >= 1 && n <= MAX_SCRAPE_REPLY_HASHES);
        }
        Err(e) => {
            if data.len() < HEADER_LEN {
                assert!(e.reply_to().is_none(), "a headerless packet was answerable");
            }
        }
    }
    let _ = parse_response(data, Family::V4);
    let _ = parse_response(data, Family::V6);
});
