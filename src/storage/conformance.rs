//! The conformance suite every storage engine must pass.
//!
//! It speaks only to [`Storage`], so any engine can run it: give
//! [`run_all`] a factory that builds a fresh, empty store, e.g.
//!
//! ```ignore
//! storage::conformance::run_all(|| async { Storage::Memory(MemoryStorage::new(&cfg)) }).await;
//! ```
//!
//! Every check gets its own store from the factory (an engine backed by a
//! shared server must hand out an empty one each time, e.g. by flushing or by
//! a fresh key prefix), because the statistics and garbage collection checks
//! look at the whole store. Each check is also public on its own, so an
//! engine's test can run one at a time. A failing check panics with a message
//! that says which rule of the storage contract was broken.
//!
//! The suite uses the real clock (engines stamp peers with the time of the
//! announce), so its garbage collection cutoffs are an hour away from now in
//! either direction and cannot be confused by a slow machine.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{AnnounceOutcome, FamilyStats, Storage, StoreStats, TopSwarm};
use crate::protocol::{
    AnnounceRequest, Event, InfoHash, Params, Peer, PeerId, PeerSelection, Scrape,
};

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Storage>,
{
    first_announce_gets_no_peers(make().await).await;
    two_first_announces_see_each_other(make().await).await;
    concurrent_first_announces_see_each_other(make().await).await;
    never_yourself(make().await).await;
    peers_are_keyed_by_ip_and_port(make().await).await;
    stopped_removes_the_peer(make().await).await;
    stopped_from_unknown_peer_adds_nothing(make().await).await;
    completed_makes_a_seeder_and_counts_one_snatch(make().await).await;
    left_zero_is_a_seeder(make().await).await;
    seeder_and_leecher_switch_roles(make().await).await;
    paused_and_none_are_refreshes(make().await).await;
    leechers_get_seeders_first(make().await).await;
    seeders_get_only_leechers(make().await).await;
    numwant_is_respected(make().await).await;
    address_families_are_apart_but_counted_together(make().await).await;
    selection_starts_at_random(make().await).await;
    scrape_follows_request_order(make().await).await;
    stats_count_the_whole_store(make().await).await;
    stats_count_snatches_while_the_torrent_lives(make().await).await;
    top_swarms_rank_by_peers(make().await).await;
    gc_with_future_cutoff_removes_everything(make().await).await;
    gc_with_past_cutoff_removes_nothing(make().await).await;
    concurrent_announces_are_all_counted(make().await).await;
    all_peers_hands_seeders_to_seeders(make().await).await;
    prefer_subnet_puts_ipv4_neighbours_first(make().await).await;
    prefer_subnet_puts_ipv6_neighbours_first(make().await).await;
    prefer_subnet_hands_out_every_neighbour(make().await).await;
    query_only_is_answered_but_changes_nothing(make().await).await;
    query_only_never_creates_or_removes(make().await).await;
    announce_into_a_sink_is_an_announce(make().await).await;
}

/// A client of the suite: where it is and who it says it is.
#[derive(Clone, Copy, Debug)]
struct Client {
    ip: IpAddr,
    port: u16,
    id: PeerId,
}

impl Client {
    fn v4(n: u8) -> Self {
        Client {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
            port: 6881,
            id: PeerId([n; 20]),
        }
    }

    fn v6(n: u8) -> Self {
        Client {
            ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n))),
            port: 6881,
            id: PeerId([0x80 | n; 20]),
        }
    }

    fn addr(&self) -> (IpAddr, u16) {
        (self.ip, self.port)
    }

    /// A plain refresh announce with 1000 bytes left and 50 peers wanted.
    fn leech(&self, hash: InfoHash) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: hash,
            peer_id: self.id,
            ip: self.ip,
            port: self.port,
            uploaded: 0,
            downloaded: 0,
            left: 1000,
            event: Event::None,
            numwant: 50,
            key: None,
            params: Params::default(),
            selection: Default::default(),
        }
    }

    fn seed(&self, hash: InfoHash) -> AnnounceRequest {
        AnnounceRequest {
            left: 0,
            ..self.leech(hash)
        }
    }
}

fn with_event(req: AnnounceRequest, event: Event) -> AnnounceRequest {
    AnnounceRequest { event, ..req }
}

fn with_numwant(req: AnnounceRequest, numwant: u32) -> AnnounceRequest {
    AnnounceRequest { numwant, ..req }
}

fn with_selection(req: AnnounceRequest, selection: PeerSelection) -> AnnounceRequest {
    AnnounceRequest { selection, ..req }
}

const ALL_PEERS: PeerSelection = PeerSelection {
    all_peers: true,
    prefer_subnet: None,
    query_only: false,
};

