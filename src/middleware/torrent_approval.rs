//! `torrent approval`: allow or refuse announces by info hash.
//!
//! ```yaml
//! - name: "torrent approval"
//!   options:
//!     whitelist: ["a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5"]  # or blacklist, not both
//!     file: "/etc/chihaya/torrents.txt"   # more hashes for that list, re-read on change
//!     file_poll_interval: "2s"
//! ```
//!
//! The file is watched by polling its size, modification time and inode, so
//! editing it in place or replacing it (an editor's write-and-rename) both take
//! effect within one poll, without a restart. A file that cannot be read or
//! parsed at start is a configuration error; later, the old list is kept and
//! the problem logged, so a half-saved edit never opens or closes the tracker.
//!
//! Scrapes of unapproved torrents are answered with zeros rather than dropped:
//! a UDP scrape reply is positional, and zeros tell a scraper no more than an
//! unknown torrent would.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use serde::Deserialize;
use serde_yaml_ng::Value;
use tokio_util::sync::CancellationToken;

use super::approvals::{ApprovalList, Approvals, ListKind};
use super::hook::Hook;
use super::options;
use crate::protocol::{
    AnnounceRequest, AnnounceResponse, ClientError, InfoHash, Scrape, ScrapeRequest, ScrapeResponse,
};

/// What a refused announce reads.
pub const REASON: &str = "unapproved torrent";

fn default_poll() -> Duration {
    Duration::from_secs(2)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    whitelist: Option<Vec<String>>,
    blacklist: Option<Vec<String>>,
    file: Option<PathBuf>,
    #[serde(default = "default_poll", with = "crate::config::duration")]
    file_poll_interval: Duration,
}

/// Whether the listed hashes are the only ones allowed or the ones refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Allow,
    Deny,
}

/// The hook.
#[derive(Debug)]
pub struct TorrentApproval {
    mode: Mode,
    inline: HashSet<InfoHash>,
    /// The file's hashes as last read successfully.
    file: Option<Arc<ArcSwap<HashSet<InfoHash>>>>,
    /// The admin API's runtime changes, shared with every other generation:
    /// they win over both `inline` and `file`.
    runtime: Arc<Approvals>,
}

/// Everything the options say, the file read once: what both [`TorrentApproval::new`]
/// and [`TorrentApproval::validate`] need, before any task is spawned.
struct Settings {
    mode: Mode,
    inline: HashSet<InfoHash>,
    file: Option<ListFile>,
}

impl Settings {
    fn parse(options: &Value) -> Result<Settings, String> {
        let o: Options = options::parse(options)?;
        let (mode, key, list) = match (o.whitelist, o.blacklist) {
            (Some(_), Some(_)) => return Err("whitelist and blacklist are both set".into()),
            (Some(list), None) => (Mode::Allow, "whitelist", list),
            (None, Some(list)) => (Mode::Deny, "blacklist", list),
            (None, None) => {
                return Err(
                    "neither whitelist nor blacklist is set (with only a file, write `whitelist: []` or `blacklist: []` to say which it is)"
                        .into(),
                );
            }
        };
        if list.is_empty() && o.file.is_none() {
            return Err(format!("{key} is empty and no file is given"));
        }
        let inline = list
            .iter()
            .enumerate()
            .map(|(i, entry)| parse_hash(entry).map_err(|e| format!("{key}[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        let file = match o.file {
            Some(path) => Some(ListFile::read(path, o.file_poll_interval)?),
            None => None,
        };
        Ok(Settings { mode, inline, file })
    }
}

impl TorrentApproval {
    /// Reads `file` (if given) now and spawns its watcher, which stops when
    /// `stop` is cancelled (the chain generation is replaced or the server stops).
    pub fn new(options: &Value, stop: CancellationToken) -> Result<TorrentApproval, String> {
        let Settings { mode, inline, file } = Settings::parse(options)?;
        let file = file.map(|file| file.watch(stop));
        Ok(TorrentApproval {
            mode,
            inline,
            file,
            runtime: Arc::default(),
        })
    }

    /// Consults `runtime` (the tracker's overlay) on top of the configured lists.
    pub fn with_runtime(self, runtime: Arc<Approvals>) -> Self {
        TorrentApproval { runtime, ..self }
    }

    /// Checks the options as [`TorrentApproval::new`] does, reading the file
    /// once, but spawns no watcher: for `check-config`, which serves nothing.
    pub fn validate(options: &Value) -> Result<(), String> {
        Settings::parse(options).map(drop)
    }

    /// Whether announces of this torrent are answered.
    pub fn approves(&self, hash: &InfoHash) -> bool {
        let listed = self.runtime.torrents.listed(hash).unwrap_or_else(|| {
            self.inline.contains(hash)
                || self
                    .file
                    .as_ref()
                    .is_some_and(|file| file.load().contains(hash))
        });
        listed == (self.mode == Mode::Allow)
    }

    /// Inline and file entries with the runtime changes applied, sorted hex.
    fn entries(&self) -> Vec<String> {
        let file = self.file.as_ref().map(|file| file.load_full());
        let configured = self.inline.iter().chain(file.iter().flat_map(|f| f.iter()));
        let effective = self.runtime.torrents.effective(configured);
        let mut entries: Vec<String> = effective.iter().map(InfoHash::to_hex).collect();
        entries.sort_unstable();
        entries
    }
}

impl Hook for TorrentApproval {
    fn name(&self) -> &'static str {
        "torrent approval"
    }

    fn before_announce(
        &self,
        req: &mut AnnounceRequest,
        _resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        if self.approves(&req.info_hash) {
            Ok(())
        } else {
            Err(ClientError::new(REASON))
        }
    }

    fn after_scrape(
        &self,
        _req: &ScrapeRequest,
        resp: &mut ScrapeResponse,
    ) -> Result<(), ClientError> {
        for (hash, counts) in &mut resp.files {
            if !self.approves(hash) {
                *counts = Scrape::default();
            }
        }
        Ok(())
    }

    fn approval_list(&self) -> Option<ApprovalList> {
        Some(ApprovalList {
            kind: ListKind::Torrents,
            mode: match self.mode {
                Mode::Allow => "whitelist",
                Mode::Deny => "blacklist",
            },
            entries: self.entries(),
        })
    }
}

/// 40 hex digits, either case (also what the admin API accepts).
pub fn parse_hash(text: &str) -> Result<InfoHash, String> {
    let bad = || format!("{text:?} is not a 40-digit hex info hash");
    if text.len() != 40 || !text.is_ascii() {
        return Err(bad());
    }
    let mut hash = [0u8; 20];
    for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(InfoHash(hash))
}

/// One hash per line; blank lines and `#` comments (whole-line or trailing) are skipped.
fn parse_list(text: &str) -> Result<HashSet<InfoHash>, String> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let entry = line.split('#').next().unwrap_or_default().trim();
            (!entry.is_empty())
                .then(|| parse_hash(entry).map_err(|e| format!("line {}: {e}", n + 1)))
        })
        .collect()
}

