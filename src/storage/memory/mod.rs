//! The in-memory engine: torrents spread over independently locked shards.
//!
//! An announce locks exactly one shard, once, for the update and the peer
//! selection together, so two first announces to a torrent always see each
//! other. Garbage collection and stats take one shard at a time, so a request
//! never waits for more than one shard's worth of work.
//!
//! The layers, one file each: [`shard`] (a map of torrents behind one lock),
//! [`torrent`] (IPv4 and IPv6 swarms plus the snatch count), [`swarm`] (the
//! compact peer list of one address family), [`clock`] (coarse timestamps),
//! [`snapshot`] (the swarms as a file format) and [`persist`] (that file on
//! disk, across restarts).

mod clock;
mod inspect;
mod persist;
mod shard;
pub mod snapshot;
mod swarm;
mod table;
mod torrent;

#[cfg(test)]
mod tests;

use std::hash::RandomState;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use self::clock::CoarseTime;
use self::shard::{Keyed, LockedShard, Shard};
use self::snapshot::{Batch, Decoder, Encoder, SnapshotError};
use super::view::SwarmView;
use super::{AnnounceOutcome, GcStats, StoreStats, TopSwarm};
use crate::config::MemoryConfig;
use crate::protocol::{AnnounceRequest, InfoHash, PeerSink, Scrape};

pub struct MemoryStorage {
    shards: Box<[LockedShard]>,
    /// Hashes an info hash once per call (a UDP request is hashed twice:
    /// for its batch's prefetch and for itself); that one hash picks the
    /// shard and is the key in the shard's table (see [`Keyed`]). The
    /// shards' tables hash with clones of these keys, so their hashes are
    /// the same. Randomly keyed
    /// per process: clients choose info hashes, and with a fixed function
    /// they could pile every torrent onto one shard, or into one probe
    /// chain, and serialize the tracker.
    keys: RandomState,
    /// Where the swarms are kept across restarts, if anywhere.
    snapshot: Option<PathBuf>,
    peer_lifetime: Duration,
}

impl MemoryStorage {
    /// `shard_count` is validated by the config; 0 is treated as 1 anyway so
    /// the engine cannot be built unusable.
    pub fn new(config: &MemoryConfig) -> Self {
        let keys = RandomState::new();
        let shards = (0..config.shard_count.max(1))
            .map(|_| LockedShard::new(Shard::new(keys.clone())))
            .collect();
        MemoryStorage {
            shards,
            keys,
            snapshot: Some(PathBuf::from(&config.snapshot_path))
                .filter(|path| !path.as_os_str().is_empty()),
            peer_lifetime: config.peer_lifetime,
        }
    }

    /// Loads the configured snapshot, if any (see [`persist`]). Blocking
    /// file I/O, meant for start-up before anything is served.
    pub fn restore_snapshot(&self) {
        if let Some(path) = &self.snapshot {
            persist::load_and_log(self, path, self.peer_lifetime);
        }
    }

    /// Saves the swarms to the configured snapshot, if any. Blocking file
    /// I/O, meant for shutdown once the frontends have stopped.
    pub fn save_snapshot(&self) {
        if let Some(path) = &self.snapshot {
            persist::save_and_log(self, path);
        }
    }

    /// Encodes every torrent, one shard at a time: a shard is locked only
    /// while its torrents are encoded into memory, never during file I/O.
    fn save_into<W: Write>(&self, encoder: &mut Encoder<W>) -> io::Result<()> {
        let mut batch = Batch::default();
        for shard in &self.shards {
            for torrent in shard.lock().torrents() {
                batch.push(torrent);
            }
            encoder.write(&mut batch)?;
        }
        Ok(())
    }

    /// Adds every torrent `decoder` yields, leaving out peers last seen
    /// before `cutoff`; returns how many were left out. On an error, what
    /// was added so far stays: the caller [`clear`](Self::clear)s it.
    fn load_from<R: Read>(
        &self,
        decoder: &mut Decoder<R>,
        cutoff: CoarseTime,
    ) -> Result<u64, SnapshotError> {
        let mut stale = 0;
        while let Some((hash, mut torrent)) = decoder.next_torrent()? {
            stale += torrent.collect_garbage(cutoff);
            let (shard, keyed) = self.shard(&hash);
            shard.lock().restore(keyed.hash, torrent);
        }
        Ok(stale)
    }

    /// Drops every torrent.
    fn clear(&self) {
        for shard in &self.shards {
            *shard.lock() = Shard::new(self.keys.clone());
        }
    }

