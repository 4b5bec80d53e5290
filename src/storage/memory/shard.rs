//! One independently locked partition of the torrents.

use std::collections::HashMap;

use super::clock::CoarseTime;
use super::torrent::{Action, Torrent};
use crate::protocol::{AnnounceRequest, InfoHash, Scrape};
use crate::storage::{AnnounceOutcome, FamilyStats, GcStats, StoreStats, TopSwarm};

/// The torrents whose info hash routes here, and running totals of their
/// peers and snatches so [`Shard::stats`] costs nothing per torrent.
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
    /// The sum of every torrent's [`Torrent::census`].
    totals: StoreStats,
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
        let before = torrent.census();
        let peers = torrent.announce(req, action, now);
        let counts = torrent.counts();
        // A dropped torrent takes its snatches with it.
        let after = if torrent.is_empty() {
            self.torrents.remove(&req.info_hash);
            StoreStats::default()
        } else {
            torrent.census()
        };
        self.account(&before, &after);
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
        let mut totals = StoreStats::default();
        self.torrents.retain(|_, torrent| {
            gc.peers_removed += torrent.collect_garbage(cutoff);
            if torrent.is_empty() {
                gc.swarms_removed += 1;
                return false;
            }
            totals.add(&torrent.census());
            true
        });
        // Recounted rather than adjusted: the full pass is being paid for anyway.
        self.totals = totals;
        self.release_spare_capacity();
        gc
    }

    /// One torrent, for the admin API's look at it.
    pub fn torrent(&self, hash: &InfoHash) -> Option<&Torrent> {
        self.torrents.get(hash)
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
        let census = torrent.census();
        let before = self
            .torrents
            .insert(hash, torrent)
            .map(|old| old.census())
            .unwrap_or_default();
        self.account(&before, &census);
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            torrents: self.torrents.len() as u64,
            ..self.totals
        }
    }

    /// Adds this shard's `n` largest torrents to `top` (unordered).
    pub fn top_swarms(&self, n: usize, top: &mut Vec<TopSwarm>) {
        let start = top.len();
        for (hash, torrent) in &self.torrents {
            top.push(TopSwarm {
                info_hash: *hash,
                counts: torrent.counts(),
            });
            // Trim in batches: sorting once per `n` entries keeps the scan linear.
            if top.len() >= start + 2 * n.max(1) {
                trim(top, start, n);
            }
        }
        trim(top, start, n);
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

    fn account(&mut self, before: &StoreStats, after: &StoreStats) {
        // Subtract first: the shard's totals always include this torrent's old census.
        let t = &mut self.totals;
        t.seeders = t.seeders - before.seeders + after.seeders;
        t.leechers = t.leechers - before.leechers + after.leechers;
        t.snatches = t.snatches - before.snatches + after.snatches;
        shift(&mut t.ipv4, &before.ipv4, &after.ipv4);
        shift(&mut t.ipv6, &before.ipv6, &after.ipv6);
    }
}

fn shift(total: &mut FamilyStats, before: &FamilyStats, after: &FamilyStats) {
    total.swarms = total.swarms - before.swarms + after.swarms;
    total.seeders = total.seeders - before.seeders + after.seeders;
    total.leechers = total.leechers - before.leechers + after.leechers;
}

/// Keeps the `n` largest of `top[start..]`.
fn trim(top: &mut Vec<TopSwarm>, start: usize, n: usize) {
    let mut mine = top.split_off(start);
    super::rank(&mut mine, n);
    top.append(&mut mine);
}
