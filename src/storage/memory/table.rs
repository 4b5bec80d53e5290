//! A shard's torrents: an open-addressing table with linear probing, the
//! torrents stored in the slots themselves.
//!
//! Why our own table and not hashbrown's: with a million torrents the table
//! is far larger than the caches, so an announce pays a cache miss (and, in
//! a virtual machine, a costly TLB miss) to find its torrent, then another
//! for the swarm's block. The UDP frontend answers requests in batches of
//! up to 64 and can hide those misses by asking for every request's memory
//! before it serves the first ([`Place::prefetch`]); for that it must know
//! where a torrent will be found from its hash alone. A SwissTable keeps its
//! tags apart from its slots and exposes neither address; here the address
//! is the home slot of the hash ([`Table::home`]), and a torrent is almost
//! always in that slot or the next. Measured with `cargo bench --bench
//! storage -- batch_of_64` (64 announces into a million torrents, one after
//! the other): 53.3 µs with hashbrown, 39.4 µs here, 19.2 µs here with the
//! batch prefetched (see docs/performance.md).
//!
//! A slot is a [`Torrent`] (40 bytes); a vacant slot is an empty torrent,
//! which the shard never stores (a torrent is dropped with its last peer),
//! so no tag or control byte is needed and a lookup touches one place.
//! Linear probing wants a lower load than a SwissTable: the table grows at
//! 4/5 full, where a hit takes 3 probes on average (contiguous, so mostly
//! the same cache line or the next) and a miss 13. To spend no more memory
//! than a SwissTable that grows from 7/8 to 7/16, it grows by half (from
//! 4/5 to 8/15), so its size is no power of two: a hash is mapped to its
//! home slot by a multiply, not a mask. Removal shifts the rest of the
//! cluster back instead of leaving tombstones, so a lookup never wades
//! through the debris of past torrents.

use std::hash::{BuildHasher, RandomState};

use super::torrent::Torrent;
use crate::protocol::InfoHash;

/// The smallest table that is allocated at all.
const MIN_SLOTS: usize = 8;

pub struct Table {
    /// At least [`MIN_SLOTS`] long, or empty before the first insert.
    slots: Box<[Torrent]>,
    len: usize,
    /// The shard's hash keys, for moving torrents when the table grows and
    /// for finding the home of the torrents a removal shifts.
    keys: RandomState,
}

/// Where a table's slots were when it was last looked at: enough to compute
/// the address of a hash's home slot, never to read it. The table may have
/// moved since (it is read without the shard's lock), so this is only ever
/// used for a prefetch, which cannot fault and reads nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub slots: *const u8,
    pub count: usize,
}

impl Place {
    /// Asks the CPU to start loading the slot where the torrent keyed
    /// `hash` is found (or its probe starts) and the next one.
    pub fn prefetch(self, hash: u64) {
        if self.count == 0 {
            return;
        }
        let at = home_of(hash, self.count);
        let slot = self.slots.wrapping_add(at * size_of::<Torrent>());
        prefetch_bytes(slot, 2 * size_of::<Torrent>());
    }
}

/// The home slot of `hash` in a table of `count` slots: its low 32 bits
/// scaled to the table (the shard was picked by the high 32, see `Keyed`).
fn home_of(hash: u64, count: usize) -> usize {
    (((hash & 0xffff_ffff) * count as u64) >> 32) as usize
}

/// Where a torrent is, or where it would go: the result of a probe.
pub enum Probe<'t> {
    Found(Found<'t>),
    Vacant(Vacant<'t>),
}

/// A stored torrent, which can be changed or removed.
pub struct Found<'t> {
    table: &'t mut Table,
    at: usize,
}

/// A vacant slot where a torrent with the probed hash belongs.
pub struct Vacant<'t> {
    table: &'t mut Table,
    hash: u64,
}

impl Table {
    pub fn new(keys: RandomState) -> Self {
        Table {
            slots: Box::default(),
            len: 0,
            keys,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// How many torrents fit before the table grows.
    pub fn capacity(&self) -> usize {
        self.slots.len() * 4 / 5
    }

    /// The key of `info_hash` in this table.
    pub fn hash(&self, info_hash: &InfoHash) -> u64 {
        self.keys.hash_one(info_hash)
    }

    /// Where the probe for `hash` starts (see [`home_of`]).
    fn home(&self, hash: u64) -> usize {
        home_of(hash, self.slots.len())
    }

    /// The slot after `at`, wrapping around.
    fn next(&self, at: usize) -> usize {
        if at + 1 == self.slots.len() {
            0
        } else {
            at + 1
        }
    }

    /// How many steps a probe takes from `from` to `to`, wrapping around.
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.slots.len() - from
        }
    }

    /// The slot of `info_hash` (keyed `hash`): its probe ends at the first
    /// vacant slot. Only for a table with slots.
    fn position(&self, hash: u64, info_hash: &InfoHash) -> Option<usize> {
        let mut at = self.home(hash);
        loop {
            let slot = &self.slots[at];
            if slot.is_empty() {
                return None;
            }
            if slot.hash() == info_hash {
                return Some(at);
            }
            at = self.next(at);
        }
    }

    pub fn find(&self, hash: u64, info_hash: &InfoHash) -> Option<&Torrent> {
        if self.len == 0 {
            return None;
        }
        self.position(hash, info_hash).map(|at| &self.slots[at])
    }