const QUERY_ONLY: PeerSelection = PeerSelection {
    all_peers: false,
    prefer_subnet: None,
    query_only: true,
};

/// Neighbours share the first 24 bits (IPv4) or 64 bits (IPv6).
const PREFER_SUBNET: PeerSelection = PeerSelection {
    all_peers: false,
    prefer_subnet: Some((24, 64)),
    query_only: false,
};

fn hash(n: u8) -> InfoHash {
    InfoHash([n; 20])
}

fn counts(complete: u32, incomplete: u32, downloaded: u32) -> Scrape {
    Scrape {
        complete,
        incomplete,
        downloaded,
    }
}

async fn announce(store: &Storage, req: AnnounceRequest) -> AnnounceOutcome {
    store.announce(&req).await.expect("announce failed")
}

async fn scrape_one(store: &Storage, hash: InfoHash) -> Scrape {
    let mut all = store.scrape(&[hash]).await.expect("scrape failed");
    assert_eq!(all.len(), 1, "scrape of one hash must return one entry");
    all.remove(0)
}

async fn stats(store: &Storage) -> StoreStats {
    store.stats().await.expect("stats failed")
}

/// Announces each client as a leecher (seeder if `seed`), ignoring replies.
async fn populate(store: &Storage, hash: InfoHash, clients: &[Client], seed: bool) {
    for c in clients {
        let req = if seed { c.seed(hash) } else { c.leech(hash) };
        announce(store, req).await;
    }
}

fn addrs(peers: &[Peer]) -> HashSet<(IpAddr, u16)> {
    peers.iter().map(|p| (p.ip, p.port)).collect()
}

fn clients_v4(range: std::ops::Range<u8>) -> Vec<Client> {
    range.map(Client::v4).collect()
}

fn peers_of(clients: &[Client]) -> HashSet<(IpAddr, u16)> {
    clients.iter().map(Client::addr).collect()
}

/// The peers handed out as the suite compares them: address and port, in
/// order. Whether an engine hands out peer ids at all is its own choice
/// (Redis keeps them, memory does not: see docs/ARCHITECTURE.md);
/// `peers_are_keyed_by_ip_and_port` checks the ids that are there.
fn listed(peers: &[Peer]) -> Vec<(IpAddr, u16)> {
    peers.iter().map(|p| (p.ip, p.port)).collect()
}

/// A client at `ip` (IPv4 or IPv6), its peer id derived from the address.
fn client_at(ip: &str) -> Client {
    let ip: IpAddr = ip.parse().expect("a literal address");
    let last = match ip {
        IpAddr::V4(v4) => v4.octets()[3],
        IpAddr::V6(v6) => v6.octets()[15],
    };
    Client {
        ip,
        port: 6881,
        id: PeerId([last; 20]),
    }
}

pub async fn first_announce_gets_no_peers(store: Storage) {
    let out = announce(&store, Client::v4(1).leech(hash(1))).await;
    assert!(
        out.peers.is_empty(),
        "first announce got peers: {:?}",
        out.peers
    );
    assert_eq!(
        out.counts,
        counts(0, 1, 0),
        "first leecher must count itself"
    );
    let out = announce(&store, Client::v4(1).seed(hash(2))).await;
    assert!(
        out.peers.is_empty(),
        "first announce got peers: {:?}",
        out.peers
    );
    assert_eq!(
        out.counts,
        counts(1, 0, 0),
        "first seeder must count itself"
    );
}

pub async fn two_first_announces_see_each_other(store: Storage) {
    let (a, b) = (Client::v4(1), Client::v4(2));
    announce(&store, a.leech(hash(1))).await;
    let out = announce(&store, b.leech(hash(1))).await;
    assert_eq!(
        listed(&out.peers),
        vec![a.addr()],
        "second announcer must get the first"
    );
    assert_eq!(out.counts, counts(0, 2, 0));
    let out = announce(&store, a.leech(hash(1))).await;
    assert_eq!(
        listed(&out.peers),
        vec![b.addr()],
        "first announcer must get the second"
    );
}

/// The race of Go chihaya's issue #457: if update and selection were separate
/// steps, two simultaneous first announces could both find an empty swarm.
pub async fn concurrent_first_announces_see_each_other(store: Storage) {
    for round in 0..50u8 {
        let (a, b) = (Client::v4(1), Client::v4(2));
        let (ra, rb) = (a.leech(hash(round)), b.leech(hash(round)));
        let (oa, ob) = tokio::join!(store.announce(&ra), store.announce(&rb));
        let (oa, ob) = (oa.expect("announce failed"), ob.expect("announce failed"));
        let saw = listed(&oa.peers) == vec![b.addr()] || listed(&ob.peers) == vec![a.addr()];
        assert!(
            saw,
            "two first announces missed each other: {oa:?} / {ob:?}"
        );
        let later = oa.counts.incomplete.max(ob.counts.incomplete);
        assert_eq!(later, 2, "the later of two announces must count both");
    }
}

