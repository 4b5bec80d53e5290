//! The one heap block of a swarm: a small header, then the entries.
//!
//! A `Vec` would cost 24 bytes in every torrent's map slot for each address
//! family (pointer, capacity, length), and the seeder count and the index
//! would need more beside it. Here the swarm is one pointer (8 bytes, null
//! while the family has no peer) and everything else lives at the front of
//! the block it points to:
//!
//! ```text
//! [ len u32 | cap u32 | seeders u32 | index ptr (8) | entry 0 | entry 1 | ... entry cap-1 ]
//! ```
//!
//! The header is packed to 4-byte alignment (20 bytes), and entries are
//! byte arrays (alignment 1, see [`Entry`]), so nothing is lost to padding:
//! ten IPv4 peers take 20 + 10 × 10 = 120 bytes, a 128-byte allocation.
//!
//! Capacity grows by about a quarter (at least 2) instead of doubling, so a
//! swarm of ten peers does not sit in a block for sixteen; the copies this
//! costs are amortized O(1) per peer all the same. The garbage collector
//! gives back what a swarm no longer uses ([`Block::shrink`]).
//!
//! This is the only `unsafe` code of the engine. The invariants it keeps:
//! the pointer is null or points to a live allocation of
//! `layout(header.cap)` bytes made by this module; entries `..len` are
//! initialized (`len <= cap`); `index` is null or comes from `Box::into_raw`
//! and is owned by the block.

use std::alloc::{self, Layout};
use std::mem::{align_of, size_of};
use std::ptr::{self, NonNull};

use super::{Entry, Family, Index};

#[repr(C, packed(4))]
struct Header<A: Family> {
    len: u32,
    cap: u32,
    seeders: u32,
    /// A hash index of large swarms (see the parent module); null otherwise.
    index: *mut Index<A>,
}

/// A growable array of entries behind one thin pointer, with the swarm's
/// seeder count and optional index in its header.
pub struct Block<A: Family> {
    ptr: Option<NonNull<Header<A>>>,
}

// SAFETY: a block owns its allocation and its index outright, like a `Vec`
// and a `Box` would; nothing is shared between blocks.
unsafe impl<A: Family + Send> Send for Block<A> {}
// SAFETY: `&Block` only reads.
unsafe impl<A: Family + Sync> Sync for Block<A> {}

impl<A: Family> Default for Block<A> {
    fn default() -> Self {
        Block { ptr: None }
    }
}

const HEADER_ALIGN: usize = 4;

impl<A: Family> Block<A> {
    const HEADER: usize = size_of::<Header<A>>();

    fn layout(cap: usize) -> Layout {
        const { assert!(align_of::<Entry<A>>() == 1) };
        const { assert!(align_of::<Header<A>>() == HEADER_ALIGN) };
        let size = Self::HEADER + cap * size_of::<Entry<A>>();
        Layout::from_size_align(size, HEADER_ALIGN).expect("swarm block too large")
    }

    fn header(&self) -> Option<&Header<A>> {
        // SAFETY: a non-null pointer is a live block (module invariant).
        self.ptr.map(|p| unsafe { p.as_ref() })
    }

    pub fn len(&self) -> usize {
        self.header().map_or(0, |h| h.len as usize)
    }

    pub fn capacity(&self) -> usize {
        self.header().map_or(0, |h| h.cap as usize)
    }

    pub fn seeders(&self) -> u32 {
        self.header().map_or(0, |h| h.seeders)
    }

    /// Only on a block with entries: an empty block has no header to write.
    pub fn set_seeders(&mut self, seeders: u32) {
        let mut p = self.ptr.expect("seeders of an empty swarm");
        debug_assert!(seeders as usize <= self.len());
        // SAFETY: live block, uniquely borrowed through `&mut self`.
        unsafe { p.as_mut().seeders = seeders };
    }

    pub fn entries(&self) -> &[Entry<A>] {
        match self.ptr {
            None => &[],
            // SAFETY: entries `..len` start right after the header and are
            // initialized; `Entry` has alignment 1.
            Some(p) => unsafe {
                let len = p.as_ref().len as usize;
                let first = p.as_ptr().cast::<u8>().add(Self::HEADER).cast();
                std::slice::from_raw_parts(first, len)
            },
        }
    }

    pub fn entries_mut(&mut self) -> &mut [Entry<A>] {
        match self.ptr {
            None => &mut [],
            // SAFETY: as in `entries`, borrowed uniquely through `&mut self`.
            Some(p) => unsafe {
                let len = p.as_ref().len as usize;
                let first = p.as_ptr().cast::<u8>().add(Self::HEADER).cast();
                std::slice::from_raw_parts_mut(first, len)
            },
        }
    }

    pub fn index(&self) -> Option<&Index<A>> {
        // SAFETY: a non-null index is a live `Box` owned by this block.
        self.header().and_then(|h| unsafe { h.index.as_ref() })
    }

    pub fn index_mut(&mut self) -> Option<&mut Index<A>> {
        let p = self.ptr?;
        // SAFETY: as in `index`, borrowed uniquely through `&mut self`.
        unsafe { p.as_ref().index.as_mut() }
    }