    /// The shard `hash` routes to, and its key in that shard's table.
    fn shard<'h>(&self, hash: &'h InfoHash) -> (&LockedShard, Keyed<'h>) {
        let keyed = Keyed::new(&self.keys, hash);
        (&self.shards[keyed.shard(self.shards.len())], keyed)
    }

    pub fn announce(&self, req: &AnnounceRequest, now: SystemTime) -> AnnounceOutcome {
        let mut peers = Vec::new();
        let counts = self.announce_into(req, now, &mut peers);
        AnnounceOutcome { peers, counts }
    }

    /// As [`MemoryStorage::announce`], the peers handed to `sink` while the
    /// shard is locked; returns the torrent's counts.
    pub fn announce_into(
        &self,
        req: &AnnounceRequest,
        now: SystemTime,
        sink: &mut impl PeerSink,
    ) -> Scrape {
        let now = CoarseTime::from_system(now);
        let (shard, keyed) = self.shard(&req.info_hash);
        shard.lock().announce(keyed, req, now, sink)
    }

    /// Hides the cache misses of a batch of requests. Each announce misses
    /// three times, one after the other: on its shard (the lock, the
    /// table's address), on its torrent's slot, then on the swarm's peers.
    /// One request after the other, the batch would wait for every miss in
    /// turn. Instead this asks for every shard of a group at once, then
    /// (they have arrived by then) for every slot, without the shards'
    /// locks (see [`LockedShard`]), then for every swarm, so the misses of
    /// a group overlap and the requests that follow find their memory in
    /// cache. A hint: nothing changes.
    ///
    /// The shards are a pass of their own because the default 1,024 take
    /// 147 KB, which the swarms' traffic keeps pushing out of the caches
    /// (`bench/udp_ab.sh` found a single shard cheaper per response, until
    /// this pass; docs/performance.md has the A/Bs): reading
    /// one's table address in the slot pass waited for it, and taking its
    /// lock in the swarm pass (a locked instruction, which lets no later
    /// load start early) waited for it again with nothing overlapping.
    pub fn prefetch(&self, hashes: &[InfoHash]) {
        const GROUP: usize = 32;
        for group in hashes.chunks(GROUP) {
            let mut keyed = [(0usize, 0u64); GROUP];
            for (key, info_hash) in keyed.iter_mut().zip(group) {
                let k = Keyed::new(&self.keys, info_hash);
                let shard = k.shard(self.shards.len());
                self.shards[shard].prefetch_shard();
                *key = (shard, k.hash);
            }
            let keyed = &keyed[..group.len()];
            for &(shard, hash) in keyed {
                self.shards[shard].prefetch_slot(hash);
            }
            for (&(shard, hash), info_hash) in keyed.iter().zip(group) {
                self.shards[shard]
                    .lock()
                    .prefetch_swarm(Keyed { info_hash, hash });
            }
        }
    }

    pub fn scrape(&self, hashes: &[InfoHash]) -> Vec<Scrape> {
        hashes
            .iter()
            .map(|hash| {
                let (shard, keyed) = self.shard(hash);
                shard.lock().scrape(keyed)
            })
            .collect()
    }

    /// Removes peers last seen before `cutoff` (to the second, rounding in the
    /// peers' favour) and the torrents left without peers.
    pub fn collect_garbage(&self, cutoff: SystemTime) -> GcStats {
        let cutoff = CoarseTime::from_system(cutoff);
        let mut total = GcStats::default();
        for shard in &self.shards {
            let gc = shard.lock().collect_garbage(cutoff);
            total.peers_removed += gc.peers_removed;
            total.swarms_removed += gc.swarms_removed;
        }
        total
    }

    /// The torrent's counts and up to `limit` peers per family; `None` when
    /// nobody is in its swarm. Locks the one shard for the copy only.
    pub fn swarm(&self, hash: &InfoHash, limit: usize) -> Option<SwarmView> {
        let (shard, keyed) = self.shard(hash);
        shard
            .lock()
            .torrent(keyed)
            .map(|torrent| inspect::view(*hash, torrent, limit))
    }

    pub fn stats(&self) -> StoreStats {
        let mut total = StoreStats::default();
        for shard in &self.shards {
            total.add(&shard.lock().stats());
        }
        total
    }

    /// One shard locked at a time; each contributes at most its own top `n`.
    pub fn top_swarms(&self, n: usize) -> Vec<TopSwarm> {
        let mut top = Vec::new();
        for shard in &self.shards {
            shard.lock().top_swarms(n, &mut top);
            rank(&mut top, n);
        }
        top
    }
}

/// Most peers first, ties by info hash so the order is stable; keeps `n`.
pub(super) fn rank(swarms: &mut Vec<TopSwarm>, n: usize) {
    swarms.sort_unstable_by(|a, b| {
        b.peers()
            .cmp(&a.peers())
            .then_with(|| a.info_hash.0.cmp(&b.info_hash.0))
    });
    swarms.truncate(n);
}
