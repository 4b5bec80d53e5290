//! Every live client session of a private swarm, and the accounting rule.
//!
//! A session is one (user, torrent, peer_id): keyed by the user as well as
//! the peer_id, so someone who learns another user's peer_id only ever
//! touches a session of their own. It remembers the client's cumulative
//! counters at its last announce; the next announce's delta is the
//! difference. Those baselines are also written to the database with every
//! batch and loaded at start, so a restart (even `kill -9`) neither forgets
//! bytes nor counts them twice: whatever the last journaled batch did not
//! hold, the client's next cumulative counters still do.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;
use smallvec::SmallVec;

use super::batch::{PeerKey, PeerRow};
use super::model::{TorrentId, UserId};
use crate::protocol::{Event, PeerId};

const SHARDS: usize = 64;

/// A user may run this many clients on one torrent at once; more is refused,
/// so nobody can grow the tracker's memory by inventing peer_ids.
pub const MAX_SESSIONS_PER_TORRENT: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Session {
    peer_id: PeerId,
    ip: IpAddr,
    port: u16,
    uploaded: u64,
    downloaded: u64,
    left: u64,
    /// Unix seconds.
    last_seen: i64,
}

type Slot = SmallVec<[Session; 1]>;

/// One lock's worth of sessions, by (user, torrent).
type Shard = Mutex<HashMap<(UserId, TorrentId), Slot>>;

/// One announce as the accounting sees it.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    pub user: UserId,
    pub torrent: TorrentId,
    pub peer_id: PeerId,
    pub ip: IpAddr,
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Event,
    /// Unix seconds.
    pub now: i64,
}

impl Report {
    fn key(&self) -> PeerKey {
        PeerKey {
            user: self.user,
            torrent: self.torrent,
            peer_id: self.peer_id,
        }
    }

    fn row(&self) -> PeerRow {
        PeerRow {
            key: self.key(),
            ip: self.ip,
            port: self.port,
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            left: self.left,
            last_announce: self.now,
        }
    }
}

/// What one announce moved, before multipliers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delta {
    pub uploaded: u64,
    pub downloaded: u64,
    /// Seconds seeding since the previous announce.
    pub seed_time: u64,
    /// A leecher became a seeder (or said `completed` on its first announce).
    pub snatched: bool,
    /// The session's new baseline, or its key when it ended (`stopped`).
    pub state: Result<PeerRow, PeerKey>,
}

pub struct Sessions {
    shards: Box<[Shard]>,
    /// Sessions silent for longer are gone (the swarm's peer lifetime).
    lifetime: i64,
}

impl Sessions {
    pub fn new(lifetime_secs: u64) -> Sessions {
        Sessions {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            lifetime: i64::try_from(lifetime_secs).unwrap_or(i64::MAX),
        }
    }

    fn shard(
        &self,
        user: UserId,
        torrent: TorrentId,
    ) -> &Mutex<HashMap<(UserId, TorrentId), Slot>> {
        let h = user.0.wrapping_mul(31).wrapping_add(torrent.0);
        &self.shards[h.rem_euclid(SHARDS as i64) as usize]
    }

    /// The addresses of the user's other sessions on this torrent: peers the
    /// user must not be handed. `None` when this would be one session too many.
    pub fn others(
        &self,
        user: UserId,
        torrent: TorrentId,
        peer_id: PeerId,
    ) -> Option<SmallVec<[(IpAddr, u16); 2]>> {
        let shard = self.shard(user, torrent).lock();
        let Some(slot) = shard.get(&(user, torrent)) else {
            return Some(SmallVec::new());
        };
        let known = slot.iter().any(|s| s.peer_id == peer_id);
        if !known && slot.len() >= MAX_SESSIONS_PER_TORRENT {
            return None;
        }
        Some(
            slot.iter()
                .filter(|s| s.peer_id != peer_id)
                .map(|s| (s.ip, s.port))
                .collect(),
        )
    }