fn read_list(path: &Path) -> Result<HashSet<InfoHash>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    parse_list(&text)
}

/// What says the file changed: size, modification time and inode (an
/// editor that writes a new file and renames it changes the inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn fingerprint(path: &Path) -> std::io::Result<Fingerprint> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok(Fingerprint {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
    })
}

/// An approval file as first read, before its poller is spawned.
struct ListFile {
    path: PathBuf,
    every: Duration,
    seen: Fingerprint,
    list: HashSet<InfoHash>,
}

impl ListFile {
    /// Reads the file now; an error is the caller's config error.
    fn read(path: PathBuf, every: Duration) -> Result<ListFile, String> {
        if every.is_zero() {
            return Err("file_poll_interval: must be greater than zero".into());
        }
        let seen = fingerprint(&path).map_err(|e| format!("file: {}: {e}", path.display()))?;
        let list = read_list(&path).map_err(|e| format!("file: {}: {e}", path.display()))?;
        Ok(ListFile {
            path,
            every,
            seen,
            list,
        })
    }

    /// Spawns the poller that keeps the returned list current until `stop`.
    fn watch(self, stop: CancellationToken) -> Arc<ArcSwap<HashSet<InfoHash>>> {
        let hashes = Arc::new(ArcSwap::from_pointee(self.list));
        let poller = Poller {
            path: self.path,
            seen: self.seen,
            hashes: hashes.clone(),
            last_problem: None,
        };
        tokio::spawn(poller.run(self.every, stop));
        hashes
    }
}

/// The background task that keeps one approval file's hashes current.
struct Poller {
    path: PathBuf,
    seen: Fingerprint,
    hashes: Arc<ArcSwap<HashSet<InfoHash>>>,
    /// Logged once, not at every poll, until the file is good again.
    last_problem: Option<String>,
}

impl Poller {
    async fn run(mut self, every: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate; the file was just read
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let path = self.path.clone();
            // Metadata and the read are blocking calls; keep them off the workers.
            let seen = self.seen;
            let polled = tokio::task::spawn_blocking(move || poll_once(&path, seen)).await;
            match polled {
                Ok(Poll::Unchanged) => {}
                Ok(Poll::Changed(fp, Ok(list))) => self.replace(fp, list),
                Ok(Poll::Changed(fp, Err(e))) => {
                    self.seen = fp;
                    self.problem(e);
                }
                Ok(Poll::Unreadable(e)) => self.problem(e),
                Err(e) => self.problem(format!("poll task failed: {e}")),
            }
        }
    }

    fn replace(&mut self, fp: Fingerprint, list: HashSet<InfoHash>) {
        self.seen = fp;
        self.last_problem = None;
        tracing::info!(
            file = %self.path.display(),
            hashes = list.len(),
            "torrent approval: file re-read"
        );
        self.hashes.store(Arc::new(list));
    }

    fn problem(&mut self, problem: String) {
        if self.last_problem.as_ref() != Some(&problem) {
            tracing::warn!(
                file = %self.path.display(),
                "torrent approval: {problem}; keeping the previous list"
            );
            self.last_problem = Some(problem);
        }
    }
}

enum Poll {
    Unchanged,
    Changed(Fingerprint, Result<HashSet<InfoHash>, String>),
    Unreadable(String),
}

fn poll_once(path: &Path, seen: Fingerprint) -> Poll {
    match fingerprint(path) {
        Err(e) => Poll::Unreadable(format!("cannot read it: {e}")),
        Ok(fp) if fp == seen => Poll::Unchanged,
        Ok(fp) => Poll::Changed(fp, read_list(path)),
    }
}

#[cfg(test)]
mod tests;
