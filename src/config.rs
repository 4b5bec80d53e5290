//! The YAML configuration, read the way Go chihaya reads it.
//!
//! An operator must be able to point this binary at the config file they
//! already run Go chihaya with, so the root key (`chihaya:`), the key names,
//! the duration syntax (`"30m"`, `"1m30s"`) and the defaults are Go chihaya's.
//! Where Go chihaya has no default (it sends `interval 0` when
//! `announce_interval` is missing) we pick a sane one instead.
//!
//! Unknown keys are errors that name the key: a typo must never silently fall
//! back to a default.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

mod addr;
pub mod admin;
pub mod duration;
pub mod private;
mod redis;
mod storage;
mod swarm;

pub use private::PrivateConfig;
pub use storage::{MemoryConfig, RedisConfig, StorageConfig};
pub use swarm::SwarmConfig;

/// The file as a whole: everything lives under the `chihaya:` root key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub chihaya: Config,
}

/// The tracker's configuration (the `chihaya:` block).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How often clients should announce.
    #[serde(with = "duration")]
    pub announce_interval: Duration,
    /// How often clients may announce at most.
    #[serde(with = "duration")]
    pub min_announce_interval: Duration,
    /// Where the ops server (Prometheus `/metrics`, `/stats`, the stats page,
    /// health checks) listens; empty: nowhere. Kept as text, as Go chihaya
    /// writes it; [`Config::metrics_socket_addr`] gives the address.
    pub metrics_addr: String,
    /// The bearer token of the admin API (`/api/` on `metrics_addr`);
    /// empty, with `admin_token_file` empty too: the API is off. Not in Go
    /// chihaya. Printed redacted.
    #[serde(serialize_with = "admin::redacted")]
    pub admin_token: String,
    /// A file holding that token instead (one line), so it need not sit in
    /// the YAML; read at start.
    pub admin_token_file: String,
    /// Absent: no HTTP frontend.
    pub http: Option<HttpConfig>,
    /// Absent: no UDP frontend.
    pub udp: Option<UdpConfig>,
    pub storage: StorageConfig,
    /// How peers are handed out and who is recorded (LBRY); absent: plain BitTorrent.
    #[serde(deserialize_with = "null_as_default")]
    pub swarm: SwarmConfig,
    /// Hooks run before the swarm is touched; `null` (an empty YAML key) is no hooks.
    #[serde(deserialize_with = "null_as_default")]
    pub prehooks: Vec<HookConfig>,
    /// Hooks run after the reply is decided.
    #[serde(deserialize_with = "null_as_default")]
    pub posthooks: Vec<HookConfig>,
    /// Private tracking (passkeys, accounting); absent: a public tracker.
    pub private: Option<PrivateConfig>,
}

impl Default for Config {
    /// The embedded defaults: HTTP and UDP on port 6969 (dual-stack), memory storage.
    fn default() -> Self {
        Config {
            announce_interval: Duration::from_secs(30 * 60),
            min_announce_interval: Duration::from_secs(15 * 60),
            metrics_addr: "0.0.0.0:6880".into(),
            admin_token: String::new(),
            admin_token_file: String::new(),
            http: None,
            udp: None,
            storage: StorageConfig::default(),
            swarm: SwarmConfig::default(),
            prehooks: Vec::new(),
            posthooks: Vec::new(),
            private: None,
        }
    }
}

