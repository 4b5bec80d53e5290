//! `GET /api/swarms/<info hash hex>[?limit=N]`: one swarm's counts and peers.

use hyper::StatusCode;
use serde::Serialize;

use super::reply::{ApiError, ApiResult, json};
use crate::middleware::torrent_approval::parse_hash;
use crate::storage::{FamilyView, Storage, SwarmView};

/// Peers shown per family unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 200;
/// The most `limit` may ask for: the reply stays a few hundred KiB.
pub const MAX_LIMIT: usize = 5_000;

#[derive(Serialize)]
struct Swarm {
    info_hash: String,
    seeders: u32,
    leechers: u32,
    snatches: u32,
    /// Peers shown per family at most.
    limit: usize,
    ipv4: Family,
    ipv6: Family,
}

#[derive(Serialize)]
struct Family {
    seeders: u32,
    leechers: u32,
    peers: Vec<Peer>,
}

#[derive(Serialize)]
struct Peer {
    ip: String,
    port: u16,
    /// Only from an engine that keeps peer ids (Redis; not memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_id: Option<String>,
    seeder: bool,
    /// Unix seconds.
    last_seen: u64,
}

pub async fn show(storage: &Storage, hex: &str, query: Option<&str>) -> ApiResult {
    let hash = parse_hash(hex).map_err(|e| ApiError::bad_request(format!("info_hash: {e}")))?;
    let limit = limit(query)?;
    match storage.swarm(&hash, limit).await {
        Ok(Some(view)) => Ok(json(StatusCode::OK, &swarm(view, limit))),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no peers in the swarm of {hash}"),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
    }
}

/// `limit=N` from the query, 1 to [`MAX_LIMIT`]; other parameters are refused
/// so a typo does not silently fall back to the default.
fn limit(query: Option<&str>) -> Result<usize, ApiError> {
    let mut limit = DEFAULT_LIMIT;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "limit" {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {key:?}; only \"limit\" is known"
            )));
        }
        limit = value
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit: {value:?} is not a whole number from 1 to {MAX_LIMIT}"
                ))
            })?;
    }
    Ok(limit)
}

fn swarm(view: SwarmView, limit: usize) -> Swarm {
    Swarm {
        info_hash: view.info_hash.to_hex(),
        seeders: view.seeders(),
        leechers: view.leechers(),
        snatches: view.snatches,
        limit,
        ipv4: family(view.ipv4),
        ipv6: family(view.ipv6),
    }
}

fn family(view: FamilyView) -> Family {
    Family {
        seeders: view.seeders,
        leechers: view.leechers,
        peers: view
            .peers
            .into_iter()
            .map(|p| Peer {
                ip: p.ip.to_string(),
                port: p.port,
                peer_id: p.peer_id.map(|id| id.to_hex()),
                seeder: p.seeder,
                last_seen: p.last_seen,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_is_bounded() {
        assert_eq!(limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(limit(Some("limit=3")), Ok(3));
        for bad in ["limit=0", "limit=x", "limit=5001", "limt=3"] {
            let err = limit(Some(bad)).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        assert!(
            limit(Some("limt=3"))
                .unwrap_err()
                .message
                .contains("\"limt\"")
        );
    }
}
