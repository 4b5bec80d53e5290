//! Stateless UDP connection IDs (BEP 15).
//!
//! A connection ID proves the client can receive at its source address, so
//! the tracker never answers a spoofed announce or scrape (UDP's amplification
//! problem). Instead of remembering IDs it hands out, the tracker makes them
//! verifiable: 4 bytes of issue time (unix seconds) followed by 4 bytes of a
//! SipHash MAC over (time, client IP) under a secret key. Nothing is stored,
//! so there is nothing to expire, lock or exhaust.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use siphasher::sip::SipHasher24;
use siphasher::sip128::SipHasher24 as SipHasher128;

use crate::protocol::canonical_ip;

/// Issues and checks connection IDs. Times are unix seconds, passed in so
/// tests can move the clock.
#[derive(Clone, Debug)]
pub struct ConnectionIds {
    mac: SipHasher24,
    /// Seconds an ID is good for after issue, skew allowance included.
    max_age: i64,
    /// Seconds an ID's time may lie in the future (another instance's clock).
    max_skew: i64,
}

impl ConnectionIds {
    /// Keys the MAC from `private_key` so several instances sharing a key accept
    /// each other's IDs. An empty key gets a random one: IDs then stop working
    /// across restarts and instances, which the operator should know about.
    pub fn new(private_key: &str, lifetime: Duration, max_clock_skew: Duration) -> Self {
        let key = if private_key.is_empty() {
            tracing::warn!(
                "udp.private_key is empty: using a random key; connection IDs will not \
                 survive a restart or be accepted by other instances"
            );
            rand::random()
        } else {
            derive_key(private_key)
        };
        Self::with_key(key, lifetime, max_clock_skew)
    }

    pub fn with_key(key: [u8; 16], lifetime: Duration, max_clock_skew: Duration) -> Self {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
        ConnectionIds {
            mac: SipHasher24::new_with_key(&key),
            max_age: secs(lifetime).saturating_add(secs(max_clock_skew)),
            max_skew: secs(max_clock_skew),
        }
    }

    /// A new ID for a client at `ip`, issued at `now`.
    pub fn issue(&self, ip: IpAddr, now: u32) -> u64 {
        (u64::from(now) << 32) | u64::from(self.tag(now, ip))
    }

    /// Whether `id` was issued by this key to `ip` and is still (or already) valid at `now`.
    pub fn verify(&self, id: u64, ip: IpAddr, now: u32) -> bool {
        let issued = (id >> 32) as u32;
        let age = i64::from(now) - i64::from(issued);
        let fresh = age <= self.max_age && age >= -self.max_skew;
        let authentic = constant_time_eq(self.tag(issued, ip), id as u32);
        fresh & authentic
    }

    fn tag(&self, time: u32, ip: IpAddr) -> u32 {
        let mut input = [0u8; 20];
        input[..4].copy_from_slice(&time.to_be_bytes());
        let len = match canonical_ip(ip) {
            IpAddr::V4(v4) => {
                input[4..8].copy_from_slice(&v4.octets());
                8
            }
            IpAddr::V6(v6) => {
                input[4..20].copy_from_slice(&v6.octets());
                20
            }
        };
        self.mac.hash(&input[..len]) as u32
    }
}

/// 128 key bits from an operator's passphrase of any length. The fixed
/// hashing key only separates this use from any other hash of the same text.
fn derive_key(private_key: &str) -> [u8; 16] {
    SipHasher128::new_with_key(b"chihaya udp cid\0")
        .hash(private_key.as_bytes())
        .as_bytes()
}

/// Compares without an early exit, so response timing does not reveal how
/// many bytes of a forged tag were right.
fn constant_time_eq(a: u32, b: u32) -> bool {
    let diff = a
        .to_ne_bytes()
        .iter()
        .zip(b.to_ne_bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `time` in unix seconds as connection IDs carry it.
pub fn unix_secs(time: SystemTime) -> u32 {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    secs as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u32 = 1_700_000_000;

    fn ids(key: &str) -> ConnectionIds {
        ConnectionIds::new(key, Duration::from_secs(120), Duration::from_secs(10))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn valid_for_lifetime_plus_skew() {
        let ids = ids("secret");
        let id = ids.issue(ip("192.0.2.1"), NOW);
        assert_eq!((id >> 32) as u32, NOW, "the time leads the ID");
        for later in [0, 1, 60, 120, 130] {
            assert!(ids.verify(id, ip("192.0.2.1"), NOW + later), "+{later}s");
        }
    }

    /// `udp.connection_id_lifetime` is honoured both ways: a longer lifetime
    /// serves clients that reuse IDs (uTorrent, ~5 min), a shorter one narrows
    /// the window in which a leaked ID can be replayed.
    #[test]
    fn lifetime_is_the_configured_one() {
        let skew = Duration::from_secs(10);
        let client = ip("192.0.2.1");
        for lifetime in [30, 120, 600] {
            let ids = ConnectionIds::new("secret", Duration::from_secs(lifetime), skew);
            let id = ids.issue(client, NOW);
            let last_good = NOW + lifetime as u32 + 10;
            assert!(ids.verify(id, client, last_good), "lifetime {lifetime}s");
            assert!(
                !ids.verify(id, client, last_good + 1),
                "lifetime {lifetime}s"
            );
        }
    }

    #[test]
    fn expired() {
        let ids = ids("secret");
        let id = ids.issue(ip("192.0.2.1"), NOW);
        assert!(!ids.verify(id, ip("192.0.2.1"), NOW + 131));
        assert!(!ids.verify(id, ip("192.0.2.1"), NOW + 100_000));
    }

    #[test]
    fn future_within_skew_only() {
        let ids = ids("secret");
        let id = ids.issue(ip("2001:db8::1"), NOW + 10);
        assert!(ids.verify(id, ip("2001:db8::1"), NOW));
        let id = ids.issue(ip("2001:db8::1"), NOW + 11);
        assert!(!ids.verify(id, ip("2001:db8::1"), NOW));
    }

    #[test]
    fn wrong_ip() {
        let ids = ids("secret");
        let id = ids.issue(ip("192.0.2.1"), NOW);
        assert!(!ids.verify(id, ip("192.0.2.2"), NOW));
        assert!(
            !ids.verify(id, ip("::c000:201"), NOW),
            "not the same as a v6 address"
        );
        let id6 = ids.issue(ip("2001:db8::1"), NOW);
        assert!(!ids.verify(id6, ip("2001:db8::2"), NOW));
    }

    #[test]
    fn mapped_ipv4_is_the_same_client() {
        let ids = ids("secret");
        let id = ids.issue(ip("::ffff:192.0.2.1"), NOW);
        assert!(ids.verify(id, ip("192.0.2.1"), NOW));
    }

    #[test]
    fn wrong_key() {
        let id = ids("secret").issue(ip("192.0.2.1"), NOW);
        assert!(!ids("other").verify(id, ip("192.0.2.1"), NOW));
        assert!(
            ids("secret").verify(id, ip("192.0.2.1"), NOW),
            "same key, same verdict"
        );
        assert!(!ids("").verify(id, ip("192.0.2.1"), NOW), "random key");
    }

    #[test]
    fn tampered() {
        let ids = ids("secret");
        let id = ids.issue(ip("192.0.2.1"), NOW);
        for bit in 0..64 {
            assert!(
                !ids.verify(id ^ (1 << bit), ip("192.0.2.1"), NOW),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn clock_is_sane() {
        assert!(unix_secs(SystemTime::now()) > NOW);
    }
}
