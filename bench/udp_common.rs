//! What bench/udp_latency.rs and bench/udp_load.rs both send: the announce
//! of one simulated peer, and the info hash of a torrent by its number.
//! Included by each with `#[path]` (examples share no crate of their own).

use chihaya::protocol::udp::UdpAnnounce;
use chihaya::protocol::{Event, InfoHash, Params, PeerId};

/// A peer announcing on torrent `torrent` from `port`, 30 peers wanted: a
/// seeder says `completed` with nothing left, a leecher `started`, as
/// aquatic_udp_load_test's announces do.
pub fn announce(
    connection_id: u64,
    transaction_id: u32,
    torrent: u64,
    port: u16,
    seeder: bool,
) -> UdpAnnounce {
    UdpAnnounce {
        connection_id,
        transaction_id,
        info_hash: info_hash(torrent),
        peer_id: PeerId([0; 20]),
        downloaded: 50,
        left: if seeder { 0 } else { 50 },
        uploaded: 50,
        event: if seeder {
            Event::Completed
        } else {
            Event::Started
        },
        ip: None,
        key: 0,
        num_want: 30,
        port,
        params: Params::default(),
    }
}

/// The info hash of torrent `torrent`: 20 well-mixed bytes, the same in
/// every run.
pub fn info_hash(torrent: u64) -> InfoHash {
    let mut hash = [0u8; 20];
    let mut x = torrent.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for chunk in hash.chunks_mut(8) {
        x = x.rotate_left(17).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    InfoHash(hash)
}
