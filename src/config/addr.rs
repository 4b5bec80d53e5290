//! Listen addresses written the way Go chihaya operators write them.
//!
//! `""` (or no value) means "this listener is off", as in Go chihaya.
//! `":6969"` means every interface; here that is the dual-stack `[::]`.
//! A hostname (`"localhost:6969"`) is resolved once, when the config is read,
//! to one address, preferring IPv4 as Go's `net.Listen` does, so the address
//! that `check-config` prints is the one the tracker binds.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Parses one listen address; `Ok(None)` is "not listening".
pub fn parse(text: &str) -> Result<Option<SocketAddr>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(addr) = text.parse() {
        return Ok(Some(addr));
    }
    let expected = "expected host:port, e.g. \"0.0.0.0:6969\", \"[::]:6969\" or \":6969\"";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("invalid address {text:?} ({expected})"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("invalid port in address {text:?} ({expected})"))?;
    if host.is_empty() {
        return Ok(Some(SocketAddr::from(([0u16; 8], port))));
    }
    resolve(host, port).map(Some)
}

/// Resolves a hostname; an IPv4 address wins over IPv6 if both exist.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host {host:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("host {host:?} has no addresses"))
}

pub fn serialize<S: Serializer>(a: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    match a {
        Some(a) => s.serialize_str(&a.to_string()),
        None => s.serialize_str(""),
    }
}

/// Parsed inside the visitor so errors carry the key path and line.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    d.deserialize_any(AddrVisitor)
}

struct AddrVisitor;

impl Visitor<'_> for AddrVisitor {
    type Value = Option<SocketAddr>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a listen address such as \"0.0.0.0:6969\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> String {
        parse(text).unwrap().unwrap().to_string()
    }

    #[test]
    fn literal_addresses() {
        assert_eq!(ok("0.0.0.0:6969"), "0.0.0.0:6969");
        assert_eq!(ok("[::]:6969"), "[::]:6969");
        assert_eq!(ok("[::1]:1"), "[::1]:1");
        assert_eq!(ok(" 127.0.0.1:80 "), "127.0.0.1:80");
    }

    #[test]
    fn empty_is_off_and_bare_port_is_every_interface() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(ok(":6969"), "[::]:6969");
    }

    #[test]
    fn hostnames_resolve_preferring_ipv4() {
        assert_eq!(ok("localhost:6969"), "127.0.0.1:6969");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = parse("6969").unwrap_err();
        assert!(e.starts_with("invalid address \"6969\""), "{e}");
        let e = parse("0.0.0.0:http").unwrap_err();
        assert!(
            e.starts_with("invalid port in address \"0.0.0.0:http\""),
            "{e}"
        );
        let e = parse("0.0.0.0:70000").unwrap_err();
        assert!(e.starts_with("invalid port"), "{e}");
        let e = parse("no-such-host.invalid:6969").unwrap_err();
        assert!(
            e.starts_with("cannot resolve host \"no-such-host.invalid\""),
            "{e}"
        );
    }
}
