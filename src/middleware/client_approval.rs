//! `client approval`: allow or refuse announces by the client software,
//! as its peer_id names it.
//!
//! ```yaml
//! - name: "client approval"
//!   options:
//!     whitelist: ["OP1011", "qB4520"]   # or blacklist: [...], not both
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::approvals::{ApprovalList, Approvals, ListKind};
use super::hook::Hook;
use super::options;
use crate::protocol::{AnnounceRequest, AnnounceResponse, ClientError, PeerId};

/// What a refused client reads.
pub const REASON: &str = "unapproved client";

/// The 6 bytes that name a client and its version, as Go chihaya's
/// `NewClientID` takes them: Azureus style `-XX1234-...` gives `XX1234`
/// (bytes 1..7), every other style (Shadow's `S58B-----...`, Mainline's
/// `M4-3-6--...`) its first 6 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId([u8; 6]);

impl ClientId {
    pub fn of(peer_id: &PeerId) -> ClientId {
        let id = peer_id.as_bytes();
        let start = usize::from(id[0] == b'-');
        let mut out = [0; 6];
        out.copy_from_slice(&id[start..start + 6]);
        ClientId(out)
    }

    /// An entry of a list (configured or given to the admin API): exactly 6 bytes.
    pub fn parse(entry: &str) -> Result<ClientId, String> {
        <[u8; 6]>::try_from(entry.as_bytes())
            .map(ClientId)
            .map_err(|_| format!("client ID {entry:?} must be exactly 6 bytes"))
    }
}

impl fmt::Display for ClientId {
    /// The 6 bytes, non-ASCII ones escaped (config entries are UTF-8 text,
    /// so in practice this is the entry as written).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0.escape_ascii())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    whitelist: Option<Vec<String>>,
    blacklist: Option<Vec<String>>,
}

/// Exactly one list, so "both" and "neither" cannot be represented.
#[derive(Debug, PartialEq, Eq)]
enum Rule {
    /// Only these clients may announce.
    Allow(HashSet<ClientId>),
    /// These clients may not announce.
    Deny(HashSet<ClientId>),
}

/// The hook.
#[derive(Debug)]
pub struct ClientApproval {
    rule: Rule,
    /// The admin API's runtime changes, shared with every other generation.
    runtime: Arc<Approvals>,
}

impl ClientApproval {
    /// Errors name the key: `whitelist[1]: client ID "abc" must be exactly 6 bytes`.
    pub fn new(options: &Value) -> Result<ClientApproval, String> {
        let rule = match options::parse::<Options>(options)? {
            Options {
                whitelist: Some(_),
                blacklist: Some(_),
            } => return Err("whitelist and blacklist are both set".into()),
            Options {
                whitelist: Some(list),
                blacklist: None,
            } => Rule::Allow(ids("whitelist", &list)?),
            Options {
                whitelist: None,
                blacklist: Some(list),
            } => Rule::Deny(ids("blacklist", &list)?),
            Options {
                whitelist: None,
                blacklist: None,
            } => return Err("neither whitelist nor blacklist is set".into()),
        };
        Ok(ClientApproval {
            rule,
            runtime: Arc::default(),
        })
    }

    /// Consults `runtime` (the tracker's overlay) on top of the configured list.
    pub fn with_runtime(self, runtime: Arc<Approvals>) -> Self {
        ClientApproval { runtime, ..self }
    }

    /// Whether this peer_id's client may announce.
    pub fn approves(&self, peer_id: &PeerId) -> bool {
        let id = ClientId::of(peer_id);
        let (allow, configured) = match &self.rule {
            Rule::Allow(ids) => (true, ids),
            Rule::Deny(ids) => (false, ids),
        };
        let listed = self
            .runtime
            .clients
            .listed(&id)
            .unwrap_or_else(|| configured.contains(&id));
        listed == allow
    }
}

/// An empty list is refused: an empty whitelist would turn every client away
/// and an empty blacklist does nothing, and both are more likely a mistake.
fn ids(key: &str, list: &[String]) -> Result<HashSet<ClientId>, String> {
    if list.is_empty() {
        return Err(format!("{key} is empty"));
    }
    list.iter()
        .enumerate()
        .map(|(i, entry)| ClientId::parse(entry).map_err(|e| format!("{key}[{i}]: {e}")))
        .collect()
}

