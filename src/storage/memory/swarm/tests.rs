//! The swarm against a plain map as its model: every sequence of announces,
//! removals and collections must leave the partition, the index and the
//! counts agreeing with the model.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;

use super::*;
use crate::protocol::PeerSelection;

#[derive(Clone, Debug)]
enum Op {
    Upsert {
        peer: u8,
        seeder: bool,
        now: u8,
        want: u8,
    },
    Remove {
        peer: u8,
    },
    Gc {
        cutoff: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..64u8, any::<bool>(), 0..32u8, 0..80u8).prop_map(
            |(peer, seeder, now, want)| Op::Upsert { peer, seeder, now, want }
        ),
        2 => (0..64u8).prop_map(|peer| Op::Remove { peer }),
        1 => (0..40u8).prop_map(|cutoff| Op::Gc { cutoff }),
    ]
}

fn time(secs: u8) -> CoarseTime {
    CoarseTime::from_system(UNIX_EPOCH + Duration::from_secs(u64::from(secs)))
}

fn role(seeder: bool) -> Role {
    if seeder { Role::Seeder } else { Role::Leecher }
}

/// What the model keeps per (address, port): role, last seen.
type Model<A> = BTreeMap<(A, u16), (Role, u8)>;

fn key<A>(addr_of: fn(u8) -> A, peer: u8) -> (A, u16) {
    // Four ports per address: the same address with another port is another peer.
    (addr_of(peer / 4), 6881 + u16::from(peer % 4))
}

fn check_against<A: Family + Ord + std::fmt::Debug>(swarm: &Swarm<A>, model: &Model<A>) {
    assert_eq!(swarm.len(), model.len());
    let model_seeders = model.values().filter(|v| v.0 == Role::Seeder).count();
    assert_eq!(swarm.seeders() as usize, model_seeders);
    for (&k, &(r, seen)) in model {
        let i = swarm.find(k).expect("a peer of the model is missing");
        assert_eq!(swarm.role_at(i), r);
        assert_eq!(swarm.entries()[i].seen(), time(seen));
    }
    if swarm.len() > INDEX_ABOVE {
        assert!(swarm.block.index().is_some(), "a large swarm has no index");
    }
    if swarm.len() < INDEX_BELOW {
        assert!(
            swarm.block.index().is_none(),
            "a small swarm kept its index"
        );
    }
    assert!(swarm.block.capacity() >= swarm.len());
    if let Some(index) = swarm.block.index() {
        assert_eq!(index.len(), swarm.len());
        for (i, e) in swarm.entries().iter().enumerate() {
            assert_eq!(
                index.find(swarm.entries(), e.key()),
                Some(i),
                "index points elsewhere"
            );
        }
    }
}

fn check_selection<A: Family>(swarm: &Swarm<A>, at: usize, want: usize) {
    let me = swarm.entries()[at].peer();
    let choice = Choice::new(
        swarm.entries()[at].addr,
        swarm.role_at(at),
        want,
        &PeerSelection::default(),
    );
    let mut got = Vec::new();
    let handed = swarm.select(&choice.skipping(Some(at)), &mut got);
    assert_eq!(handed, got.len(), "select miscounted what it handed over");
    let distinct: HashSet<_> = got.iter().map(|p| (p.ip, p.port)).collect();
    assert_eq!(distinct.len(), got.len(), "a peer was handed out twice");
    assert!(
        !distinct.contains(&(me.ip, me.port)),
        "announcer got itself"
    );
    let roles: HashMap<(IpAddr, u16), Role> = (0..swarm.len())
        .map(|i| {
            let p = swarm.entries()[i].peer();
            ((p.ip, p.port), swarm.role_at(i))
        })
        .collect();
    let role_of = |p: &Peer| roles[&(p.ip, p.port)];
    let seeders = swarm.seeders() as usize;
    let leechers = swarm.leechers() as usize;
    let got_seeders = got.iter().filter(|p| role_of(p) == Role::Seeder).count();
    match swarm.role_at(at) {
        Role::Seeder => {
            assert_eq!(got_seeders, 0, "a seeder got seeders");
            assert_eq!(got.len(), want.min(leechers));
        }
        Role::Leecher => {
            assert_eq!(got.len(), want.min(seeders + leechers - 1));
            assert_eq!(got_seeders, want.min(seeders), "seeders did not come first");
            if let Some(f) = got.iter().position(|p| role_of(p) == Role::Leecher) {
                assert!(got[f..].iter().all(|p| role_of(p) == Role::Leecher));
            }
        }
    }
}

