//! One flush's worth of accounting: what the journal stores and the database
//! applies, exactly once.
//!
//! Two kinds of content, with different replay rules:
//! - *additive* rows ([`Transfer`], [`Snatch`]): added to the totals. They
//!   must be applied exactly once, which is why a batch carries an id that the
//!   database records in the same transaction.
//! - *state* rows ([`PeerRow`], gone peers): the last counters a peer reported,
//!   written as they are. Applying them twice is harmless; they are what the
//!   next delta is computed against after a restart, so a client's cumulative
//!   counters make up for anything between the last journaled batch and a crash.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::model::{TorrentId, UserId};
use crate::protocol::PeerId;

/// Unique per batch across restarts and instances (random 63 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(pub i64);

impl BatchId {
    pub fn random() -> BatchId {
        BatchId((rand::random::<u64>() >> 1) as i64)
    }
}

/// A peer of a private swarm: one client session of one user on one torrent.
/// Keyed by user and peer_id (not address), so another user who copies a
/// peer_id gets a session of their own and steals nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerKey {
    pub user: UserId,
    pub torrent: TorrentId,
    #[serde(with = "peer_id_hex")]
    pub peer_id: PeerId,
}

/// Credited and raw bytes moved by one user on one torrent since the last
/// batch, with the seeding time. Credited = raw × multipliers, after freeleech.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub uploaded: u64,
    pub downloaded: u64,
    pub raw_uploaded: u64,
    pub raw_downloaded: u64,
    /// Seconds spent seeding (between two announces, both as a seeder).
    pub seed_time: u64,
    /// Announces counted into this row.
    pub announces: u64,
}

impl Transfer {
    pub fn add(&mut self, other: &Transfer) {
        self.uploaded = self.uploaded.saturating_add(other.uploaded);
        self.downloaded = self.downloaded.saturating_add(other.downloaded);
        self.raw_uploaded = self.raw_uploaded.saturating_add(other.raw_uploaded);
        self.raw_downloaded = self.raw_downloaded.saturating_add(other.raw_downloaded);
        self.seed_time = self.seed_time.saturating_add(other.seed_time);
        self.announces = self.announces.saturating_add(other.announces);
    }
}

/// The last announce of one session: the baseline of its next delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRow {
    pub key: PeerKey,
    pub ip: IpAddr,
    pub port: u16,
    /// The client's cumulative counters as last reported.
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    /// Unix seconds.
    pub last_announce: i64,
}

/// A leecher that completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snatch {
    pub user: UserId,
    pub torrent: TorrentId,
    /// Unix seconds.
    pub at: i64,
}

/// One flush.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub id: BatchId,
    /// Unix seconds.
    pub created: i64,
    /// Sorted by (user, torrent), one row per pair.
    pub transfers: Vec<(UserId, TorrentId, Transfer)>,
    /// The latest state of every session that announced.
    pub peers: Vec<PeerRow>,
    /// Sessions that stopped or expired: their rows go.
    pub gone: Vec<PeerKey>,
    pub snatches: Vec<Snatch>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
            && self.peers.is_empty()
            && self.gone.is_empty()
            && self.snatches.is_empty()
    }

    /// Per-user sums of the transfers, for the users' totals.
    pub fn user_totals(&self) -> Vec<(UserId, Transfer)> {
        let mut totals: Vec<(UserId, Transfer)> = Vec::new();
        for (user, _, t) in &self.transfers {
            match totals.last_mut() {
                Some((u, sum)) if u == user => sum.add(t),
                _ => totals.push((*user, *t)),
            }
        }
        totals
    }
}

mod peer_id_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::protocol::PeerId;

    pub fn serialize<S: Serializer>(p: &PeerId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PeerId, D::Error> {
        let text = String::deserialize(d)?;
        super::super::model::parse_hex_hash(&text)
            .map(|h| PeerId(h.0))
            .map_err(|_| serde::de::Error::custom("a peer id is 40 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_totals_sum_consecutive_rows_of_a_user() {
        let t = |up| Transfer {
            uploaded: up,
            announces: 1,
            ..Transfer::default()
        };
        let b = Batch {
            id: BatchId(1),
            created: 0,
            transfers: vec![
                (UserId(1), TorrentId(1), t(5)),
                (UserId(1), TorrentId(2), t(7)),
                (UserId(2), TorrentId(1), t(1)),
            ],
            peers: vec![],
            gone: vec![],
            snatches: vec![],
        };
        let totals = b.user_totals();
        assert_eq!(totals.len(), 2);
        assert_eq!(totals[0].1.uploaded, 12);
        assert_eq!(totals[0].1.announces, 2);
        assert_eq!(totals[1], (UserId(2), t(1)));
    }

    #[test]
    fn a_batch_survives_json() {
        let key = PeerKey {
            user: UserId(3),
            torrent: TorrentId(4),
            peer_id: PeerId(*b"-qB4650-abcdefghijkl"),
        };
        let b = Batch {
            id: BatchId::random(),
            created: 1_700_000_000,
            transfers: vec![],
            peers: vec![PeerRow {
                key,
                ip: "::1".parse().unwrap(),
                port: 6881,
                uploaded: u64::MAX,
                downloaded: 1,
                left: 2,
                last_announce: 1_700_000_000,
            }],
            gone: vec![key],
            snatches: vec![Snatch {
                user: UserId(3),
                torrent: TorrentId(4),
                at: 5,
            }],
        };
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Batch>(&text).unwrap(), b);
    }
}
