//! One swarm as [`SwarmView`], for the admin API: one short script on the
//! torrent's node (`inspect.lua`), bounded by the peer limit.

use std::net::IpAddr;
use std::sync::LazyLock;

use redis::{Script, Value};

use super::{RedisStorage, member};
use crate::protocol::{InfoHash, PeerId};
use crate::storage::StorageError;
use crate::storage::view::{FamilyView, PeerView, SwarmView};

/// Hashed once, apart from the request-path scripts: the admin API is rare.
static INSPECT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("inspect.lua")));

impl RedisStorage {
    /// The torrent's counts and up to `limit` peers per family (seeders
    /// first); `None` when both families are empty.
    pub async fn swarm(
        &self,
        hash: &InfoHash,
        limit: usize,
    ) -> Result<Option<SwarmView>, StorageError> {
        // The family only orders the keys; v4 first is what the script expects.
        let k = self.keys.torrent(hash, IpAddr::from([0u8; 4]));
        let mut script = INSPECT.prepare_invoke();
        for swarm in k.swarms() {
            script.key(swarm);
        }
        script.key(&k.ids).key(&k.snatches).arg(limit);
        let reply: Vec<Value> = self.call(script).await?;
        let view = parse(*hash, &reply).ok_or_else(|| {
            StorageError(format!(
                "unexpected reply from the inspect script: {reply:?}"
            ))
        })?;
        Ok((view.seeders() + view.leechers() > 0).then_some(view))
    }
}

fn parse(hash: InfoHash, reply: &[Value]) -> Option<SwarmView> {
    match reply {
        [Value::Int(snatches), Value::Array(v4), Value::Array(v6)] => Some(SwarmView {
            info_hash: hash,
            snatches: u32::try_from(*snatches).ok()?,
            ipv4: family(v4)?,
            ipv6: family(v6)?,
        }),
        _ => None,
    }
}

/// `{seeders, leechers, member, last seen, peer id, seeder, ...}`.
fn family(values: &[Value]) -> Option<FamilyView> {
    let [Value::Int(seeders), Value::Int(leechers), peers @ ..] = values else {
        return None;
    };
    let peers = peers
        .chunks_exact(4)
        .map(peer)
        .collect::<Option<Vec<_>>>()?;
    Some(FamilyView {
        seeders: u32::try_from(*seeders).ok()?,
        leechers: u32::try_from(*leechers).ok()?,
        peers,
    })
}

fn peer(fields: &[Value]) -> Option<PeerView> {
    let [
        Value::BulkString(member),
        Value::BulkString(score),
        Value::BulkString(id),
        Value::Int(seeder),
    ] = fields
    else {
        return None;
    };
    // A member whose id vanished still shows, without an id.
    let decoded = member::decode(member, id).or_else(|| member::decode(member, &[0; 20]))?;
    let last_seen = std::str::from_utf8(score).ok()?.parse::<f64>().ok()? as u64;
    Some(PeerView {
        ip: decoded.ip,
        port: decoded.port,
        peer_id: PeerId::from_slice(id).ok(),
        seeder: *seeder == 1,
        last_seen,
    })
}
