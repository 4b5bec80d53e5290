//! The snapshot on disk: written atomically at shutdown, read back at start.
//!
//! A restart without this forgets every swarm until clients announce again,
//! up to an announce interval later; with it an upgrade costs clients
//! nothing. The file's format is in [`snapshot`](super::snapshot).
//!
//! Writing goes to a temporary file beside the target, is synced, and then
//! renamed over it, so a crash or a kill mid-write leaves the previous
//! snapshot (or none) in place, never half a file. Reading refuses anything
//! damaged, foreign or too old with a warning, and the tracker starts empty:
//! a snapshot is an optimisation, never a reason not to start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tracing::{info, warn};

use super::MemoryStorage;
use super::clock::CoarseTime;
use super::snapshot::{Decoder, Encoder, SnapshotError, Totals};

/// Large enough that a snapshot of millions of peers is written in few
/// system calls.
const BUFFER: usize = 1 << 20;

/// What a load put back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// As the file held them.
    pub totals: Totals,
    /// Peers in the file already older than `peer_lifetime`, left out.
    pub stale_peers: u64,
    pub age: Duration,
}

/// Saves the swarms to `path` and logs what it wrote, or why it could not.
pub fn save_and_log(storage: &MemoryStorage, path: &Path) {
    let started = Instant::now();
    match save(storage, path, SystemTime::now()) {
        Ok(totals) => info!(
            path = %path.display(),
            torrents = totals.torrents,
            peers = totals.peers,
            took_ms = started.elapsed().as_millis(),
            "snapshot saved"
        ),
        Err(e) => warn!(path = %path.display(), "snapshot not saved: {e}"),
    }
}

/// Loads the swarms from `path` if it holds a usable snapshot, and logs
/// what it loaded or why it started empty instead.
pub fn load_and_log(storage: &MemoryStorage, path: &Path, lifetime: Duration) {
    let started = Instant::now();
    match load(storage, path, lifetime, SystemTime::now()) {
        Ok(Some(loaded)) => info!(
            path = %path.display(),
            torrents = loaded.totals.torrents,
            peers = loaded.totals.peers,
            stale_peers = loaded.stale_peers,
            age_secs = loaded.age.as_secs(),
            took_ms = started.elapsed().as_millis(),
            "snapshot loaded"
        ),
        Ok(None) => info!(path = %path.display(), "no snapshot yet; starting empty"),
        Err(e) => warn!(path = %path.display(), "snapshot ignored, starting empty: {e}"),
    }
    warn_if_unwritable(path);
}

/// A missing directory would otherwise only show at shutdown, when the
/// swarms it was meant to keep are about to be lost.
fn warn_if_unwritable(path: &Path) {
    let dir = directory_of(path);
    if !dir.is_dir() {
        warn!(
            path = %path.display(),
            "the snapshot's directory {} does not exist: the swarms will not be saved at shutdown",
            dir.display()
        );
    }
}

/// Writes a snapshot of `storage` to `path` atomically; returns what it held.
pub fn save(storage: &MemoryStorage, path: &Path, now: SystemTime) -> io::Result<Totals> {
    let temp = temp_path(path);
    let written = write_synced(storage, &temp, now).and_then(|totals| {
        fs::rename(&temp, path)?;
        sync_directory(path)?;
        Ok(totals)
    });
    if written.is_err() {
        // Best effort: the error being reported is the write's, not this one.
        let _ = fs::remove_file(&temp);
    }
    written
}

fn write_synced(storage: &MemoryStorage, temp: &Path, now: SystemTime) -> io::Result<Totals> {
    let file = create_private(temp)?;
    let mut encoder = Encoder::new(BufWriter::with_capacity(BUFFER, file), now)?;
    storage.save_into(&mut encoder)?;
    let (out, totals) = encoder.finish()?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(totals)
}

/// Owner-only: the file lists every peer's address.
fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The rename itself is only durable once the directory is synced.
fn sync_directory(path: &Path) -> io::Result<()> {
    File::open(directory_of(path))?.sync_all()
}

fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Beside the target, so the rename never crosses file systems; a fixed name,
/// so a write killed half-way leaves one stray file that the next save reuses.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Loads the snapshot at `path` into `storage` (which must be empty and not
/// yet serving). `Ok(None)`: there is no file. On any error `storage` is left
/// empty, never half-loaded.
pub fn load(
    storage: &MemoryStorage,
    path: &Path,
    lifetime: Duration,
    now: SystemTime,
) -> Result<Option<Loaded>, SnapshotError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut decoder = Decoder::open(BufReader::with_capacity(BUFFER, file))?;
    // A clock set back since the write makes the file look new, not negative.
    let age = now.duration_since(decoder.written_at()).unwrap_or_default();
    if age >= lifetime {
        return Err(SnapshotError::TooOld {
            age,
            limit: lifetime,
        });
    }
    let cutoff = CoarseTime::from_system(now.checked_sub(lifetime).unwrap_or(now));
    match storage.load_from(&mut decoder, cutoff) {
        Ok(stale_peers) => Ok(Some(Loaded {
            totals: decoder.totals(),
            stale_peers,
            age,
        })),
        Err(e) => {
            storage.clear();
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MemoryConfig;
    use crate::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId};
    use std::net::{IpAddr, Ipv4Addr};

    const HOUR: Duration = Duration::from_secs(3600);

    fn request(hash: u8, port: u16, event: Event) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([hash; 20]),
            peer_id: PeerId([port as u8; 20]),
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port,
            uploaded: 0,
            downloaded: 0,
            left: 1,
            event,
            numwant: 50,
            key: None,
            params: Params::default(),
            selection: Default::default(),
        }
    }

    fn store() -> MemoryStorage {
        MemoryStorage::new(&MemoryConfig {
            shard_count: 4,
            ..MemoryConfig::default()
        })
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarms.snap");
        let now = SystemTime::now();
        let old = store();
        old.announce(&request(1, 1000, Event::Started), now);
        old.announce(&request(1, 1001, Event::Completed), now);
        old.announce(&request(2, 1000, Event::Started), now);
        let saved = save(&old, &path, now).unwrap();
        assert_eq!(
            saved,
            Totals {
                torrents: 2,
                peers: 3
            }
        );
        assert!(!temp_path(&path).exists(), "the temporary file is renamed");

        let new = store();
        let loaded = load(&new, &path, HOUR, now).unwrap().unwrap();
        assert_eq!((loaded.totals, loaded.stale_peers), (saved, 0));
        let hashes = [InfoHash([1; 20]), InfoHash([2; 20])];
        assert_eq!(new.scrape(&hashes), old.scrape(&hashes));
        assert_eq!(new.stats(), old.stats());
    }

    #[test]
    fn a_missing_file_is_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(&store(), &dir.path().join("none"), HOUR, SystemTime::now());
        assert!(matches!(loaded, Ok(None)));
    }

    #[test]
    fn a_snapshot_older_than_the_peer_lifetime_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarms.snap");
        let then = SystemTime::now() - 2 * HOUR;
        let old = store();
        old.announce(&request(1, 1000, Event::Started), then);
        save(&old, &path, then).unwrap();
        let new = store();
        let loaded = load(&new, &path, HOUR, SystemTime::now());
        assert!(
            matches!(loaded, Err(SnapshotError::TooOld { .. })),
            "{loaded:?}"
        );
        assert_eq!(new.stats().torrents, 0);
    }

    #[test]
    fn peers_already_stale_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarms.snap");
        let now = SystemTime::now();
        let old = store();
        old.announce(&request(1, 1000, Event::Started), now - 2 * HOUR);
        old.announce(&request(1, 1001, Event::Started), now);
        old.announce(&request(2, 1000, Event::Started), now - 2 * HOUR);
        save(&old, &path, now).unwrap();
        let new = store();
        let loaded = load(&new, &path, HOUR, now).unwrap().unwrap();
        assert_eq!(loaded.stale_peers, 2);
        // Torrent 2 had only a stale peer: it is not kept empty.
        assert_eq!((new.stats().torrents, new.stats().leechers), (1, 1));
    }

    #[test]
    fn a_damaged_file_leaves_the_store_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarms.snap");
        let now = SystemTime::now();
        let old = store();
        for port in 0..50 {
            old.announce(&request(port as u8, 1000 + port, Event::Started), now);
        }
        save(&old, &path, now).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, bytes).unwrap();
        let new = store();
        let loaded = load(&new, &path, HOUR, now);
        assert!(matches!(loaded, Err(SnapshotError::Checksum)), "{loaded:?}");
        assert_eq!(new.stats(), Default::default(), "nothing half-loaded");
    }

    #[test]
    fn a_failed_save_keeps_the_previous_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarms.snap");
        let now = SystemTime::now();
        let old = store();
        old.announce(&request(1, 1000, Event::Started), now);
        save(&old, &path, now).unwrap();
        let before = fs::read(&path).unwrap();
        // A directory where the temporary file should go makes the write fail.
        fs::create_dir(temp_path(&path)).unwrap();
        old.announce(&request(2, 1000, Event::Started), now);
        assert!(save(&old, &path, now).is_err());
        assert_eq!(fs::read(&path).unwrap(), before);
    }
}
