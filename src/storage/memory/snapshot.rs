//! The snapshot file format: the memory engine's swarms, written at a clean
//! shutdown and read back at start (see [`persist`](super::persist) for the
//! file handling).
//!
//! # Layout (integers little-endian)
//!
//! ```text
//! header   magic "CHYSWARM" | version u16 = 2 | written_at u64 (Unix seconds)
//! records  tag u8 = 1 (torrent):
//!            info_hash [20] | snatches u32
//!            v4_count u32 | v4_count × peer(addr [4])
//!            v6_count u32 | v6_count × peer(addr [16])
//!          peer: addr | port u16 | flags u8 (bit 0: seeder) | last_seen u32
//! end      tag u8 = 0 | torrents u64 | peers u64
//! trailer  checksum u64: SipHash-2-4 (zero key) of every byte before it
//! ```
//!
//! The torrent count is not in the header because the file is written as a
//! stream, one shard at a time, never as one buffer of the whole store. The
//! checksum covers the header, so a damaged write time is caught too. The end
//! record repeats the totals so a file cut exactly between two records, or a
//! writer that lost a batch, is still refused.
//!
//! Version 1 also held each peer's 20-byte peer_id, which the engine no
//! longer keeps; a version 1 file is refused like any other version (the
//! tracker starts empty and says why), never read half right.
//!
//! Nothing in the file is trusted for sizes: counts only bound loops that stop
//! at the end of the input, so a damaged count cannot make the reader
//! allocate more than the file holds.

use std::hash::Hasher;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use siphasher::sip::SipHasher24;

use super::clock::CoarseTime;
use super::swarm::{Announcer, Family, Role, Swarm};
use super::torrent::Torrent;
use crate::protocol::InfoHash;

const MAGIC: &[u8; 8] = b"CHYSWARM";
const VERSION: u16 = 2;
const TAG_END: u8 = 0;
const TAG_TORRENT: u8 = 1;
const SEEDER: u8 = 1;

/// Why a snapshot was not loaded. Each says what an operator needs to know;
/// none is fatal: the tracker then starts empty.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a chihaya snapshot (wrong magic)")]
    Magic,
    #[error("snapshot format version {0}, this build reads version {VERSION}")]
    Version(u16),
    #[error("truncated: the file ends before the end record")]
    Truncated,
    #[error("checksum mismatch: the file is damaged")]
    Checksum,
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error("written {age:?} ago, older than peer_lifetime ({limit:?}): every peer in it is stale")]
    TooOld { age: Duration, limit: Duration },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// How much a snapshot held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub torrents: u64,
    pub peers: u64,
}

/// An address family's bytes in the file.
trait Octets: Family {
    fn put(self, out: &mut Vec<u8>);
    fn read<R: Read>(input: &mut Checked<R>) -> Result<Self, SnapshotError>;
}

impl Octets for Ipv4Addr {
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
    fn read<R: Read>(input: &mut Checked<R>) -> Result<Self, SnapshotError> {
        Ok(Ipv4Addr::from(input.take::<4>()?))
    }
}

impl Octets for Ipv6Addr {
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
    fn read<R: Read>(input: &mut Checked<R>) -> Result<Self, SnapshotError> {
        Ok(Ipv6Addr::from(input.take::<16>()?))
    }
}

/// Torrents encoded in memory, to be handed to [`Encoder::write`] as one
/// piece. Filled while a shard is locked, written after it is released, so
/// the lock is held for encoding only, never for file I/O.
#[derive(Default)]
pub struct Batch {
    bytes: Vec<u8>,
    totals: Totals,
}

impl Batch {
    pub fn push(&mut self, torrent: &Torrent) {
        let out = &mut self.bytes;
        out.push(TAG_TORRENT);
        out.extend_from_slice(&torrent.hash().0);
        out.extend_from_slice(&torrent.snatches().to_le_bytes());
        self.totals.torrents += 1;
        self.totals.peers += put_swarm(out, torrent.v4()) + put_swarm(out, torrent.v6());
    }
}

fn put_swarm<A: Octets>(out: &mut Vec<u8>, swarm: &Swarm<A>) -> u64 {
    let count_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut count = 0u32;
    for peer in swarm.records() {
        peer.addr.put(out);
        out.extend_from_slice(&peer.port.to_le_bytes());
        out.push(if peer.role == Role::Seeder { SEEDER } else { 0 });
        out.extend_from_slice(&peer.now.secs().to_le_bytes());
        count += 1;
    }
    out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    u64::from(count)
}

/// Bytes passing through, hashed on the way; the checksum of everything
/// written or read so far.
struct Checked<T> {
    inner: T,
    hash: SipHasher24,
}

impl<T> Checked<T> {
    fn new(inner: T) -> Self {
        Checked {
            inner,
            hash: SipHasher24::new(),
        }
    }

    fn sum(&self) -> u64 {
        self.hash.finish()
    }
}

impl<W: Write> Checked<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.write(bytes);
        self.inner.write_all(bytes)
    }
}

impl<R: Read> Checked<R> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut buf = [0; N];
        self.inner.read_exact(&mut buf).map_err(eof_is_truncation)?;
        self.hash.write(&buf);
        Ok(buf)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.take()?))
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
}

fn eof_is_truncation(e: io::Error) -> SnapshotError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        SnapshotError::Truncated
    } else {
        SnapshotError::Io(e)
    }
}

