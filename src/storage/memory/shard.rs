//! One independently locked partition of the torrents.

use std::hash::{BuildHasher, RandomState};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::clock::CoarseTime;
use super::table::{Place, Probe, Table, prefetch_lines};
use super::torrent::{Action, Torrent};
use crate::protocol::{AnnounceRequest, InfoHash, PeerSink, Scrape};
use crate::storage::{FamilyStats, GcStats, StoreStats, TopSwarm};

/// The torrents whose info hash routes here, and running totals of their
/// peers and snatches so [`Shard::stats`] costs nothing per torrent.
///
/// Invariant: every torrent in the table has at least one peer. A torrent
/// is created by its first announce and dropped as soon as its last peer
/// stops or is collected; its snatch count goes with it. Keeping empty
/// torrents for their snatch counts would let anyone grow the table without
/// bound by announcing once to many random hashes; a torrent with no peers
/// is also one nobody is downloading, so a scrape's `downloaded` then
/// restarts from zero. (The [`table`](super::table) relies on it too: an
/// empty torrent is how it marks a vacant slot.)
///
/// The table hashes with the standard library's randomly keyed SipHash,
/// because info hashes are chosen by clients and must not be open to hash
/// flooding. The keys are the engine's: a call's hash is computed once
/// ([`Keyed`]) and serves both to pick the shard and as the key here.
pub struct Shard {
    torrents: Table,
    /// The sum of every torrent's [`Torrent::census`].
    totals: StoreStats,
}

/// An info hash with its keyed hash, computed once per call into the engine.
///
/// Which bits do what: the shard is picked by the high 32 bits, the home
/// slot in the shard's table by the low 32. Were they picked from the same
/// bits, every torrent of a shard would share them and crowd into the same
/// part of its table.
#[derive(Clone, Copy)]
pub struct Keyed<'h> {
    pub info_hash: &'h InfoHash,
    pub hash: u64,
}

impl<'h> Keyed<'h> {
    pub fn new(keys: &RandomState, info_hash: &'h InfoHash) -> Self {
        Keyed {
            info_hash,
            hash: keys.hash_one(info_hash),
        }
    }

    /// Which of `n` shards: the high 32 bits of the hash scaled to `n` (a
    /// multiply, not a division).
    pub fn shard(&self, n: usize) -> usize {
        (((self.hash >> 32) * n as u64) >> 32) as usize
    }
}

impl Shard {
    pub fn new(keys: RandomState) -> Self {
        Shard {
            torrents: Table::new(keys),
            totals: StoreStats::default(),
        }
    }

    /// Applies the announce, hands the announcer's peers to `sink`, and
    /// returns the torrent's counts after it.
    pub fn announce(
        &mut self,
        keyed: Keyed<'_>,
        req: &AnnounceRequest,
        now: CoarseTime,
        sink: &mut impl PeerSink,
    ) -> Scrape {
        debug_assert!(*keyed.info_hash == req.info_hash);
        let action = Action::of(req);
        let (before, counts, after) = match self.torrents.probe(keyed.hash, keyed.info_hash) {
            Probe::Found(mut found) => {
                let torrent = found.get_mut();
                let before = torrent.census();
                torrent.announce(req, action, now, sink);
                let counts = torrent.counts();
                // A dropped torrent takes its snatches with it.
                let after = if torrent.is_empty() {
                    found.remove();
                    StoreStats::default()
                } else {
                    torrent.census()
                };
                (before, counts, after)
            }
            Probe::Vacant(vacant) => {
                // A stop or a query never creates a torrent; about an
                // unknown one it just gets zeros.
                let joins = matches!(action, Action::Update { .. }) && !req.selection.query_only;
                if !joins {
                    return Scrape::default();
                }
                let mut torrent = Torrent::new(req.info_hash);
                torrent.announce(req, action, now, sink);
                let counts = torrent.counts();
                let after = torrent.census();
                vacant.insert(torrent);
                (StoreStats::default(), counts, after)
            }
        };
        self.account(&before, &after);
        counts
    }

    pub fn scrape(&self, keyed: Keyed<'_>) -> Scrape {
        self.torrent(keyed).map(Torrent::counts).unwrap_or_default()
    }

    /// Starts loading the peers of the torrent, if it is here: best after
    /// [`Shard::prefetch_slot`] had time to bring in its slot.
    pub fn prefetch_swarm(&self, keyed: Keyed<'_>) {
        if let Some(torrent) = self.torrent(keyed) {
            torrent.prefetch();
        }
    }

