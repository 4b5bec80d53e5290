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
//! # Why inline storage, then an index
//!
//! Most torrents a public tracker sees have one or two peers. The list is a
//! [`SmallVec`] that keeps the first peers inside the torrent's own map slot
//! (two for IPv4, one for IPv6: IPv6 swarms are usually empty and each inline
//! IPv6 slot costs 44 bytes in every torrent), so a small swarm costs no heap
//! allocation at all. A `Vec` would cost a 24-byte header plus a heap block
//! of at least four entries (128 bytes for IPv4) for a single peer.
//!
//! Lookup by (address, port) is a linear scan while the swarm is small: up to
//! [`INDEX_ABOVE`] entries of 32 or 44 bytes is at most 1.4 KiB of contiguous
//! memory, comparable to hashing the key once. Beyond that a hash index from
//! (address, port) to position is built, and dropped again below
//! [`INDEX_BELOW`] (the gap keeps a swarm hovering at the threshold from
//! rebuilding it on every announce). The index uses the standard library's
//! randomly keyed SipHash: clients pick their ports, so the keys are chosen
//! by strangers and must not be open to hash flooding.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smallvec::SmallVec;

use super::clock::CoarseTime;
use crate::protocol::{Peer, PeerId};

/// Above this many peers, a swarm keeps a hash index.
pub const INDEX_ABOVE: usize = 32;
/// Below this many peers, the index is dropped again.
pub const INDEX_BELOW: usize = 16;

/// An address family: its address type and how many peers live inline.
pub trait Family: Copy + Eq + Hash + Into<IpAddr> {
    type Inline: smallvec::Array<Item = Entry<Self>>;

    /// Of a `(IPv4, IPv6)` pair of prefix lengths, the one for this family.
    fn prefix_len(lens: (u8, u8)) -> u8;

    /// Whether `a` and `b` agree in their first `bits` bits (0: always).
    fn shares_prefix(a: Self, b: Self, bits: u8) -> bool;
}

impl Family for Ipv4Addr {
    type Inline = [Entry<Ipv4Addr>; 2];

    fn prefix_len(lens: (u8, u8)) -> u8 {
        lens.0
    }

    fn shares_prefix(a: Self, b: Self, bits: u8) -> bool {
        (a.to_bits() ^ b.to_bits()).leading_zeros() >= u32::from(bits)
    }
}

impl Family for Ipv6Addr {
    type Inline = [Entry<Ipv6Addr>; 1];

    fn prefix_len(lens: (u8, u8)) -> u8 {
        lens.1
    }

    fn shares_prefix(a: Self, b: Self, bits: u8) -> bool {
        (a.to_bits() ^ b.to_bits()).leading_zeros() >= u32::from(bits)
    }
}

/// One peer: 32 bytes for IPv4, 44 for IPv6. The seeder flag is not stored:
/// it is the entry's position (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<A> {
    addr: A,
    port: u16,
    /// Kept only for the non-compact HTTP reply; never used to find a peer.
    id: PeerId,
    seen: CoarseTime,
}

impl<A: Family> Entry<A> {
    fn key(&self) -> (A, u16) {
        (self.addr, self.port)
    }

    fn peer(&self) -> Peer {
        Peer {
            id: self.id,
            ip: self.addr.into(),
            port: self.port,
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
#[derive(Clone, Copy, Debug)]
pub struct Announcer<A> {
    pub addr: A,
    pub port: u16,
    pub id: PeerId,
    pub role: Role,
    pub now: CoarseTime,
}

pub struct Swarm<A: Family> {
    /// Seeders in `..seeders`, leechers after.
    entries: SmallVec<A::Inline>,
    seeders: u32,
    /// Position of every entry by (address, port), only for large swarms.
    /// Boxed so the many small swarms pay 8 bytes for it, not 48.
    #[expect(clippy::box_collection, reason = "the box keeps small swarms small")]
    index: Option<Box<HashMap<(A, u16), u32>>>,
}

impl<A: Family> Default for Swarm<A> {
    fn default() -> Self {
        Swarm {
            entries: SmallVec::new(),
            seeders: 0,
            index: None,
        }
    }
}

impl<A: Family> Swarm<A> {
    pub fn seeders(&self) -> u32 {
        self.seeders
    }

    pub fn leechers(&self) -> u32 {
        self.len() as u32 - self.seeders
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn role_at(&self, i: usize) -> Role {
        if i < self.seeders as usize {
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
        match &self.index {
            Some(index) => index.get(&key).map(|&i| i as usize),
            None => self.entries.iter().position(|e| e.key() == key),
        }
    }

    /// Records the announcer under its (address, port), replacing whatever
    /// peer id was there. Returns its role before (`None` if it is new) and
    /// its position now, for [`Swarm::select`] (see the `choose` module).
    pub fn upsert(&mut self, who: Announcer<A>) -> (Option<Role>, usize) {
        let Some(i) = self.find((who.addr, who.port)) else {
            let entry = Entry {
                addr: who.addr,
                port: who.port,
                id: who.id,
                seen: who.now,
            };
            return (None, self.insert(entry, who.role));
        };
        let before = self.role_at(i);
        let entry = &mut self.entries[i];
        entry.id = who.id;
        entry.seen = who.now;
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
        self.entries.iter().enumerate().map(|(i, e)| Announcer {
            addr: e.addr,
            port: e.port,
            id: e.id,
            role: self.role_at(i),
            now: e.seen,
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
    pub fn collect_garbage(&mut self, cutoff: CoarseTime) -> u64 {
        let mut removed = 0;
        let mut i = 0;
        // `remove_at(i)` only moves entries from positions at or after `i`
        // (not yet checked) into `i` or later, so re-checking `i` visits every
        // entry exactly once.
        while i < self.len() {
            if self.entries[i].seen < cutoff {
                self.remove_at(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
        if self.entries.spilled() && self.len() * 4 <= self.entries.capacity() {
            self.entries.shrink_to_fit();
        }
        removed
    }

    fn insert(&mut self, entry: Entry<A>, role: Role) -> usize {
        let at = self.len();
        self.entries.push(entry);
        if let Some(index) = &mut self.index {
            index.insert(entry.key(), at as u32);
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
        self.swap(i, self.len() - 1);
        let gone = self.entries.pop().expect("remove_at on an empty swarm");
        if let Some(index) = &mut self.index {
            index.remove(&gone.key());
            if self.entries.len() < INDEX_BELOW {
                self.index = None;
            }
        }
    }

    /// Moves the leecher at `i` to the end of the seeders; returns its position.
    fn promote(&mut self, i: usize) -> usize {
        let to = self.seeders as usize;
        self.swap(i, to);
        self.seeders += 1;
        to
    }

    /// Moves the seeder at `i` to the start of the leechers; returns its position.
    fn demote(&mut self, i: usize) -> usize {
        self.seeders -= 1;
        let to = self.seeders as usize;
        self.swap(i, to);
        to
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.entries.swap(a, b);
        if let Some(index) = &mut self.index {
            index.insert(self.entries[a].key(), a as u32);
            index.insert(self.entries[b].key(), b as u32);
        }
    }

    fn build_index(&mut self) {
        let index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key(), i as u32))
            .collect();
        self.index = Some(Box::new(index));
    }
}

mod choose;
#[cfg(test)]
mod tests;

pub use choose::Choice;