    /// Records an announce and says what it moved.
    ///
    /// The delta is the growth of the client's counters since the session's
    /// previous announce; a counter that went down means the client
    /// restarted, and counts as 0 (its new value is the new baseline). A
    /// session the tracker does not know starts from zero only on `started`
    /// (a fresh client session counts from zero); otherwise its counters are
    /// taken as the baseline, since what they hold may have been counted by a
    /// session this tracker has forgotten.
    pub fn announce(&self, r: &Report) -> Delta {
        let mut shard = self.shard(r.user, r.torrent).lock();
        let slot = shard.entry((r.user, r.torrent)).or_default();
        let pos = slot.iter().position(|s| s.peer_id == r.peer_id);
        let prev = pos.map(|i| slot[i]);
        let delta = delta(prev.as_ref(), r, self.lifetime);
        match (pos, r.event) {
            (Some(i), Event::Stopped) => {
                slot.swap_remove(i);
            }
            (None, Event::Stopped) => {}
            (Some(i), _) => slot[i] = session(r),
            (None, _) => slot.push(session(r)),
        }
        if slot.is_empty() {
            shard.remove(&(r.user, r.torrent));
        }
        delta
    }

    /// Drops sessions silent for longer than the lifetime; returns their keys
    /// (their database rows go with the next batch).
    pub fn expire(&self, now: i64) -> Vec<PeerKey> {
        let mut gone = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.retain(|&(user, torrent), slot| {
                slot.retain(|s| {
                    let alive = now.saturating_sub(s.last_seen) <= self.lifetime;
                    if !alive {
                        gone.push(PeerKey {
                            user,
                            torrent,
                            peer_id: s.peer_id,
                        });
                    }
                    alive
                });
                !slot.is_empty()
            });
        }
        gone
    }

    /// The baselines as the database (and the journal) left them.
    pub fn load(&self, rows: impl IntoIterator<Item = PeerRow>) {
        for row in rows {
            let k = row.key;
            let mut shard = self.shard(k.user, k.torrent).lock();
            let slot = shard.entry((k.user, k.torrent)).or_default();
            let s = Session {
                peer_id: k.peer_id,
                ip: row.ip,
                port: row.port,
                uploaded: row.uploaded,
                downloaded: row.downloaded,
                left: row.left,
                last_seen: row.last_announce,
            };
            match slot.iter_mut().find(|x| x.peer_id == k.peer_id) {
                Some(x) => *x = s,
                None => slot.push(s),
            }
        }
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().values().map(|slot| slot.len()).sum::<usize>())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn session(r: &Report) -> Session {
    Session {
        peer_id: r.peer_id,
        ip: r.ip,
        port: r.port,
        uploaded: r.uploaded,
        downloaded: r.downloaded,
        left: r.left,
        last_seen: r.now,
    }
}