    /// The torrent of `info_hash` (keyed `hash`), or the place for it.
    pub fn probe(&mut self, hash: u64, info_hash: &InfoHash) -> Probe<'_> {
        if self.len == 0 {
            return Probe::Vacant(Vacant { table: self, hash });
        }
        match self.position(hash, info_hash) {
            Some(at) => Probe::Found(Found { table: self, at }),
            None => Probe::Vacant(Vacant { table: self, hash }),
        }
    }

    /// Where the slots are and how many: what [`Place::prefetch`] needs,
    /// to be read without the shard's lock.
    pub fn place(&self) -> Place {
        Place {
            slots: self.slots.as_ptr().cast(),
            count: self.slots.len(),
        }
    }

    /// Keeps the torrents `keep` says yes to, visiting each exactly once.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Torrent) -> bool) {
        if self.len == 0 {
            return;
        }
        // Start just after a vacant slot: a removal only ever shifts back
        // torrents not visited yet, and no cluster wraps past the start.
        let start = (0..self.slots.len())
            .find(|&at| self.slots[at].is_empty())
            .expect("a table below its load limit has a vacant slot");
        let mut at = start;
        for _ in 1..self.slots.len() {
            at = self.next(at);
            while !self.slots[at].is_empty() && !keep(&mut self.slots[at]) {
                self.remove_at(at);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Torrent> {
        self.slots.iter().filter(|t| !t.is_empty())
    }

    /// Puts `torrent` (keyed `hash`, already computed by the caller) in,
    /// replacing and returning the one stored under the same info hash. An
    /// empty torrent is not stored (and is returned).
    pub fn insert(&mut self, hash: u64, torrent: Torrent) -> Option<Torrent> {
        debug_assert_eq!(hash, self.hash(torrent.hash()));
        if torrent.is_empty() {
            return Some(torrent);
        }
        let key = *torrent.hash();
        match self.probe(hash, &key) {
            Probe::Found(mut found) => Some(std::mem::replace(found.get_mut(), torrent)),
            Probe::Vacant(vacant) => {
                vacant.insert(torrent);
                None
            }
        }
    }

    /// After a crowd has left: once under a quarter of the slots are in
    /// use, shrinks to a table the torrents left fill to 2/5 (so it does
    /// not grow again at once).
    pub fn release_spare_capacity(&mut self) {
        if self.slots.len() > 64 && self.len * 4 < self.slots.len() {
            self.rebuild(slots_for(self.len * 2));
        }
    }

    fn remove_at(&mut self, mut hole: usize) -> Torrent {
        let removed = std::mem::replace(&mut self.slots[hole], Torrent::vacant());
        self.len -= 1;
        // Backward shift: a later torrent of the cluster moves into the hole
        // unless its home lies after the hole (it would then be unreachable).
        let mut at = hole;
        loop {
            at = self.next(at);
            if self.slots[at].is_empty() {
                return removed;
            }
            let home = self.home(self.hash(self.slots[at].hash()));
            if self.distance(home, at) >= self.distance(hole, at) {
                self.slots.swap(hole, at);
                hole = at;
            }
        }
    }

    /// Moves every torrent into a new table of `slots` slots.
    fn rebuild(&mut self, slots: usize) {
        let old = std::mem::replace(
            &mut self.slots,
            (0..slots).map(|_| Torrent::vacant()).collect(),
        );
        for torrent in old.into_vec().into_iter().filter(|t| !t.is_empty()) {
            let at = self.vacancy(self.hash(torrent.hash()));
            self.slots[at] = torrent;
        }
    }

    /// The first vacant slot of the probe for `hash`.
    fn vacancy(&self, hash: u64) -> usize {
        let mut at = self.home(hash);
        while !self.slots[at].is_empty() {
            at = self.next(at);
        }
        at
    }
}

impl<'t> Found<'t> {
    pub fn get_mut(&mut self) -> &mut Torrent {
        &mut self.table.slots[self.at]
    }

    pub fn remove(self) -> Torrent {
        self.table.remove_at(self.at)
    }
}

impl<'t> Vacant<'t> {
    /// Stores `torrent` (which must have the probed hash and a peer),
    /// growing the table by half first if it is full (see the module docs).
    pub fn insert(self, torrent: Torrent) {
        debug_assert!(!torrent.is_empty(), "the table stores no empty torrent");
        let table = self.table;
        if table.len >= table.capacity() {
            table.rebuild(slots_for(table.len + 1).max(table.slots.len() * 3 / 2));
        }
        let at = table.vacancy(self.hash);
        table.slots[at] = torrent;
        table.len += 1;
    }
}

/// The number of slots that hold `n` torrents within the load limit.
fn slots_for(n: usize) -> usize {
    (n * 5).div_ceil(4).max(MIN_SLOTS)
}

/// Prefetches the first and the last cache line of the `len` bytes at `p`
/// (a range of up to 128 bytes that starts mid-line spans three; the middle
/// one is not asked for, as measured). A prefetch
/// never faults, so `p` may be anything; elsewhere than on x86-64 it does
/// nothing.
pub fn prefetch_bytes(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let first = p as usize & !63;
        let last = (p as usize).wrapping_add(len.max(1) - 1) & !63;
        // SAFETY: prefetching reads nothing and cannot fault, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(first as *const i8);
            if last != first {
                _mm_prefetch::<_MM_HINT_T0>(last as *const i8);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// Prefetches every cache line of the `len` bytes at `p` (as
/// [`prefetch_bytes`], `p` may be anything).
pub fn prefetch_lines(p: *const u8, len: usize) {
    let first = p as usize & !63;
    let last = (p as usize).wrapping_add(len.max(1) - 1) & !63;
    let mut line = first;
    while line <= last {
        prefetch_bytes(line as *const u8, 1);
        line = line.wrapping_add(64);
        if line == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests;
