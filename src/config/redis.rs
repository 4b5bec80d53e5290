//! The Redis engine's settings: Go chihaya's keys and defaults, plus one key
//! of our own (`redis_key_prefix`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `storage: {name: redis, config: {...}}`.
///
/// Go chihaya's Redis store accepts the three `redis_*_timeout` keys but never
/// applies them; here each one bounds the step it names (see
/// `docs/configuration.md`), so a Redis that hangs cannot hang announces.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[user:pass@]host:port/db`, `rediss://…` (TLS), `unix:///path`,
    /// or Go chihaya's `redis-socket://[pass@]/path?db=N`.
    pub redis_broker: String,
    /// How long a reply from Redis may take once a command is sent.
    #[serde(with = "duration")]
    pub redis_read_timeout: Duration,
    /// How long sending a command to Redis may take.
    #[serde(with = "duration")]
    pub redis_write_timeout: Duration,
    /// How long (re)connecting to Redis may take.
    #[serde(with = "duration")]
    pub redis_connect_timeout: Duration,
    /// How often stale peers are removed.
    #[serde(with = "duration")]
    pub gc_interval: Duration,
    /// A peer not heard from for this long is stale.
    #[serde(with = "duration")]
    pub peer_lifetime: Duration,
    /// How often swarm gauges are refreshed for metrics.
    #[serde(with = "duration")]
    pub prometheus_reporting_interval: Duration,
    /// Every key this tracker writes starts with it. Trackers that should share
    /// swarms use the same prefix; different prefixes keep independent sets of
    /// swarms on one Redis.
    pub redis_key_prefix: String,
}

impl Default for RedisConfig {
    /// Go chihaya's Redis defaults (its broker default included).
    fn default() -> Self {
        RedisConfig {
            redis_broker: "redis://myRedis@127.0.0.1:6379/0".into(),
            redis_read_timeout: Duration::from_secs(15),
            redis_write_timeout: Duration::from_secs(15),
            redis_connect_timeout: Duration::from_secs(15),
            gc_interval: Duration::from_secs(3 * 60),
            peer_lifetime: Duration::from_secs(30 * 60),
            prometheus_reporting_interval: Duration::from_secs(1),
            redis_key_prefix: "chihaya".into(),
        }
    }
}
