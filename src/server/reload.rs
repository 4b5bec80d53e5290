//! Reloading the configuration on SIGUSR1 / SIGHUP, without a restart.
//!
//! A reload re-reads the file and builds a whole new hook chain (hooks,
//! approval lists, intervals) beside the running one; only when every hook
//! built does it swap in. Swarms, sockets and connection IDs are untouched. A
//! file that does not parse, or a hook that refuses its options, leaves the
//! running chain in force and says why in the log. Frontend, storage and
//! metrics settings are bound to sockets and memory already made; a change to
//! them is logged as needing a restart, not applied.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::signals::ReloadSignals;
use crate::config::{Config, ConfigError};
use crate::middleware::{Chain, Tracker};

/// Where the configuration comes from, so a reload reads it again.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    File(PathBuf),
    /// No `--config`: a reload re-applies the embedded defaults.
    Embedded,
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, ConfigError> {
        match self {
            ConfigSource::File(path) => Config::load(path),
            ConfigSource::Embedded => Ok(Config::embedded()),
        }
    }
}

/// Reloads at each signal until `stop` is cancelled.
pub async fn run(
    mut signals: ReloadSignals,
    source: ConfigSource,
    started: Config,
    tracker: Arc<Tracker>,
    stop: CancellationToken,
) {
    loop {
        let signal = tokio::select! {
            _ = stop.cancelled() => return,
            signal = signals.next() => signal,
        };
        match reload(&source, &started, &tracker, &stop).await {
            Ok(()) => {}
            Err(e) => error!(
                signal,
                "reload refused: {e}; the running configuration stays in force"
            ),
        }
    }
}

/// One reload: load, build, compare, swap. `started` is the configuration the
/// frontends and storage were made from.
pub async fn reload(
    source: &ConfigSource,
    started: &Config,
    tracker: &Tracker,
    stop: &CancellationToken,
) -> Result<(), ConfigError> {
    if let ConfigSource::Embedded = source {
        info!("reload: no config file was given; re-applying the embedded defaults");
    }
    let config = source.load()?;
    // The runtime approval changes carry over to the new generation.
    let chain = Chain::build(&config, stop, &tracker.approvals()).await?;
    let unapplied = needs_restart(started, &config);
    if !unapplied.is_empty() {
        warn!(
            "reload: changes to {} need a restart and are not applied",
            unapplied.join(", ")
        );
    }
    let (prehooks, posthooks) = chain.names();
    tracker.replace_chain(chain);
    info!(?prehooks, ?posthooks, "configuration reloaded");
    Ok(())
}

/// The sections that differ but only take effect at start.
fn needs_restart(started: &Config, new: &Config) -> Vec<&'static str> {
    let sections = [
        ("http", yaml(&started.http) != yaml(&new.http)),
        ("udp", yaml(&started.udp) != yaml(&new.udp)),
        ("storage", yaml(&started.storage) != yaml(&new.storage)),
        ("private", yaml(&started.private) != yaml(&new.private)),
        ("metrics_addr", started.metrics_addr != new.metrics_addr),
        (
            "admin_token",
            (&started.admin_token, &started.admin_token_file)
                != (&new.admin_token, &new.admin_token_file),
        ),
    ];
    sections
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
}

/// Sections compare by their YAML form: they serialize already, which spares
/// them a `PartialEq` that every new field would have to keep up with.
fn yaml<T: serde::Serialize>(section: &T) -> Option<serde_yaml_ng::Value> {
    serde_yaml_ng::to_value(section).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageConfig;
    use crate::storage::Storage;

    fn parse(text: &str) -> Config {
        Config::parse(text).unwrap()
    }

    #[test]
    fn only_start_time_sections_need_a_restart() {
        let base = "chihaya:\n  http:\n    addr: \"127.0.0.1:1\"\n";
        let started = parse(base);
        let hooks_and_intervals = parse(&format!(
            "{base}  announce_interval: 10m\n  min_announce_interval: 5m\n  prehooks:\n    - name: \"client approval\"\n      options: {{whitelist: [\"qB4520\"]}}\n"
        ));
        assert!(needs_restart(&started, &hooks_and_intervals).is_empty());
        let moved = parse(
            "chihaya:\n  http:\n    addr: \"127.0.0.1:2\"\n  udp:\n    addr: \"127.0.0.1:2\"\n  metrics_addr: \"127.0.0.1:3\"\n  storage:\n    name: memory\n    config:\n      shard_count: 8\n",
        );
        assert_eq!(
            needs_restart(&started, &moved),
            ["http", "udp", "storage", "metrics_addr"]
        );
    }

    #[tokio::test]
    async fn without_a_file_a_reload_re_applies_the_embedded_defaults() {
        let hooked = parse(
            "chihaya:\n  announce_interval: 1m\n  min_announce_interval: 1m\n  prehooks:\n    - name: \"client approval\"\n      options: {whitelist: [\"qB4520\"]}\n",
        );
        let stop = CancellationToken::new();
        let chain = Chain::build(&hooked, &stop, &Default::default())
            .await
            .unwrap();
        let storage = Arc::new(Storage::open(&StorageConfig::default()).await.unwrap());
        let tracker = Tracker::with_chain(chain, storage);
        assert_eq!(tracker.chain().names().0, ["client approval"]);
        let embedded = Config::embedded();
        reload(&ConfigSource::Embedded, &embedded, &tracker, &stop)
            .await
            .unwrap();
        assert!(tracker.chain().names().0.is_empty(), "no hooks by default");
        assert_eq!(tracker.intervals(), (1800, 900), "the default intervals");
    }

    #[tokio::test]
    async fn an_unreadable_file_is_refused_and_names_the_file() {
        let stop = CancellationToken::new();
        let storage = Arc::new(Storage::open(&StorageConfig::default()).await.unwrap());
        let tracker = Tracker::new(&Config::default(), storage);
        let source = ConfigSource::File("/nonexistent/chihaya.yaml".into());
        let err = reload(&source, &Config::default(), &tracker, &stop)
            .await
            .unwrap_err();
        assert!(
            err.0
                .starts_with("/nonexistent/chihaya.yaml: cannot read config file"),
            "{err}"
        );
    }
}
