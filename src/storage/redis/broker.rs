//! `redis_broker`: where Redis is, in the URL forms Go chihaya and redis-rs read.

use std::fmt;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

/// A parsed broker URL. Displayed without its password, so it can name the
/// broker in logs and error messages.
#[derive(Clone, Debug)]
pub struct Broker {
    pub info: ConnectionInfo,
}

impl Broker {
    /// Reads `redis://[user:pass@]host:port/db`, `rediss://…` (TLS),
    /// `unix:///path?db=N&pass=P`, and Go chihaya's
    /// `redis-socket://[pass@]/path?db=N`.
    pub fn parse(url: &str) -> Result<Broker, String> {
        let info = match url.strip_prefix("redis-socket://") {
            Some(rest) => go_socket(rest)?,
            None => url
                .into_connection_info()
                .map_err(|e| format!("invalid broker URL {:?}: {e}", redact(url)))?,
        };
        Ok(Broker { info })
    }
}

/// `[pass@]/path?db=N`, Go chihaya's Unix socket form.
fn go_socket(rest: &str) -> Result<ConnectionInfo, String> {
    let (password, path) = match rest.rsplit_once('@') {
        Some((pass, path)) => (Some(pass), path),
        None => (None, rest),
    };
    if !path.starts_with('/') {
        return Err(format!(
            "invalid broker URL: redis-socket:// needs an absolute socket path, got {path:?}"
        ));
    }
    let info = format!("unix://{path}")
        .into_connection_info()
        .map_err(|e| format!("invalid broker URL redis-socket://{path}: {e}"))?;
    Ok(match password {
        Some(p) if !p.is_empty() => {
            let settings = info.redis_settings().clone().set_password(p);
            info.set_redis_settings(settings)
        }
        _ => info,
    })
}

/// The URL with any password replaced, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = self.info.redis_settings().db();
        match self.info.addr() {
            ConnectionAddr::Tcp(host, port) => write!(f, "redis://{host}:{port}/{db}"),
            ConnectionAddr::TcpTls { host, port, .. } => write!(f, "rediss://{host}:{port}/{db}"),
            ConnectionAddr::Unix(path) => write!(f, "unix://{}?db={db}", path.display()),
            other => write!(f, "{other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form_and_hides_passwords() {
        let b = Broker::parse("redis://user:secret@10.0.0.5:6380/3").unwrap();
        assert_eq!(b.to_string(), "redis://10.0.0.5:6380/3");
        assert_eq!(b.info.redis_settings().password(), Some("secret"));
        let b = Broker::parse("rediss://cache.example:6379/0").unwrap();
        assert_eq!(b.to_string(), "rediss://cache.example:6379/0");
        let b = Broker::parse("unix:///run/redis.sock?db=2").unwrap();
        assert_eq!(b.to_string(), "unix:///run/redis.sock?db=2");
        let b = Broker::parse("redis-socket://pw@/run/redis.sock?db=1").unwrap();
        assert_eq!(b.to_string(), "unix:///run/redis.sock?db=1");
        assert_eq!(b.info.redis_settings().password(), Some("pw"));
    }

    #[test]
    fn refuses_nonsense_without_leaking_the_password() {
        let e = Broker::parse("http://user:secret@host/").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(Broker::parse("redis-socket://pw@relative.sock").is_err());
    }
}
