//! A peer as a sorted-set member: its address bytes and big-endian port.
//!
//! The member is the swarm key (address, port), so a second announce from the
//! same address and port replaces the first whatever its peer id; the peer id
//! is kept beside it in a hash. The length tells the family: 6 bytes for
//! IPv4, 18 for IPv6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::protocol::{Peer, PeerId};

pub fn encode(ip: IpAddr, port: u16) -> Vec<u8> {
    let mut out = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    out.extend_from_slice(&port.to_be_bytes());
    out
}

/// The peer a member and its stored peer id stand for; `None` for anything
/// that is not one (a member whose id vanished, or bytes from elsewhere).
pub fn decode(member: &[u8], id: &[u8]) -> Option<Peer> {
    let id = PeerId::from_slice(id).ok()?;
    let (addr, port) = member.split_at_checked(member.len().checked_sub(2)?)?;
    let ip = match addr.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(addr).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(addr).ok()?)),
        _ => return None,
    };
    let port = u16::from_be_bytes([port[0], port[1]]);
    Some(Peer {
        id: Some(id),
        ip,
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_families_and_rejects_junk() {
        for ip in ["10.1.2.3", "2001:db8::7"] {
            let ip: IpAddr = ip.parse().unwrap();
            let m = encode(ip, 6881);
            let peer = decode(&m, &[5; 20]).unwrap();
            assert_eq!(
                (peer.ip, peer.port, peer.id),
                (ip, 6881, Some(PeerId([5; 20])))
            );
        }
        assert_eq!(encode("10.1.2.3".parse().unwrap(), 0x1ae1).len(), 6);
        assert!(decode(&[1, 2, 3, 4, 5], &[5; 20]).is_none());
        assert!(decode(&encode("10.1.2.3".parse().unwrap(), 1), b"").is_none());
    }
}
