//! `GET|POST /api/approval/torrents` and `/api/approval/clients`: the
//! approval lists as they stand, and runtime changes to them.
//!
//! Changes go to the tracker's overlay (see
//! [`crate::middleware::approvals`]): they survive a reload, not a restart.

use std::collections::HashSet;
use std::fmt::Display;
use std::hash::Hash;

use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use super::reply::{ApiError, ApiResult, json};
use crate::middleware::Chain;
use crate::middleware::approvals::{ListKind, Overlay};
use crate::middleware::client_approval::ClientId;
use crate::middleware::torrent_approval::parse_hash;
use crate::protocol::InfoHash;

/// A list longer than this is cut in the reply (`count` has the length):
/// an approval file may hold millions of hashes.
pub const MAX_ENTRIES: usize = 10_000;

/// What every reply says about persistence, so nobody has to guess.
const PERSISTENCE: &str = "runtime changes are kept across reloads (SIGHUP/SIGUSR1) and win over the config and the approval file; they are lost when the process stops";

/// `POST` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Serialize)]
struct Lists {
    kind: &'static str,
    hooks: Vec<HookList>,
    runtime: Runtime,
    persistence: &'static str,
}

#[derive(Serialize)]
struct HookList {
    /// Where it is configured: `prehooks[0]`.
    hook: String,
    mode: &'static str,
    count: usize,
    truncated: bool,
    entries: Vec<String>,
}

#[derive(Serialize)]
struct Runtime {
    added: Vec<String>,
    removed: Vec<String>,
}

/// One kind of list: its name, its overlay, how its entries are read.
pub struct Kind<'a, T: Eq + Hash> {
    pub kind: ListKind,
    pub overlay: &'a Overlay<T>,
    pub parse: fn(&str) -> Result<T, String>,
}

impl Kind<'_, InfoHash> {
    pub const PARSE: fn(&str) -> Result<InfoHash, String> = parse_hash;
}

impl Kind<'_, ClientId> {
    pub const PARSE: fn(&str) -> Result<ClientId, String> = ClientId::parse;
}

impl<T: Eq + Hash + Clone + Display> Kind<'_, T> {
    fn name(&self) -> &'static str {
        match self.kind {
            ListKind::Torrents => "torrent approval",
            ListKind::Clients => "client approval",
        }
    }

    /// The lists of every configured hook of this kind, and the overlay.
    pub fn show(&self, chain: &Chain) -> ApiResult {
        let hooks = chain
            .approval_lists(self.kind)
            .into_iter()
            .map(|(hook, list)| HookList {
                hook,
                mode: list.mode,
                count: list.entries.len(),
                truncated: list.entries.len() > MAX_ENTRIES,
                entries: list.entries.into_iter().take(MAX_ENTRIES).collect(),
            })
            .collect();
        let delta = self.overlay.delta();
        Ok(json(
            StatusCode::OK,
            &Lists {
                kind: match self.kind {
                    ListKind::Torrents => "torrents",
                    ListKind::Clients => "clients",
                },
                hooks,
                runtime: Runtime {
                    added: sorted(&delta.added),
                    removed: sorted(&delta.removed),
                },
                persistence: PERSISTENCE,
            },
        ))
    }

    /// Applies `change` (all or nothing) and shows the result. 409 when no
    /// hook of this kind is configured: the change would do nothing, and
    /// the operator should know that rather than believe a ban is in force.
    pub fn change(&self, chain: &Chain, change: Change) -> ApiResult {
        if chain.approval_lists(self.kind).is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "no {:?} hook is configured, so there is no list to change; add one to prehooks",
                    self.name()
                ),
            ));
        }
        let add = self.entries("add", &change.add)?;
        let remove = self.entries("remove", &change.remove)?;
        if add.is_empty() && remove.is_empty() {
            return Err(ApiError::bad_request(
                "nothing to do: give entries in \"add\" or \"remove\"",
            ));
        }
        if let Some(both) = add.iter().find(|entry| remove.contains(entry)) {
            return Err(ApiError::bad_request(format!(
                "{both} is in both \"add\" and \"remove\""
            )));
        }
        self.overlay.apply(&add, &remove);
        tracing::info!(
            list = self.name(),
            added = ?change.add,
            removed = ?change.remove,
            "admin API changed an approval list"
        );
        self.show(chain)
    }

    /// Every entry parsed, or a 400 naming the first bad one: `add[1]: ...`.
    fn entries(&self, field: &str, texts: &[String]) -> Result<Vec<T>, ApiError> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                (self.parse)(text).map_err(|e| ApiError::bad_request(format!("{field}[{i}]: {e}")))
            })
            .collect()
    }
}