    /// Puts in (or with `None` drops) the index; only on a block with entries.
    pub fn set_index(&mut self, index: Option<Box<Index<A>>>) {
        let mut p = self.ptr.expect("index of an empty swarm");
        let new = index.map_or(ptr::null_mut(), Box::into_raw);
        // SAFETY: live block, uniquely borrowed; the old index came from
        // `Box::into_raw` and is dropped exactly once, here.
        unsafe {
            let old = p.as_ref().index;
            p.as_mut().index = new;
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
        let mut p = self.ptr.expect("a block after growing");
        // SAFETY: `len < cap` now, so slot `len` is inside the allocation.
        unsafe {
            let first = p.as_ptr().cast::<u8>().add(Self::HEADER).cast::<Entry<A>>();
            first.add(len).write(entry);
            p.as_mut().len += 1;
        }
        len
    }

    /// Removes and returns the last entry. Frees the block (and its index)
    /// when none is left, so an empty swarm costs nothing but its pointer.
    pub fn pop(&mut self) -> Option<Entry<A>> {
        let last = *self.entries().last()?;
        let mut p = self.ptr.expect("a block with entries");
        // SAFETY: live block with `len >= 1`; `seeders <= len` is kept by the
        // caller, which demotes a seeder before removing it.
        unsafe { p.as_mut().len -= 1 };
        if self.len() == 0 {
            self.free();
        }
        Some(last)
    }

    /// Keeps the first `len` entries (entries are plain bytes: nothing to drop).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        if len == 0 {
            self.free();
            return;
        }
        let mut p = self.ptr.expect("a block with entries");
        // SAFETY: live block; `len` is below the old length.
        unsafe { p.as_mut().len = len as u32 };
    }

    /// Gives back spare capacity once at least a quarter of the block is
    /// unused: a shrinking `realloc` works in place, so this is cheap.
    pub fn shrink(&mut self) {
        let (len, cap) = (self.len(), self.capacity());
        if cap - len >= 2 && (cap - len) * 4 >= cap {
            self.resize(len);
        }
    }

    /// Reallocates to exactly `cap` entries (`cap >= len`; 0 frees).
    fn resize(&mut self, cap: usize) {
        debug_assert!(cap >= self.len());
        if cap == 0 {
            self.free();
            return;
        }
        let new = Self::layout(cap);
        let cap32 = u32::try_from(cap).expect("a swarm of more than 4 billion peers");
        // SAFETY: allocation and reallocation with the layouts this module
        // made; the header of a fresh block is written before anything reads it.
        let raw = unsafe {
            match self.ptr {
                None => {
                    let raw = alloc::alloc(new).cast::<Header<A>>();
                    if !raw.is_null() {
                        raw.write(Header {
                            len: 0,
                            cap: cap32,
                            seeders: 0,
                            index: ptr::null_mut(),
                        });
                    }
                    raw
                }
                Some(p) => {
                    let old = Self::layout(p.as_ref().cap as usize);
                    let raw =
                        alloc::realloc(p.as_ptr().cast(), old, new.size()).cast::<Header<A>>();
                    if !raw.is_null() {
                        (*raw).cap = cap32;
                    }
                    raw
                }
            }
        };
        match NonNull::new(raw) {
            Some(p) => self.ptr = Some(p),
            None => alloc::handle_alloc_error(new),
        }
    }

    fn free(&mut self) {
        if let Some(p) = self.ptr.take() {
            // SAFETY: the block and its index were made by this module and
            // are released exactly once: `ptr` is already `None`.
            unsafe {
                let header = p.as_ptr().read();
                if !header.index.is_null() {
                    drop(Box::from_raw(header.index));
                }
                alloc::dealloc(p.as_ptr().cast(), Self::layout(header.cap as usize));
            }
        }
    }
}

impl<A: Family> Drop for Block<A> {
    fn drop(&mut self) {
        self.free();
    }
}

/// The next capacity: about a quarter more, at least two more. Ten peers
/// arrive in blocks of 2, 4, 6, 8 and 10; a million in about 60 steps.
fn grown(cap: usize) -> usize {
    cap + (cap / 4).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::clock::CoarseTime;
    use std::net::Ipv4Addr;

    fn entry(n: u8) -> Entry<Ipv4Addr> {
        Entry::new(
            Ipv4Addr::new(10, 0, 0, n),
            u16::from(n),
            CoarseTime::from_secs(7),
        )
    }

    #[test]
    fn grows_by_a_quarter_and_frees_when_empty() {
        let mut b = Block::<Ipv4Addr>::default();
        assert_eq!((b.len(), b.capacity(), b.seeders()), (0, 0, 0));
        let mut caps = Vec::new();
        for n in 0..12 {
            assert_eq!(b.push(entry(n)), usize::from(n));
            caps.push(b.capacity());
        }
        assert_eq!(caps, [2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12]);
        b.set_seeders(3);
        assert_eq!(b.seeders(), 3);
        assert_eq!(b.entries()[11], entry(11));
        b.entries_mut().swap(0, 11);
        assert_eq!(b.entries()[0], entry(11));
        assert_eq!(b.pop(), Some(entry(0)));
        b.truncate(4);
        b.shrink();
        assert_eq!((b.len(), b.capacity(), b.seeders()), (4, 4, 3));
        b.set_index(Some(Box::default()));
        assert!(b.index().is_some());
        b.truncate(0);
        assert_eq!((b.len(), b.capacity(), b.seeders()), (0, 0, 0));
        assert!(b.index().is_none() && b.pop().is_none());
    }

    #[test]
    fn the_header_is_twenty_bytes() {
        assert_eq!(size_of::<Header<Ipv4Addr>>(), 20);
        assert_eq!(size_of::<Block<Ipv4Addr>>(), 8);
        assert_eq!(Block::<Ipv4Addr>::layout(10).size(), 120);
    }
}
