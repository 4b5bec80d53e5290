//! The private tracker on the request path: who may announce, what each
//! announce moved, and which peers a user is not handed (their own).
//!
//! It runs before every configured prehook (nobody unknown reaches them) and
//! its accounting after all of them (a request another hook refuses moved
//! nothing). It touches memory only: the registry, the sessions and the
//! ledger; the database is the flusher's business.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::batch::{Snatch, Transfer};
use super::ledger::{Entry, Ledger};
use super::model::Freeleech;
use super::registry::{Registry, TorrentView, UserView, passkey_of};
use super::sessions::{Delta, Report, Sessions};
use super::unix_now;
use crate::middleware::hook::Hook;
use crate::protocol::{
    AnnounceRequest, AnnounceResponse, ClientError, Event, ScrapeRequest, ScrapeResponse,
};

pub const UNKNOWN_PASSKEY: &str = "unknown passkey";
pub const UNREGISTERED_TORRENT: &str = "unregistered torrent";
pub const LEECHING_FORBIDDEN: &str = "leeching forbidden";
pub const TOO_MANY_SESSIONS: &str = "too many clients of yours on this torrent";

pub struct PrivateHook {
    registry: Arc<Registry>,
    sessions: Arc<Sessions>,
    ledger: Arc<Ledger>,
    /// The site-wide switch; the admin API flips it at runtime.
    global_freeleech: AtomicBool,
}

impl PrivateHook {
    pub fn new(
        registry: Arc<Registry>,
        sessions: Arc<Sessions>,
        ledger: Arc<Ledger>,
        global_freeleech: bool,
    ) -> PrivateHook {
        PrivateHook {
            registry,
            sessions,
            ledger,
            global_freeleech: AtomicBool::new(global_freeleech),
        }
    }

    pub fn global_freeleech(&self) -> bool {
        self.global_freeleech.load(Ordering::Relaxed)
    }

    pub fn set_global_freeleech(&self, on: bool) {
        self.global_freeleech.store(on, Ordering::Relaxed);
    }

    fn user(&self, req_params: &crate::protocol::Params) -> Result<UserView, ClientError> {
        passkey_of(req_params)
            .and_then(|p| self.registry.user_by_passkey(p))
            .ok_or_else(|| ClientError::new(UNKNOWN_PASSKEY))
    }

    fn torrent(&self, req: &AnnounceRequest) -> Result<TorrentView, ClientError> {
        self.registry
            .torrent_by_hash(&req.info_hash)
            .ok_or_else(|| ClientError::new(UNREGISTERED_TORRENT))
    }

    /// Raw bytes to credited bytes: the user's and the torrent's
    /// multipliers, after freeleech (free: downloads not counted; neutral:
    /// nothing counted; the global switch makes every torrent free).
    fn credit(&self, user: &UserView, torrent: &TorrentView, d: &Delta) -> Transfer {
        let kind = match torrent.freeleech {
            Freeleech::Normal if self.global_freeleech() => Freeleech::Free,
            k => k,
        };
        let scale = |bytes: u64, a: f64, b: f64| -> u64 {
            let v = (bytes as f64 * a * b).round();
            if v.is_finite() && v > 0.0 {
                v as u64
            } else {
                0
            }
        };
        let uploaded = match kind {
            Freeleech::Neutral => 0,
            _ => scale(
                d.uploaded,
                user.upload_multiplier,
                torrent.upload_multiplier,
            ),
        };
        let downloaded = match kind {
            Freeleech::Normal => scale(
                d.downloaded,
                user.download_multiplier,
                torrent.download_multiplier,
            ),
            _ => 0,
        };
        Transfer {
            uploaded,
            downloaded,
            raw_uploaded: d.uploaded,
            raw_downloaded: d.downloaded,
            seed_time: d.seed_time,
            announces: 1,
        }
    }
}

