//! One torrent: its IPv4 and IPv6 swarms and its snatch count.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::clock::CoarseTime;
use super::swarm::{Announcer, Choice, Family, Role, Swarm};
use crate::protocol::{AnnounceRequest, Event, InfoHash, PeerSink, Scrape, canonical_ip};
use crate::storage::{FamilyStats, StoreStats};

/// What an announce asks of the swarm, decided once from the request so the
/// swarm code never has to reconcile `event` with `left`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the swarm; get no peers.
    Stop,
    /// Join or refresh in `role`. `completed` marks a finished download: the
    /// peer becomes a seeder whatever its `left` says (as in Go chihaya).
    Update { role: Role, completed: bool },
}

impl Action {
    pub fn of(req: &AnnounceRequest) -> Self {
        match req.event {
            Event::Stopped => Action::Stop,
            Event::Completed => Action::Update {
                role: Role::Seeder,
                completed: true,
            },
            Event::None | Event::Started | Event::Paused => Action::Update {
                role: if req.is_seeder() {
                    Role::Seeder
                } else {
                    Role::Leecher
                },
                completed: false,
            },
        }
    }
}

/// The two families are kept apart because a peer can only be handed peers
/// it can reach, and counted together because a scrape is about the torrent.
///
/// This is the whole of a torrent's slot in its shard's table: 40 bytes
/// (the info hash it is found by, the snatch count, one pointer per family;
/// see the `swarm` module for what they point to).
pub struct Torrent {
    hash: InfoHash,
    /// Completed downloads seen while the torrent had peers.
    snatches: u32,
    v4: Swarm<Ipv4Addr>,
    v6: Swarm<Ipv6Addr>,
}

impl Torrent {
    /// A torrent nobody has joined yet.
    pub fn new(hash: InfoHash) -> Self {
        Torrent::restored(hash, Swarm::default(), Swarm::default(), 0)
    }

    /// A torrent read back from a snapshot.
    pub fn restored(
        hash: InfoHash,
        v4: Swarm<Ipv4Addr>,
        v6: Swarm<Ipv6Addr>,
        snatches: u32,
    ) -> Self {
        Torrent {
            hash,
            snatches,
            v4,
            v6,
        }
    }

    /// What a vacant slot of the table holds (see the `table` module).
    pub fn vacant() -> Self {
        Torrent::new(InfoHash([0; 20]))
    }

    /// A hint to start loading both swarms' peers.
    pub fn prefetch(&self) {
        self.v4.prefetch();
        self.v6.prefetch();
    }

    pub fn hash(&self) -> &InfoHash {
        &self.hash
    }

    pub fn v4(&self) -> &Swarm<Ipv4Addr> {
        &self.v4
    }

    pub fn v6(&self) -> &Swarm<Ipv6Addr> {
        &self.v6
    }

    pub fn snatches(&self) -> u32 {
        self.snatches
    }

    /// Applies the announce and hands the announcer's peers to `sink`, in
    /// one step.
    pub fn announce(
        &mut self,
        req: &AnnounceRequest,
        action: Action,
        now: CoarseTime,
        sink: &mut impl PeerSink,
    ) {
        let at = Place { req, action, now };
        match canonical_ip(req.ip) {
            IpAddr::V4(addr) => at.apply(&mut self.v4, addr, &mut self.snatches, sink),
            IpAddr::V6(addr) => at.apply(&mut self.v6, addr, &mut self.snatches, sink),
        }
    }

    pub fn counts(&self) -> Scrape {
        Scrape {
            complete: self.v4.seeders() + self.v6.seeders(),
            incomplete: self.v4.leechers() + self.v6.leechers(),
            downloaded: self.snatches,
        }
    }

    /// This torrent's share of the store's totals: per-family swarms and
    /// peers, and its snatches (`torrents` is left for the shard to count).
    pub fn census(&self) -> StoreStats {
        let family = |seeders: u32, leechers: u32| FamilyStats {
            swarms: u64::from(seeders + leechers > 0),
            seeders: u64::from(seeders),
            leechers: u64::from(leechers),
        };
        let (v4, v6) = (
            family(self.v4.seeders(), self.v4.leechers()),
            family(self.v6.seeders(), self.v6.leechers()),
        );
        StoreStats {
            torrents: 0,
            seeders: v4.seeders + v6.seeders,
            leechers: v4.leechers + v6.leechers,
            snatches: u64::from(self.snatches),
            ipv4: v4,
            ipv6: v6,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Removes peers last seen before `cutoff`; returns how many.
    pub fn collect_garbage(&mut self, cutoff: CoarseTime) -> u64 {
        self.v4.collect_garbage(cutoff) + self.v6.collect_garbage(cutoff)
    }
}

/// One announce, ready to apply to the swarm of the announcer's family.
struct Place<'a> {
    req: &'a AnnounceRequest,
    action: Action,
    now: CoarseTime,
}

impl Place<'_> {
    fn apply<A: Family>(
        &self,
        swarm: &mut Swarm<A>,
        addr: A,
        snatches: &mut u32,
        sink: &mut impl PeerSink,
    ) {
        let (role, completed) = match self.action {
            Action::Stop if self.req.selection.query_only => return,
            Action::Stop => {
                swarm.remove(addr, self.req.port);
                return;
            }
            Action::Update { role, completed } => (role, completed),
        };
        let choice = Choice::new(addr, role, self.req.numwant as usize, &self.req.selection);
        if self.req.selection.query_only {
            // Answered as if it had joined, but the swarm stays as it was.
            let me = swarm.position(addr, self.req.port);
            swarm.select(&choice.skipping(me), sink);
            return;
        }
        swarm.prefetch_walk(&choice);
        let (before, at) = swarm.upsert(Announcer {
            addr,
            port: self.req.port,
            role,
            now: self.now,
        });
        // Once per transition: a seeder repeating `completed` is not a new download.
        if completed && before != Some(Role::Seeder) {
            *snatches = snatches.saturating_add(1);
        }
        swarm.select(&choice.skipping(Some(at)), sink);
    }
}
