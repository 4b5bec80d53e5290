//! The deltas accumulated since the last flush, in memory.
//!
//! Every announce adds to it; the flusher drains it into one [`Batch`] per
//! `flush_interval`. Announce load is therefore memory load only: however
//! many announces a user makes on a torrent in an interval, the database sees
//! one row for the pair.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;

use super::batch::{Batch, BatchId, PeerKey, PeerRow, Snatch, Transfer};
use super::model::{TorrentId, UserId};

/// Announces of different users rarely wait for each other.
const SHARDS: usize = 16;

#[derive(Default)]
struct Pending {
    transfers: HashMap<(UserId, TorrentId), Transfer>,
    peers: HashMap<PeerKey, PeerRow>,
    gone: HashSet<PeerKey>,
    snatches: Vec<Snatch>,
}

/// What one announce contributes.
pub struct Entry {
    pub transfer: Transfer,
    /// The session's new baseline; `None` when it stopped (its row goes).
    pub state: Result<PeerRow, PeerKey>,
    pub snatch: Option<Snatch>,
}

pub struct Ledger {
    shards: Box<[Mutex<Pending>]>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl Ledger {
    fn shard(&self, user: UserId) -> &Mutex<Pending> {
        &self.shards[user.0.rem_euclid(SHARDS as i64) as usize]
    }

    pub fn record(&self, user: UserId, torrent: TorrentId, entry: Entry) {
        let mut p = self.shard(user).lock();
        p.transfers
            .entry((user, torrent))
            .or_default()
            .add(&entry.transfer);
        match entry.state {
            Ok(row) => {
                p.gone.remove(&row.key);
                p.peers.insert(row.key, row);
            }
            Err(key) => {
                p.peers.remove(&key);
                p.gone.insert(key);
            }
        }
        p.snatches.extend(entry.snatch);
    }

    /// A session that expired without a `stopped`: its row goes.
    pub fn record_gone(&self, key: PeerKey) {
        let mut p = self.shard(key.user).lock();
        p.peers.remove(&key);
        p.gone.insert(key);
    }

    /// Everything accumulated, as one batch (possibly empty), and a fresh start.
    pub fn drain(&self, id: BatchId, now: i64) -> Batch {
        let mut batch = Batch {
            id,
            created: now,
            transfers: Vec::new(),
            peers: Vec::new(),
            gone: Vec::new(),
            snatches: Vec::new(),
        };
        for shard in self.shards.iter() {
            let p = std::mem::take(&mut *shard.lock());
            batch
                .transfers
                .extend(p.transfers.into_iter().map(|((u, t), x)| (u, t, x)));
            batch.peers.extend(p.peers.into_values());
            batch.gone.extend(p.gone);
            batch.snatches.extend(p.snatches);
        }
        batch.transfers.sort_unstable_by_key(|(u, t, _)| (*u, *t));
        batch.peers.sort_unstable_by_key(|r| r.key);
        batch.gone.sort_unstable();
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PeerId;

    fn key(user: i64) -> PeerKey {
        PeerKey {
            user: UserId(user),
            torrent: TorrentId(1),
            peer_id: PeerId([user as u8; 20]),
        }
    }

    fn row(user: i64, uploaded: u64) -> PeerRow {
        PeerRow {
            key: key(user),
            ip: "127.0.0.1".parse().unwrap(),
            port: 1,
            uploaded,
            downloaded: 0,
            left: 0,
            last_announce: 0,
        }
    }

    fn up(n: u64) -> Transfer {
        Transfer {
            uploaded: n,
            raw_uploaded: n,
            announces: 1,
            ..Transfer::default()
        }
    }

    #[test]
    fn many_announces_are_one_row_and_drain_starts_afresh() {
        let l = Ledger::default();
        for (i, n) in [10, 20, 30].into_iter().enumerate() {
            l.record(
                UserId(1),
                TorrentId(1),
                Entry {
                    transfer: up(n),
                    state: Ok(row(1, 60 + i as u64)),
                    snatch: None,
                },
            );
        }
        let b = l.drain(BatchId(9), 5);
        assert_eq!(
            b.transfers,
            vec![(UserId(1), TorrentId(1), {
                let mut t = up(60);
                t.announces = 3;
                t
            })]
        );
        assert_eq!(b.peers, vec![row(1, 62)]);
        assert!(l.drain(BatchId(10), 6).is_empty());
    }

    #[test]
    fn a_stop_after_an_update_leaves_only_the_removal_and_back() {
        let l = Ledger::default();
        let e = |state| Entry {
            transfer: Transfer::default(),
            state,
            snatch: None,
        };
        l.record(UserId(2), TorrentId(1), e(Ok(row(2, 1))));
        l.record(UserId(2), TorrentId(1), e(Err(key(2))));
        let b = l.drain(BatchId(1), 0);
        assert!(b.peers.is_empty());
        assert_eq!(b.gone, vec![key(2)]);
        l.record(UserId(2), TorrentId(1), e(Err(key(2))));
        l.record(UserId(2), TorrentId(1), e(Ok(row(2, 3))));
        let b = l.drain(BatchId(2), 0);
        assert_eq!(b.peers, vec![row(2, 3)]);
        assert!(b.gone.is_empty());
    }
}
