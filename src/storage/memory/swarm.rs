//! The peers of one torrent in one address family.
//!
//! # Layout
//!
//! A swarm is one list of compact entries, seeders first, then leechers:
//!
//! ```text
//! entries: [ S S S S | L L L L L L ]
//!                    ^ seeders
//! ```
//!
//! A peer's role is its position, so a peer can never be both seeder and
//! leecher, and switching roles is one swap across the boundary. Handing out
//! seeders or leechers is a walk over a contiguous slice from a random start.
//!
//! # What a peer costs
//!
//! An entry is the peer's address, port and last-seen second: 10 bytes for
//! IPv4, 22 for IPv6, byte arrays with no padding, plus a 2-byte
//! fingerprint of its address and port kept apart for lookups (below). The
//! peer_id is not kept (see docs/ARCHITECTURE.md: it would more than double
//! an IPv4 entry, and only the non-compact HTTP reply ever showed it). The
//! list lives in one heap block behind a single pointer, with the seeder
//! count in the block's header ([`block`]), so a torrent's map slot holds 8
//! bytes per family and an empty family (most torrents have no IPv6 peer)
//! costs nothing more. Ten IPv4 peers take one 144-byte allocation.
//!
//! There is no inline room for a peer in the table slot: with a tag it
//! would grow every slot from 40 to 48 bytes (about 12 bytes a torrent at
//! the table's load), to save the 32-byte block only of torrents with exactly
//! one IPv4 peer. It pays only where most torrents have one peer; not done.
//!
//! # Lookup
//!
//! Lookup by (address, port) is a linear scan while the swarm is small: up to
//! [`INDEX_ABOVE`] (1,024) fingerprints of 2 bytes, at most 2 KB of contiguous
//! memory read front to back (which the hardware prefetcher streams), 16
//! compared per step with no branch per peer ([`scan`]); only an entry
//! whose fingerprint matches is read. Scanning the entries themselves (10
//! or 22 bytes each) was the largest part of our own time
//! under the UDP bench's load, where two announces in three are a new
//! peer's and so scan the whole swarm (docs/performance.md has the A/B).
//!
//! In a swarm far from the caches a scan beats the index, whose lookup (and
//! every role change, which swaps two entries and updates both positions)
//! costs a SipHash and a few misses at random addresses: `cargo bench
//! --bench storage -- batch_of_64_shaped` (announces shaped like the UDP
//! bench's load, most of them into swarms of 30 to 700 peers) took 60.4 µs
//! per batch with the index from 32 peers, 44.3 µs from 256, 33.0 µs from
//! 512 and 35.0 µs from 1,024 (entries scanned, before fingerprints; one
//! run each, 01:20); a swarm of 1,000 peers refreshed in cache took 247 ns
//! with its index and 401 ns scanned. With fingerprints the bound moved
//! from 512 to 1,024: the shaped batch, prefetched, took 32.2 / 34.7 /
//! 43.6 / 39.4 µs against 40.9 / 44.5 / 45.0 / 53.8 µs at 512 (pairs run
//! back to back, 03:36), and a cached swarm of 1,000 peers scanned costs
//! 245-288 ns against 243-260 ns indexed, so no higher.
//!
//! Beyond the bound a hash index of positions is built ([`index`]), kept in
//! the block, and dropped again below [`INDEX_BELOW`] (the gap keeps a
//! swarm hovering at the threshold from rebuilding it on every announce).
//! The unit tests use bounds of 32 and 16, so their swarms of up to 64 peers
//! cross both; the logic does not depend on the numbers.

use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use self::block::Block;
use self::index::Index;
use super::clock::CoarseTime;
#[cfg(test)]
use crate::protocol::Peer;
use crate::protocol::PeerSink;

