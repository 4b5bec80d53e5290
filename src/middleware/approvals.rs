//! Runtime changes to the `torrent approval` and `client approval` lists,
//! made through the admin API.
//!
//! They are an overlay, kept by the [`Tracker`](super::Tracker) and handed
//! to every chain generation it builds, so they outlive a reload: an
//! operator who bans a torrent at runtime does not expect the next SIGHUP to
//! un-ban it. The overlay wins over both the inline list and the approval
//! file (an entry added at runtime is listed whatever the file says; one
//! removed at runtime is unlisted even if the file lists it), until the
//! process stops: it is kept in memory only, and a restart starts from the
//! configuration alone.
//!
//! One overlay per kind, applied to every hook of that kind: "add X" means X
//! is on the list of each configured `torrent approval` hook, whatever that
//! list means (a whitelist admits X, a blacklist refuses it).

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::client_approval::ClientId;
use crate::protocol::InfoHash;

/// What the admin API changed, for both kinds of list.
#[derive(Debug, Default)]
pub struct Approvals {
    pub torrents: Overlay<InfoHash>,
    pub clients: Overlay<ClientId>,
}

/// Entries put on or taken off the lists at runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta<T: Eq + Hash> {
    pub added: HashSet<T>,
    pub removed: HashSet<T>,
}

impl<T: Eq + Hash> Default for Delta<T> {
    fn default() -> Self {
        Delta {
            added: HashSet::new(),
            removed: HashSet::new(),
        }
    }
}

/// One kind's runtime changes. Read on every announce, so readers take no
/// lock: the state is an immutable [`Delta`] swapped whole by writers, which
/// are rare (an operator) and serialized by a mutex so none is lost.
#[derive(Debug)]
pub struct Overlay<T: Eq + Hash> {
    state: ArcSwap<Delta<T>>,
    writer: Mutex<()>,
}

impl<T: Eq + Hash> Default for Overlay<T> {
    fn default() -> Self {
        Overlay {
            state: ArcSwap::from_pointee(Delta::default()),
            writer: Mutex::new(()),
        }
    }
}

impl<T: Eq + Hash + Clone> Overlay<T> {
    /// Whether the overlay decides `entry`: `Some(true)` listed,
    /// `Some(false)` unlisted, `None` the configured list decides.
    pub fn listed(&self, entry: &T) -> Option<bool> {
        let state = self.state.load();
        if state.added.contains(entry) {
            Some(true)
        } else if state.removed.contains(entry) {
            Some(false)
        } else {
            None
        }
    }

    /// Puts `add` on the lists and takes `remove` off; the latest word on an
    /// entry wins, so removing what was added earlier undoes the addition.
    /// The caller refuses an entry in both.
    pub fn apply(&self, add: &[T], remove: &[T]) {
        let _writer = self.writer.lock();
        let mut next = Delta::clone(&self.state.load());
        for entry in add {
            next.removed.remove(entry);
            next.added.insert(entry.clone());
        }
        for entry in remove {
            next.added.remove(entry);
            next.removed.insert(entry.clone());
        }
        self.state.store(Arc::new(next));
    }

    /// The changes in force now.
    pub fn delta(&self) -> Arc<Delta<T>> {
        self.state.load_full()
    }

    /// `base` (the configured entries) with the overlay applied.
    pub fn effective<'a>(&self, base: impl Iterator<Item = &'a T>) -> HashSet<T>
    where
        T: 'a,
    {
        let state = self.state.load_full();
        let mut effective: HashSet<T> = base
            .filter(|entry| !state.removed.contains(*entry))
            .cloned()
            .collect();
        effective.extend(state.added.iter().cloned());
        effective
    }
}

/// Which kind of approval list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    Torrents,
    Clients,
}

/// A configured approval hook's list as it stands, overlay included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalList {
    pub kind: ListKind,
    /// `"whitelist"` or `"blacklist"`, as in the config.
    pub mode: &'static str,
    /// Sorted, as text: hex info hashes or 6-byte client IDs.
    pub entries: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> InfoHash {
        InfoHash([n; 20])
    }

    #[test]
    fn an_untouched_overlay_decides_nothing() {
        let overlay = Overlay::<InfoHash>::default();
        assert_eq!(overlay.listed(&hash(1)), None);
        assert_eq!(overlay.effective([hash(1)].iter()).len(), 1);
    }

    #[test]
    fn added_entries_are_listed_and_removed_ones_are_not() {
        let overlay = Overlay::default();
        overlay.apply(&[hash(1)], &[hash(2)]);
        assert_eq!(overlay.listed(&hash(1)), Some(true));
        assert_eq!(overlay.listed(&hash(2)), Some(false));
        assert_eq!(overlay.listed(&hash(3)), None);
        let effective = overlay.effective([hash(2), hash(3)].iter());
        assert_eq!(effective, HashSet::from([hash(1), hash(3)]));
    }

    #[test]
    fn the_latest_word_on_an_entry_wins() {
        let overlay = Overlay::default();
        overlay.apply(&[hash(1)], &[]);
        overlay.apply(&[], &[hash(1)]);
        assert_eq!(overlay.listed(&hash(1)), Some(false));
        assert!(overlay.delta().added.is_empty());
        overlay.apply(&[hash(1)], &[]);
        assert_eq!(overlay.listed(&hash(1)), Some(true));
        assert!(overlay.delta().removed.is_empty());
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let overlay = Arc::new(Overlay::default());
        let writers: Vec<_> = (0..4u8)
            .map(|w| {
                let overlay = overlay.clone();
                std::thread::spawn(move || {
                    for i in 0..50u8 {
                        let mut h = [w; 20];
                        h[1] = i;
                        overlay.apply(&[InfoHash(h)], &[]);
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(overlay.delta().added.len(), 200);
    }
}
