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
//! The random positions come from one seed per choice, drawn before the
//! announcer is stored, so that the first walk's start can be asked of the
//! memory ([`Swarm::prefetch_walk`]) while the announcer is looked up: in a
//! swarm of hundreds it is a cache miss nothing else brings in. A start is
//! the seed's scaled product, not its remainder, with the range's length:
//! when storing the announcer lengthens the range by one, the start moves by
//! at most one entry, still on the line asked for.
//!
//! [`PeerSelection`]: crate::protocol::PeerSelection

use std::cell::RefCell;
use std::ops::Range;

use rand::Rng;
use rand::rngs::SmallRng;

use super::{Entry, Family, Role, Swarm};
use crate::protocol::{PeerSelection, PeerSink};
use crate::storage::memory::table::prefetch_bytes;

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
    /// Where the walks start (see the module docs).
    pub seed: u64,
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
            seed: walk_seed(),
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
        let (first, then) = self.ranges(choice);
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
        let mut walk = 0;
        for &keep in passes {
            for range in [first.clone(), then.clone()] {
                let start = walk_start(&range, choice.seed, walk);
                taken += self.take_from(range, start, keep, choice, choice.want - taken, sink);
                walk += 1;
            }
        }
        taken
    }

    /// Starts loading the entries where [`Swarm::select`] will begin its
    /// first walk for `choice`, as the swarm is now: called before the
    /// announcer is stored, the start found then is the same entry or a
    /// neighbour (see the module docs), so the 128 bytes from the entry
    /// before it are asked for.
    pub fn prefetch_walk(&self, choice: &Choice<A>) {
        let (first, _) = self.ranges(choice);
        if first.is_empty() || choice.want == 0 {
            return;
        }
        let start = walk_start(&first, choice.seed, 0);
        let entries = self.entries();
        let from = &entries[start.saturating_sub(1)..];
        prefetch_bytes(from.as_ptr().cast(), size_of_val(from).min(128));
    }

    /// The range a choice walks first and the one it walks then: a leecher
    /// gets seeders first, a seeder leechers (and seeders only with
    /// `all_peers`).
    fn ranges(&self, choice: &Choice<A>) -> (Range<usize>, Range<usize>) {
        let seeders = 0..self.seeders() as usize;
        let leechers = self.seeders() as usize..self.len();
        match (choice.role, choice.all_peers) {
            (Role::Leecher, _) => (seeders, leechers),
            (Role::Seeder, true) => (leechers, seeders),
            (Role::Seeder, false) => (leechers, 0..0),
        }
    }

    /// Up to `want` of the entries in `range` that `keep` accepts, from
    /// `start` on, wrapping around; returns how many.
    fn take_from(
        &self,
        range: Range<usize>,
        start: usize,
        keep: Keep<A>,
        choice: &Choice<A>,
        want: usize,
        sink: &mut impl PeerSink,
    ) -> usize {
        if range.is_empty() || want == 0 {
            return 0;
        }
        let entries = self.entries();
        // The two stretches of the wrapped walk as slices: no bounds check
        // per entry, and the skip is a position within a stretch.
        let stretches = [
            (start, &entries[start..range.end]),
            (range.start, &entries[range.start..start]),
        ];
        let mut taken = 0;
        for (first, stretch) in stretches {
            let skip = choice.skip.and_then(|i| i.checked_sub(first));
            if let Keep::All = keep {
                // Everyone but the announcer: the stretch is at most two
                // runs, each handed over whole (see `PeerSink::v4_run`).
                let (before, after) = match skip {
                    Some(k) if k < stretch.len() => (&stretch[..k], &stretch[k + 1..]),
                    _ => (stretch, &stretch[..0]),
                };
                for run in [before, after] {
                    let run = &run[..run.len().min(want - taken)];
                    A::hand_run(run, sink);
                    taken += run.len();
                    if taken == want {
                        return taken;
                    }
                }
                continue;
            }
            for (k, entry) in stretch.iter().enumerate() {
                if Some(k) != skip && keep.accepts(entry) {
                    A::hand_run(std::slice::from_ref(entry), sink);
                    taken += 1;
                    if taken == want {
                        return taken;
                    }
                }
            }
        }
        taken
    }
}

/// A choice's seed, from a small fast generator per thread seeded once by
/// the thread's CSPRNG: a walk start must be uniform, not secret (a client
/// learns no more from it than from the peers it is handed), and drawing
/// from the thread's ChaCha generator per choice was ~0.2% of the core
/// under bench/udp_load.
fn walk_seed() -> u64 {
    thread_local! {
        static WALKS: RefCell<SmallRng> = RefCell::new(rand::make_rng());
    }
    WALKS.with_borrow_mut(|rng| rng.next_u64())
}

/// Where walk number `walk` of a choice starts in `range`: uniform over it
/// for a uniform `seed`, and moved by at most one entry when the range
/// grows or shrinks by one (a scaled product, not a remainder).
fn walk_start(range: &Range<usize>, seed: u64, walk: u64) -> usize {
    let mixed =
        (seed ^ walk.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let scaled = ((mixed >> 32) * range.len() as u64) >> 32;
    range.start + scaled as usize
}

#[cfg(test)]
mod tests {
    use super::walk_start;

    #[test]
    fn walk_starts_cover_the_range_and_move_one_entry_at_most() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in [1usize, 2, 7, 100, 1_000, 70_000] {
            let mut seen = vec![false; len.min(100)];
            for walk in 0..4 {
                for _ in 0..2_000 {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let start = walk_start(&(10..10 + len), seed, walk);
                    assert!(
                        (10..10 + len).contains(&start),
                        "{start} outside 10..{}",
                        10 + len
                    );
                    if len <= 100 {
                        seen[start - 10] = true;
                    }
                    // Storing the announcer lengthens its range by one.
                    let after = walk_start(&(10..11 + len), seed, walk);
                    assert!(after.abs_diff(start) <= 1, "{start} -> {after} (len {len})");
                }
            }
            if len <= 100 {
                let never = seen.iter().position(|&s| !s);
                assert_eq!(never, None, "len {len}: a position never starts a walk");
            }
        }
    }

    #[test]
    fn each_walk_of_a_choice_starts_elsewhere() {
        let starts: Vec<usize> = (0..4)
            .map(|walk| walk_start(&(0..1 << 20), 42, walk))
            .collect();
        for (i, a) in starts.iter().enumerate() {
            assert!(starts[i + 1..].iter().all(|b| b != a), "{starts:?}");
        }
    }
}
