//! The wire codecs on every request's path: an HTTP announce's query parsed
//! into an `AnnounceRequest`, its compact bencoded reply with 50 peers, and
//! the UDP announce packet parsed and its reply written. (The store announce
//! itself is in `benches/storage.rs`.)
//!
//! `cargo bench --bench codecs -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use chihaya::config::SwarmConfig;
use chihaya::protocol::http::{AnnounceOptions, PeerListFormat, parse_announce, write_announce};
use chihaya::protocol::query::{Query, percent_encode};
use chihaya::protocol::udp::{self, Family, Limits, UdpAnnounce};
use chihaya::protocol::{AnnounceResponse, Event, InfoHash, Params, Peer, PeerId};
use criterion::{Criterion, criterion_group, criterion_main};

const OPTIONS: AnnounceOptions = AnnounceOptions {
    default_numwant: 50,
    max_numwant: 100,
    allow_ip_spoofing: false,
    swarm: SwarmConfig::DEFAULT,
};
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

/// What libtorrent 2.0 sends: binary hash and id escaped, lower-case escapes
/// as libtorrent writes them, and its usual extra keys.
fn libtorrent_query() -> String {
    let hash: Vec<u8> = (0..20u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let id: &[u8; 20] = b"-LT2080-\x01\x02()*!~.\xfe\xff\x10\x20";
    format!(
        "info_hash={}&peer_id={}&port=6881&uploaded=0&downloaded=0&left=1048576&corrupt=0\
         &key=0a1b2c3d&event=started&numwant=50&compact=1&no_peer_id=1&supportcrypto=1&redundant=0",
        percent_encode(&hash).to_lowercase(),
        percent_encode(id).to_lowercase()
    )
}

fn http_query(c: &mut Criterion) {
    let raw = libtorrent_query();
    let raw = raw.as_bytes();
    c.bench_function("http/parse_announce_query", |b| {
        b.iter(|| {
            let raw = black_box(raw);
            let query = Query::parse(raw).unwrap();
            black_box(parse_announce(&query, raw, Vec::new(), CLIENT, &OPTIONS).unwrap())
        })
    });
}

fn reply_with(peers: usize) -> AnnounceResponse {
    AnnounceResponse {
        interval: 1800,
        min_interval: 900,
        complete: 40,
        incomplete: 10,
        peers: (0..peers as u32)
            .map(|n| Peer {
                id: None,
                ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)),
                port: 6881 + n as u16,
            })
            .collect(),
    }
}

fn http_reply(c: &mut Criterion) {
    let reply = reply_with(50);
    // A buffer reused across iterations, as one per request would be sized once.
    let mut out = Vec::with_capacity(1024);
    c.bench_function("http/write_announce_compact_50_peers", |b| {
        b.iter(|| {
            out.clear();
            write_announce(&mut out, black_box(&reply), PeerListFormat::default());
            black_box(out.len())
        })
    });
}

fn udp_announce_packet() -> Vec<u8> {
    let announce = UdpAnnounce {
        connection_id: 0x0123_4567_89ab_cdef,
        transaction_id: 42,
        info_hash: InfoHash([0x5a; 20]),
        peer_id: PeerId(*b"-LT2080-abcdefghijkl"),
        downloaded: 0,
        left: 1_048_576,
        uploaded: 0,
        event: Event::Started,
        ip: None,
        key: 0x0a1b_2c3d,
        num_want: 50,
        port: 6881,
        params: Params::default(),
    };
    let mut packet = Vec::new();
    udp::write_announce_request(&mut packet, &announce);
    packet
}

fn udp_codec(c: &mut Criterion) {
    let packet = udp_announce_packet();
    let limits = Limits::default();
    c.bench_function("udp/parse_announce", |b| {
        b.iter(|| black_box(udp::parse_request(black_box(&packet), &limits).unwrap()))
    });
    let reply = reply_with(50);
    let mut buf = Vec::with_capacity(1500);
    c.bench_function("udp/write_announce_50_peers", |b| {
        b.iter(|| {
            udp::write_announce(&mut buf, 42, black_box(&reply), Family::V4);
            black_box(buf.len())
        })
    });
}

criterion_group!(benches, http_query, http_reply, udp_codec);
criterion_main!(benches);
