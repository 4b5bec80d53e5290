//! `swarm:`: how swarms hand out peers and whom they record, for trackers
//! whose clients do not follow BitTorrent's seeder/leecher model.
//!
//! Not a Go chihaya key (Go chihaya ignores it). It exists for LBRY: lbry-sdk
//! announces every blob it holds with `left=0` and `event=completed`, so all
//! its peers are seeders, and a client that only wants peers announces with
//! port 0. Under the usual rule (seeders are handed only leechers) LBRY peers
//! never learn of each other, and every codec refuses port 0. The section
//! lives at the top level rather than under `udp:` because it is swarm
//! policy: the HTTP and UDP frontends turn it into the same
//! [`PeerSelection`] on every announce.

use serde::{Deserialize, Serialize};

use crate::protocol::PeerSelection;

/// The `swarm:` section. The defaults are plain BitTorrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmConfig {
    /// Seeders are handed seeders too (after the leechers), never themselves.
    pub all_peers: bool,
    /// Announces from a port below this are answered (peers and counts) but
    /// never recorded: "query only". 0 (the default) turns this off, and port
    /// 0 is then refused as `invalid port`; 1 makes port-0 announces queries.
    pub query_only_below_port: u16,
}

impl SwarmConfig {
    /// Plain BitTorrent: what an absent `swarm:` section means.
    pub const DEFAULT: SwarmConfig = SwarmConfig {
        all_peers: false,
        query_only_below_port: 0,
    };

    /// Whether a codec takes this port. Port 0 names no listening socket, so
    /// it is only valid when such announces are queries and never handed out.
    pub fn accepts_port(&self, port: u16) -> bool {
        port != 0 || self.query_only_below_port > 0
    }

    /// The selection an announce from `port` starts with (hooks may add to it).
    pub fn selection(&self, port: u16) -> PeerSelection {
        PeerSelection {
            all_peers: self.all_peers,
            prefer_subnet: None,
            query_only: port < self.query_only_below_port,
        }
    }
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_plain_bittorrent() {
        let plain = SwarmConfig::default();
        assert!(
            !plain.accepts_port(0),
            "port 0 must stay invalid by default"
        );
        assert!(plain.accepts_port(1));
        assert_eq!(plain.selection(6881), PeerSelection::default());
        assert_eq!(plain.selection(1), PeerSelection::default());
    }

    #[test]
    fn ports_below_the_threshold_are_queries() {
        let lbry = SwarmConfig {
            all_peers: true,
            query_only_below_port: 1,
        };
        assert!(lbry.accepts_port(0));
        let query = lbry.selection(0);
        assert!(query.query_only && query.all_peers && query.prefer_subnet.is_none());
        assert!(!lbry.selection(1).query_only, "port 1 is a real port");
        let privileged = SwarmConfig {
            all_peers: false,
            query_only_below_port: 1024,
        };
        assert!(privileged.selection(1023).query_only);
        assert!(!privileged.selection(1024).query_only);
        assert!(!privileged.selection(1023).all_peers);
    }
}