/// The HTTP(S) frontend (`http:`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Plain HTTP listener; empty disables it (as in Go chihaya).
    #[serde(with = "addr")]
    pub addr: Option<SocketAddr>,
    /// HTTPS listener; needs `tls_cert_path` and `tls_key_path`.
    #[serde(with = "addr")]
    pub https_addr: Option<SocketAddr>,
    pub tls_cert_path: String,
    pub tls_key_path: String,
    /// Time allowed to read a request's headers.
    #[serde(with = "duration")]
    pub read_timeout: Duration,
    /// Time allowed to write a response.
    #[serde(with = "duration")]
    pub write_timeout: Duration,
    pub enable_keepalive: bool,
    /// How long an idle keep-alive connection stays open.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    pub enable_request_timing: bool,
    pub announce_routes: Vec<String>,
    pub scrape_routes: Vec<String>,
    pub allow_ip_spoofing: bool,
    /// Header carrying the client address behind a proxy; empty: use the socket.
    pub real_ip_header: String,
    pub max_numwant: u32,
    pub default_numwant: u32,
    pub max_scrape_infohashes: u32,
    /// Open connections (HTTP and HTTPS together) above which new ones are
    /// closed at once: a flood of idle connections must not exhaust file
    /// descriptors and memory (not in Go chihaya).
    pub max_connections: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: None,
            https_addr: None,
            tls_cert_path: String::new(),
            tls_key_path: String::new(),
            read_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(2),
            enable_keepalive: false,
            idle_timeout: Duration::from_secs(30),
            enable_request_timing: false,
            announce_routes: vec!["/announce".into()],
            scrape_routes: vec!["/scrape".into()],
            allow_ip_spoofing: false,
            real_ip_header: String::new(),
            max_numwant: 100,
            default_numwant: 50,
            max_scrape_infohashes: 50,
            max_connections: 10_000,
        }
    }
}

/// The UDP frontend (`udp:`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UdpConfig {
    #[serde(with = "addr")]
    pub addr: Option<SocketAddr>,
    /// Leeway on a connection ID's timestamp, on top of `connection_id_lifetime`.
    #[serde(with = "duration")]
    pub max_clock_skew: Duration,
    /// How long a connection ID is accepted (BEP 15 says 2 minutes; some
    /// clients reuse IDs longer, so operators may raise it).
    #[serde(with = "duration")]
    pub connection_id_lifetime: Duration,
    /// Key for the connection-ID MAC; empty: a random key per process.
    pub private_key: String,
    pub enable_request_timing: bool,
    pub allow_ip_spoofing: bool,
    pub max_numwant: u32,
    pub default_numwant: u32,
    pub max_scrape_infohashes: u32,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            addr: None,
            max_clock_skew: Duration::from_secs(10),
            connection_id_lifetime: Duration::from_secs(120),
            private_key: String::new(),
            enable_request_timing: false,
            allow_ip_spoofing: false,
            max_numwant: 100,
            default_numwant: 50,
            max_scrape_infohashes: 50,
        }
    }
}

/// One entry of `prehooks:` / `posthooks:`. The options are kept as YAML and
/// interpreted by the hook of that name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    pub name: String,
    #[serde(default)]
    pub options: serde_yaml_ng::Value,
}

