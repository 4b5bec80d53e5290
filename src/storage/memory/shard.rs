//! One independently locked partition of the torrents.

use std::collections::HashMap;

use super::clock::CoarseTime;
use super::torrent::{Action, Torrent};
use crate::protocol::{AnnounceRequest, InfoHash, Scrape};
use crate::storage::{AnnounceOutcome, GcStats, StoreStats};

/// The torrents whose info hash routes here, and running totals of their
/// peers so [`Shard::stats`] costs nothing per torrent.
///
/// Invariant: every torrent in the map has at least one peer. A torrent is
/// created by its first announce and dropped as soon as its last peer stops
/// or is collected; its snatch count goes with it. Keeping empty torrents for
/// their snatch counts would let anyone grow the map without bound by
/// announcing once to many random hashes; a torrent with no peers is also one
/// nobody is downloading, so a scrape's `downloaded` then restarts from zero.
///
/// The map uses the standard library's randomly keyed SipHash, because info
/// hashes are chosen by clients and must not be open to hash flooding.
#[derive(Default)]
pub struct Shard {
    torrents: HashMap<InfoHash, Torrent>,
    seeders: u64,
    leechers: u64,
}

impl Shard {
    pub fn announce(&mut self, req: &AnnounceRequest, now: CoarseTime) -> AnnounceOutcome {
        let action = Action::of(req);
        // A stop or a query never creates a torrent; about an unknown one it just gets zeros.
        let joins = matches!(action, Action::Update { .. }) && !req.selection.query_only;
        let torrent = if joins {
            self.torrents.entry(req.info_hash).or_default()
        } else {
            match self.torrents.get_mut(&req.info_hash) {
                Some(torrent) => torrent,
                None => return AnnounceOutcome::default(),
            }
        };
        let before = torrent.counts();
        let peers = torrent.announce(req, action, now);
        let counts = torrent.counts();
        if torrent.is_empty() {
            self.torrents.remove(&req.info_hash);
        }
        self.account(before, counts);
        AnnounceOutcome { peers, counts }
    }

    pub fn scrape(&self, hash: &InfoHash) -> Scrape {
        self.torrents
            .get(hash)
            .map(Torrent::counts)
            .unwrap_or_default()
    }

    pub fn collect_garbage(&mut self, cutoff: CoarseTime) -> GcStats {
        let mut gc = GcStats::default();
        let (mut seeders, mut leechers) = (0, 0);
        self.torrents.retain(|_, torrent| {
            gc.peers_removed += torrent.collect_garbage(cutoff);
            if torrent.is_empty() {
                gc.swarms_removed += 1;
                return false;
            }
            let counts = torrent.counts();
            seeders += u64::from(counts.complete);
            leechers += u64::from(counts.incomplete);
            true
        });
        // Recounted rather than adjusted: the full pass is being paid for anyway.
        (self.seeders, self.leechers) = (seeders, leechers);
        self.release_spare_capacity();
        gc
    }

    /// Every torrent, for a snapshot.
    pub fn torrents(&self) -> impl Iterator<Item = (&InfoHash, &Torrent)> {
        self.torrents.iter()
    }

    /// Puts back a torrent read from a snapshot; an empty one is not kept
    /// (see the invariant above), a second one under the same hash replaces
    /// the first.
    pub fn restore(&mut self, hash: InfoHash, torrent: Torrent) {
        if torrent.is_empty() {
            return;
        }
        let counts = torrent.counts();
        let before = self
            .torrents
            .insert(hash, torrent)
            .map(|old| old.counts())
            .unwrap_or_default();
        self.account(before, counts);
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            torrents: self.torrents.len() as u64,
            seeders: self.seeders,
            leechers: self.leechers,
        }
    }

    /// A map never shrinks by itself; after a flash crowd leaves, give the
    /// memory back, but keep room for twice what is left so it does not
    /// reallocate again at once.
    fn release_spare_capacity(&mut self) {
        let (len, capacity) = (self.torrents.len(), self.torrents.capacity());
        if capacity > 64 && len * 4 < capacity {
            self.torrents.shrink_to(len * 2);
        }
    }

    fn account(&mut self, before: Scrape, after: Scrape) {
        // Subtract first: the shard's totals always include this torrent's old counts.
        self.seeders = self.seeders - u64::from(before.complete) + u64::from(after.complete);
        self.leechers = self.leechers - u64::from(before.incomplete) + u64::from(after.incomplete);
    }
}
