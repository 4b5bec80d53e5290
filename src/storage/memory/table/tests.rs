//! The table against a `HashMap` model: every operation, in any order, on
//! few enough keys that probes collide, wrap around and shift back.

use std::collections::HashMap;
use std::hash::RandomState;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::{Probe, Table};
use crate::protocol::InfoHash;
use crate::storage::memory::clock::CoarseTime;
use crate::storage::memory::swarm::{Announcer, Role, Swarm};
use crate::storage::memory::torrent::Torrent;

fn key(k: u8) -> InfoHash {
    InfoHash([k; 20])
}

/// A torrent of one peer, told apart by its snatch count.
fn torrent(k: u8, snatches: u32) -> Torrent {
    let mut v4 = Swarm::default();
    v4.upsert(Announcer {
        addr: Ipv4Addr::new(10, 0, 0, k),
        port: 6881,
        role: Role::Leecher,
        now: CoarseTime::from_secs(1),
    });
    Torrent::restored(key(k), v4, Swarm::default(), snatches)
}

fn find(table: &Table, k: u8) -> Option<u32> {
    let hash = table.hash(&key(k));
    table.find(hash, &key(k)).map(Torrent::snatches)
}

#[derive(Clone, Debug)]
enum Op {
    /// Through a probe: replaces the snatches of a found torrent, or inserts.
    Put(u8, u32),
    /// Through a probe: removes the torrent if found.
    Remove(u8),
    /// Through `insert`, as a snapshot restores.
    Restore(u8, u32),
    /// Keeps the torrents whose snatch count is odd (or even), recounting them.
    Retain(bool),
    Shrink,
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..48;
    prop_oneof![
        4 => (k.clone(), any::<u32>()).prop_map(|(k, s)| Op::Put(k, s)),
        3 => k.clone().prop_map(Op::Remove),
        1 => (k, any::<u32>()).prop_map(|(k, s)| Op::Restore(k, s)),
        1 => any::<bool>().prop_map(Op::Retain),
        1 => Just(Op::Shrink),
    ]
}

fn apply(table: &mut Table, model: &mut HashMap<u8, u32>, op: Op) {
    match op {
        Op::Put(k, s) => {
            let hash = table.hash(&key(k));
            match table.probe(hash, &key(k)) {
                Probe::Found(mut found) => *found.get_mut() = torrent(k, s),
                Probe::Vacant(vacant) => vacant.insert(torrent(k, s)),
            }
            model.insert(k, s);
        }
        Op::Remove(k) => {
            let hash = table.hash(&key(k));
            let removed = match table.probe(hash, &key(k)) {
                Probe::Found(found) => Some(found.remove().snatches()),
                Probe::Vacant(_) => None,
            };
            assert_eq!(removed, model.remove(&k));
        }
        Op::Restore(k, s) => {
            let old = table
                .insert(table.hash(&key(k)), torrent(k, s))
                .map(|t| t.snatches());
            assert_eq!(old, model.insert(k, s));
        }
        Op::Retain(odd) => {
            let mut visits = HashMap::new();
            table.retain(|t| {
                *visits.entry(*t.hash()).or_insert(0) += 1;
                (t.snatches() % 2 == 1) == odd
            });
            assert!(visits.values().all(|&n| n == 1), "a torrent visited twice");
            assert_eq!(visits.len(), model.len(), "a torrent not visited");
            model.retain(|_, s| (*s % 2 == 1) == odd);
        }
        Op::Shrink => table.release_spare_capacity(),
    }
}

fn check(table: &Table, model: &HashMap<u8, u32>) {
    assert_eq!(table.len(), model.len());
    assert!(table.len() <= table.capacity());
    for k in 0..48 {
        assert_eq!(find(table, k), model.get(&k).copied(), "key {k}");
    }
    let mut listed: Vec<(InfoHash, u32)> =
        table.iter().map(|t| (*t.hash(), t.snatches())).collect();
    let mut expected: Vec<(InfoHash, u32)> = model.iter().map(|(&k, &s)| (key(k), s)).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn behaves_like_a_map(ops in proptest::collection::vec(op(), 1..200)) {
        let mut table = Table::new(RandomState::new());
        let mut model = HashMap::new();
        for op in ops {
            apply(&mut table, &mut model, op);
            check(&table, &model);
        }
    }
}

/// Grows by half at 4/5 full, and gives the memory back once a crowd has left.
#[test]
fn grows_and_shrinks_with_its_torrents() {
    let mut table = Table::new(RandomState::new());
    assert_eq!(table.capacity(), 0);
    for k in 0..=255u8 {
        assert!(table.insert(table.hash(&key(k)), torrent(k, 0)).is_none());
    }
    assert_eq!(table.len(), 256);
    let grown = table.slots.len();
    assert!(256 * 5 <= grown * 4, "over 4/5 full: {grown} slots");
    assert!(grown * 8 <= 256 * 15, "under 8/15 full: {grown} slots");
    table.retain(|t| t.hash().0[0] < 20);
    table.release_spare_capacity();
    assert_eq!(table.len(), 20);
    assert!(
        table.slots.len() < grown / 4,
        "{} slots kept",
        table.slots.len()
    );
    for k in 0..=255u8 {
        assert_eq!(find(&table, k), (k < 20).then_some(0));
    }
}

/// An empty torrent is never stored: it is how the table marks a vacant slot.
#[test]
fn an_empty_torrent_is_not_stored() {
    let mut table = Table::new(RandomState::new());
    let empty = Torrent::new(key(7));
    assert!(table.insert(table.hash(&key(7)), empty).is_some());
    assert_eq!(table.len(), 0);
    assert_eq!(find(&table, 7), None);
}

#[test]
fn prefetching_any_range_ends_and_never_faults() {
    let buffer = [0u8; 300];
    for (p, len) in [
        (buffer.as_ptr(), buffer.len()),
        (buffer.as_ptr().wrapping_add(63), 2),
        (std::ptr::null(), 0),
        (std::ptr::null(), 4096),
        (usize::MAX as *const u8, 1),
        ((usize::MAX - 200) as *const u8, 150),
        ((usize::MAX - 10) as *const u8, 100),
    ] {
        super::prefetch_lines(p, len);
        super::prefetch_bytes(p, len);
    }
}
