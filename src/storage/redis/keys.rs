//! Where each piece of a swarm lives in Redis.
//!
//! Torrents are grouped into 256 buckets by the first byte of their info hash,
//! and the bucket is the hash tag: `{prefix:ab}:<info hash hex>:4s`. So
//!
//! - every key one announce touches (the torrent's four peer sets, its peer
//!   ids, its snatch count, and its bucket's index and totals) is in one
//!   cluster slot, and the announce is one script on one node (Go chihaya's
//!   Redis store spreads them over slots and fails on a cluster);
//! - garbage collection and stats walk 256 buckets, each on its own node,
//!   without SCANning the keyspace, and stats cost 256 small reads however
//!   many torrents there are.
//!
//! 256 buckets spread over up to 16384 slots: enough for any cluster size in
//! practice. Info hashes are chosen by clients, so the buckets may be uneven;
//! that can load one node more than others but costs no more per request.

use std::net::IpAddr;

use crate::protocol::InfoHash;

/// How many buckets the torrents are spread over.
pub const BUCKETS: u16 = 256;

/// The key names of one tracker's store (one `redis_key_prefix`).
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

/// The keys of one torrent, in the order the announce script takes them.
pub struct TorrentKeys {
    /// The index member: the info hash in hex.
    pub id: String,
    /// Seeders and leechers of the announcer's family, then of the other one.
    pub mine: [String; 2],
    pub other: [String; 2],
    pub ids: String,
    pub snatches: String,
    pub index: String,
    pub totals: String,
}

impl TorrentKeys {
    /// The four sorted sets in the order every script takes them as its
    /// first keys: the announcer's family's seeders and leechers, then the
    /// other family's.
    pub fn swarms(&self) -> [&str; 4] {
        [&self.mine[0], &self.mine[1], &self.other[0], &self.other[1]]
    }
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    /// `{prefix:ab}:` for bucket 0xab: every key of the bucket starts with it.
    pub fn bucket_base(&self, bucket: u8) -> String {
        format!("{{{}:{bucket:02x}}}:", self.prefix)
    }

    pub fn index(&self, bucket: u8) -> String {
        format!("{}torrents", self.bucket_base(bucket))
    }

    pub fn totals(&self, bucket: u8) -> String {
        format!("{}totals", self.bucket_base(bucket))
    }

    /// The keys an announce from `ip` to `hash` touches.
    pub fn torrent(&self, hash: &InfoHash, ip: IpAddr) -> TorrentKeys {
        let bucket = hash.0[0];
        let id = hash.to_hex();
        let base = format!("{}{id}", self.bucket_base(bucket));
        let family = |f: char| [format!("{base}:{f}s"), format!("{base}:{f}l")];
        let (mine, other) = match ip {
            IpAddr::V4(_) => (family('4'), family('6')),
            IpAddr::V6(_) => (family('6'), family('4')),
        };
        TorrentKeys {
            ids: format!("{base}:id"),
            snatches: format!("{base}:d"),
            index: self.index(bucket),
            totals: self.totals(bucket),
            id,
            mine,
            other,
        }
    }
}

/// The info hash an index member (`TorrentKeys::id`, 40 hex digits) names;
/// `None` for anything else.
pub fn info_hash_of(id: &str) -> Option<InfoHash> {
    let bytes = id.as_bytes();
    if bytes.len() != 40 {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut hash = [0u8; 20];
    for (out, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
        *out = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(InfoHash(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis hashes only what is between the first `{` and the next `}`.
    fn hash_tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        &key[open + 1..close]
    }

    #[test]
    fn every_key_of_an_announce_shares_the_bucket_tag() {
        let keys = Keys::new("chihaya");
        let mut hash = InfoHash([7; 20]);
        hash.0[0] = 0xab;
        let t = keys.torrent(&hash, "10.0.0.1".parse().unwrap());
        let all = [
            &t.mine[0],
            &t.mine[1],
            &t.other[0],
            &t.other[1],
            &t.ids,
            &t.snatches,
            &t.index,
            &t.totals,
        ];
        for key in all {
            assert_eq!(hash_tag(key), "chihaya:ab", "{key}");
        }
        assert!(t.mine[0].ends_with(":4s") && t.other[1].ends_with(":6l"));
        let v6 = keys.torrent(&hash, "2001:db8::1".parse().unwrap());
        assert!(v6.mine[0].ends_with(":6s") && v6.other[0].ends_with(":4s"));
        assert_eq!(t.mine[0], format!("{}{}:4s", keys.bucket_base(0xab), t.id));
    }

    #[test]
    fn an_index_member_names_its_info_hash() {
        let mut hash = InfoHash([0x5c; 20]);
        hash.0[19] = 0x0f;
        assert_eq!(info_hash_of(&hash.to_hex()), Some(hash));
        assert_eq!(info_hash_of("5c"), None);
        assert_eq!(info_hash_of(&"zz".repeat(20)), None);
        assert_eq!(info_hash_of(&"+1".repeat(20)), None, "hex digits only");
    }
}
