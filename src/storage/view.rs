//! One swarm as the admin API shows it: its counts and (some of) its peers.
//!
//! Built for an operator's occasional look at one torrent, never for the
//! request path; each engine fills it from its own layout.

use std::net::IpAddr;

use crate::protocol::{InfoHash, PeerId};

/// What one torrent holds right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwarmView {
    pub info_hash: InfoHash,
    /// Completed downloads counted while the torrent had peers.
    pub snatches: u32,
    pub ipv4: FamilyView,
    pub ipv6: FamilyView,
}

/// One address family of a swarm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyView {
    /// Every seeder and leecher of the family, whatever `peers` holds.
    pub seeders: u32,
    pub leechers: u32,
    /// Seeders first, then leechers, at most the limit asked for: a swarm
    /// of a million peers must not become a reply of a million entries.
    pub peers: Vec<PeerView>,
}

/// One peer as the swarm keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerView {
    pub ip: IpAddr,
    pub port: u16,
    /// As the engine keeps it: Redis does, memory does not (a peer is its
    /// address, port, role and last-seen time there).
    pub peer_id: Option<PeerId>,
    pub seeder: bool,
    /// Unix seconds of its last announce.
    pub last_seen: u64,
}

impl SwarmView {
    /// Seeders of both families.
    pub fn seeders(&self) -> u32 {
        self.ipv4.seeders + self.ipv6.seeders
    }

    pub fn leechers(&self) -> u32 {
        self.ipv4.leechers + self.ipv6.leechers
    }
}