pub async fn never_yourself(store: Storage) {
    let me = Client::v4(1);
    announce(&store, me.leech(hash(1))).await;
    let out = announce(&store, me.leech(hash(1))).await;
    assert!(
        out.peers.is_empty(),
        "a lone peer got itself back: {:?}",
        out.peers
    );
    let others = clients_v4(2..6);
    populate(&store, hash(1), &others, false).await;
    for numwant in [1, 3, 4, 50] {
        let out = announce(&store, with_numwant(me.leech(hash(1)), numwant)).await;
        assert!(
            !addrs(&out.peers).contains(&(me.ip, me.port)),
            "announcer got itself (numwant {numwant}): {:?}",
            out.peers
        );
    }
}

pub async fn peers_are_keyed_by_ip_and_port(store: Storage) {
    let a = Client::v4(1);
    let same_id_elsewhere = Client {
        ip: Client::v4(2).ip,
        ..a
    };
    let same_ip_other_port = Client {
        port: 7000,
        id: PeerId([9; 20]),
        ..a
    };
    announce(&store, a.leech(hash(1))).await;
    let out = announce(&store, same_id_elsewhere.leech(hash(1))).await;
    assert_eq!(
        out.counts.incomplete, 2,
        "same peer_id from another IP is another peer"
    );
    let out = announce(&store, same_ip_other_port.leech(hash(1))).await;
    assert_eq!(
        out.counts.incomplete, 3,
        "same IP on another port is another peer"
    );

    let impostor_id = Client {
        id: PeerId([7; 20]),
        ..a
    };
    let out = announce(&store, impostor_id.leech(hash(1))).await;
    assert_eq!(
        out.counts.incomplete, 3,
        "same IP and port must replace, not add"
    );
    let out = announce(&store, Client::v4(3).leech(hash(1))).await;
    let ids: Vec<Option<PeerId>> = out
        .peers
        .iter()
        .filter(|p| (p.ip, p.port) == (a.ip, a.port))
        .map(|p| p.id)
        .collect();
    assert_eq!(ids.len(), 1, "one peer at an IP and port: {:?}", out.peers);
    assert!(
        ids[0].is_none() || ids[0] == Some(impostor_id.id),
        "the latest peer_id at an IP and port wins (where ids are kept): {ids:?}"
    );
}

pub async fn stopped_removes_the_peer(store: Storage) {
    let (a, b) = (Client::v4(1), Client::v4(2));
    populate(&store, hash(1), &[a, b], false).await;
    let out = announce(&store, with_event(b.leech(hash(1)), Event::Stopped)).await;
    assert!(
        out.peers.is_empty(),
        "a stopped announcer got peers: {:?}",
        out.peers
    );
    assert_eq!(out.counts, counts(0, 1, 0), "stopped must remove the peer");
    let out = announce(&store, a.leech(hash(1))).await;
    assert!(
        out.peers.is_empty(),
        "a stopped peer is still handed out: {:?}",
        out.peers
    );
    let out = announce(&store, with_event(a.leech(hash(1)), Event::Stopped)).await;
    assert_eq!(out.counts, counts(0, 0, 0));
    assert_eq!(
        stats(&store).await,
        StoreStats::default(),
        "last peer stopped: nothing left"
    );
}

/// Transmission sends `stopped` before `started` for a new torrent: answer it,
/// but do not let it join the swarm.
pub async fn stopped_from_unknown_peer_adds_nothing(store: Storage) {
    let out = announce(
        &store,
        with_event(Client::v4(1).leech(hash(1)), Event::Stopped),
    )
    .await;
    assert_eq!(
        out,
        AnnounceOutcome::default(),
        "stopped to an unknown torrent"
    );
    assert_eq!(
        stats(&store).await.torrents,
        0,
        "a stopped announce created a torrent"
    );

    announce(&store, Client::v4(2).seed(hash(1))).await;
    let out = announce(
        &store,
        with_event(Client::v4(3).leech(hash(1)), Event::Stopped),
    )
    .await;
    assert!(
        out.peers.is_empty(),
        "a stopped announcer got peers: {:?}",
        out.peers
    );
    assert_eq!(
        out.counts,
        counts(1, 0, 0),
        "a stopped unknown peer must not be added"
    );
}

