//! A swarm as [`SwarmView`]: the admin API's look at one torrent.

use super::swarm::{Family, Role, Swarm};
use super::torrent::Torrent;
use crate::protocol::InfoHash;
use crate::storage::view::{FamilyView, PeerView, SwarmView};

/// The torrent's counts and up to `limit` peers of each family, seeders
/// first (the order the swarm keeps them in).
pub fn view(hash: InfoHash, torrent: &Torrent, limit: usize) -> SwarmView {
    SwarmView {
        info_hash: hash,
        snatches: torrent.snatches(),
        ipv4: family(torrent.v4(), limit),
        ipv6: family(torrent.v6(), limit),
    }
}

fn family<A: Family>(swarm: &Swarm<A>, limit: usize) -> FamilyView {
    FamilyView {
        seeders: swarm.seeders(),
        leechers: swarm.leechers(),
        peers: swarm
            .records()
            .take(limit)
            .map(|peer| PeerView {
                ip: peer.addr.into(),
                port: peer.port,
                peer_id: None,
                seeder: peer.role == Role::Seeder,
                last_seen: u64::from(peer.now.secs()),
            })
            .collect(),
    }
}
