//! The `prefer subnet` hook: peers near the announcer come first.
//!
//! Peers on the announcer's own network (the same /24, the same /64) are
//! usually the fastest and cheapest to reach: a campus, an ISP, a data centre.
//! The hook only marks the request; the storage engine applies the preference
//! while it walks the swarm, so neighbours come first and everyone else still
//! fills the rest of `numwant` (see
//! [`PeerSelection::prefer_subnet`](crate::protocol::PeerSelection)).
//!
//! ```yaml
//! prehooks:
//!   - name: prefer subnet
//!     options:
//!       ipv4_prefix_len: 24
//!       ipv6_prefix_len: 64
//! ```

use serde::Deserialize;

use super::hook::Hook;
use crate::protocol::{AnnounceRequest, AnnounceResponse, ClientError};

/// How many leading address bits make two peers neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreferSubnet {
    ipv4_prefix_len: u8,
    ipv6_prefix_len: u8,
}

/// The hook's `options:`. Defaults: a /24 for IPv4 (the usual LAN or
/// customer block) and a /64 for IPv6 (one subnet; RFC 4291 fixes it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Options {
    ipv4_prefix_len: u8,
    ipv6_prefix_len: u8,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ipv4_prefix_len: 24,
            ipv6_prefix_len: 64,
        }
    }
}

impl PreferSubnet {
    /// Reads the hook's options; an error names the key at fault (the chain
    /// adds which hook, so the text does not repeat it). Absent
    /// options (`options:` left out or empty) take the defaults.
    pub fn new(options: &serde_yaml_ng::Value) -> Result<PreferSubnet, String> {
        let options: Options = match options {
            serde_yaml_ng::Value::Null => Options::default(),
            // Through text, because `from_value` errors lose the key's name.
            value => serde_yaml_ng::to_string(value)
                .and_then(|text| serde_yaml_ng::from_str(&text))
                .map_err(|e| e.to_string())?,
        };
        check("ipv4_prefix_len", options.ipv4_prefix_len, 32)?;
        check("ipv6_prefix_len", options.ipv6_prefix_len, 128)?;
        Ok(PreferSubnet {
            ipv4_prefix_len: options.ipv4_prefix_len,
            ipv6_prefix_len: options.ipv6_prefix_len,
        })
    }
}

fn check(key: &str, value: u8, max: u8) -> Result<(), String> {
    if value > max {
        return Err(format!(
            "{key}: {value} is longer than an address ({max} bits)"
        ));
    }
    Ok(())
}

impl Hook for PreferSubnet {
    fn name(&self) -> &'static str {
        "prefer subnet"
    }

    fn before_announce(
        &self,
        req: &mut AnnounceRequest,
        _resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        req.selection.prefer_subnet = Some((self.ipv4_prefix_len, self.ipv6_prefix_len));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::protocol::{Event, InfoHash, Params, PeerId, PeerSelection};

    fn yaml(text: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([1; 20]),
            peer_id: PeerId([2; 20]),
            ip: "10.0.0.1".parse::<IpAddr>().unwrap(),
            port: 6881,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: Event::Completed,
            numwant: 50,
            key: None,
            params: Params::default(),
            selection: PeerSelection {
                all_peers: true,
                prefer_subnet: None,
                query_only: true,
            },
        }
    }

    #[test]
    fn sets_the_preference_and_keeps_the_rest_of_the_selection() {
        let hook = PreferSubnet::new(&yaml("{ipv4_prefix_len: 16, ipv6_prefix_len: 48}")).unwrap();
        assert_eq!(hook.name(), "prefer subnet");
        let mut req = request();
        hook.before_announce(&mut req, &mut AnnounceResponse::default())
            .unwrap();
        assert_eq!(
            req.selection,
            PeerSelection {
                all_peers: true,
                prefer_subnet: Some((16, 48)),
                query_only: true,
            }
        );
        assert_eq!(req.port, 6881, "nothing else of the request changes");
    }

    #[test]
    fn absent_options_take_the_defaults() {
        for options in [
            serde_yaml_ng::Value::Null,
            yaml("{}"),
            yaml("{ipv4_prefix_len: 24}"),
        ] {
            let hook = PreferSubnet::new(&options).unwrap();
            assert_eq!((hook.ipv4_prefix_len, hook.ipv6_prefix_len), (24, 64));
        }
    }

    #[test]
    fn whole_addresses_and_zero_are_allowed() {
        let hook = PreferSubnet::new(&yaml("{ipv4_prefix_len: 32, ipv6_prefix_len: 128}")).unwrap();
        assert_eq!((hook.ipv4_prefix_len, hook.ipv6_prefix_len), (32, 128));
        let hook = PreferSubnet::new(&yaml("{ipv4_prefix_len: 0, ipv6_prefix_len: 0}")).unwrap();
        assert_eq!((hook.ipv4_prefix_len, hook.ipv6_prefix_len), (0, 0));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("{ipv4_prefix_len: 33}", "ipv4_prefix_len: 33 is longer"),
            ("{ipv6_prefix_len: 129}", "ipv6_prefix_len: 129 is longer"),
            ("{ipv4_prefix_len: 300}", "ipv4_prefix_len"),
            ("{ipv6_prefix_len: -1}", "ipv6_prefix_len"),
            ("{ipv4_prefix_len: \"24\"}", "ipv4_prefix_len"),
            ("{ipv4_prefix: 24}", "unknown field `ipv4_prefix`"),
            ("[24, 64]", "invalid type: sequence"),
        ];
        for (options, needle) in cases {
            let err = PreferSubnet::new(&yaml(options)).unwrap_err();
            assert!(err.contains(needle), "{options}: {err:?} lacks {needle:?}");
        }
    }
}