impl Hook for PrivateHook {
    fn name(&self) -> &'static str {
        "private"
    }

    fn before_announce(
        &self,
        req: &mut AnnounceRequest,
        _resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        let user = self.user(&req.params)?;
        let torrent = self.torrent(req)?;
        if req.left > 0 && !user.can_leech && req.event != Event::Stopped {
            return Err(ClientError::new(LEECHING_FORBIDDEN));
        }
        let others = self
            .sessions
            .others(user.id, torrent.id, req.peer_id)
            .ok_or_else(|| ClientError::new(TOO_MANY_SESSIONS))?;
        // Ask the swarm for as many more as may be the user's own, which
        // `after_announce` takes out again.
        req.numwant = req.numwant.saturating_add(others.len() as u32);
        Ok(())
    }

    fn after_announce(
        &self,
        req: &AnnounceRequest,
        resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        let user = self.user(&req.params)?;
        let torrent = self.torrent(req)?;
        let others = self
            .sessions
            .others(user.id, torrent.id, req.peer_id)
            .unwrap_or_default();
        resp.peers.retain(|p| {
            !others
                .iter()
                .any(|&(ip, port)| p.ip == ip && p.port == port)
        });
        resp.peers
            .truncate(req.numwant.saturating_sub(others.len() as u32) as usize);
        if req.selection.query_only {
            return Ok(());
        }
        let now = unix_now();
        let delta = self.sessions.announce(&Report {
            user: user.id,
            torrent: torrent.id,
            peer_id: req.peer_id,
            ip: req.ip,
            port: req.port,
            uploaded: req.uploaded,
            downloaded: req.downloaded,
            left: req.left,
            event: req.event,
            now,
        });
        let transfer = self.credit(&user, &torrent, &delta);
        let snatch = delta.snatched.then_some(Snatch {
            user: user.id,
            torrent: torrent.id,
            at: now,
        });
        self.ledger.record(
            user.id,
            torrent.id,
            Entry {
                transfer,
                state: delta.state,
                snatch,
            },
        );
        Ok(())
    }

    fn before_scrape(
        &self,
        req: &mut ScrapeRequest,
        _resp: &mut ScrapeResponse,
    ) -> Result<(), ClientError> {
        // A BEP 15 scrape cannot carry a passkey (BEP 41 options follow
        // announces only), so one without any is answered, for registered
        // torrents alone; a passkey given must be a user's.
        if passkey_of(&req.params).is_some() {
            self.user(&req.params)?;
        }
        let any_registered = req
            .info_hashes
            .iter()
            .any(|h| self.registry.torrent_by_hash(h).is_some());
        if !any_registered {
            return Err(ClientError::new(UNREGISTERED_TORRENT));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::private::batch::BatchId;
    use crate::private::model::{Passkey, Torrent, TorrentId, User, UserId};
    use crate::protocol::{InfoHash, Params, Peer, PeerId, PeerSelection};

    const HASH: InfoHash = InfoHash([7; 20]);
    const HASH_V2: InfoHash = InfoHash([8; 20]);

    fn hook(freeleech: Freeleech) -> PrivateHook {
        let registry = Registry::default();
        for (id, passkey, can_leech, mult) in [
            (1, "alice", true, 1.0),
            (2, "bob", false, 1.0),
            (3, "carol", true, 2.0),
        ] {
            registry.put_user(User {
                id: UserId(id),
                passkey: Passkey::new(passkey).unwrap(),
                can_leech,
                upload_multiplier: mult,
                download_multiplier: 1.0,
            });
        }
        registry.put_torrent(Torrent {
            id: TorrentId(10),
            info_hash: HASH,
            info_hash_v2: Some(HASH_V2),
            freeleech,
            upload_multiplier: 1.0,
            download_multiplier: 0.5,
        });
        PrivateHook::new(
            Arc::new(registry),
            Arc::new(Sessions::new(3600)),
            Arc::new(Ledger::default()),
            false,
        )
    }

    fn announce(passkey: &str, peer: u8, up: u64, down: u64, left: u64) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: HASH,
            peer_id: PeerId([peer; 20]),
            ip: format!("10.0.0.{peer}").parse().unwrap(),
            port: 6881,
            uploaded: up,
            downloaded: down,
            left,
            event: Event::None,
            numwant: 5,
            key: None,
            params: Params {
                route: vec![("passkey".into(), passkey.into())],
                query: vec![],
            },
            selection: PeerSelection::default(),
        }
    }

    /// Runs the hook around a swarm that answers with `swarm` peers.
    fn run(
        h: &PrivateHook,
        mut req: AnnounceRequest,
        swarm: &[Peer],
    ) -> Result<(AnnounceRequest, AnnounceResponse), ClientError> {
        let mut resp = AnnounceResponse::default();
        h.before_announce(&mut req, &mut resp)?;
        resp.peers = swarm.iter().copied().take(req.numwant as usize).collect();
        h.after_announce(&req, &mut resp)?;
        Ok((req, resp))
    }

    fn peer_of(req: &AnnounceRequest) -> Peer {
        req.peer()
    }

    #[test]
    fn strangers_unregistered_torrents_and_forbidden_leechers_are_refused() {
        let h = hook(Freeleech::Normal);
        let err = |r| run(&h, r, &[]).unwrap_err().0;
        assert_eq!(err(announce("mallory", 1, 0, 0, 0)), UNKNOWN_PASSKEY);
        let mut r = announce("alice", 1, 0, 0, 0);
        r.info_hash = InfoHash([9; 20]);
        assert_eq!(err(r), UNREGISTERED_TORRENT);
        assert_eq!(err(announce("bob", 2, 0, 0, 100)), LEECHING_FORBIDDEN);
        // Bob may seed, and may stop a leech he should not have had.
        assert!(run(&h, announce("bob", 2, 0, 0, 0), &[]).is_ok());
        let mut stop = announce("bob", 2, 0, 0, 100);
        stop.event = Event::Stopped;
        assert!(run(&h, stop, &[]).is_ok());
        // Without any passkey at all (a public announce URL).
        let mut r = announce("alice", 1, 0, 0, 0);
        r.params = Params::default();
        assert_eq!(err(r), UNKNOWN_PASSKEY);
    }

    #[test]
    fn deltas_are_credited_with_both_multipliers() {
        let h = hook(Freeleech::Normal);
        let mut start = announce("carol", 3, 0, 0, 1000);
        start.event = Event::Started;
        run(&h, start, &[]).unwrap();
        run(&h, announce("carol", 3, 300, 1000, 0), &[]).unwrap();
        let b = h.ledger.drain(BatchId(1), 0);
        let (user, torrent, t) = b.transfers[0];
        assert_eq!((user, torrent), (UserId(3), TorrentId(10)));
        // Upload ×2 (carol) ×1 (torrent); download ×1 ×0.5.
        assert_eq!((t.uploaded, t.raw_uploaded), (600, 300));
        assert_eq!((t.downloaded, t.raw_downloaded), (500, 1000));
        assert_eq!(t.announces, 2);
        assert_eq!(b.snatches.len(), 1, "left went to 0: a snatch");
        assert_eq!(b.peers[0].uploaded, 300, "the new baseline");
    }

    #[test]
    fn freeleech_kinds_and_the_global_switch() {
        for (kind, global, want) in [
            (Freeleech::Free, false, (300, 0)),
            (Freeleech::Neutral, false, (0, 0)),
            (Freeleech::Normal, true, (300, 0)),
            (Freeleech::Neutral, true, (0, 0)),
        ] {
            let h = hook(kind);
            h.set_global_freeleech(global);
            run(&h, announce("alice", 1, 0, 0, 10), &[]).unwrap();
            run(&h, announce("alice", 1, 300, 1000, 10), &[]).unwrap();
            let t = h.ledger.drain(BatchId(1), 0).transfers[0].2;
            assert_eq!((t.uploaded, t.downloaded), want, "{kind:?} global={global}");
            assert_eq!((t.raw_uploaded, t.raw_downloaded), (300, 1000));
        }
    }

    #[test]
    fn a_user_is_not_handed_their_own_other_clients() {
        let h = hook(Freeleech::Normal);
        let home = announce("alice", 1, 0, 0, 0);
        let seedbox = announce("alice", 2, 0, 0, 0);
        let stranger = announce("carol", 3, 0, 0, 0);
        run(&h, home.clone(), &[]).unwrap();
        run(&h, seedbox.clone(), &[]).unwrap();
        let swarm = [peer_of(&home), peer_of(&stranger)];
        let (req, resp) = run(&h, seedbox, &swarm).unwrap();
        assert_eq!(resp.peers, vec![peer_of(&stranger)]);
        assert_eq!(
            req.numwant, 6,
            "one more asked of the swarm for the one taken out"
        );
    }

    #[test]
    fn a_stolen_peer_id_gets_a_session_of_its_own() {
        let h = hook(Freeleech::Normal);
        run(&h, announce("alice", 1, 100, 0, 0), &[]).unwrap();
        h.ledger.drain(BatchId(1), 0);
        // Carol copies alice's peer_id and claims a huge upload, then stops.
        let mut thief = announce("carol", 1, 1_000_000, 0, 0);
        thief.ip = "192.0.2.9".parse::<IpAddr>().unwrap();
        run(&h, thief.clone(), &[]).unwrap();
        thief.event = Event::Stopped;
        run(&h, thief, &[]).unwrap();
        // Alice's session still has her baseline: her next 50 bytes are 50.
        run(&h, announce("alice", 1, 150, 0, 0), &[]).unwrap();
        let b = h.ledger.drain(BatchId(2), 0);
        let alice = b.transfers.iter().find(|t| t.0 == UserId(1)).unwrap().2;
        assert_eq!(alice.raw_uploaded, 50);
        let carol = b.transfers.iter().find(|t| t.0 == UserId(3)).unwrap().2;
        assert_eq!(
            carol.raw_uploaded, 0,
            "an unknown session without `started` counts 0"
        );
    }

    #[test]
    fn scrapes_need_a_passkey_and_one_registered_hash() {
        let h = hook(Freeleech::Normal);
        let scrape = |passkey: &str, hashes: Vec<InfoHash>| {
            let mut req = ScrapeRequest {
                info_hashes: hashes,
                ip: "10.0.0.1".parse().unwrap(),
                params: Params {
                    route: vec![("passkey".into(), passkey.into())],
                    query: vec![],
                },
            };
            h.before_scrape(&mut req, &mut ScrapeResponse::default())
        };
        assert_eq!(scrape("nobody", vec![HASH]).unwrap_err().0, UNKNOWN_PASSKEY);
        let mut udp = ScrapeRequest {
            info_hashes: vec![HASH],
            ip: "10.0.0.1".parse().unwrap(),
            params: Params::default(),
        };
        assert!(
            h.before_scrape(&mut udp, &mut ScrapeResponse::default())
                .is_ok()
        );
        udp.info_hashes = vec![InfoHash([1; 20])];
        let refused = h.before_scrape(&mut udp, &mut ScrapeResponse::default());
        assert_eq!(refused.unwrap_err().0, UNREGISTERED_TORRENT);
        assert_eq!(
            scrape("alice", vec![InfoHash([1; 20])]).unwrap_err().0,
            UNREGISTERED_TORRENT
        );
        assert!(scrape("alice", vec![HASH_V2, InfoHash([1; 20])]).is_ok());
    }
}