impl Hook for ClientApproval {
    fn name(&self) -> &'static str {
        "client approval"
    }

    fn before_announce(
        &self,
        req: &mut AnnounceRequest,
        _resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        if self.approves(&req.peer_id) {
            Ok(())
        } else {
            Err(ClientError::new(REASON))
        }
    }

    fn approval_list(&self) -> Option<ApprovalList> {
        let (mode, configured) = match &self.rule {
            Rule::Allow(ids) => ("whitelist", ids),
            Rule::Deny(ids) => ("blacklist", ids),
        };
        let effective = self.runtime.clients.effective(configured.iter());
        let mut entries: Vec<String> = effective.iter().map(ClientId::to_string).collect();
        entries.sort_unstable();
        Some(ApprovalList {
            kind: ListKind::Clients,
            mode,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(prefix: &[u8]) -> PeerId {
        let mut id = [b'x'; 20];
        id[..prefix.len()].copy_from_slice(prefix);
        PeerId(id)
    }

    fn hook(yaml: &str) -> Result<ClientApproval, String> {
        ClientApproval::new(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn azureus_style_skips_the_dash() {
        assert_eq!(ClientId::of(&pid(b"-qB4520-")), ClientId(*b"qB4520"));
        assert_eq!(ClientId::of(&pid(b"-TR3000-")), ClientId(*b"TR3000"));
    }

    #[test]
    fn shadow_and_other_styles_take_the_first_six_bytes() {
        assert_eq!(ClientId::of(&pid(b"S58B-----")), ClientId(*b"S58B--"));
        assert_eq!(ClientId::of(&pid(b"M4-3-6--")), ClientId(*b"M4-3-6"));
        assert_eq!(ClientId::of(&pid(b"OP1011")), ClientId(*b"OP1011"));
    }

    #[test]
    fn whitelist_admits_only_its_clients() {
        let h = hook("whitelist: [\"qB4520\", \"OP1011\"]").unwrap();
        assert!(h.approves(&pid(b"-qB4520-")));
        assert!(h.approves(&pid(b"OP1011")));
        assert!(!h.approves(&pid(b"-qB4510-")));
        assert!(
            h.approves(&pid(b"-OP1011-")),
            "Azureus -OP1011- is OP1011 too"
        );
        assert!(!h.approves(&pid(b"-OP101")), "-OP101x is OP101x");
    }

    #[test]
    fn blacklist_refuses_only_its_clients() {
        let h = hook("blacklist: [\"TR3000\"]").unwrap();
        assert!(!h.approves(&pid(b"-TR3000-")));
        assert!(h.approves(&pid(b"-TR3001-")));
    }

    #[test]
    fn refusal_reads_unapproved_client() {
        let h = hook("blacklist: [\"TR3000\"]").unwrap();
        let mut req = crate::middleware::testing::announce(pid(b"-TR3000-"));
        let err = h
            .before_announce(&mut req, &mut AnnounceResponse::default())
            .unwrap_err();
        assert_eq!(err.0, "unapproved client");
    }

    #[test]
    fn runtime_changes_override_the_configured_list() {
        let runtime = Arc::new(Approvals::default());
        let h = hook("blacklist: [\"TR3000\"]")
            .unwrap()
            .with_runtime(runtime.clone());
        runtime
            .clients
            .apply(&[ClientId(*b"qB4520")], &[ClientId(*b"TR3000")]);
        assert!(!h.approves(&pid(b"-qB4520-")), "added to the blacklist");
        assert!(h.approves(&pid(b"-TR3000-")), "taken off the blacklist");
        let list = h.approval_list().unwrap();
        assert_eq!(
            (list.mode, list.entries),
            ("blacklist", vec!["qB4520".into()])
        );
    }

    #[test]
    fn option_errors_name_the_key() {
        let err = |yaml| hook(yaml).unwrap_err();
        assert_eq!(
            err("whitelist: [\"AAAAAA\"]\nblacklist: [\"BBBBBB\"]"),
            "whitelist and blacklist are both set"
        );
        assert_eq!(err("{}"), "neither whitelist nor blacklist is set");
        assert_eq!(err("whitelist: []"), "whitelist is empty");
        assert_eq!(
            err("blacklist: [\"TR3000\", \"TR30\"]"),
            "blacklist[1]: client ID \"TR30\" must be exactly 6 bytes"
        );
        assert!(err("whitlist: [\"TR3000\"]").contains("unknown field `whitlist`"));
        let none = ClientApproval::new(&Value::Null).unwrap_err();
        assert_eq!(none, "neither whitelist nor blacklist is set");
    }
}