/// Above this many peers, a swarm keeps a hash index.
#[cfg(not(test))]
pub const INDEX_ABOVE: usize = 1024;
/// Below this many peers, the index is dropped again.
#[cfg(not(test))]
pub const INDEX_BELOW: usize = 512;
/// Small enough for the unit tests' swarms to cross (see the module docs).
#[cfg(test)]
pub const INDEX_ABOVE: usize = 32;
#[cfg(test)]
pub const INDEX_BELOW: usize = 16;

/// An address family: its address type and how its prefixes compare.
pub trait Family: Copy + Eq + Hash + Into<IpAddr> + Send + Sync + 'static {
    /// Of a `(IPv4, IPv6)` pair of prefix lengths, the one for this family.
    fn prefix_len(lens: (u8, u8)) -> u8;

    /// Hands every peer of `entries` to `sink`, in order, as one run.
    fn hand_run(entries: &[Entry<Self>], sink: &mut impl PeerSink);

    /// Whether `a` and `b` agree in their first `bits` bits (0: always).
    fn shares_prefix(a: Self, b: Self, bits: u8) -> bool;

    /// The address folded to 64 bits, for [`Entry::fingerprint`].
    fn fold(self) -> u64;
}

impl Family for Ipv4Addr {
    fn prefix_len(lens: (u8, u8)) -> u8 {
        lens.0
    }

    fn hand_run(entries: &[Entry<Self>], sink: &mut impl PeerSink) {
        sink.v4_run(entries.iter().map(Entry::key));
    }

    fn shares_prefix(a: Self, b: Self, bits: u8) -> bool {
        (a.to_bits() ^ b.to_bits()).leading_zeros() >= u32::from(bits)
    }

    fn fold(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Family for Ipv6Addr {
    fn prefix_len(lens: (u8, u8)) -> u8 {
        lens.1
    }

    fn hand_run(entries: &[Entry<Self>], sink: &mut impl PeerSink) {
        sink.v6_run(entries.iter().map(Entry::key));
    }

    fn shares_prefix(a: Self, b: Self, bits: u8) -> bool {
        (a.to_bits() ^ b.to_bits()).leading_zeros() >= u32::from(bits)
    }

    fn fold(self) -> u64 {
        let bits = self.to_bits();
        (bits as u64) ^ ((bits >> 64) as u64)
    }
}

/// One peer: 10 bytes for IPv4, 22 for IPv6. Port and time are byte arrays
/// so the entry has alignment 1 and no padding. The seeder flag is not
/// stored: it is the entry's position (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<A> {
    addr: A,
    port: [u8; 2],
    seen: [u8; 4],
}

impl<A: Family> Entry<A> {
    pub fn new(addr: A, port: u16, seen: CoarseTime) -> Self {
        Entry {
            addr,
            port: port.to_ne_bytes(),
            seen: seen.secs().to_ne_bytes(),
        }
    }

    pub fn port(&self) -> u16 {
        u16::from_ne_bytes(self.port)
    }

    pub fn seen(&self) -> CoarseTime {
        CoarseTime::from_secs(u32::from_ne_bytes(self.seen))
    }

    fn key(&self) -> (A, u16) {
        (self.addr, self.port())
    }

    /// 16 bits of the entry's key, kept beside it in the block so a lookup
    /// compares 2 bytes per peer and reads an entry only where they match.
    pub fn fingerprint(&self) -> u16 {
        fingerprint(self.key())
    }

    #[cfg(test)]
    fn peer(&self) -> Peer {
        Peer {
            id: None,
            ip: self.addr.into(),
            port: self.port(),
        }
    }
}

/// What a peer is to the others in its swarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Seeder,
    Leecher,
}

/// Who is announcing: the swarm key (address, port) plus what is stored with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announcer<A> {
    pub addr: A,
    pub port: u16,
    pub role: Role,
    pub now: CoarseTime,
}

/// One family's peers of one torrent: a single pointer (see [`block`]).
pub struct Swarm<A: Family> {
    /// Seeders in `..seeders`, leechers after; the index of large swarms.
    block: Block<A>,
}

