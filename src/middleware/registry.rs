//! Hook names → constructors: the one place a hook is registered.
//!
//! To add a hook: write its file with `new(&Value) -> Result<Self, String>`
//! (errors name the key inside `options:`), add its name to [`KNOWN`] and an
//! arm to [`build`] and to [`validate`]. A test checks that every known name
//! has both.

use std::sync::Arc;

use serde_yaml_ng::Value;
use tokio_util::sync::CancellationToken;

use super::approvals::Approvals;
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
/// file, refreshing a key set) stop them when `generation` is cancelled; the
/// approval hooks consult `runtime`, the admin API's changes to their lists.
pub async fn build(
    name: &str,
    options: &Value,
    generation: &CancellationToken,
    runtime: &Arc<Approvals>,
) -> Result<Arc<dyn Hook>, BuildError> {
    let built: Result<Arc<dyn Hook>, String> = match name {
        "client approval" => ClientApproval::new(options)
            .map(|h| h.with_runtime(runtime.clone()))
            .map(shared),
        "fixed peers" => FixedPeers::new(options).map(shared),
        "interval variation" => IntervalVariation::new(options).map(shared),
        "jwt" => Jwt::new(options, generation.clone()).await.map(shared),
        "prefer subnet" => PreferSubnet::new(options).map(shared),
        "torrent approval" => TorrentApproval::new(options, generation.clone())
            .map(|h| h.with_runtime(runtime.clone()))
            .map(shared),
        _ => return Err(BuildError::Unknown),
    };
    built.map_err(BuildError::Options)
}

/// Checks the options of the hook called `name` as [`build`] would, but
/// builds nothing that outlives the call: no task, no network. This is what
/// `check-config` runs, so it can vouch for a config without serving it.
pub fn validate(name: &str, options: &Value) -> Result<(), BuildError> {
    let checked = match name {
        "client approval" => ClientApproval::new(options).map(drop),
        "fixed peers" => FixedPeers::new(options).map(drop),
        "interval variation" => IntervalVariation::new(options).map(drop),
        // The options and the URL, not the key set behind it.
        "jwt" => Jwt::validate(options),
        "prefer subnet" => PreferSubnet::new(options).map(drop),
        // Reads the approval file once, without the watcher.
        "torrent approval" => TorrentApproval::validate(options),
        _ => return Err(BuildError::Unknown),
    };
    checked.map_err(BuildError::Options)
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
            match build(name, &Value::Null, &token, &Arc::default()).await {
                Ok(hook) => assert_eq!(hook.name(), name),
                Err(e) => assert!(matches!(e, BuildError::Options(_)), "{name}: {e:?}"),
            }
        }
        let unknown = build("client aproval", &Value::Null, &token, &Arc::default()).await;
        assert_eq!(unknown.err(), Some(BuildError::Unknown));
    }

    /// Outside a runtime: validating must not spawn what building would.
    #[test]
    fn every_known_name_validates_and_unknown_names_do_not() {
        for name in KNOWN {
            let checked = validate(name, &Value::Null);
            assert_ne!(checked, Err(BuildError::Unknown), "{name}");
        }
        assert_eq!(
            validate("client aproval", &Value::Null),
            Err(BuildError::Unknown)
        );
    }

    #[tokio::test]
    async fn validate_refuses_what_build_refuses_with_the_same_text() {
        let token = CancellationToken::new();
        let cases = [
            (
                "client approval",
                "{whitelist: [\"qB4520\"], blacklist: []}",
            ),
            ("fixed peers", "fixed_peers: [\"192.0.2.1\"]"),
            (
                "interval variation",
                "{modify_response_probability: 2, max_increase_delta: 1}",
            ),
            ("prefer subnet", "ipv4_prefix_len: 33"),
            ("torrent approval", "whitelist: [\"nope\"]"),
        ];
        for (name, options) in cases {
            let options: Value = serde_yaml_ng::from_str(options).unwrap();
            let built = build(name, &options, &token, &Arc::default()).await.err();
            assert!(matches!(built, Some(BuildError::Options(_))), "{name}");
            assert_eq!(validate(name, &options).err(), built, "{name}");
        }
    }

    #[test]
    fn good_options_validate() {
        let options = serde_yaml_ng::from_str("whitelist: [\"qB4520\"]").unwrap();
        assert_eq!(validate("client approval", &options), Ok(()));
        assert_eq!(validate("prefer subnet", &Value::Null), Ok(()));
    }

    #[tokio::test]
    async fn a_built_hook_answers_to_its_name() {
        let options = serde_yaml_ng::from_str("whitelist: [\"qB4520\"]").unwrap();
        let hook = build(
            "client approval",
            &options,
            &CancellationToken::new(),
            &Arc::default(),
        )
        .await
        .unwrap();
        assert_eq!(hook.name(), "client approval");
    }
}
