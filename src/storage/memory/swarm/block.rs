//! The one heap block of a swarm: a small header, the entries' fingerprints,
//! then the entries.
//!
//! A `Vec` would cost 24 bytes in every torrent's map slot for each address
//! family (pointer, capacity, length), and the seeder count and the index
//! would need more beside it. Here the swarm is one pointer (8 bytes, null
//! while the family has no peer) and everything else lives at the front of
//! the block it points to:
//!
//! ```text
//! small:  [ len u32 | cap u32 | seeders u32 | fp 0 | ... fp cap-1 | entry 0 | ... entry cap-1 ]
//! large:  [ len u32 | cap u32 | seeders u32 | index ptr (8) | fp 0 | ... | entry 0 | ... ]
//! ```
//!
//! A fingerprint is 2 bytes per entry (see [`Entry::fingerprint`]): a
//! swarm without an index finds a peer by comparing those, 16 at a time,
//! and reads an entry only where one matches. Scanning 2 bytes a peer
//! instead of 10 (IPv4) or 22 (IPv6) is what keeps a swarm of a few
//! hundred peers, far from the caches, cheap to search. They sit at the
//! front, so the header and the first fingerprints arrive together.
//!
//! Only a block with room for more than [`SMALL`] entries has the slot for
//! an index pointer (large swarms are the only ones with an index), so the
//! many small swarms do not pay 8 bytes for it. The header has alignment 4,
//! fingerprints 2, entries are byte arrays (alignment 1, see [`Entry`]), so
//! nothing is lost to padding: one IPv4 peer takes 12 + 2 + 10 = 24 bytes
//! (the smallest allocation glibc makes, 32 bytes with its own word), ten
//! take 132 (144).
//!
//! Capacity grows 1, 2, 4, 6, ... then by about a quarter, instead of
//! doubling, so a swarm of ten peers does not sit in a block for sixteen;
//! the copies this costs are still amortized O(1) per peer. The garbage
//! collector gives back what a swarm no longer uses ([`Block::shrink`]).
//!
//! This is the only `unsafe` code of the engine (besides the prefetch
//! instruction in `table`, which reads nothing). The invariants it keeps:
//! the pointer is null or points to a live allocation of `layout(cap)` bytes
//! made by this module, with `cap >= 1`; entries and fingerprints `..len`
//! are initialized (`seeders <= len <= cap`), and fingerprint `i` is always
//! entry `i`'s (entries change only through this module); a large block's
//! index slot holds null or a pointer from `Box::into_raw` that the block
//! owns.

use std::alloc::{self, Layout};
use std::mem::{align_of, size_of};
use std::ptr::{self, NonNull};

use super::{Entry, Family, Index};
use crate::storage::memory::table::prefetch_bytes;

/// How much of a block [`Block::prefetch`] asks for: the header and the
/// fingerprints of the first 58 peers (the whole of most swarms' lookups),
/// or the first few entries of the smallest swarms.
const PREFETCH_BYTES: usize = 128;

/// Blocks with room for at most this many entries have no index slot.
pub const SMALL: usize = 32;

#[repr(C)]
struct Header {
    len: u32,
    cap: u32,
    seeders: u32,
}

const HEADER: usize = size_of::<Header>();
const INDEX_SLOT: usize = size_of::<*mut u8>();
const FINGERPRINT: usize = size_of::<u16>();

/// A growable array of entries behind one thin pointer, with the swarm's
/// seeder count in its header and, in large blocks, its index.
pub struct Block<A: Family> {
    ptr: Option<NonNull<Header>>,
    _entries: std::marker::PhantomData<Entry<A>>,
}

// SAFETY: a block owns its allocation and its index outright, like a `Vec`
// and a `Box` would; nothing is shared between blocks.
unsafe impl<A: Family> Send for Block<A> {}
// SAFETY: `&Block` only reads.
unsafe impl<A: Family> Sync for Block<A> {}

impl<A: Family> Default for Block<A> {
    fn default() -> Self {
        Block {
            ptr: None,
            _entries: std::marker::PhantomData,
        }
    }
}