/// Writes a snapshot as a stream: the header, then batches, then the end.
pub struct Encoder<W: Write> {
    out: Checked<W>,
    totals: Totals,
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W, written_at: SystemTime) -> io::Result<Self> {
        let mut out = Checked::new(out);
        out.put(MAGIC)?;
        out.put(&VERSION.to_le_bytes())?;
        out.put(&unix_secs(written_at).to_le_bytes())?;
        Ok(Encoder {
            out,
            totals: Totals::default(),
        })
    }

    /// Writes the batch's torrents and empties it for reuse.
    pub fn write(&mut self, batch: &mut Batch) -> io::Result<()> {
        self.out.put(&batch.bytes)?;
        self.totals.torrents += batch.totals.torrents;
        self.totals.peers += batch.totals.peers;
        batch.bytes.clear();
        batch.totals = Totals::default();
        Ok(())
    }

    /// Writes the end record and the checksum; returns the output (still to
    /// be flushed and synced by the caller) and what was written.
    pub fn finish(mut self) -> io::Result<(W, Totals)> {
        self.out.put(&[TAG_END])?;
        self.out.put(&self.totals.torrents.to_le_bytes())?;
        self.out.put(&self.totals.peers.to_le_bytes())?;
        let sum = self.out.sum();
        self.out.inner.write_all(&sum.to_le_bytes())?;
        Ok((self.out.inner, self.totals))
    }
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Reads a snapshot back one torrent at a time. Nothing it returns may be
/// kept unless [`Decoder::next_torrent`] eventually returns `Ok(None)`: only then
/// has the checksum been verified.
pub struct Decoder<R: Read> {
    input: Checked<R>,
    written_at: SystemTime,
    seen: Totals,
    done: bool,
}

impl<R: Read> Decoder<R> {
    /// Reads and checks the header.
    pub fn open(input: R) -> Result<Self, SnapshotError> {
        let mut input = Checked::new(input);
        let magic: [u8; 8] = input.take().map_err(|e| match e {
            SnapshotError::Truncated => SnapshotError::Magic,
            other => other,
        })?;
        if &magic != MAGIC {
            return Err(SnapshotError::Magic);
        }
        let version = input.u16()?;
        if version != VERSION {
            return Err(SnapshotError::Version(version));
        }
        // Checked: a damaged header must not panic on a time past the platform's range.
        let written_at = UNIX_EPOCH
            .checked_add(Duration::from_secs(input.u64()?))
            .ok_or(SnapshotError::Malformed("write time out of range"))?;
        Ok(Decoder {
            input,
            written_at,
            seen: Totals::default(),
            done: false,
        })
    }

    /// When the snapshot was written (as the header says; checked with the
    /// rest at the end).
    pub fn written_at(&self) -> SystemTime {
        self.written_at
    }

    /// The next torrent, or `None` after the end record and a good checksum.
    pub fn next_torrent(&mut self) -> Result<Option<(InfoHash, Torrent)>, SnapshotError> {
        if self.done {
            return Ok(None);
        }
        match self.input.u8()? {
            TAG_TORRENT => self.torrent().map(Some),
            TAG_END => self.end().map(|()| None),
            _ => Err(SnapshotError::Malformed("unknown record tag")),
        }
    }

    /// The totals read so far.
    pub fn totals(&self) -> Totals {
        self.seen
    }

    fn torrent(&mut self) -> Result<(InfoHash, Torrent), SnapshotError> {
        let hash = InfoHash(self.input.take()?);
        let snatches = self.input.u32()?;
        let v4 = self.swarm::<Ipv4Addr>()?;
        let v6 = self.swarm::<Ipv6Addr>()?;
        self.seen.torrents += 1;
        Ok((hash, Torrent::restored(hash, v4, v6, snatches)))
    }

    fn swarm<A: Octets>(&mut self) -> Result<Swarm<A>, SnapshotError> {
        let count = self.input.u32()?;
        let mut swarm = Swarm::default();
        for _ in 0..count {
            let addr = A::read(&mut self.input)?;
            let port = self.input.u16()?;
            let role = match self.input.u8()? {
                0 => Role::Leecher,
                SEEDER => Role::Seeder,
                _ => return Err(SnapshotError::Malformed("unknown peer flags")),
            };
            let now = CoarseTime::from_secs(self.input.u32()?);
            swarm.upsert(Announcer {
                addr,
                port,
                role,
                now,
            });
            self.seen.peers += 1;
        }
        Ok(swarm)
    }

    fn end(&mut self) -> Result<(), SnapshotError> {
        let torrents = self.input.u64()?;
        let peers = self.input.u64()?;
        let expected = self.input.sum();
        let mut sum = [0; 8];
        self.input
            .inner
            .read_exact(&mut sum)
            .map_err(eof_is_truncation)?;
        if u64::from_le_bytes(sum) != expected {
            return Err(SnapshotError::Checksum);
        }
        if (Totals { torrents, peers }) != self.seen {
            return Err(SnapshotError::Malformed(
                "end record totals differ from the records",
            ));
        }
        let mut extra = [0; 1];
        if self.input.inner.read(&mut extra)? != 0 {
            return Err(SnapshotError::Malformed("bytes after the checksum"));
        }
        self.done = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