impl<A: Family> Default for Swarm<A> {
    fn default() -> Self {
        Swarm {
            block: Block::default(),
        }
    }
}

impl<A: Family> Swarm<A> {
    pub fn seeders(&self) -> u32 {
        self.block.seeders()
    }

    pub fn leechers(&self) -> u32 {
        self.len() as u32 - self.seeders()
    }

    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// A hint to start loading the peers (see [`Block::prefetch`]).
    pub fn prefetch(&self) {
        self.block.prefetch();
    }

    pub fn len(&self) -> usize {
        self.block.len()
    }

    fn entries(&self) -> &[Entry<A>] {
        self.block.entries()
    }

    fn role_at(&self, i: usize) -> Role {
        if i < self.seeders() as usize {
            Role::Seeder
        } else {
            Role::Leecher
        }
    }

    /// Where the peer at (address, port) is, if it is in the swarm.
    pub fn position(&self, addr: A, port: u16) -> Option<usize> {
        self.find((addr, port))
    }

    fn find(&self, key: (A, u16)) -> Option<usize> {
        match self.block.parts() {
            (entries, Some(index)) => index.find(entries, key),
            (entries, None) => scan(self.block.fingerprints(), entries, key),
        }
    }

    /// Records the announcer under its (address, port). Returns its role
    /// before (`None` if it is new) and its position now, for
    /// [`Swarm::select`] (see the `choose` module).
    pub fn upsert(&mut self, who: Announcer<A>) -> (Option<Role>, usize) {
        let entry = Entry::new(who.addr, who.port, who.now);
        let Some(i) = self.find((who.addr, who.port)) else {
            return (None, self.insert(entry, who.role));
        };
        let before = self.role_at(i);
        self.block.set(i, entry);
        let at = match (before, who.role) {
            (Role::Leecher, Role::Seeder) => self.promote(i),
            (Role::Seeder, Role::Leecher) => self.demote(i),
            _ => i,
        };
        (Some(before), at)
    }