impl<A: Family> Block<A> {
    /// Where the fingerprints start in a block of `cap` entries.
    fn fingerprints_at(cap: usize) -> usize {
        if cap > SMALL {
            HEADER + INDEX_SLOT
        } else {
            HEADER
        }
    }

    fn entries_at(cap: usize) -> usize {
        Self::fingerprints_at(cap) + cap * FINGERPRINT
    }

    fn layout(cap: usize) -> Layout {
        const { assert!(align_of::<Entry<A>>() == 1) };
        const {
            assert!(
                HEADER.is_multiple_of(align_of::<u16>())
                    && INDEX_SLOT.is_multiple_of(align_of::<u16>())
            )
        };
        let size = Self::entries_at(cap) + cap * size_of::<Entry<A>>();
        Layout::from_size_align(size, align_of::<Header>()).expect("swarm block too large")
    }

    fn header(&self) -> Option<&Header> {
        // SAFETY: a non-null pointer is a live block (module invariant).
        self.ptr.map(|p| unsafe { p.as_ref() })
    }

    fn header_mut(&mut self) -> &mut Header {
        let mut p = self.ptr.expect("the header of an empty swarm");
        // SAFETY: live block, uniquely borrowed through `&mut self`.
        unsafe { p.as_mut() }
    }

    pub fn len(&self) -> usize {
        self.header().map_or(0, |h| h.len as usize)
    }

    /// Whether the block has no entry. It is freed with its last entry, so
    /// this reads the pointer only, never the memory behind it: the table
    /// tells a vacant slot by it without a cache miss.
    pub fn is_empty(&self) -> bool {
        debug_assert_eq!(self.ptr.is_none(), self.len() == 0);
        self.ptr.is_none()
    }

    /// Asks the CPU to start loading the header and the first entries.
    pub fn prefetch(&self) {
        if let Some(p) = self.ptr {
            prefetch_bytes(p.as_ptr().cast(), PREFETCH_BYTES);
        }
    }

    pub fn capacity(&self) -> usize {
        self.header().map_or(0, |h| h.cap as usize)
    }

    pub fn seeders(&self) -> u32 {
        self.header().map_or(0, |h| h.seeders)
    }

    /// Only on a block with entries: an empty block has no header to write.
    pub fn set_seeders(&mut self, seeders: u32) {
        debug_assert!(seeders as usize <= self.len());
        self.header_mut().seeders = seeders;
    }

    /// The entries and, in a large block with one, the index, borrowed
    /// together (an index update needs the entries to hash with).
    pub fn parts(&self) -> (&[Entry<A>], Option<&Index>) {
        let Some(p) = self.ptr else {
            return (&[], None);
        };
        // SAFETY: entries `..len` start at `entries_at(cap)` and are
        // initialized; `Entry` has alignment 1; a non-null index slot is a
        // live `Box` owned by this block, disjoint from the entries.
        unsafe {
            let h = p.as_ref();
            let base = p.as_ptr().cast::<u8>();
            let first = base.add(Self::entries_at(h.cap as usize)).cast();
            let entries = std::slice::from_raw_parts(first, h.len as usize);
            let index = if h.cap as usize > SMALL {
                base.add(HEADER)
                    .cast::<*mut Index>()
                    .read_unaligned()
                    .as_ref()
            } else {
                None
            };
            (entries, index)
        }
    }

    /// The entries and the index to update (entries change only through
    /// [`Block::set`], [`Block::swap`] and [`Block::push`], which keep the
    /// fingerprints in step).
    pub fn parts_mut(&mut self) -> (&[Entry<A>], Option<&mut Index>) {
        let Some(p) = self.ptr else {
            return (&[], None);
        };
        // SAFETY: as in `parts`, the index borrowed uniquely through
        // `&mut self`; the entries and the index are disjoint allocations.
        unsafe {
            let h = p.as_ref();
            let base = p.as_ptr().cast::<u8>();
            let first = base.add(Self::entries_at(h.cap as usize)).cast();
            let entries = std::slice::from_raw_parts(first, h.len as usize);
            let index = if h.cap as usize > SMALL {
                base.add(HEADER)
                    .cast::<*mut Index>()
                    .read_unaligned()
                    .as_mut()
            } else {
                None
            };
            (entries, index)
        }
    }