/// A configuration that could not be used, with the file and key it concerns.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// What `chihaya` runs with when given no file: both frontends on port 6969.
    pub fn embedded() -> Self {
        let any: SocketAddr = "[::]:6969".parse().expect("literal address");
        Config {
            http: Some(HttpConfig {
                addr: Some(any),
                ..HttpConfig::default()
            }),
            udp: Some(UdpConfig {
                addr: Some(any),
                ..UdpConfig::default()
            }),
            ..Config::default()
        }
    }

    /// Reads and validates a file; every error names the file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!("{}: cannot read config file: {e}", path.display()))
        })?;
        Self::parse(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Parses and validates YAML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        file.chihaya.validate()?;
        Ok(file.chihaya)
    }

    /// The effective configuration as YAML, for `check-config`.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(&ConfigFile {
            chihaya: self.clone(),
        })
        .expect("config serializes")
    }

    /// The ops server's address; `None` when `metrics_addr` is empty (off).
    pub fn metrics_socket_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        addr::parse(&self.metrics_addr)
            .map_err(|e| ConfigError(format!("chihaya.metrics_addr: {e}")))
    }

    /// The admin API's token (read from `admin_token_file` if that is the
    /// key given); `None`: the API is off.
    pub fn admin_token(&self) -> Result<Option<String>, ConfigError> {
        admin::resolve(&self.admin_token, &self.admin_token_file)
            .map_err(|e| ConfigError(format!("chihaya.{e}")))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let err = |key: &str, problem: &str| Err(ConfigError(format!("chihaya.{key}: {problem}")));
        self.metrics_socket_addr()?;
        self.admin_token()?;
        if self.announce_interval.is_zero() {
            return err("announce_interval", "must be greater than zero");
        }
        if self.min_announce_interval > self.announce_interval {
            return err(
                "min_announce_interval",
                "must not be greater than announce_interval",
            );
        }
        if let Some(http) = &self.http {
            if http.addr.is_none() && http.https_addr.is_none() {
                return err("http", "neither addr nor https_addr is set");
            }
            if http.https_addr.is_some()
                && (http.tls_cert_path.is_empty() || http.tls_key_path.is_empty())
            {
                return err("http.https_addr", "requires tls_cert_path and tls_key_path");
            }
            validate_numwant("http", http.default_numwant, http.max_numwant)?;
            if http.max_connections == 0 {
                return err("http.max_connections", "must be at least 1");
            }
            for (key, routes) in [
                ("announce_routes", &http.announce_routes),
                ("scrape_routes", &http.scrape_routes),
            ] {
                if let Some(bad) = routes.iter().find(|r| !r.starts_with('/')) {
                    return err(
                        &format!("http.{key}"),
                        &format!("route {bad:?} must start with '/'"),
                    );
                }
            }
        }
        if let Some(private) = &self.private {
            if let Err((key, problem)) = private.validate() {
                return err(&format!("private.{key}"), &problem);
            }
            // Over HTTP the passkey comes from the route; without a route
            // that has one, every HTTP announce would be refused.
            if let Some(http) = &self.http
                && !http
                    .announce_routes
                    .iter()
                    .any(|r| r.contains("/:passkey/"))
            {
                return err(
                    "http.announce_routes",
                    "private tracking needs a route with a :passkey segment, e.g. \"/:passkey/announce\"",
                );
            }
        }
        if let Some(udp) = &self.udp {
            if udp.addr.is_none() {
                return err("udp.addr", "is required when the udp section is present");
            }
            validate_numwant("udp", udp.default_numwant, udp.max_numwant)?;
        }
        match &self.storage {
            StorageConfig::Memory(m) => {
                if m.shard_count == 0 {
                    return err("storage.config.shard_count", "must be at least 1");
                }
                // Shards are allocated up front: a typo of a few digits must
                // fail here, not exhaust memory at start-up.
                if m.shard_count > MAX_SHARDS {
                    return err(
                        "storage.config.shard_count",
                        &format!("must be at most {MAX_SHARDS}"),
                    );
                }
            }
            StorageConfig::Redis(r) => {
                if let Err(e) = crate::storage::redis::broker::Broker::parse(&r.redis_broker) {
                    return err("storage.config.redis_broker", &e);
                }
                if r.redis_key_prefix.contains(['{', '}']) {
                    return err(
                        "storage.config.redis_key_prefix",
                        "must not contain '{' or '}' (it becomes part of a cluster hash tag)",
                    );
                }
            }
        }
        if self.storage.gc_interval().is_zero() || self.storage.peer_lifetime().is_zero() {
            return err(
                "storage.config",
                "gc_interval and peer_lifetime must be greater than zero",
            );
        }
        Ok(())
    }
}

/// Far more shards than cores or concurrent announces could ever use.
const MAX_SHARDS: usize = 1 << 20;

fn validate_numwant(section: &str, default: u32, max: u32) -> Result<(), ConfigError> {
    if default > max {
        return Err(ConfigError(format!(
            "chihaya.{section}.default_numwant: {default} is greater than max_numwant {max}"
        )));
    }
    Ok(())
}

/// A missing or `null` section means "all defaults", as in Go chihaya.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