pub async fn completed_makes_a_seeder_and_counts_one_snatch(store: Storage) {
    let (a, b) = (Client::v4(1), Client::v4(2));
    announce(&store, a.leech(hash(1))).await;
    let out = announce(&store, with_event(a.seed(hash(1)), Event::Completed)).await;
    assert_eq!(
        out.counts,
        counts(1, 0, 1),
        "completed must move the leecher to seeders"
    );
    let out = announce(&store, with_event(a.seed(hash(1)), Event::Completed)).await;
    assert_eq!(
        out.counts,
        counts(1, 0, 1),
        "a seeder's repeated completed counted twice"
    );
    let out = announce(&store, with_event(b.seed(hash(1)), Event::Completed)).await;
    assert_eq!(
        out.counts,
        counts(2, 0, 2),
        "completed from an unknown peer must count"
    );
    assert_eq!(scrape_one(&store, hash(1)).await, counts(2, 0, 2));
}

pub async fn left_zero_is_a_seeder(store: Storage) {
    let out = announce(
        &store,
        with_event(Client::v4(1).seed(hash(1)), Event::Started),
    )
    .await;
    assert_eq!(
        out.counts,
        counts(1, 0, 0),
        "left=0 must be a seeder, with no snatch"
    );
}

pub async fn seeder_and_leecher_switch_roles(store: Storage) {
    let a = Client::v4(1);
    let steps = [
        (false, counts(0, 1, 0)),
        (true, counts(1, 0, 0)),
        (false, counts(0, 1, 0)),
    ];
    for (seed, want) in steps {
        let req = if seed {
            a.seed(hash(1))
        } else {
            a.leech(hash(1))
        };
        let out = announce(&store, req).await;
        assert_eq!(
            out.counts, want,
            "a peer switching roles must move, never be both"
        );
    }
}

pub async fn paused_and_none_are_refreshes(store: Storage) {
    let (a, b) = (Client::v4(1), Client::v4(2));
    populate(&store, hash(1), &[a], true).await;
    for event in [Event::Started, Event::Paused, Event::None] {
        let out = announce(&store, with_event(b.leech(hash(1)), event)).await;
        assert_eq!(
            out.counts,
            counts(1, 1, 0),
            "{event:?} must be a plain refresh"
        );
        assert_eq!(
            listed(&out.peers),
            vec![a.addr()],
            "{event:?} must get peers"
        );
    }
}

pub async fn leechers_get_seeders_first(store: Storage) {
    let seeders = clients_v4(1..4);
    let leechers = clients_v4(4..7);
    populate(&store, hash(1), &seeders, true).await;
    populate(&store, hash(1), &leechers, false).await;
    let me = Client::v4(9);
    let seeder_addrs = peers_of(&seeders);

    let out = announce(&store, with_numwant(me.leech(hash(1)), 3)).await;
    assert_eq!(
        addrs(&out.peers),
        seeder_addrs,
        "a leecher wanting 3 must get the 3 seeders"
    );
    let out = announce(&store, with_numwant(me.leech(hash(1)), 5)).await;
    assert_eq!(out.peers.len(), 5);
    assert_eq!(
        addrs(&out.peers[..3]),
        seeder_addrs,
        "seeders must come first"
    );
    let out = announce(&store, me.leech(hash(1))).await;
    assert_eq!(
        out.peers.len(),
        6,
        "a leecher must get every other peer when it wants more"
    );
}

pub async fn seeders_get_only_leechers(store: Storage) {
    let seeders = clients_v4(1..4);
    populate(&store, hash(1), &seeders, true).await;
    let me = Client::v4(9);
    let out = announce(&store, me.seed(hash(1))).await;
    assert!(
        out.peers.is_empty(),
        "a seeder got seeders: {:?}",
        out.peers
    );
    let leechers = clients_v4(4..7);
    populate(&store, hash(1), &leechers, false).await;
    let out = announce(&store, me.seed(hash(1))).await;
    let leecher_addrs = peers_of(&leechers);
    assert_eq!(
        addrs(&out.peers),
        leecher_addrs,
        "a seeder must get exactly the leechers"
    );
}

pub async fn numwant_is_respected(store: Storage) {
    populate(&store, hash(1), &clients_v4(1..11), false).await;
    let me = Client::v4(20);
    let out = announce(&store, with_numwant(me.leech(hash(1)), 4)).await;
    assert_eq!(out.peers.len(), 4, "numwant 4");
    let out = announce(&store, with_numwant(me.leech(hash(1)), 0)).await;
    assert!(out.peers.is_empty(), "numwant 0 got peers: {:?}", out.peers);
    assert_eq!(out.counts, counts(0, 11, 0), "numwant 0 still gets counts");
}