    pub fn entries(&self) -> &[Entry<A>] {
        self.parts().0
    }

    /// The fingerprint of each entry, in the same order.
    pub fn fingerprints(&self) -> &[u16] {
        let Some(p) = self.ptr else {
            return &[];
        };
        // SAFETY: fingerprints `..len` start at `fingerprints_at(cap)`, an
        // offset aligned for `u16` in a block aligned for the header, and
        // are initialized.
        unsafe {
            let h = p.as_ref();
            let first = p
                .as_ptr()
                .cast::<u8>()
                .add(Self::fingerprints_at(h.cap as usize));
            std::slice::from_raw_parts(first.cast(), h.len as usize)
        }
    }

    /// The entries and the fingerprints, mutably and together (the one way
    /// to change either, so they stay in step).
    fn columns_mut(&mut self) -> (&mut [u16], &mut [Entry<A>]) {
        let Some(p) = self.ptr else {
            return (&mut [], &mut []);
        };
        // SAFETY: as in `fingerprints` and `parts`; the two ranges are
        // disjoint and borrowed uniquely through `&mut self`.
        unsafe {
            let h = p.as_ref();
            let (cap, len) = (h.cap as usize, h.len as usize);
            let base = p.as_ptr().cast::<u8>();
            let fps = base.add(Self::fingerprints_at(cap)).cast();
            let entries = base.add(Self::entries_at(cap)).cast();
            (
                std::slice::from_raw_parts_mut(fps, len),
                std::slice::from_raw_parts_mut(entries, len),
            )
        }
    }

    /// Replaces entry `i`.
    pub fn set(&mut self, i: usize, entry: Entry<A>) {
        let (fps, entries) = self.columns_mut();
        fps[i] = entry.fingerprint();
        entries[i] = entry;
    }

    /// Swaps entries `a` and `b`.
    pub fn swap(&mut self, a: usize, b: usize) {
        let (fps, entries) = self.columns_mut();
        fps.swap(a, b);
        entries.swap(a, b);
    }

    pub fn index(&self) -> Option<&Index> {
        self.parts().1
    }

    /// Puts in (or with `None` drops) the index. A block with room for at
    /// most [`SMALL`] entries cannot hold one: it is dropped instead (an
    /// index is only ever a speed-up; the caller builds one only for
    /// swarms larger than that).
    pub fn set_index(&mut self, index: Option<Box<Index>>) {
        let Some(p) = self.ptr else {
            return;
        };
        // SAFETY: live block; only a large block has the slot; the old
        // index came from `Box::into_raw` and is dropped exactly once, here.
        unsafe {
            if p.as_ref().cap as usize <= SMALL {
                return;
            }
            let slot = p.as_ptr().cast::<u8>().add(HEADER).cast::<*mut Index>();
            let old = slot.read_unaligned();
            slot.write_unaligned(index.map_or(ptr::null_mut(), Box::into_raw));
            if !old.is_null() {
                drop(Box::from_raw(old));
            }
        }
    }

    /// Appends an entry, growing the block if it is full; returns its position.
    pub fn push(&mut self, entry: Entry<A>) -> usize {
        let (len, cap) = (self.len(), self.capacity());
        if len == cap {
            self.resize(grown(cap));
        }
        let cap = self.capacity();
        let p = self.ptr.expect("a block after growing");
        // SAFETY: `len < cap` now, so slot `len` of both columns is inside
        // the allocation; written through raw pointers, as it is not
        // initialized yet.
        unsafe {
            let base = p.as_ptr().cast::<u8>();
            let fps = base.add(Self::fingerprints_at(cap)).cast::<u16>();
            fps.add(len).write(entry.fingerprint());
            let first = base.add(Self::entries_at(cap)).cast::<Entry<A>>();
            first.add(len).write(entry);
        }
        self.header_mut().len += 1;
        len
    }

    /// Removes and returns the last entry. Frees the block (and its index)
    /// when none is left, so an empty swarm costs nothing but its pointer.
    /// The caller keeps `seeders <= len` (it demotes a seeder before
    /// removing it).
    pub fn pop(&mut self) -> Option<Entry<A>> {
        let last = *self.entries().last()?;
        self.truncate(self.len() - 1);
        Some(last)
    }

