//! Where each peer of a large swarm is: a hash table of positions.
//!
//! The table holds only 4-byte positions into the swarm's entries, never
//! the keys themselves: a lookup hashes (address, port) and compares it with
//! the entry each candidate position points to. That is 4 bytes per peer
//! (plus hashbrown's one control byte, at most 8/7 over), where a map from
//! key to position would hold 12 (IPv4) or 24 (IPv6).
//!
//! Hashing is the standard library's randomly keyed SipHash, one key per
//! index: clients pick their ports, so the keys are chosen by strangers and
//! must not be open to hash flooding.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::{Entry, Family};

/// Positions of a swarm's entries, by the entries' (address, port).
#[derive(Default)]
pub struct Index {
    positions: HashTable<u32>,
    keys: RandomState,
}

impl Index {
    pub fn build<A: Family>(entries: &[Entry<A>]) -> Self {
        let mut index = Index {
            positions: HashTable::with_capacity(entries.len()),
            keys: RandomState::new(),
        };
        for at in 0..entries.len() {
            index.insert(entries, at);
        }
        index
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    fn hash<A: Family>(&self, key: (A, u16)) -> u64 {
        self.keys.hash_one(key)
    }

    /// Where the entry with this key is.
    pub fn find<A: Family>(&self, entries: &[Entry<A>], key: (A, u16)) -> Option<usize> {
        self.positions
            .find(self.hash(key), |&at| entries[at as usize].key() == key)
            .map(|&at| at as usize)
    }

    /// Adds the entry at `at`, which must already be in `entries` (a
    /// growing table rehashes every position through `entries`).
    pub fn insert<A: Family>(&mut self, entries: &[Entry<A>], at: usize) {
        let keys = &self.keys;
        let rehash = |&p: &u32| keys.hash_one(entries[p as usize].key());
        let hash = keys.hash_one(entries[at].key());
        self.positions.insert_unique(hash, at as u32, rehash);
    }

    /// Forgets the entry with `key` at `at`.
    pub fn remove<A: Family>(&mut self, key: (A, u16), at: usize) {
        let at = at as u32;
        if let Ok(found) = self.positions.find_entry(self.hash(key), |&p| p == at) {
            found.remove();
        }
    }

    /// Records that the entries at `a` and `b` (keys `ka`, `kb` before the
    /// swap) traded places. Both are found before either changes, so a
    /// position is never momentarily in the table twice.
    pub fn swapped<A: Family>(&mut self, a: usize, ka: (A, u16), b: usize, kb: (A, u16)) {
        let (a, b) = (a as u32, b as u32);
        let slot_a = self.positions.find_bucket_index(self.hash(ka), |&p| p == a);
        let slot_b = self.positions.find_bucket_index(self.hash(kb), |&p| p == b);
        for (slot, to) in [(slot_a, b), (slot_b, a)] {
            if let Some(p) = slot.and_then(|s| self.positions.get_bucket_mut(s)) {
                *p = to;
            }
        }
    }
}