pub async fn address_families_are_apart_but_counted_together(store: Storage) {
    let (a4, b4, a6, b6) = (Client::v4(1), Client::v4(2), Client::v6(1), Client::v6(2));
    announce(&store, a4.leech(hash(1))).await;
    let out = announce(&store, a6.seed(hash(1))).await;
    assert!(
        out.peers.is_empty(),
        "an IPv6 peer got IPv4 peers: {:?}",
        out.peers
    );
    assert_eq!(
        out.counts,
        counts(1, 1, 0),
        "counts must cover both families"
    );
    let out = announce(&store, b4.leech(hash(1))).await;
    assert_eq!(
        listed(&out.peers),
        vec![a4.addr()],
        "an IPv4 peer must get only IPv4 peers"
    );
    let out = announce(&store, b6.leech(hash(1))).await;
    assert_eq!(
        listed(&out.peers),
        vec![a6.addr()],
        "an IPv6 peer must get only IPv6 peers"
    );
    assert_eq!(out.counts, counts(1, 3, 0));
}

/// With a fixed starting point, peers past the first `numwant` would never be
/// handed out, and a swarm would split into cliques.
pub async fn selection_starts_at_random(store: Storage) {
    let seeders = clients_v4(1..10);
    populate(&store, hash(1), &seeders, true).await;
    let me = with_numwant(Client::v4(20).leech(hash(1)), 2);
    let mut seen = HashSet::new();
    // Each peer misses one announce with probability 7/9; 300 misses in a row is ~1e-33.
    for _ in 0..300 {
        seen.extend(addrs(&announce(&store, me.clone()).await.peers));
        if seen.len() == seeders.len() {
            return;
        }
    }
    panic!(
        "after 300 announces only {} of {} peers were ever handed out",
        seen.len(),
        seeders.len()
    );
}

pub async fn scrape_follows_request_order(store: Storage) {
    populate(&store, hash(1), &clients_v4(1..3), false).await;
    populate(&store, hash(2), &clients_v4(1..4), true).await;
    let asked = [hash(2), hash(99), hash(1), hash(2)];
    let got = store.scrape(&asked).await.expect("scrape failed");
    let want = vec![
        counts(3, 0, 0),
        Scrape::default(),
        counts(0, 2, 0),
        counts(3, 0, 0),
    ];
    assert_eq!(
        got, want,
        "scrape must answer each hash in request order, unknown as zero"
    );
    assert!(store.scrape(&[]).await.expect("scrape failed").is_empty());
}

pub async fn stats_count_the_whole_store(store: Storage) {
    assert_eq!(
        stats(&store).await,
        StoreStats::default(),
        "a new store must be empty"
    );
    populate(&store, hash(1), &clients_v4(1..3), false).await;
    populate(&store, hash(2), &clients_v4(1..4), true).await;
    announce(&store, Client::v6(1).leech(hash(2))).await;
    let want = StoreStats {
        torrents: 2,
        seeders: 3,
        leechers: 3,
        snatches: 0,
        ipv4: FamilyStats {
            swarms: 2,
            seeders: 3,
            leechers: 2,
        },
        ipv6: FamilyStats {
            swarms: 1,
            seeders: 0,
            leechers: 1,
        },
    };
    assert_eq!(stats(&store).await, want);
}

pub async fn stats_count_snatches_while_the_torrent_lives(store: Storage) {
    let (a, b) = (Client::v4(1), Client::v6(1));
    announce(&store, with_event(a.seed(hash(1)), Event::Completed)).await;
    announce(&store, with_event(b.seed(hash(1)), Event::Completed)).await;
    announce(&store, with_event(a.seed(hash(2)), Event::Completed)).await;
    assert_eq!(stats(&store).await.snatches, 3);
    announce(&store, with_event(a.seed(hash(2)), Event::Stopped)).await;
    let s = stats(&store).await;
    assert_eq!(
        (s.torrents, s.snatches),
        (1, 2),
        "a torrent's snatches go with its last peer, as in scrapes"
    );
    assert_eq!((s.ipv4.swarms, s.ipv6.swarms), (1, 1));
}

