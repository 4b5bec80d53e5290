//! Requests for the hooks' and the chain's unit tests.

use std::net::IpAddr;

use crate::protocol::{AnnounceRequest, Event, InfoHash, Params, PeerId, PeerSelection};

/// A leecher's announce of a fixed torrent from 10.0.0.1:6881.
pub fn announce(peer_id: PeerId) -> AnnounceRequest {
    announce_from(peer_id, "10.0.0.1".parse().unwrap(), 6881)
}

pub fn announce_from(peer_id: PeerId, ip: IpAddr, port: u16) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([7; 20]),
        peer_id,
        ip,
        port,
        uploaded: 0,
        downloaded: 0,
        left: 100,
        event: Event::Started,
        numwant: 50,
        key: None,
        params: Params::default(),
        selection: PeerSelection::default(),
    }
}
