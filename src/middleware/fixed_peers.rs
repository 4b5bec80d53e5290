//! `fixed peers` (from the LBRY fork): peers handed out in every announce
//! reply, such as an operator's own always-on seeders.
//!
//! ```yaml
//! - name: "fixed peers"
//!   options:
//!     fixed_peers: ["203.0.113.7:4444", "[2001:db8::7]:4444"]
//! ```
//!
//! A reply gets the fixed peers of the announcer's address family (swarms are
//! separated by family, so an IPv4 client is never handed an IPv6 peer), never
//! one already in the reply and never the announcer itself. Each peer added
//! counts as a seeder of that reply (`complete` grows by the number added):
//! a fixed peer is there to serve the content. Announces that want no peers
//! (`numwant=0`, as `stopped` announces send) get none and no extra count.
//! Scrapes are unchanged: they report the swarm as clients built it.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::hook::Hook;
use super::options;
use crate::protocol::{AnnounceRequest, AnnounceResponse, ClientError, Peer, canonical_ip};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    fixed_peers: Vec<String>,
}

/// The hook.
#[derive(Debug)]
pub struct FixedPeers {
    /// In configured order; canonical addresses, no duplicates, no port 0.
    peers: Vec<Peer>,
}

impl FixedPeers {
    pub fn new(options: &Value) -> Result<FixedPeers, String> {
        let o: Options = options::parse(options)?;
        if o.fixed_peers.is_empty() {
            return Err("fixed_peers is empty".into());
        }
        let mut peers: Vec<Peer> = Vec::with_capacity(o.fixed_peers.len());
        for (i, entry) in o.fixed_peers.iter().enumerate() {
            let peer = parse_peer(entry).map_err(|e| format!("fixed_peers[{i}]: {e}"))?;
            if peers.iter().any(|p| same_address(p, &peer)) {
                return Err(format!("fixed_peers[{i}]: {entry:?} is listed twice"));
            }
            peers.push(peer);
        }
        Ok(FixedPeers { peers })
    }
}

/// `ip:port`, with IPv6 in brackets (`[::1]:4444`). Such peers have no
/// peer_id of their own; non-compact replies leave `peer id` out.
fn parse_peer(entry: &str) -> Result<Peer, String> {
    let addr: SocketAddr = entry
        .parse()
        .map_err(|_| format!("{entry:?} is not ip:port (IPv6 as [addr]:port)"))?;
    if addr.port() == 0 {
        return Err(format!("{entry:?} has port 0"));
    }
    Ok(Peer {
        id: None,
        ip: canonical_ip(addr.ip()),
        port: addr.port(),
    })
}

fn same_address(a: &Peer, b: &Peer) -> bool {
    a.ip == b.ip && a.port == b.port
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

impl Hook for FixedPeers {
    fn name(&self) -> &'static str {
        "fixed peers"
    }

    /// After the swarm has answered, so a fixed peer that also announces is
    /// not handed out twice.
    fn after_announce(
        &self,
        req: &AnnounceRequest,
        resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        if req.numwant == 0 {
            return Ok(());
        }
        let announcer = req.peer();
        for fixed in &self.peers {
            let wanted = same_family(fixed.ip, req.ip)
                && !same_address(fixed, &announcer)
                && !resp.peers.iter().any(|p| same_address(p, fixed));
            if wanted {
                resp.peers.push(*fixed);
                resp.complete = resp.complete.saturating_add(1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing;
    use crate::protocol::PeerId;

    fn hook(text: &str) -> Result<FixedPeers, String> {
        FixedPeers::new(&serde_yaml_ng::from_str(text).unwrap())
    }

    fn peer(addr: &str) -> Peer {
        parse_peer(addr).unwrap()
    }

    fn reply_to(h: &FixedPeers, ip: &str, port: u16, resp: AnnounceResponse) -> AnnounceResponse {
        let req = testing::announce_from(PeerId([9; 20]), ip.parse().unwrap(), port);
        let mut resp = resp;
        h.after_announce(&req, &mut resp).unwrap();
        resp
    }

    const BOTH: &str =
        "fixed_peers: [\"192.0.2.1:4444\", \"[2001:db8::1]:4444\", \"192.0.2.2:5555\"]";

    #[test]
    fn each_family_gets_its_own_fixed_peers_counted_as_seeders() {
        let h = hook(BOTH).unwrap();
        let v4 = reply_to(&h, "10.0.0.1", 6881, AnnounceResponse::default());
        assert_eq!(v4.peers, [peer("192.0.2.1:4444"), peer("192.0.2.2:5555")]);
        assert_eq!((v4.complete, v4.incomplete), (2, 0));
        let v6 = reply_to(&h, "2001:db8::99", 6881, AnnounceResponse::default());
        assert_eq!(v6.peers, [peer("[2001:db8::1]:4444")]);
        assert_eq!(v6.complete, 1);
    }

    #[test]
    fn never_a_duplicate_and_never_the_announcer() {
        let h = hook(BOTH).unwrap();
        let already = Peer {
            id: Some(PeerId([5; 20])),
            ..peer("192.0.2.2:5555")
        };
        let swarm = AnnounceResponse {
            complete: 1,
            incomplete: 1,
            peers: vec![already],
            ..Default::default()
        };
        // The announcer is the first fixed peer, and the second already came from the swarm.
        let resp = reply_to(&h, "192.0.2.1", 4444, swarm);
        assert_eq!(resp.peers, [already]);
        assert_eq!((resp.complete, resp.incomplete), (1, 1));
    }

    #[test]
    fn announces_wanting_no_peers_get_none() {
        let h = hook(BOTH).unwrap();
        let mut req = testing::announce_from(PeerId([9; 20]), "10.0.0.1".parse().unwrap(), 1);
        req.numwant = 0;
        let mut resp = AnnounceResponse::default();
        h.after_announce(&req, &mut resp).unwrap();
        assert_eq!(resp, AnnounceResponse::default());
    }

    #[test]
    fn mapped_ipv6_entries_are_ipv4_peers() {
        let h = hook("fixed_peers: [\"[::ffff:192.0.2.9]:4444\"]").unwrap();
        let resp = reply_to(&h, "10.0.0.1", 6881, AnnounceResponse::default());
        assert_eq!(resp.peers, [peer("192.0.2.9:4444")]);
    }

    #[test]
    fn bad_entries_are_named() {
        let err = |text| hook(text).unwrap_err();
        assert_eq!(
            err("fixed_peers: [\"192.0.2.1:4444\", \"192.0.2.1\"]"),
            "fixed_peers[1]: \"192.0.2.1\" is not ip:port (IPv6 as [addr]:port)"
        );
        assert_eq!(
            err("fixed_peers: [\"::1:4444\"]"),
            "fixed_peers[0]: \"::1:4444\" is not ip:port (IPv6 as [addr]:port)"
        );
        assert_eq!(
            err("fixed_peers: [\"192.0.2.1:0\"]"),
            "fixed_peers[0]: \"192.0.2.1:0\" has port 0"
        );
        assert_eq!(
            err("fixed_peers: [\"192.0.2.1:1\", \"192.0.2.1:1\"]"),
            "fixed_peers[1]: \"192.0.2.1:1\" is listed twice"
        );
        assert_eq!(err("fixed_peers: []"), "fixed_peers is empty");
        assert!(err("{}").contains("missing field `fixed_peers`"));
        assert!(err("fixed_peers: [\"192.0.2.1:1\"]\npeers: []").contains("unknown field `peers`"));
    }
}