pub async fn top_swarms_rank_by_peers(store: Storage) {
    assert!(store.top_swarms(5).await.expect("top failed").is_empty());
    populate(&store, hash(1), &clients_v4(1..3), false).await;
    populate(&store, hash(2), &clients_v4(1..5), true).await;
    populate(&store, hash(3), &clients_v4(1..4), false).await;
    announce(&store, Client::v6(1).leech(hash(3))).await;
    populate(&store, hash(4), &clients_v4(1..4), false).await;
    let top = store.top_swarms(3).await.expect("top failed");
    let got: Vec<(InfoHash, u64)> = top.iter().map(|t| (t.info_hash, t.peers())).collect();
    assert_eq!(
        got,
        [(hash(2), 4), (hash(3), 4), (hash(4), 3)],
        "most peers first, ties by info hash, cut to n"
    );
    let two = store.top_swarms(2).await.expect("top failed");
    let two: Vec<InfoHash> = two.iter().map(|t| t.info_hash).collect();
    assert_eq!(two, [hash(2), hash(3)], "a smaller n keeps the largest");
    assert_eq!(
        top[1],
        TopSwarm {
            info_hash: hash(3),
            counts: counts(0, 4, 0),
        }
    );
}

/// Fills three torrents, both families, seeders and leechers: 12 peers.
async fn fill_for_gc(store: &Storage) {
    for n in 1..4 {
        populate(store, hash(n), &clients_v4(1..3), false).await;
        populate(store, hash(n), &[Client::v4(3)], true).await;
        populate(store, hash(n), &[Client::v6(1)], n % 2 == 0).await;
    }
}

pub async fn gc_with_future_cutoff_removes_everything(store: Storage) {
    fill_for_gc(&store).await;
    let cutoff = SystemTime::now() + Duration::from_secs(3600);
    let gc = store.collect_garbage(cutoff).await.expect("gc failed");
    assert_eq!(
        gc.peers_removed, 12,
        "every peer is older than a future cutoff"
    );
    assert_eq!(gc.swarms_removed, 3, "torrents left empty must be dropped");
    assert_eq!(
        stats(&store).await,
        StoreStats::default(),
        "nothing may remain after gc"
    );
    assert_eq!(scrape_one(&store, hash(1)).await, Scrape::default());
    let out = announce(&store, Client::v4(9).leech(hash(1))).await;
    assert!(
        out.peers.is_empty(),
        "collected peers are still handed out: {:?}",
        out.peers
    );
}

pub async fn gc_with_past_cutoff_removes_nothing(store: Storage) {
    fill_for_gc(&store).await;
    let before = stats(&store).await;
    let cutoff = SystemTime::now() - Duration::from_secs(3600);
    let gc = store.collect_garbage(cutoff).await.expect("gc failed");
    assert_eq!(gc.peers_removed, 0, "fresh peers were collected");
    assert_eq!(gc.swarms_removed, 0, "live torrents were dropped");
    assert_eq!(stats(&store).await, before);
    assert_eq!(before.torrents, 3);
}

/// Many announces at once to one torrent (bounded: 200 peers in 8 tasks);
/// afterwards every one of them is counted, once.
pub async fn concurrent_announces_are_all_counted(store: Storage) {
    let store = Arc::new(store);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8u8 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for n in 0..25u8 {
                let c = Client {
                    port: 1000 + u16::from(task) * 100 + u16::from(n),
                    ..Client::v4(task)
                };
                let req = if n % 2 == 0 {
                    c.seed(hash(1))
                } else {
                    c.leech(hash(1))
                };
                announce(&store, req).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("an announcing task panicked");
    }
    assert_eq!(scrape_one(&store, hash(1)).await, counts(104, 96, 0));
}

/// LBRY: every peer announces left=0, so under the plain rule (seeders get
/// only leechers) nobody would ever learn of anybody. With `all_peers` a
/// seeder gets the leechers first, then the other seeders, never itself.
pub async fn all_peers_hands_seeders_to_seeders(store: Storage) {
    let seeders = clients_v4(1..4);
    let leechers = clients_v4(4..6);
    populate(&store, hash(1), &seeders, true).await;
    let me = seeders[0];
    let out = announce(&store, with_selection(me.seed(hash(1)), ALL_PEERS)).await;
    assert_eq!(
        addrs(&out.peers),
        peers_of(&seeders[1..]),
        "with all_peers a seeder must get the other seeders"
    );
    populate(&store, hash(1), &leechers, false).await;
    let out = announce(&store, with_selection(me.seed(hash(1)), ALL_PEERS)).await;
    assert_eq!(out.peers.len(), 4, "every other peer: {:?}", out.peers);
    assert_eq!(
        addrs(&out.peers[..2]),
        peers_of(&leechers),
        "a seeder must get leechers first"
    );
    let want_two = with_numwant(with_selection(me.seed(hash(1)), ALL_PEERS), 2);
    let out = announce(&store, want_two).await;
    assert_eq!(
        addrs(&out.peers),
        peers_of(&leechers),
        "numwant 2: the leechers"
    );
    let out = announce(
        &store,
        with_selection(leechers[0].leech(hash(1)), ALL_PEERS),
    )
    .await;
    assert_eq!(
        out.peers.len(),
        4,
        "a leecher with all_peers gets everyone else"
    );
    assert_eq!(addrs(&out.peers[..3]), peers_of(&seeders), "seeders first");
    let out = announce(&store, me.seed(hash(1))).await;
    assert_eq!(
        addrs(&out.peers),
        peers_of(&leechers),
        "without all_peers the plain rule holds again"
    );
    assert_eq!(out.counts, counts(3, 2, 0));
}