    /// Every peer as the announce that would put it back as it is (with its
    /// last-seen time as `now`): what a snapshot saves and
    /// [`Swarm::upsert`] restores.
    pub fn records(&self) -> impl Iterator<Item = Announcer<A>> + '_ {
        self.entries().iter().enumerate().map(|(i, e)| Announcer {
            addr: e.addr,
            port: e.port(),
            role: self.role_at(i),
            now: e.seen(),
        })
    }

    /// Removes the peer at (address, port), returning the role it had.
    pub fn remove(&mut self, addr: A, port: u16) -> Option<Role> {
        let i = self.find((addr, port))?;
        let role = self.role_at(i);
        self.remove_at(i);
        Some(role)
    }

    /// Removes peers last seen before `cutoff`; returns how many.
    ///
    /// A few stale peers are taken out one by one (each a swap with the end,
    /// so only they and the peers moved into their places touch the index);
    /// many are dropped in one stable compaction pass, after which the index
    /// is rebuilt for the survivors, or dropped with them. Either way the
    /// pass is linear in the swarm, and the block is shrunk to what is left.
    pub fn collect_garbage(&mut self, cutoff: CoarseTime) -> u64 {
        let stale = self.entries().iter().filter(|e| e.seen() < cutoff).count();
        if stale * 8 > self.len() {
            self.compact(cutoff);
        } else if stale > 0 {
            let mut i = 0;
            // `remove_at(i)` only moves entries from positions at or after `i`
            // (not yet checked) into `i` or later, so re-checking `i` visits
            // every entry exactly once.
            while i < self.len() {
                if self.entries()[i].seen() < cutoff {
                    self.remove_at(i);
                } else {
                    i += 1;
                }
            }
        }
        self.block.shrink();
        stale as u64
    }

    /// Keeps the peers seen at or after `cutoff`, in their order, seeders
    /// still first.
    fn compact(&mut self, cutoff: CoarseTime) {
        let seeders = self.seeders() as usize;
        let mut kept = 0;
        let mut kept_seeders = 0;
        for i in 0..self.len() {
            let entry = self.entries()[i];
            if entry.seen() >= cutoff {
                self.block.set(kept, entry);
                kept += 1;
                if i < seeders {
                    kept_seeders += 1;
                }
            }
        }
        self.block.set_seeders(kept_seeders);
        self.block.truncate(kept);
        if self.block.index().is_some() {
            self.block.set_index(None);
            if kept >= INDEX_BELOW {
                self.build_index();
            }
        }
    }

    fn insert(&mut self, entry: Entry<A>, role: Role) -> usize {
        let at = self.block.push(entry);
        if let (entries, Some(index)) = self.block.parts_mut() {
            index.insert(entries, at);
        } else if self.len() > INDEX_ABOVE {
            self.build_index();
        }
        match role {
            Role::Seeder => self.promote(at),
            Role::Leecher => at,
        }
    }

    fn remove_at(&mut self, i: usize) {
        let i = match self.role_at(i) {
            Role::Seeder => self.demote(i),
            Role::Leecher => i,
        };
        let last = self.len() - 1;
        self.swap(i, last);
        let gone = self.block.pop().expect("remove_at on an empty swarm");
        if self.len() < INDEX_BELOW {
            self.block.set_index(None);
        } else if let (_, Some(index)) = self.block.parts_mut() {
            index.remove(gone.key(), last);
        }
    }

    /// Moves the leecher at `i` to the end of the seeders; returns its position.
    fn promote(&mut self, i: usize) -> usize {
        let to = self.seeders() as usize;
        self.swap(i, to);
        self.block.set_seeders(to as u32 + 1);
        to
    }

    /// Moves the seeder at `i` to the start of the leechers; returns its position.
    fn demote(&mut self, i: usize) -> usize {
        let to = self.seeders() as usize - 1;
        self.block.set_seeders(to as u32);
        self.swap(i, to);
        to
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        if let (entries, Some(index)) = self.block.parts_mut() {
            index.swapped(a, entries[a].key(), b, entries[b].key());
        }
        self.block.swap(a, b);
    }

    fn build_index(&mut self) {
        let index = Index::build(self.entries());
        self.block.set_index(Some(Box::new(index)));
    }
}

/// The fingerprint of an (address, port): the top 16 bits of a multiply,
/// which every bit of the address and the port reaches. Not keyed: peers
/// who arrange equal fingerprints only make the scan read their entries,
/// at most what a scan of entries alone would read.
fn fingerprint<A: Family>((addr, port): (A, u16)) -> u16 {
    let x = addr.fold() ^ u64::from(port).rotate_left(40);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as u16
}

/// Fingerprints compared per step of [`scan`]: 32 bytes, which the
/// compiler compares with a few vector instructions and one branch.
const LANES: usize = 16;

/// Where `key` is among `entries`, found through their fingerprints: a
/// step asks whether any of [`LANES`] fingerprints matches, without a
/// branch per entry; only in a step that has one (rarely another peer's,
/// one time in 65,536) are the matching entries read and compared.
fn scan<A: Family>(fps: &[u16], entries: &[Entry<A>], key: (A, u16)) -> Option<usize> {
    debug_assert_eq!(fps.len(), entries.len());
    let want = fingerprint(key);
    let is_it = |i: usize| fps[i] == want && entries[i].key() == key;
    let mut steps = fps.chunks_exact(LANES);
    let mut base = 0;
    for step in &mut steps {
        // A fold, not `any`: it must not stop early, to stay one vector op.
        if step.iter().fold(false, |hit, &fp| hit | (fp == want))
            && let Some(i) = (base..base + LANES).find(|&i| is_it(i))
        {
            return Some(i);
        }
        base += LANES;
    }
    (base..fps.len()).find(|&i| is_it(i))
}

mod block;
mod choose;
mod index;
#[cfg(test)]
mod tests;

pub use choose::Choice;