    /// Keeps the first `len` entries (plain bytes: nothing to drop); frees
    /// the block at 0.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        if len == 0 {
            self.free();
            return;
        }
        let h = self.header_mut();
        h.len = len as u32;
        h.seeders = h.seeders.min(len as u32);
    }

    /// Gives back spare capacity once at least a quarter of the block is
    /// unused: a shrinking `realloc` works in place, so this is cheap.
    pub fn shrink(&mut self) {
        let (len, cap) = (self.len(), self.capacity());
        if cap - len >= 2 && (cap - len) * 4 >= cap {
            self.resize(len);
        }
    }

    /// Reallocates to exactly `cap` entries (`cap >= len`; 0 frees), moving
    /// both columns to where a block of `cap` keeps them.
    fn resize(&mut self, cap: usize) {
        let len = self.len();
        debug_assert!(cap >= len);
        if cap == 0 {
            self.free();
            return;
        }
        let new = Self::layout(cap);
        let new_cap = u32::try_from(cap).expect("a swarm of more than 4 billion peers");
        let Some(p) = self.ptr else {
            // SAFETY: a fresh allocation of a non-zero size; its header (and
            // index slot) are written before anything reads them.
            let raw = unsafe { alloc::alloc(new) };
            let Some(p) = NonNull::new(raw.cast::<Header>()) else {
                alloc::handle_alloc_error(new);
            };
            // SAFETY: as above.
            unsafe {
                p.as_ptr().write(Header {
                    len: 0,
                    cap: new_cap,
                    seeders: 0,
                });
                if cap > SMALL {
                    raw.add(HEADER)
                        .cast::<*mut Index>()
                        .write_unaligned(ptr::null_mut());
                }
            }
            self.ptr = Some(p);
            return;
        };
        let old_cap = self.capacity();
        let fps = (Self::fingerprints_at(old_cap), Self::fingerprints_at(cap));
        let entries = (Self::entries_at(old_cap), Self::entries_at(cap));
        let fp_bytes = len * FINGERPRINT;
        let entry_bytes = len * size_of::<Entry<A>>();
        if cap < old_cap {
            // Shrinking: both columns move down (or stay) while the old
            // block still holds them all, the fingerprints first since the
            // entries lie above them. Losing the index slot drops the index
            // first: the fingerprints move over its slot.
            if fps.1 < fps.0 {
                self.set_index(None);
            }
            // SAFETY: every range lies inside the old allocation; the
            // fingerprints' new place ends below the entries' old one.
            unsafe {
                let base = p.as_ptr().cast::<u8>();
                ptr::copy(base.add(fps.0), base.add(fps.1), fp_bytes);
                ptr::copy(base.add(entries.0), base.add(entries.1), entry_bytes);
            }
        }
        // SAFETY: the block was allocated by this module with the old
        // layout; the new size is non-zero.
        let raw = unsafe { alloc::realloc(p.as_ptr().cast(), Self::layout(old_cap), new.size()) };
        let Some(p) = NonNull::new(raw.cast::<Header>()) else {
            alloc::handle_alloc_error(new);
        };
        self.ptr = Some(p);
        self.header_mut().cap = new_cap;
        if cap > old_cap {
            // Growing: both columns move up (or stay), the entries first
            // since the fingerprints grow into their old place; gaining the
            // index slot, it is cleared once the fingerprints have left it.
            // SAFETY: every range lies inside the new allocation; the
            // entries' new place starts above the fingerprints' old one.
            unsafe {
                ptr::copy(raw.add(entries.0), raw.add(entries.1), entry_bytes);
                ptr::copy(raw.add(fps.0), raw.add(fps.1), fp_bytes);
                if fps.1 > fps.0 {
                    raw.add(HEADER)
                        .cast::<*mut Index>()
                        .write_unaligned(ptr::null_mut());
                }
            }
        }
    }

    fn free(&mut self) {
        self.set_index(None);
        if let Some(p) = self.ptr.take() {
            // SAFETY: made by this module with this layout, released exactly
            // once: `ptr` is already `None`.
            unsafe {
                let cap = p.as_ref().cap as usize;
                alloc::dealloc(p.as_ptr().cast(), Self::layout(cap));
            }
        }
    }
}