/// Neighbours come before seeders elsewhere: a leecher wanting two peers gets
/// its two neighbours (a seeder, then a leecher), not the two far seeders.
async fn neighbours_first(store: &Storage, me: Client, near: [Client; 2], far: [Client; 2]) {
    let [near_seeder, near_leecher] = near;
    populate(store, hash(1), &[near_seeder], true).await;
    populate(store, hash(1), &far, true).await;
    populate(store, hash(1), &[near_leecher], false).await;
    let req = with_numwant(with_selection(me.leech(hash(1)), PREFER_SUBNET), 2);
    let out = announce(store, req).await;
    assert_eq!(
        listed(&out.peers),
        vec![near_seeder.addr(), near_leecher.addr()],
        "neighbours (seeders first) must come before everyone else"
    );
    let req = with_selection(me.leech(hash(1)), PREFER_SUBNET);
    let out = announce(store, req).await;
    assert_eq!(out.peers.len(), 4, "then the rest: {:?}", out.peers);
    assert_eq!(addrs(&out.peers[2..]), peers_of(&far), "the far ones last");
    let out = announce(store, with_numwant(me.leech(hash(1)), 2)).await;
    let seeders = peers_of(&[near_seeder, far[0], far[1]]);
    assert!(
        out.peers.len() == 2 && addrs(&out.peers).is_subset(&seeders),
        "without the preference a leecher gets seeders first: {:?}",
        out.peers
    );
}

pub async fn prefer_subnet_puts_ipv4_neighbours_first(store: Storage) {
    let near = [client_at("10.0.0.2"), client_at("10.0.0.3")];
    let far = [client_at("10.0.1.4"), client_at("192.168.0.5")];
    neighbours_first(&store, client_at("10.0.0.1"), near, far).await;
}

pub async fn prefer_subnet_puts_ipv6_neighbours_first(store: Storage) {
    let near = [
        client_at("2001:db8:0:1::2"),
        client_at("2001:db8:0:1:ffff::3"),
    ];
    let far = [client_at("2001:db8:0:2::4"), client_at("2001:db9::5")];
    neighbours_first(&store, client_at("2001:db8:0:1::1"), near, far).await;
}

/// A preference, not a cut: every neighbour is handed out over time (each
/// walk starts at random), and a far peer only once the neighbours run out.
pub async fn prefer_subnet_hands_out_every_neighbour(store: Storage) {
    let near = clients_v4(1..9);
    let far: Vec<Client> = (1..5).map(|n| client_at(&format!("10.9.0.{n}"))).collect();
    populate(&store, hash(1), &far, true).await;
    populate(&store, hash(1), &near, true).await;
    let me = with_numwant(
        with_selection(Client::v4(100).leech(hash(1)), PREFER_SUBNET),
        2,
    );
    let mut seen = HashSet::new();
    // Each neighbour misses one announce with probability 3/4; 300 misses in a row is ~1e-37.
    for _ in 0..300 {
        let got = addrs(&announce(&store, me.clone()).await.peers);
        assert!(
            got.is_subset(&peers_of(&near)),
            "a far peer before the neighbours ran out"
        );
        seen.extend(got);
        if seen.len() == near.len() {
            return;
        }
    }
    panic!(
        "after 300 announces only {} of {} neighbours were ever handed out",
        seen.len(),
        near.len()
    );
}