fn sorted<T: Display>(set: &HashSet<T>) -> Vec<String> {
    let mut out: Vec<String> = set.iter().map(T::to_string).collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::Config;
    use crate::middleware::approvals::Approvals;

    const A: &str = "a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5";
    const B: &str = "00000000000000000000000000000000000000bb";

    async fn chain(yaml: &str, approvals: &Arc<Approvals>) -> Chain {
        let config = Config::parse(yaml).unwrap();
        Chain::build(&config, &CancellationToken::new(), approvals)
            .await
            .unwrap()
    }

    fn change(add: &[&str], remove: &[&str]) -> Change {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Change {
            add: strings(add),
            remove: strings(remove),
        }
    }

    async fn body(result: ApiResult) -> serde_json::Value {
        let bytes = result.unwrap().into_body().collect().await.unwrap();
        serde_json::from_slice(&bytes.to_bytes()).unwrap()
    }

    #[tokio::test]
    async fn a_change_shows_in_every_hooks_effective_list() {
        let approvals = Arc::new(Approvals::default());
        let yaml = format!(
            "chihaya:\n  prehooks:\n    - name: torrent approval\n      options:\n        blacklist: [\"{A}\"]\n"
        );
        let chain = chain(&yaml, &approvals).await;
        let torrents = Kind {
            kind: ListKind::Torrents,
            overlay: &approvals.torrents,
            parse: Kind::<InfoHash>::PARSE,
        };
        let shown = body(torrents.change(&chain, change(&[B], &[A]))).await;
        assert_eq!(shown["hooks"][0]["hook"], "prehooks[0]");
        assert_eq!(shown["hooks"][0]["mode"], "blacklist");
        assert_eq!(shown["hooks"][0]["entries"], serde_json::json!([B]));
        assert_eq!(shown["runtime"]["added"], serde_json::json!([B]));
        assert_eq!(shown["runtime"]["removed"], serde_json::json!([A]));
    }

    #[tokio::test]
    async fn bad_entries_name_their_field_and_change_nothing() {
        let approvals = Arc::new(Approvals::default());
        let yaml = "chihaya:\n  prehooks:\n    - name: client approval\n      options:\n        blacklist: [\"TR3000\"]\n";
        let chain = chain(yaml, &approvals).await;
        let clients = Kind {
            kind: ListKind::Clients,
            overlay: &approvals.clients,
            parse: Kind::<ClientId>::PARSE,
        };
        let err = clients
            .change(&chain, change(&["qB4520"], &["qB4520", "TR30"]))
            .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            err.message,
            "remove[1]: client ID \"TR30\" must be exactly 6 bytes"
        );
        let err = clients
            .change(&chain, change(&["qB4520"], &["qB4520"]))
            .unwrap_err();
        assert_eq!(err.message, "qB4520 is in both \"add\" and \"remove\"");
        assert!(approvals.clients.delta().added.is_empty());
        let err = clients.change(&chain, change(&[], &[])).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn without_a_hook_of_the_kind_a_change_is_a_409() {
        let approvals = Arc::new(Approvals::default());
        let chain = chain("chihaya: {}\n", &approvals).await;
        let torrents = Kind {
            kind: ListKind::Torrents,
            overlay: &approvals.torrents,
            parse: Kind::<InfoHash>::PARSE,
        };
        let err = torrents.change(&chain, change(&[A], &[])).unwrap_err();
        assert_eq!(err.status, StatusCode::CONFLICT);
        assert!(err.message.contains("no \"torrent approval\" hook"));
        assert!(approvals.torrents.delta().added.is_empty());
        let shown = body(torrents.show(&chain)).await;
        assert_eq!(shown["hooks"], serde_json::json!([]));
    }
}
