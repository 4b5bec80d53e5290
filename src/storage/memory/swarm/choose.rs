//! Choosing an announcer's peers: the policy of [`PeerSelection`] applied
//! while walking the swarm, never as a filter on a list already cut to
//! `numwant`.
//!
//! A swarm is seeders then leechers (see the parent module), so each role is
//! a contiguous range. A choice is up to four walks over those ranges: with a
//! preferred subnet, first the announcer's neighbours in each range, then
//! everyone else in each range; without one, each range once. Every walk
//! starts at a random position and wraps around, so over many announces every
//! peer is handed out, not just the first `numwant`.
//!
//! [`PeerSelection`]: crate::protocol::PeerSelection

use std::ops::Range;

use super::{Entry, Family, Role, Swarm};
use crate::protocol::{Peer, PeerSelection};

/// How one announcer's peers are chosen, resolved for one address family.
#[derive(Clone, Copy, Debug)]
pub struct Choice<A> {
    /// The announcer's own position, never handed out; `None` when it is not
    /// in the swarm (a query-only announce from a peer never stored).
    pub skip: Option<usize>,
    /// The announcer's role: a leecher is offered seeders first.
    pub role: Role,
    pub want: usize,
    /// Seeders are offered seeders too, after the leechers.
    pub all_peers: bool,
    /// Peers sharing this many leading bits with this address come first.
    pub near: Option<(A, u8)>,
}

impl<A: Family> Choice<A> {
    /// The request's [`PeerSelection`] for an announcer at `addr`.
    pub fn new(addr: A, role: Role, want: usize, selection: &PeerSelection) -> Self {
        Choice {
            skip: None,
            role,
            want,
            all_peers: selection.all_peers,
            near: selection
                .prefer_subnet
                .map(|lens| (addr, A::prefix_len(lens))),
        }
    }

    pub fn skipping(self, skip: Option<usize>) -> Self {
        Choice { skip, ..self }
    }
}

/// Which entries one walk hands out.
#[derive(Clone, Copy)]
enum Keep<A> {
    All,
    Near(A, u8),
    Far(A, u8),
}

impl<A: Family> Keep<A> {
    fn accepts(self, entry: &Entry<A>) -> bool {
        match self {
            Keep::All => true,
            Keep::Near(addr, bits) => A::shares_prefix(entry.addr, addr, bits),
            Keep::Far(addr, bits) => !A::shares_prefix(entry.addr, addr, bits),
        }
    }
}

impl<A: Family> Swarm<A> {
    /// Up to `choice.want` peers, never the announcer itself: a leecher gets
    /// seeders first, then leechers; a seeder gets leechers, then (only with
    /// `all_peers`) seeders. A preferred subnet puts the announcer's
    /// neighbours of both groups before everyone else.
    pub fn select(&self, choice: &Choice<A>) -> Vec<Peer> {
        let seeders = 0..self.seeders() as usize;
        let leechers = self.seeders() as usize..self.len();
        let (first, then) = match (choice.role, choice.all_peers) {
            (Role::Leecher, _) => (seeders, leechers),
            (Role::Seeder, true) => (leechers, seeders),
            (Role::Seeder, false) => (leechers, 0..0),
        };
        let available = first.len() + then.len();
        let mut out = Vec::with_capacity(choice.want.min(available));
        let near_then_far;
        let passes: &[Keep<A>] = match choice.near {
            None => &[Keep::All],
            Some((addr, bits)) => {
                near_then_far = [Keep::Near(addr, bits), Keep::Far(addr, bits)];
                &near_then_far
            }
        };
        for &keep in passes {
            for range in [first.clone(), then.clone()] {
                self.take_from(range, keep, choice, &mut out);
            }
        }
        out
    }

    fn take_from(
        &self,
        range: Range<usize>,
        keep: Keep<A>,
        choice: &Choice<A>,
        out: &mut Vec<Peer>,
    ) {
        if range.is_empty() || out.len() >= choice.want {
            return;
        }
        let entries = self.entries();
        let start = range.start + rand::random_range(0..range.len());
        let positions = (start..range.end).chain(range.start..start);
        out.extend(
            positions
                .filter(|&i| Some(i) != choice.skip && keep.accepts(&entries[i]))
                .take(choice.want - out.len())
                .map(|i| entries[i].peer()),
        );
    }
}