impl<A: Family> Drop for Block<A> {
    fn drop(&mut self) {
        self.free();
    }
}

/// The next capacity: 1, 2, 4, 6, 8, 10, 12, 15, 18, ..., a quarter more
/// (at least 2) each time. Ten peers fit a block for exactly ten; a million
/// arrive in about 60 steps.
fn grown(cap: usize) -> usize {
    match cap {
        0 | 1 => cap + 1,
        _ => cap + (cap / 4).max(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::clock::CoarseTime;
    use std::net::Ipv4Addr;

    fn entry(n: u32) -> Entry<Ipv4Addr> {
        Entry::new(Ipv4Addr::from(n), n as u16, CoarseTime::from_secs(n))
    }

    /// Fingerprint `i` is entry `i`'s.
    fn in_step(b: &Block<Ipv4Addr>) {
        let expect: Vec<u16> = b.entries().iter().map(Entry::fingerprint).collect();
        assert_eq!(b.fingerprints(), &expect[..]);
    }

    #[test]
    fn grows_in_small_steps_and_frees_when_empty() {
        let mut b = Block::<Ipv4Addr>::default();
        assert_eq!((b.len(), b.capacity(), b.seeders()), (0, 0, 0));
        let mut caps = Vec::new();
        for n in 0..12 {
            assert_eq!(b.push(entry(n)), n as usize);
            caps.push(b.capacity());
        }
        assert_eq!(caps, [1, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12]);
        b.set_seeders(3);
        assert_eq!(b.seeders(), 3);
        assert_eq!(b.entries()[11], entry(11));
        b.swap(0, 11);
        in_step(&b);
        assert_eq!(b.entries()[0], entry(11));
        assert_eq!(b.pop(), Some(entry(0)));
        b.truncate(2);
        b.shrink();
        assert_eq!((b.len(), b.capacity(), b.seeders()), (2, 2, 2));
        b.set_index(Some(Box::default()));
        assert!(b.index().is_none(), "a small block has no index slot");
        b.truncate(0);
        assert_eq!((b.len(), b.capacity(), b.seeders()), (0, 0, 0));
        assert!(b.pop().is_none());
    }

    #[test]
    fn entries_survive_gaining_and_losing_the_index_slot() {
        let mut b = Block::<Ipv4Addr>::default();
        for n in 0..200 {
            b.push(entry(n));
        }
        assert!(b.capacity() > SMALL);
        b.set_index(Some(Box::default()));
        assert!(b.index().is_some());
        let all: Vec<_> = (0..200).map(entry).collect();
        assert_eq!(b.entries(), &all[..]);
        in_step(&b);
        b.truncate(150);
        b.shrink();
        assert_eq!(b.capacity(), 150);
        assert!(
            b.index().is_some(),
            "shrunk but still large, the index stays"
        );
        assert_eq!(b.entries(), &all[..150]);
        in_step(&b);
        b.truncate(20);
        b.shrink();
        assert_eq!(b.capacity(), 20);
        assert!(b.index().is_none(), "shrunk below the slot, the index went");
        assert_eq!(b.entries(), &all[..20]);
        in_step(&b);
        for n in 20..40 {
            b.push(entry(n));
        }
        assert_eq!(b.entries(), &all[..40]);
        in_step(&b);
        b.set(3, entry(1000));
        assert_eq!(b.entries()[3], entry(1000));
        in_step(&b);
        assert!(b.capacity() > SMALL && b.index().is_none());
    }

    #[test]
    fn blocks_are_as_small_as_promised() {
        assert_eq!(size_of::<Block<Ipv4Addr>>(), 8);
        assert_eq!(Block::<Ipv4Addr>::layout(1).size(), 24);
        assert_eq!(Block::<Ipv4Addr>::layout(10).size(), 132);
        assert_eq!(Block::<Ipv4Addr>::layout(33).size(), 12 + 8 + 66 + 330);
    }
}
