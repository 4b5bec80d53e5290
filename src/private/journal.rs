//! The journal: every batch on disk before the database sees it.
//!
//! A directory with one file per batch. A file is written whole to a temp
//! name, fsynced, renamed to its final name and the directory fsynced, so
//! after a crash (kill -9, power loss) a batch file is either complete or
//! absent; a leftover temp file is a batch that was never acknowledged and is
//! removed at open. Files are removed once their batch committed; whatever
//! is still there at start is replayed, and the database's record of applied
//! batch ids makes a replay of a batch that did commit change nothing.
//!
//! Names are `SEQUENCE-BATCHID.batch`, the sequence zero-padded and one more
//! than the highest found at open, so the names sort in creation order across
//! restarts. The content is the batch as JSON.
//!
//! Plain blocking `std::fs`: async callers use `spawn_blocking` (the handle
//! is cheap to clone for that).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tracing::warn;

use super::batch::{Batch, BatchId};

const SUFFIX: &str = ".batch";
const TEMP_PREFIX: &str = ".tmp-";
const CORRUPT_SUFFIX: &str = ".corrupt";

#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    next_seq: AtomicU64,
    /// Where each batch appended or loaded lives.
    files: Mutex<HashMap<BatchId, PathBuf>>,
}

/// The sequence number of a batch file's name, if it is one.
fn sequence(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (seq, _id) = stem.split_once('-')?;
    seq.parse().ok()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Opens (creating it if needed) the journal directory. Temp files left
    /// by a crash mid-write are removed: their batches were never durable.
    pub fn open(dir: &Path) -> io::Result<Journal> {
        fs::create_dir_all(dir)?;
        let mut highest = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                warn!(file = %entry.path().display(), "private journal: removing a torn write");
                fs::remove_file(entry.path())?;
            } else if let Some(seq) = sequence(name) {
                highest = highest.max(seq);
            }
        }
        sync_dir(dir)?;
        Ok(Journal {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                next_seq: AtomicU64::new(highest + 1),
                files: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Writes the batch; it is durable when this returns `Ok`.
    pub fn append(&self, batch: &Batch) -> io::Result<()> {
        let seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("{seq:020}-{:016x}{SUFFIX}", batch.id.0);
        let temp = self.inner.dir.join(format!("{TEMP_PREFIX}{name}"));
        let path = self.inner.dir.join(&name);
        let text = serde_json::to_vec(batch).map_err(io::Error::other)?;
        let written = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            fs::rename(&temp, &path)?;
            sync_dir(&self.inner.dir)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        self.inner.files.lock().insert(batch.id, path);
        Ok(())
    }

    /// Forgets a committed batch. Not fsynced: a removal lost to a crash
    /// only means a replay the database answers with "already applied".
    pub fn remove(&self, id: BatchId) -> io::Result<()> {
        let known = self.inner.files.lock().remove(&id);
        let path = match known {
            Some(path) => path,
            None => match self.find(id)? {
                Some(path) => path,
                None => return Ok(()),
            },
        };
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The ids of the batches still journaled, in creation order, read
    /// from the file names alone (so a long journal is never all in memory).
    pub fn pending(&self) -> io::Result<Vec<BatchId>> {
        let mut found: Vec<(u64, BatchId, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&self.inner.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(seq) = sequence(name) else { continue };
            let Some(id) = name
                .strip_suffix(SUFFIX)
                .and_then(|stem| stem.split_once('-'))
                .and_then(|(_, hex)| u64::from_str_radix(hex, 16).ok())
            else {
                continue;
            };
            found.push((seq, BatchId(id as i64), entry.path()));
        }
        found.sort();
        let mut files = self.inner.files.lock();
        Ok(found
            .into_iter()
            .map(|(_, id, path)| {
                files.insert(id, path);
                id
            })
            .collect())
    }

    /// One journaled batch. A file that does not read as a batch is renamed
    /// `*.corrupt` (kept for a person to look at) with a warning, and the
    /// error is `InvalidData`.
    pub fn read(&self, id: BatchId) -> io::Result<Batch> {
        let known = self.inner.files.lock().get(&id).cloned();
        let path = match known {
            Some(path) => path,
            None => self
                .find(id)?
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such batch"))?,
        };
        let parsed = fs::read(&path)
            .and_then(|bytes| serde_json::from_slice::<Batch>(&bytes).map_err(io::Error::other));
        match parsed {
            Ok(batch) => Ok(batch),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Err(error),
            Err(error) => {
                self.inner.files.lock().remove(&id);
                let mut aside = path.clone().into_os_string();
                aside.push(CORRUPT_SUFFIX);
                warn!(
                    file = %path.display(),
                    %error,
                    "private journal: an unreadable batch file set aside as {}",
                    Path::new(&aside).display()
                );
                fs::rename(&path, &aside)?;
                Err(io::Error::new(io::ErrorKind::InvalidData, error))
            }
        }
    }

    /// Every batch still journaled, in creation order; unreadable files are
    /// set aside as [`Journal::read`] does, and skipped.
    pub fn load(&self) -> io::Result<Vec<Batch>> {
        let mut batches = Vec::new();
        for id in self.pending()? {
            match self.read(id) {
                Ok(batch) => batches.push(batch),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {}
                Err(e) => return Err(e),
            }
        }
        Ok(batches)
    }

    /// The file of a batch this handle has not seen, by its name.
    fn find(&self, id: BatchId) -> io::Result<Option<PathBuf>> {
        let tail = format!("-{:016x}{SUFFIX}", id.0);
        for entry in fs::read_dir(&self.inner.dir)? {
            let entry = entry?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(&tail) && sequence(n).is_some())
            {
                return Ok(Some(entry.path()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::private::batch::Transfer;
    use crate::private::model::{TorrentId, UserId};

    fn batch(id: i64, up: u64) -> Batch {
        Batch {
            id: BatchId(id),
            created: 1_700_000_000 + id,
            transfers: vec![(
                UserId(1),
                TorrentId(2),
                Transfer {
                    uploaded: up,
                    announces: 1,
                    ..Transfer::default()
                },
            )],
            peers: vec![],
            gone: vec![],
            snatches: vec![],
        }
    }

    #[test]
    fn batches_come_back_in_creation_order_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        // Ids deliberately not in order: the name's sequence decides.
        for (id, up) in [(30, 1), (10, 2), (20, 3)] {
            j.append(&batch(id, up)).unwrap();
        }
        drop(j);
        let j = Journal::open(dir.path()).unwrap();
        j.append(&batch(5, 4)).unwrap();
        let ids: Vec<i64> = j.load().unwrap().iter().map(|b| b.id.0).collect();
        assert_eq!(ids, vec![30, 10, 20, 5]);
        assert_eq!(j.load().unwrap()[1], batch(10, 2));
    }

    #[test]
    fn removed_batches_stay_removed_even_from_another_handle() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.append(&batch(1, 1)).unwrap();
        j.append(&batch(2, 1)).unwrap();
        j.remove(BatchId(1)).unwrap();
        // A handle that never saw batch 2 finds it by name.
        let other = Journal::open(dir.path()).unwrap();
        other.remove(BatchId(2)).unwrap();
        other.remove(BatchId(99)).unwrap();
        assert!(j.load().unwrap().is_empty());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_torn_temp_file_is_dropped_and_a_corrupt_file_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.append(&batch(1, 7)).unwrap();
        j.append(&batch(2, 8)).unwrap();
        drop(j);
        // A crash mid-write leaves a temp file with half a batch.
        fs::write(
            dir.path()
                .join(".tmp-00000000000000000003-0000000000000003.batch"),
            b"{\"id\":3,\"crea",
        )
        .unwrap();
        // A final-named file damaged after the fact (disk, a person).
        let first = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|n| n.ends_with("-0000000000000001.batch"))
            .unwrap();
        fs::write(dir.path().join(&first), b"not json").unwrap();

        let j = Journal::open(dir.path()).unwrap();
        let loaded = j.load().unwrap();
        assert_eq!(loaded, vec![batch(2, 8)]);
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[0], format!("{first}.corrupt"));
        assert!(names[1].ends_with("-0000000000000002.batch"));
        // New appends sort after everything that was there.
        j.append(&batch(4, 9)).unwrap();
        let ids: Vec<i64> = j.load().unwrap().iter().map(|b| b.id.0).collect();
        assert_eq!(ids, vec![2, 4]);
    }
}
