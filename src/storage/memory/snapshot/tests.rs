//! The codec alone: round trips (by hand and by proptest) and every reason a
//! file is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;

use super::*;

/// A stored peer, every field: (address, port, seeder, last seen).
type PeerSpec = (IpAddr, u16, bool, u32);

fn swarm<A: Family>(peers: impl Iterator<Item = (A, u16, bool, u32)>) -> Swarm<A> {
    let mut swarm = Swarm::default();
    for (addr, port, seeder, seen) in peers {
        swarm.upsert(Announcer {
            addr,
            port,
            role: if seeder { Role::Seeder } else { Role::Leecher },
            now: CoarseTime::from_secs(seen),
        });
    }
    swarm
}

fn torrent(hash: u8, peers: &[PeerSpec], snatches: u32) -> (InfoHash, Torrent) {
    let v4 = peers.iter().filter_map(|&(ip, port, s, t)| match ip {
        IpAddr::V4(a) => Some((a, port, s, t)),
        IpAddr::V6(_) => None,
    });
    let v6 = peers.iter().filter_map(|&(ip, port, s, t)| match ip {
        IpAddr::V6(a) => Some((a, port, s, t)),
        IpAddr::V4(_) => None,
    });
    let hash = InfoHash([hash; 20]);
    (
        hash,
        Torrent::restored(hash, swarm(v4), swarm(v6), snatches),
    )
}

/// Everything a torrent holds, in a canonical order (a swarm's order of
/// entries is an implementation detail that a reload may change).
fn listing(torrent: &Torrent) -> (u32, Vec<PeerSpec>) {
    fn rows<A: Family>(swarm: &Swarm<A>) -> impl Iterator<Item = PeerSpec> + '_ {
        swarm.records().map(|p| {
            let seeder = p.role == Role::Seeder;
            (p.addr.into(), p.port, seeder, p.now.secs())
        })
    }
    let mut all: Vec<_> = rows(torrent.v4()).chain(rows(torrent.v6())).collect();
    all.sort();
    (torrent.snatches(), all)
}

fn encode(torrents: &[(InfoHash, Torrent)], at: SystemTime) -> Vec<u8> {
    let mut encoder = Encoder::new(Vec::new(), at).unwrap();
    let mut batch = Batch::default();
    // Two batches, as two shards would write them.
    let half = torrents.len() / 2;
    for chunk in [&torrents[..half], &torrents[half..]] {
        for (_, torrent) in chunk {
            batch.push(torrent);
        }
        encoder.write(&mut batch).unwrap();
    }
    encoder.finish().unwrap().0
}

fn decode(bytes: &[u8]) -> Result<Vec<(InfoHash, Torrent)>, SnapshotError> {
    let mut decoder = Decoder::open(bytes)?;
    let mut out = Vec::new();
    while let Some(entry) = decoder.next_torrent()? {
        out.push(entry);
    }
    Ok(out)
}

fn sample() -> Vec<(InfoHash, Torrent)> {
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9));
    vec![
        torrent(1, &[(v4, 6881, true, 1_700_000_000)], 3),
        torrent(
            2,
            &[
                (v4, 6881, false, 1_700_000_001),
                (v4, 6882, true, 1_700_000_002),
                (v6, 51413, false, 1_700_000_003),
            ],
            0,
        ),
    ]
}

fn sample_bytes() -> Vec<u8> {
    encode(&sample(), UNIX_EPOCH + Duration::from_secs(1_700_000_100))
}

fn assert_same(a: &[(InfoHash, Torrent)], b: &[(InfoHash, Torrent)]) {
    let list = |v: &[(InfoHash, Torrent)]| -> Vec<_> {
        v.iter().map(|(h, t)| (*h, *t.hash(), listing(t))).collect()
    };
    assert_eq!(list(a), list(b));
}

#[test]
fn round_trip_keeps_every_field_and_the_write_time() {
    let bytes = sample_bytes();
    let decoder = Decoder::open(&bytes[..]).unwrap();
    assert_eq!(
        decoder.written_at(),
        UNIX_EPOCH + Duration::from_secs(1_700_000_100)
    );
    assert_same(&decode(&bytes).unwrap(), &sample());
}

#[test]
fn totals_count_torrents_and_peers() {
    let bytes = sample_bytes();
    let mut decoder = Decoder::open(&bytes[..]).unwrap();
    while decoder.next_torrent().unwrap().is_some() {}
    assert_eq!(
        decoder.totals(),
        Totals {
            torrents: 2,
            peers: 4
        }
    );
}

#[test]
fn an_empty_store_round_trips() {
    let bytes = encode(&[], SystemTime::now());
    assert!(decode(&bytes).unwrap().is_empty());
}

#[test]
fn foreign_files_are_refused_by_their_magic() {
    assert!(matches!(decode(b"d8:announce"), Err(SnapshotError::Magic)));
    assert!(matches!(decode(b""), Err(SnapshotError::Magic)));
    let mut bytes = sample_bytes();
    bytes[0] = b'X';
    assert!(matches!(decode(&bytes), Err(SnapshotError::Magic)));
}

