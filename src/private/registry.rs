//! Who may announce and what: the registered users and torrents, in memory.
//!
//! Every announce reads it (a passkey and an info hash lookup under a read
//! lock, no allocation); the admin API changes single entries, and the
//! periodic reload replaces the whole of it. A reload reads the database
//! while the API may be writing through it, so each API change bumps a
//! version, and a reload that began before the last change is dropped rather
//! than allowed to bring back what the change removed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use super::model::{Freeleech, Torrent, TorrentId, User, UserId};
use crate::protocol::InfoHash;

/// What an announce needs of its user: copied out, so no lock is held.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UserView {
    pub id: UserId,
    pub can_leech: bool,
    pub upload_multiplier: f64,
    pub download_multiplier: f64,
}

/// What an announce needs of its torrent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TorrentView {
    pub id: TorrentId,
    pub freeleech: Freeleech,
    pub upload_multiplier: f64,
    pub download_multiplier: f64,
}

#[derive(Default)]
struct Tables {
    users: HashMap<UserId, User>,
    by_passkey: HashMap<String, UserView>,
    torrents: HashMap<TorrentId, Torrent>,
    by_hash: HashMap<InfoHash, TorrentView>,
}

impl Tables {
    fn insert_user(&mut self, user: User) {
        self.remove_user(user.id);
        self.by_passkey.insert(
            user.passkey.as_str().to_string(),
            UserView {
                id: user.id,
                can_leech: user.can_leech,
                upload_multiplier: user.upload_multiplier,
                download_multiplier: user.download_multiplier,
            },
        );
        self.users.insert(user.id, user);
    }

    fn remove_user(&mut self, id: UserId) -> Option<User> {
        let old = self.users.remove(&id)?;
        self.by_passkey.remove(old.passkey.as_str());
        Some(old)
    }

    fn insert_torrent(&mut self, torrent: Torrent) {
        self.remove_torrent(torrent.id);
        let view = TorrentView {
            id: torrent.id,
            freeleech: torrent.freeleech,
            upload_multiplier: torrent.upload_multiplier,
            download_multiplier: torrent.download_multiplier,
        };
        self.by_hash.insert(torrent.info_hash, view);
        if let Some(v2) = torrent.info_hash_v2 {
            self.by_hash.insert(v2, view);
        }
        self.torrents.insert(torrent.id, torrent);
    }

    fn remove_torrent(&mut self, id: TorrentId) -> Option<Torrent> {
        let old = self.torrents.remove(&id)?;
        self.by_hash.remove(&old.info_hash);
        if let Some(v2) = old.info_hash_v2 {
            self.by_hash.remove(&v2);
        }
        Some(old)
    }
}

/// Why an entry cannot be registered as given.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Clash {
    #[error("passkey already belongs to user {0}")]
    Passkey(i64),
    #[error("info hash {0} already belongs to torrent {1}")]
    InfoHash(String, i64),
}

#[derive(Default)]
pub struct Registry {
    tables: RwLock<Tables>,
    /// Bumped by every single-entry change.
    version: AtomicU64,
}

impl Registry {
    pub fn user_by_passkey(&self, passkey: &str) -> Option<UserView> {
        self.tables.read().by_passkey.get(passkey).copied()
    }

    pub fn torrent_by_hash(&self, hash: &InfoHash) -> Option<TorrentView> {
        self.tables.read().by_hash.get(hash).copied()
    }

    pub fn user(&self, id: UserId) -> Option<User> {
        self.tables.read().users.get(&id).cloned()
    }

    pub fn torrent(&self, id: TorrentId) -> Option<Torrent> {
        self.tables.read().torrents.get(&id).cloned()
    }

    /// (users, torrents) registered.
    pub fn counts(&self) -> (usize, usize) {
        let t = self.tables.read();
        (t.users.len(), t.torrents.len())
    }

    /// Whether `user` could be registered without taking another user's
    /// passkey; checked before the database is written.
    pub fn check_user(&self, user: &User) -> Result<(), Clash> {
        match self.tables.read().by_passkey.get(user.passkey.as_str()) {
            Some(owner) if owner.id != user.id => Err(Clash::Passkey(owner.id.0)),
            _ => Ok(()),
        }
    }

