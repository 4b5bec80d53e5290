//! Hook names → constructors: the one place a hook is registered.
//!
//! To add a hook: write its file with `new(&Value) -> Result<Self, String>`
//! (errors name the key inside `options:`), add its name to [`KNOWN`] and an
//! arm to [`build`]. A test checks that every known name has an arm.

use std::sync::Arc;

use serde_yaml_ng::Value;
use tokio_util::sync::CancellationToken;

use super::client_approval::ClientApproval;
use super::fixed_peers::FixedPeers;
use super::hook::Hook;
use super::interval_variation::IntervalVariation;
use super::jwt::Jwt;
use super::prefer_subnet::PreferSubnet;
use super::torrent_approval::TorrentApproval;

/// Every hook name a config may use, as Go chihaya (and the LBRY fork) spell them.
pub const KNOWN: [&str; 6] = [
    "client approval",
    "fixed peers",
    "interval variation",
    "jwt",
    "prefer subnet",
    "torrent approval",
];

/// Why a configured hook could not be built.
#[derive(Debug, PartialEq, Eq)]
pub enum BuildError {
    /// No hook has this name.
    Unknown,
    /// The hook refused its options; the text names the key.
    Options(String),
}

/// Builds the hook called `name`. Hooks that own background tasks (watching a
/// file, refreshing a key set) stop them when `generation` is cancelled.
pub async fn build(
    name: &str,
    options: &Value,
    generation: &CancellationToken,
) -> Result<Arc<dyn Hook>, BuildError> {
    let built: Result<Arc<dyn Hook>, String> = match name {
        "client approval" => ClientApproval::new(options).map(shared),
        "fixed peers" => FixedPeers::new(options).map(shared),
        "interval variation" => IntervalVariation::new(options).map(shared),
        "jwt" => Jwt::new(options, generation.clone()).await.map(shared),
        "prefer subnet" => PreferSubnet::new(options).map(shared),
        "torrent approval" => TorrentApproval::new(options, generation.clone()).map(shared),
        _ => return Err(BuildError::Unknown),
    };
    built.map_err(BuildError::Options)
}

fn shared<H: Hook>(hook: H) -> Arc<dyn Hook> {
    Arc::new(hook)
}

/// The known names, quoted, for the error that lists them.
pub fn known_list() -> String {
    KNOWN.map(|n| format!("{n:?}")).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_known_name_has_a_constructor() {
        let token = CancellationToken::new();
        for name in KNOWN {
            // Empty options reach the hook: it is built on its defaults
            // (prefer subnet) or refuses them, never "unknown".
            match build(name, &Value::Null, &token).await {
                Ok(hook) => assert_eq!(hook.name(), name),
                Err(e) => assert!(matches!(e, BuildError::Options(_)), "{name}: {e:?}"),
            }
        }
        let unknown = build("client aproval", &Value::Null, &token).await;
        assert_eq!(unknown.err(), Some(BuildError::Unknown));
    }

    #[tokio::test]
    async fn a_built_hook_answers_to_its_name() {
        let options = serde_yaml_ng::from_str("whitelist: [\"qB4520\"]").unwrap();
        let hook = build("client approval", &options, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(hook.name(), "client approval");
    }
}