/// LBRY's port-0 announces: peers and counts come back, but the swarm is as
/// if the announce never happened.
pub async fn query_only_is_answered_but_changes_nothing(store: Storage) {
    let (seeder, leecher, asker) = (Client::v4(1), Client::v4(2), Client::v4(3));
    populate(&store, hash(1), &[seeder], true).await;
    populate(&store, hash(1), &[leecher], false).await;
    let before = stats(&store).await;
    let out = announce(&store, with_selection(asker.leech(hash(1)), QUERY_ONLY)).await;
    assert_eq!(
        addrs(&out.peers),
        peers_of(&[seeder, leecher]),
        "the asker gets peers"
    );
    assert_eq!(out.counts, counts(1, 1, 0), "the asker is not counted");
    let completed = with_event(asker.seed(hash(1)), Event::Completed);
    let out = announce(&store, with_selection(completed, QUERY_ONLY)).await;
    assert_eq!(
        out.counts,
        counts(1, 1, 0),
        "a query-only completed counted a snatch"
    );
    assert_eq!(
        addrs(&out.peers),
        peers_of(&[leecher]),
        "the plain rule still shapes it"
    );
    assert_eq!(
        stats(&store).await,
        before,
        "a query-only announce changed the store"
    );
    let out = announce(&store, leecher.leech(hash(1))).await;
    assert_eq!(
        listed(&out.peers),
        vec![seeder.addr()],
        "the asker was handed out"
    );
    let out = announce(&store, with_selection(leecher.leech(hash(1)), QUERY_ONLY)).await;
    assert_eq!(
        listed(&out.peers),
        vec![seeder.addr()],
        "a stored peer asking got itself back"
    );
    let both = PeerSelection {
        all_peers: true,
        ..QUERY_ONLY
    };
    let out = announce(&store, with_selection(asker.seed(hash(1)), both)).await;
    assert_eq!(
        addrs(&out.peers),
        peers_of(&[seeder, leecher]),
        "query_only with all_peers"
    );
}

pub async fn query_only_never_creates_or_removes(store: Storage) {
    let out = announce(
        &store,
        with_selection(Client::v4(1).seed(hash(1)), QUERY_ONLY),
    )
    .await;
    assert_eq!(
        out,
        AnnounceOutcome::default(),
        "a query about an unknown torrent"
    );
    assert_eq!(
        stats(&store).await.torrents,
        0,
        "a query-only announce created a torrent"
    );
    let a = Client::v4(2);
    populate(&store, hash(1), &[a], true).await;
    let stop = with_selection(with_event(a.seed(hash(1)), Event::Stopped), QUERY_ONLY);
    let out = announce(&store, stop).await;
    assert!(
        out.peers.is_empty(),
        "a stopped announcer got peers: {:?}",
        out.peers
    );
    assert_eq!(
        out.counts,
        counts(1, 0, 0),
        "a query-only stopped removed the peer"
    );
    assert_eq!(scrape_one(&store, hash(1)).await, counts(1, 0, 0));
}

/// `announce_into` is the same operation as `announce`, the peers handed to
/// a sink instead of returned: it records the announcer, counts it, hands
/// out the same peers (never the announcer, only its family, at most
/// numwant), and a stop through it removes the peer.
pub async fn announce_into_a_sink_is_an_announce(store: Storage) {
    let seeders = clients_v4(1..6);
    populate(&store, hash(1), &seeders, true).await;
    announce(&store, Client::v6(1).seed(hash(1))).await;
    let me = Client::v4(20);
    let mut peers = Vec::new();
    let got = store
        .announce_into(
            &with_numwant(me.leech(hash(1)), 3),
            SystemTime::now(),
            &mut peers,
        )
        .await
        .expect("announce_into failed");
    assert_eq!(got, counts(6, 1, 0), "counts after announcing into a sink");
    assert_eq!(peers.len(), 3, "numwant 3 through a sink: {peers:?}");
    assert!(
        addrs(&peers).is_subset(&peers_of(&seeders)),
        "a sink got peers that are not the IPv4 seeders: {peers:?}"
    );
    let out = announce(&store, Client::v4(1).leech(hash(1))).await;
    assert!(
        addrs(&out.peers).contains(&me.addr()),
        "the peer announced into a sink was not recorded: {:?}",
        out.peers
    );
    let mut none = Vec::new();
    let got = store
        .announce_into(
            &with_event(me.leech(hash(1)), Event::Stopped),
            SystemTime::now(),
            &mut none,
        )
        .await
        .expect("announce_into failed");
    assert!(none.is_empty(), "a stop got peers: {none:?}");
    assert_eq!(
        got,
        counts(5, 1, 0),
        "a stop through a sink removes the peer"
    );
    // The announcer is seen when its request was received, not when the
    // engine got to it: stamped two hours back, a cutoff one hour back
    // collects it (and only it).
    let late = SystemTime::now() - Duration::from_secs(7200);
    let mut peers = Vec::new();
    store
        .announce_into(&Client::v4(30).leech(hash(2)), late, &mut peers)
        .await
        .expect("announce_into failed");
    populate(&store, hash(2), &[Client::v4(31)], false).await;
    let cutoff = SystemTime::now() - Duration::from_secs(3600);
    let gc = store.collect_garbage(cutoff).await.expect("gc failed");
    assert_eq!(
        gc.peers_removed, 1,
        "the peer stamped with its receive time was not the one collected"
    );
    assert_eq!(scrape_one(&store, hash(2)).await, counts(0, 1, 0));
}