fn delta(prev: Option<&Session>, r: &Report, lifetime: i64) -> Delta {
    let state = match r.event {
        Event::Stopped => Err(r.key()),
        _ => Ok(r.row()),
    };
    let Some(prev) = prev else {
        let fresh = r.event == Event::Started;
        return Delta {
            uploaded: if fresh { r.uploaded } else { 0 },
            downloaded: if fresh { r.downloaded } else { 0 },
            seed_time: 0,
            snatched: r.event == Event::Completed,
            state,
        };
    };
    // A counter that went down: the client restarted; nothing to count.
    let grown = |now: u64, before: u64| now.saturating_sub(before);
    let gap = r.now.saturating_sub(prev.last_seen);
    Delta {
        uploaded: grown(r.uploaded, prev.uploaded),
        downloaded: grown(r.downloaded, prev.downloaded),
        seed_time: if prev.left == 0 && (0..=lifetime).contains(&gap) {
            gap as u64
        } else {
            0
        },
        snatched: prev.left > 0 && r.left == 0,
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(peer: u8, up: u64, down: u64, left: u64, event: Event, now: i64) -> Report {
        Report {
            user: UserId(1),
            torrent: TorrentId(1),
            peer_id: PeerId([peer; 20]),
            ip: "10.0.0.1".parse().unwrap(),
            port: 6000 + peer as u16,
            uploaded: up,
            downloaded: down,
            left,
            event,
            now,
        }
    }

    #[test]
    fn deltas_follow_the_cumulative_counters() {
        let s = Sessions::new(3600);
        let d = s.announce(&report(1, 0, 0, 100, Event::Started, 0));
        assert_eq!((d.uploaded, d.downloaded, d.snatched), (0, 0, false));
        let d = s.announce(&report(1, 10, 60, 40, Event::None, 10));
        assert_eq!((d.uploaded, d.downloaded), (10, 60));
        let d = s.announce(&report(1, 15, 100, 0, Event::Completed, 20));
        assert_eq!((d.uploaded, d.downloaded, d.snatched), (5, 40, true));
        // Seeding from t=20 to t=50 is 30 s of seed time.
        let d = s.announce(&report(1, 30, 100, 0, Event::None, 50));
        assert_eq!((d.uploaded, d.seed_time, d.snatched), (15, 30, false));
        let d = s.announce(&report(1, 31, 100, 0, Event::Stopped, 51));
        assert_eq!(d.uploaded, 1);
        assert!(d.state.is_err());
        assert!(s.is_empty());
    }

    #[test]
    fn a_counter_that_goes_down_is_a_restart_and_counts_zero() {
        let s = Sessions::new(3600);
        s.announce(&report(1, 500, 0, 0, Event::None, 0));
        let d = s.announce(&report(1, 20, 0, 0, Event::None, 10));
        assert_eq!(d.uploaded, 0);
        let d = s.announce(&report(1, 50, 0, 0, Event::None, 20));
        assert_eq!(d.uploaded, 30);
    }

    #[test]
    fn an_unknown_session_counts_from_zero_only_when_it_starts() {
        let s = Sessions::new(3600);
        assert_eq!(
            s.announce(&report(1, 70, 0, 5, Event::Started, 0)).uploaded,
            70
        );
        assert_eq!(s.announce(&report(2, 70, 0, 5, Event::None, 0)).uploaded, 0);
    }

    #[test]
    fn loaded_baselines_continue_where_the_last_run_stopped() {
        let s = Sessions::new(3600);
        let row = report(1, 100, 50, 7, Event::None, 0).row();
        s.load([row]);
        let d = s.announce(&report(1, 130, 57, 0, Event::None, 5));
        assert_eq!((d.uploaded, d.downloaded, d.snatched), (30, 7, true));
    }

    #[test]
    fn others_lists_the_users_other_clients_and_caps_them() {
        let s = Sessions::new(3600);
        for p in 0..MAX_SESSIONS_PER_TORRENT as u8 {
            s.announce(&report(p, 0, 0, 0, Event::Started, 0));
        }
        let others = s.others(UserId(1), TorrentId(1), PeerId([0; 20])).unwrap();
        assert_eq!(others.len(), MAX_SESSIONS_PER_TORRENT - 1);
        assert!(!others.contains(&("10.0.0.1".parse().unwrap(), 6000)));
        assert!(
            s.others(UserId(1), TorrentId(1), PeerId([200; 20]))
                .is_none()
        );
        assert!(
            s.others(UserId(2), TorrentId(1), PeerId([200; 20]))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn silent_sessions_expire() {
        let s = Sessions::new(100);
        s.announce(&report(1, 0, 0, 0, Event::Started, 0));
        s.announce(&report(2, 0, 0, 0, Event::Started, 90));
        let gone = s.expire(150);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].peer_id, PeerId([1; 20]));
        assert_eq!(s.len(), 1);
    }
}
