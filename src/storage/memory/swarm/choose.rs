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
use crate::protocol::{PeerSelection, PeerSink};

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
    /// Hands `sink` up to `choice.want` peers, never the announcer itself:
    /// a leecher gets seeders first, then leechers; a seeder gets leechers,
    /// then (only with `all_peers`) seeders. A preferred subnet puts the
    /// announcer's neighbours of both groups before everyone else. Returns
    /// how many it handed over.
    pub fn select(&self, choice: &Choice<A>, sink: &mut impl PeerSink) -> usize {
        let seeders = 0..self.seeders() as usize;
        let leechers = self.seeders() as usize..self.len();
        let (first, then) = match (choice.role, choice.all_peers) {
            (Role::Leecher, _) => (seeders, leechers),
            (Role::Seeder, true) => (leechers, seeders),
            (Role::Seeder, false) => (leechers, 0..0),
        };
        sink.reserve(choice.want.min(first.len() + then.len()));
        let mut taken = 0;
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
                taken += self.take_from(range, keep, choice, choice.want - taken, sink);
            }
        }
        taken
    }

    /// Up to `want` of the entries in `range` that `keep` accepts, from a
    /// random start; returns how many.
    fn take_from(
        &self,
        range: Range<usize>,
        keep: Keep<A>,
        choice: &Choice<A>,
        want: usize,
        sink: &mut impl PeerSink,
    ) -> usize {
        if range.is_empty() || want == 0 {
            return 0;
        }
        let entries = self.entries();
        let start = range.start + rand::random_range(0..range.len());
        let positions = (start..range.end).chain(range.start..start);
        let mut taken = 0;
        for i in positions {
            let entry = &entries[i];
            if Some(i) != choice.skip && keep.accepts(entry) {
                entry.addr.hand_to(entry.port(), sink);
                taken += 1;
                if taken == want {
                    break;
                }
            }
        }
        taken
    }
}