#[test]
fn another_version_is_refused_and_named() {
    // Version 1 (with peer ids) is what the previous release wrote.
    for version in [1u16, 3] {
        let mut bytes = sample_bytes();
        bytes[8..10].copy_from_slice(&version.to_le_bytes());
        let err = decode(&bytes).err().unwrap();
        assert!(
            matches!(err, SnapshotError::Version(v) if v == version),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("version {version}, this build reads version 2")),
            "{text}"
        );
    }
}

#[test]
fn a_write_time_past_the_clock_range_is_refused_not_a_panic() {
    let mut bytes = sample_bytes();
    bytes[10..18].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = decode(&bytes).err();
    assert!(
        matches!(err, Some(SnapshotError::Malformed(m)) if m.contains("time")),
        "{err:?}"
    );
}

#[test]
fn a_truncated_file_is_refused() {
    let bytes = sample_bytes();
    for cut in [18, 19, 40, bytes.len() - 9, bytes.len() - 1] {
        let err = decode(&bytes[..cut]).err();
        assert!(
            matches!(err, Some(SnapshotError::Truncated)),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn a_flipped_bit_is_caught_by_the_checksum() {
    let mut bytes = sample_bytes();
    // The snatch count of the first torrent: still a well-formed file.
    bytes[18 + 1 + 20] ^= 0x10;
    assert!(matches!(decode(&bytes), Err(SnapshotError::Checksum)));
}

/// Rewrites the checksum so only the content check under test can object.
fn reseal(bytes: &mut [u8]) {
    let end = bytes.len() - 8;
    let mut hash = SipHasher24::new();
    hash.write(&bytes[..end]);
    bytes[end..].copy_from_slice(&hash.finish().to_le_bytes());
}

#[test]
fn an_unknown_record_tag_is_refused() {
    let mut bytes = sample_bytes();
    bytes[18] = 7;
    let err = decode(&bytes).err();
    assert!(
        matches!(err, Some(SnapshotError::Malformed(m)) if m.contains("tag")),
        "{err:?}"
    );
}

#[test]
fn unknown_peer_flags_are_refused() {
    let mut bytes = sample_bytes();
    // Torrent 1: tag, hash, snatches, v4 count, then the peer's flags byte.
    let flags = 18 + 1 + 20 + 4 + 4 + 4 + 2;
    assert_eq!(bytes[flags], SEEDER);
    bytes[flags] = 0x80;
    reseal(&mut bytes);
    let err = decode(&bytes).err();
    assert!(
        matches!(err, Some(SnapshotError::Malformed(m)) if m.contains("flags")),
        "{err:?}"
    );
}

#[test]
fn end_totals_that_disagree_are_refused() {
    let mut bytes = sample_bytes();
    let peers = bytes.len() - 8 - 8;
    bytes[peers] += 1;
    reseal(&mut bytes);
    let err = decode(&bytes).err();
    assert!(
        matches!(err, Some(SnapshotError::Malformed(m)) if m.contains("totals")),
        "{err:?}"
    );
}

#[test]
fn bytes_after_the_checksum_are_refused() {
    let mut bytes = sample_bytes();
    bytes.push(0);
    let err = decode(&bytes).err();
    assert!(
        matches!(err, Some(SnapshotError::Malformed(m)) if m.contains("after")),
        "{err:?}"
    );
}

fn peer_spec() -> impl Strategy<Value = PeerSpec> {
    let ip = prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ];
    (ip, any::<u16>(), any::<bool>(), any::<u32>())
}

/// A store as plain data (proptest needs `Debug` values), built by [`build`].
type StoreSpec = Vec<(u8, Vec<PeerSpec>, u32)>;

fn store_spec() -> impl Strategy<Value = StoreSpec> {
    let one = (
        any::<u8>(),
        prop::collection::vec(peer_spec(), 0..6),
        any::<u32>(),
    );
    prop::collection::vec(one, 0..8)
}

fn build(spec: &StoreSpec) -> Vec<(InfoHash, Torrent)> {
    spec.iter()
        .map(|(hash, peers, snatches)| torrent(*hash, peers, *snatches))
        .collect()
}

proptest! {
    #[test]
    fn any_store_round_trips(spec in store_spec(), secs in any::<u32>()) {
        let torrents = build(&spec);
        let at = UNIX_EPOCH + Duration::from_secs(u64::from(secs));
        let bytes = encode(&torrents, at);
        let back = decode(&bytes).unwrap();
        assert_same(&back, &torrents);
        prop_assert_eq!(Decoder::open(&bytes[..]).unwrap().written_at(), at);
    }

    #[test]
    fn any_truncation_or_flipped_byte_is_refused(
        spec in store_spec(),
        at in any::<prop::sample::Index>(),
        flip in 1..=255u8,
    ) {
        let bytes = encode(&build(&spec), SystemTime::now());
        let i = at.index(bytes.len());
        prop_assert!(decode(&bytes[..i]).is_err(), "cut at {}", i);
        let mut damaged = bytes.clone();
        damaged[i] ^= flip;
        prop_assert!(decode(&damaged).is_err(), "byte {} ^ {}", i, flip);
    }
}