    /// As [`Registry::check_user`], for a torrent's hashes.
    pub fn check_torrent(&self, torrent: &Torrent) -> Result<(), Clash> {
        let t = self.tables.read();
        for hash in std::iter::once(torrent.info_hash).chain(torrent.info_hash_v2) {
            match t.by_hash.get(&hash) {
                Some(owner) if owner.id != torrent.id => {
                    return Err(Clash::InfoHash(hash.to_hex(), owner.id.0));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn put_user(&self, user: User) {
        let mut t = self.tables.write();
        t.insert_user(user);
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    pub fn remove_user(&self, id: UserId) -> Option<User> {
        let old = self.tables.write().remove_user(id);
        self.version.fetch_add(1, Ordering::SeqCst);
        old
    }

    pub fn put_torrent(&self, torrent: Torrent) {
        let mut t = self.tables.write();
        t.insert_torrent(torrent);
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    pub fn remove_torrent(&self, id: TorrentId) -> Option<Torrent> {
        let old = self.tables.write().remove_torrent(id);
        self.version.fetch_add(1, Ordering::SeqCst);
        old
    }

    /// Taken before a reload reads the database; hand it to [`Registry::replace`].
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Puts a whole new set in force, unless a single-entry change happened
    /// since `version` was read (then the read may be stale: returns false and
    /// keeps the current set; the next reload tries again).
    pub fn replace(&self, version: u64, users: Vec<User>, torrents: Vec<Torrent>) -> bool {
        let mut fresh = Tables::default();
        for user in users {
            fresh.insert_user(user);
        }
        for torrent in torrents {
            fresh.insert_torrent(torrent);
        }
        let mut t = self.tables.write();
        if self.version.load(Ordering::SeqCst) != version {
            return false;
        }
        *t = fresh;
        true
    }
}

/// The passkey an announce or scrape carries: the `:passkey` route segment
/// over HTTP, or the first segment of the BEP 41 path over UDP
/// (`/PASSKEY/announce`).
pub fn passkey_of(params: &crate::protocol::Params) -> Option<&str> {
    if let Some(p) = params.route_param("passkey") {
        return Some(p);
    }
    let path = params.route_param(crate::protocol::udp::PATH_PARAM)?;
    let first = path.strip_prefix('/')?.split('/').next()?;
    (!first.is_empty()).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::private::model::Passkey;
    use crate::protocol::Params;

    fn user(id: i64, passkey: &str) -> User {
        User {
            id: UserId(id),
            passkey: Passkey::new(passkey).unwrap(),
            can_leech: true,
            upload_multiplier: 1.0,
            download_multiplier: 1.0,
        }
    }

    fn torrent(id: i64, v1: u8, v2: Option<u8>) -> Torrent {
        Torrent {
            id: TorrentId(id),
            info_hash: InfoHash([v1; 20]),
            info_hash_v2: v2.map(|b| InfoHash([b; 20])),
            freeleech: Freeleech::Normal,
            upload_multiplier: 1.0,
            download_multiplier: 1.0,
        }
    }

    #[test]
    fn a_changed_passkey_stops_working_at_once() {
        let r = Registry::default();
        r.put_user(user(1, "old"));
        r.put_user(user(1, "new"));
        assert_eq!(r.user_by_passkey("old"), None);
        assert_eq!(r.user_by_passkey("new").unwrap().id, UserId(1));
        assert_eq!(r.check_user(&user(2, "new")), Err(Clash::Passkey(1)));
        assert_eq!(r.check_user(&user(1, "new")), Ok(()));
    }

    #[test]
    fn both_hashes_of_a_hybrid_torrent_find_it_until_it_goes() {
        let r = Registry::default();
        r.put_torrent(torrent(5, 1, Some(2)));
        assert_eq!(
            r.torrent_by_hash(&InfoHash([2; 20])).unwrap().id,
            TorrentId(5)
        );
        assert!(r.check_torrent(&torrent(6, 3, Some(2))).is_err());
        r.remove_torrent(TorrentId(5));
        assert_eq!(r.torrent_by_hash(&InfoHash([1; 20])), None);
        assert_eq!(r.torrent_by_hash(&InfoHash([2; 20])), None);
    }

    #[test]
    fn a_reload_older_than_a_change_is_dropped() {
        let r = Registry::default();
        let v = r.version();
        r.put_user(user(1, "added-by-api"));
        assert!(!r.replace(v, vec![], vec![]));
        assert!(r.user_by_passkey("added-by-api").is_some());
        let v = r.version();
        assert!(r.replace(v, vec![user(2, "from-db")], vec![]));
        assert!(r.user_by_passkey("added-by-api").is_none());
        assert_eq!(r.counts(), (1, 0));
    }

    #[test]
    fn passkeys_come_from_the_route_or_the_udp_path() {
        let http = Params {
            route: vec![("passkey".into(), "abc".into())],
            query: vec![],
        };
        assert_eq!(passkey_of(&http), Some("abc"));
        let udp = Params {
            route: vec![(
                crate::protocol::udp::PATH_PARAM.into(),
                "/abc/announce".into(),
            )],
            query: vec![],
        };
        assert_eq!(passkey_of(&udp), Some("abc"));
        let bare = Params {
            route: vec![(crate::protocol::udp::PATH_PARAM.into(), "/announce".into())],
            query: vec![],
        };
        assert_eq!(passkey_of(&bare), Some("announce"));
        assert_eq!(passkey_of(&Params::default()), None);
    }
}
