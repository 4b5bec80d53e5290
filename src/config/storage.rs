//! `storage: {name: ..., config: {...}}`: which engine keeps the swarms.
//!
//! Deserialized by hand rather than as a serde tagged enum for two reasons:
//! Go chihaya lets `config:` be left out (the engine then uses its defaults),
//! which serde's adjacently tagged enums refuse; and reading `config:` straight
//! from the YAML (instead of through serde's buffer) keeps the full key path
//! and line in error messages.

use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::duration;
pub use super::redis::RedisConfig;

/// The configured engine and its settings.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "name", content = "config")]
pub enum StorageConfig {
    #[serde(rename = "memory")]
    Memory(MemoryConfig),
    #[serde(rename = "redis")]
    Redis(RedisConfig),
}

impl StorageConfig {
    /// How often the server sweeps stale peers, whichever engine it is.
    pub fn gc_interval(&self) -> Duration {
        match self {
            StorageConfig::Memory(c) => c.gc_interval,
            StorageConfig::Redis(c) => c.gc_interval,
        }
    }

    /// How long a peer lives without announcing, whichever engine it is.
    pub fn peer_lifetime(&self) -> Duration {
        match self {
            StorageConfig::Memory(c) => c.peer_lifetime,
            StorageConfig::Redis(c) => c.peer_lifetime,
        }
    }

    /// How often swarm totals are refreshed, whichever engine it is.
    pub fn prometheus_reporting_interval(&self) -> Duration {
        match self {
            StorageConfig::Memory(c) => c.prometheus_reporting_interval,
            StorageConfig::Redis(c) => c.prometheus_reporting_interval,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig::Memory(MemoryConfig::default())
    }
}

/// The in-memory engine's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// How often stale peers are removed.
    #[serde(with = "duration")]
    pub gc_interval: Duration,
    /// A peer not heard from for this long is stale.
    #[serde(with = "duration")]
    pub peer_lifetime: Duration,
    /// Number of independently locked partitions.
    pub shard_count: usize,
    /// How often swarm gauges are refreshed for metrics.
    #[serde(with = "duration")]
    pub prometheus_reporting_interval: Duration,
    /// Where the swarms are saved at a clean shutdown and read back at start,
    /// so a restart or an upgrade does not make the tracker forget every
    /// peer until clients announce again. Empty: no snapshot.
    pub snapshot_path: String,
}

impl Default for MemoryConfig {
    /// Go chihaya's memory engine defaults.
    fn default() -> Self {
        MemoryConfig {
            gc_interval: Duration::from_secs(3 * 60),
            peer_lifetime: Duration::from_secs(30 * 60),
            shard_count: 1024,
            prometheus_reporting_interval: Duration::from_secs(1),
            snapshot_path: String::new(),
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Engine {
    Memory,
    Redis,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Key {
    Name,
    Config,
}

/// A section that may be absent or `null`, meaning "all defaults".
struct OrDefault<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for OrDefault<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(OrDefault(Option::<T>::deserialize(d)?.unwrap_or_default()))
    }
}

impl<'de> Deserialize<'de> for StorageConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("StorageConfig", &["name", "config"], StorageVisitor)
    }
}

struct StorageVisitor;

impl<'de> Visitor<'de> for StorageVisitor {
    type Value = StorageConfig;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a storage section with `name` and optionally `config`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StorageConfig, A::Error> {
        let mut engine = None;
        let mut config = None;
        // `config:` written before `name:` cannot be typed yet; keep it as YAML.
        let mut early: Option<serde_yaml_ng::Value> = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Name if engine.is_some() => return Err(de::Error::duplicate_field("name")),
                Key::Config if config.is_some() || early.is_some() => {
                    return Err(de::Error::duplicate_field("config"));
                }
                Key::Name => engine = Some(map.next_value::<Engine>()?),
                Key::Config => match engine {
                    Some(engine) => config = Some(read_config(engine, &mut map)?),
                    None => early = Some(map.next_value()?),
                },
            }
        }
        let engine = engine.ok_or_else(|| de::Error::missing_field("name"))?;
        match (config, early) {
            (Some(config), _) => Ok(config),
            (None, Some(yaml)) => config_from_yaml(engine, yaml),
            (None, None) => Ok(engine_defaults(engine)),
        }
    }
}

fn read_config<'de, A: MapAccess<'de>>(
    engine: Engine,
    map: &mut A,
) -> Result<StorageConfig, A::Error> {
    match engine {
        Engine::Memory => Ok(StorageConfig::Memory(
            map.next_value::<OrDefault<MemoryConfig>>()?.0,
        )),
        Engine::Redis => Ok(StorageConfig::Redis(
            map.next_value::<OrDefault<RedisConfig>>()?.0,
        )),
    }
}

fn config_from_yaml<E: de::Error>(
    engine: Engine,
    yaml: serde_yaml_ng::Value,
) -> Result<StorageConfig, E> {
    let wrap = |e: serde_yaml_ng::Error| E::custom(format!("config: {e}"));
    match engine {
        Engine::Memory => Ok(StorageConfig::Memory(
            serde_yaml_ng::from_value::<OrDefault<MemoryConfig>>(yaml)
                .map_err(wrap)?
                .0,
        )),
        Engine::Redis => Ok(StorageConfig::Redis(
            serde_yaml_ng::from_value::<OrDefault<RedisConfig>>(yaml)
                .map_err(wrap)?
                .0,
        )),
    }
}

fn engine_defaults(engine: Engine) -> StorageConfig {
    match engine {
        Engine::Memory => StorageConfig::Memory(MemoryConfig::default()),
        Engine::Redis => StorageConfig::Redis(RedisConfig::default()),
    }
}