fn run<A: Family + Ord + std::fmt::Debug>(addr_of: fn(u8) -> A, ops: Vec<Op>) {
    let mut swarm = Swarm::<A>::default();
    let mut model: Model<A> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Upsert {
                peer,
                seeder,
                now,
                want,
            } => {
                let (addr, port) = key(addr_of, peer);
                let who = Announcer {
                    addr,
                    port,
                    role: role(seeder),
                    now: time(now),
                };
                let (before, at) = swarm.upsert(who);
                let old = model.insert((addr, port), (role(seeder), now));
                assert_eq!(before, old.map(|v| v.0));
                assert_eq!(swarm.entries()[at].key(), (addr, port));
                check_selection(&swarm, at, usize::from(want));
            }
            Op::Remove { peer } => {
                let (addr, port) = key(addr_of, peer);
                let old = model.remove(&(addr, port));
                assert_eq!(swarm.remove(addr, port), old.map(|v| v.0));
            }
            Op::Gc { cutoff } => {
                let before = model.len();
                model.retain(|_, v| v.1 >= cutoff);
                let removed = swarm.collect_garbage(time(cutoff));
                assert_eq!(removed as usize, before - model.len());
            }
        }
        check_against(&swarm, &model);
    }
}

fn v4(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

fn v6(n: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ipv4_swarm_matches_model(ops in prop::collection::vec(op(), 1..400)) {
        run(v4, ops);
    }

    #[test]
    fn ipv6_swarm_matches_model(ops in prop::collection::vec(op(), 1..400)) {
        run(v6, ops);
    }
}

/// The sizes the module docs argue with; a field added to an entry shows up here.
#[test]
fn entries_and_swarms_stay_compact() {
    assert_eq!(std::mem::size_of::<Entry<Ipv4Addr>>(), 10);
    assert_eq!(std::mem::size_of::<Entry<Ipv6Addr>>(), 22);
    assert_eq!(std::mem::size_of::<Swarm<Ipv4Addr>>(), 8);
    assert_eq!(std::mem::size_of::<Swarm<Ipv6Addr>>(), 8);
}

#[test]
fn swarms_grow_in_small_steps_and_shrink_back() {
    let mut swarm = Swarm::<Ipv4Addr>::default();
    let who = |n: u8| Announcer {
        addr: v4(n),
        port: 1,
        role: Role::Leecher,
        now: time(n),
    };
    for n in 0..10 {
        swarm.upsert(who(n));
    }
    assert_eq!(swarm.block.capacity(), 10, "ten peers, room for ten");
    for n in 10..100 {
        swarm.upsert(who(n));
    }
    assert!(swarm.block.index().is_some());
    // One stale peer: taken out alone, the index kept up to date.
    assert_eq!(swarm.collect_garbage(time(1)), 1);
    assert!(swarm.position(v4(0), 1).is_none());
    assert_eq!(
        swarm.position(v4(50), 1).map(|i| swarm.entries()[i].addr),
        Some(v4(50))
    );
    // Most of them: one compaction, then the block shrinks and the index goes.
    assert_eq!(swarm.collect_garbage(time(99)), 98);
    assert_eq!((swarm.len(), swarm.block.capacity()), (1, 1));
    assert!(swarm.block.index().is_none());
    assert_eq!(swarm.collect_garbage(time(100)), 1);
    assert_eq!(
        (swarm.len(), swarm.block.capacity()),
        (0, 0),
        "an empty swarm holds no block"
    );
}

#[test]
fn prefixes_compare_leading_bits() {
    let a: Ipv4Addr = "10.1.2.3".parse().unwrap();
    assert!(Ipv4Addr::shares_prefix(
        a,
        "10.1.3.200".parse().unwrap(),
        23
    ));
    assert!(!Ipv4Addr::shares_prefix(
        a,
        "10.1.3.200".parse().unwrap(),
        24
    ));
    assert!(Ipv4Addr::shares_prefix(a, a, 32));
    assert!(Ipv4Addr::shares_prefix(a, "200.0.0.1".parse().unwrap(), 0));
    let b: Ipv6Addr = "2001:db8:0:1::1".parse().unwrap();
    assert!(Ipv6Addr::shares_prefix(
        b,
        "2001:db8:0:1:ffff::9".parse().unwrap(),
        64
    ));
    assert!(!Ipv6Addr::shares_prefix(
        b,
        "2001:db8:0:2::1".parse().unwrap(),
        64
    ));
    assert!(Ipv6Addr::shares_prefix(
        b,
        "2001:db8:0:2::1".parse().unwrap(),
        62
    ));
    assert!(Ipv6Addr::shares_prefix(b, b, 128));
    assert_eq!(Ipv4Addr::prefix_len((24, 64)), 24);
    assert_eq!(Ipv6Addr::prefix_len((24, 64)), 64);
}

/// Fingerprints only narrow the search: where every one matches (peers who
/// arranged a collision), the entries decide, in the full steps and in the
/// rest after them.
#[test]
fn colliding_fingerprints_fall_back_to_the_entries() {
    let entries: Vec<Entry<Ipv4Addr>> = (0..40u32)
        .map(|n| Entry::new(Ipv4Addr::from(n), 6881, time(0)))
        .collect();
    for (i, e) in entries.iter().enumerate() {
        let fps = vec![e.fingerprint(); entries.len()];
        assert_eq!(scan(&fps, &entries, e.key()), Some(i));
    }
    let absent = (Ipv4Addr::from(99), 6881);
    let fps = vec![fingerprint(absent); entries.len()];
    assert_eq!(scan(&fps, &entries, absent), None);
}
