//! `interval variation`: lengthen some clients' announce interval a little,
//! so clients that started together (after a restart, a popular release) do
//! not keep announcing together.
//!
//! ```yaml
//! - name: "interval variation"
//!   options:
//!     modify_response_probability: 0.2   # in (0, 1]
//!     max_increase_delta: 60             # seconds, > 0
//!     modify_min_interval: true          # default false
//! ```
//!
//! Go chihaya draws at random on every announce. Here the draw is a keyed
//! hash of (info hash, peer_id, ip, port), so one client on one torrent sees
//! the same interval every time (a client that is told a different interval
//! at each announce cannot plan), while across clients the share modified is
//! the configured probability and the delta is spread evenly over
//! `1..=max_increase_delta`. The key is random per process and kept across
//! reloads, so clients cannot aim for a short interval.

use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_yaml_ng::Value;
use siphasher::sip128::{Hasher128, SipHasher13};

use super::hook::Hook;
use super::options;
use crate::protocol::{AnnounceRequest, AnnounceResponse, ClientError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    modify_response_probability: f64,
    max_increase_delta: u32,
    #[serde(default)]
    modify_min_interval: bool,
}

/// The hook.
#[derive(Debug)]
pub struct IntervalVariation {
    /// Announces whose draw is below this (out of 2^64) are modified.
    threshold: u128,
    max_increase_delta: u32,
    modify_min_interval: bool,
}

/// One key per process, so a reload does not change everyone's interval.
fn process_key() -> &'static [u8; 16] {
    static KEY: OnceLock<[u8; 16]> = OnceLock::new();
    KEY.get_or_init(rand::random)
}

impl IntervalVariation {
    pub fn new(options: &Value) -> Result<IntervalVariation, String> {
        let o: Options = options::parse(options)?;
        let p = o.modify_response_probability;
        if !(p > 0.0 && p <= 1.0) {
            return Err(format!("modify_response_probability: {p} is not in (0, 1]"));
        }
        if o.max_increase_delta == 0 {
            return Err("max_increase_delta: must be greater than zero".into());
        }
        Ok(IntervalVariation {
            // p = 1 gives 2^64: every u64 draw is below it.
            threshold: (p * 2f64.powi(64)) as u128,
            max_increase_delta: o.max_increase_delta,
            modify_min_interval: o.modify_min_interval,
        })
    }

    /// Seconds to add for this announcer on this torrent: 0, or 1..=max.
    pub fn delta(&self, req: &AnnounceRequest) -> u32 {
        let (draw, spread) = draws(req);
        if u128::from(draw) >= self.threshold {
            return 0;
        }
        let delta = 1 + spread % u64::from(self.max_increase_delta);
        u32::try_from(delta).expect("at most max_increase_delta")
    }
}

/// Two independent 64-bit draws from one keyed 128-bit hash of the announcer.
fn draws(req: &AnnounceRequest) -> (u64, u64) {
    let key = process_key();
    let mut h = SipHasher13::new_with_key(key);
    h.write(req.info_hash.as_bytes());
    h.write(req.peer_id.as_bytes());
    match req.ip {
        IpAddr::V4(ip) => h.write(&ip.octets()),
        IpAddr::V6(ip) => h.write(&ip.octets()),
    }
    h.write(&req.port.to_be_bytes());
    let both = h.finish128();
    (both.h1, both.h2)
}

impl Hook for IntervalVariation {
    fn name(&self) -> &'static str {
        "interval variation"
    }

    fn after_announce(
        &self,
        req: &AnnounceRequest,
        resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        let delta = self.delta(req);
        resp.interval = resp.interval.saturating_add(delta);
        if self.modify_min_interval {
            resp.min_interval = resp.min_interval.saturating_add(delta);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::testing;
    use crate::protocol::PeerId;

    fn hook(text: &str) -> Result<IntervalVariation, String> {
        IntervalVariation::new(&serde_yaml_ng::from_str(text).unwrap())
    }

    /// The i-th of many distinct announcers (peer_id and port differ).
    fn announcer(i: u32) -> AnnounceRequest {
        let mut id = [b'p'; 20];
        id[..4].copy_from_slice(&i.to_be_bytes());
        let ip = "10.0.0.1".parse().unwrap();
        testing::announce_from(PeerId(id), ip, 1024 + (i % 60000) as u16)
    }

    fn answered(h: &IntervalVariation, req: &AnnounceRequest) -> AnnounceResponse {
        let mut resp = AnnounceResponse {
            interval: 1800,
            min_interval: 900,
            ..Default::default()
        };
        h.after_announce(req, &mut resp).unwrap();
        resp
    }

    #[test]
    fn one_client_always_sees_the_same_interval() {
        let h = hook("modify_response_probability: 0.5\nmax_increase_delta: 600").unwrap();
        for i in 0..50 {
            let req = announcer(i);
            let first = answered(&h, &req);
            for _ in 0..5 {
                assert_eq!(answered(&h, &req), first);
            }
            // A rebuilt hook (a reload) keeps the process key.
            let rebuilt = hook("modify_response_probability: 0.5\nmax_increase_delta: 600");
            assert_eq!(answered(&rebuilt.unwrap(), &req), first);
        }
    }

    #[test]
    fn share_modified_follows_the_probability_and_deltas_stay_in_bounds() {
        let h = hook("modify_response_probability: 0.25\nmax_increase_delta: 5").unwrap();
        let n = 4000;
        let deltas: Vec<u32> = (0..n).map(|i| h.delta(&announcer(i))).collect();
        let modified = deltas.iter().filter(|d| **d > 0).count();
        // Binomial(4000, 0.25): mean 1000, sd ~27; 6 sd either side.
        assert!((840..=1160).contains(&modified), "{modified} of {n}");
        assert!(deltas.iter().all(|d| *d <= 5));
        for value in 1..=5 {
            let seen = deltas.iter().filter(|d| **d == value).count();
            // ~200 each; far from 0 and from all of them.
            assert!(
                (100..=300).contains(&seen),
                "delta {value} seen {seen} times"
            );
        }
    }

    #[test]
    fn probability_one_modifies_every_reply_and_min_interval_only_when_asked() {
        let h = hook("modify_response_probability: 1\nmax_increase_delta: 3").unwrap();
        for i in 0..200 {
            let resp = answered(&h, &announcer(i));
            assert!((1801..=1803).contains(&resp.interval), "{resp:?}");
            assert_eq!(resp.min_interval, 900);
        }
        let both = hook(
            "modify_response_probability: 1\nmax_increase_delta: 3\nmodify_min_interval: true",
        )
        .unwrap();
        let resp = answered(&both, &announcer(7));
        assert_eq!(resp.interval - 1800, resp.min_interval - 900);
        assert!(resp.min_interval > 900);
    }

    #[test]
    fn option_errors_name_the_key() {
        let err = |text| hook(text).unwrap_err();
        assert_eq!(
            err("modify_response_probability: 0\nmax_increase_delta: 5"),
            "modify_response_probability: 0 is not in (0, 1]"
        );
        assert_eq!(
            err("modify_response_probability: 1.5\nmax_increase_delta: 5"),
            "modify_response_probability: 1.5 is not in (0, 1]"
        );
        assert_eq!(
            err("modify_response_probability: 0.5\nmax_increase_delta: 0"),
            "max_increase_delta: must be greater than zero"
        );
        assert!(
            err("max_increase_delta: 5").contains("missing field `modify_response_probability`")
        );
        assert!(
            err("modify_response_probability: 0.5\nmax_increase_delta: 5\nextra: 1")
                .contains("unknown field `extra`")
        );
    }
}