    pub fn collect_garbage(&mut self, cutoff: CoarseTime) -> GcStats {
        let mut gc = GcStats::default();
        let mut totals = StoreStats::default();
        self.torrents.retain(|torrent| {
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
        // A table never shrinks by itself: after a flash crowd leaves, give
        // the memory back.
        self.torrents.release_spare_capacity();
        gc
    }

    /// One torrent, for the admin API's look at it.
    pub fn torrent(&self, keyed: Keyed<'_>) -> Option<&Torrent> {
        self.torrents.find(keyed.hash, keyed.info_hash)
    }

    /// Every torrent, for a snapshot.
    pub fn torrents(&self) -> impl Iterator<Item = &Torrent> {
        self.torrents.iter()
    }

    /// Puts back a torrent read from a snapshot; an empty one is not kept
    /// (see the invariant above), a second one under the same hash replaces
    /// the first. `hash` is its info hash's [`Keyed`] hash.
    pub fn restore(&mut self, hash: u64, torrent: Torrent) {
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
        for torrent in self.torrents.iter() {
            top.push(TopSwarm {
                info_hash: *torrent.hash(),
                counts: torrent.counts(),
            });
            // Trim in batches: sorting once per `n` entries keeps the scan linear.
            if top.len() >= start + 2 * n.max(1) {
                trim(top, start, n);
            }
        }
        trim(top, start, n);
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

/// A shard behind its lock, and where its table's slots are, published
/// whenever the lock is let go.
///
/// The batch prefetch asks for the home slot of every request's torrent
/// first; taking the lock for that cost two locked instructions per
/// request, each a full barrier in a pass that exists to keep many misses
/// in flight at once (a fifth of the pass's time sat on the lock, in a
/// profile under the UDP bench's load). The address is read
/// instead, with no lock: it may be stale (the table may have just grown),
/// and then the prefetch asks for the wrong line, which costs nothing and
/// breaks nothing (see [`Place`]). The two halves are separate atomics and
/// may be read from different moments, for the same reason.
pub struct LockedShard {
    shard: Mutex<Shard>,
    slots: AtomicPtr<u8>,
    count: AtomicUsize,
}

impl LockedShard {
    pub fn new(shard: Shard) -> Self {
        let place = shard.torrents.place();
        LockedShard {
            shard: Mutex::new(shard),
            slots: AtomicPtr::new(place.slots.cast_mut()),
            count: AtomicUsize::new(place.count),
        }
    }

    pub fn lock(&self) -> ShardGuard<'_> {
        ShardGuard {
            guard: self.shard.lock(),
            published: self,
        }
    }

    /// Starts loading the shard itself: its lock, its table's address and
    /// its totals, all of which an announce reads.
    pub fn prefetch_shard(&self) {
        prefetch_lines(std::ptr::from_ref(self).cast(), size_of::<Self>());
    }

    /// Starts loading the table slot where `hash`'s torrent would be
    /// found, without the lock (see above).
    pub fn prefetch_slot(&self, hash: u64) {
        Place {
            slots: self.slots.load(Ordering::Relaxed),
            count: self.count.load(Ordering::Relaxed),
        }
        .prefetch(hash);
    }
}

/// The locked shard; publishes its table's place when dropped, before the
/// lock is let go.
pub struct ShardGuard<'s> {
    guard: MutexGuard<'s, Shard>,
    published: &'s LockedShard,
}

impl Deref for ShardGuard<'_> {
    type Target = Shard;

    fn deref(&self) -> &Shard {
        &self.guard
    }
}

impl DerefMut for ShardGuard<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.guard
    }
}

impl Drop for ShardGuard<'_> {
    fn drop(&mut self) {
        let place = self.guard.torrents.place();
        let to = self.published;
        if to.count.load(Ordering::Relaxed) != place.count {
            to.count.store(place.count, Ordering::Relaxed);
        }
        if to.slots.load(Ordering::Relaxed).cast_const() != place.slots {
            to.slots.store(place.slots.cast_mut(), Ordering::Relaxed);
        }
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::protocol::{Event, Params, PeerId};

    fn join(info_hash: InfoHash) -> AnnounceRequest {
        AnnounceRequest {
            info_hash,
            peer_id: PeerId([1; 20]),
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 6881,
            uploaded: 0,
            downloaded: 0,
            left: 1,
            event: Event::Started,
            numwant: 30,
            key: None,
            params: Params::default(),
            selection: Default::default(),
        }
    }

    /// What the lock-free prefetch reads is where the table is, after every
    /// unlock: as the table grows (and moves) and once it is given back.
    #[test]
    fn every_unlock_publishes_where_the_table_is() {
        let keys = RandomState::new();
        let locked = LockedShard::new(Shard::new(keys.clone()));
        let published = || Place {
            slots: locked.slots.load(Ordering::Relaxed),
            count: locked.count.load(Ordering::Relaxed),
        };
        // Read past the guard, which would publish as it drops.
        let actual = || locked.shard.lock().torrents.place();
        assert_eq!(published().count, 0);
        let now = CoarseTime::from_secs(1_000);
        let mut places = HashSet::new();
        for n in 0..=255u8 {
            let req = join(InfoHash([n; 20]));
            let keyed = Keyed::new(&keys, &req.info_hash);
            locked.lock().announce(keyed, &req, now, &mut Vec::new());
            assert_eq!(published(), actual(), "after torrent {n}");
            places.insert(actual().count);
        }
        assert!(places.len() > 3, "the table never grew: {places:?}");
        let full = actual().count;
        locked.lock().collect_garbage(CoarseTime::from_secs(2_000));
        assert!(actual().count < full, "an emptied table is shrunk");
        assert_eq!(published(), actual());
    }

    /// Every hash lands on one of the `n` shards, the extremes included,
    /// and the shard does not depend on the bits the table uses.
    #[test]
    fn shard_choice_stays_in_range_and_off_the_table_bits() {
        let info_hash = InfoHash([0; 20]);
        let at = |hash: u64, n: usize| {
            Keyed {
                info_hash: &info_hash,
                hash,
            }
            .shard(n)
        };
        for n in [1, 2, 3, 7, 1024, 65_536] {
            for hash in [0, 1, u64::MAX, 1 << 24, 1 << 55, u64::MAX >> 8] {
                assert!(at(hash, n) < n, "hash {hash:#x} n {n}");
            }
            assert_eq!(at(0, n), 0);
            assert_eq!(at(u64::MAX, n), n - 1);
        }
        // The low 32 bits (the table's) change nothing; the high ones do.
        let base = 0x1234_5678_0000_0000_u64;
        for n in [3, 1024, 1 << 20] {
            assert_eq!(at(base, n), at(base | 0xffff_ffff, n));
        }
        assert_ne!(at(base, 1024), at(base | (0xff << 56), 1024));
    }
}
