//! The `jwt` hook (Go chihaya's): an announce is answered only if it carries a
//! JSON Web Token, signed by the operator's identity provider, that grants
//! this infohash.
//!
//! The token comes as the `jwt` query parameter (HTTP) or the same parameter
//! in the BEP 41 URL data (UDP); both reach us as `params.query_param("jwt")`.
//! Scrapes are not checked, as in Go chihaya.
//!
//! A token is accepted when all of these hold:
//! - its header names a `kid` present in the JWK set, and its `alg` is the one
//!   that key is for: RS256 for an RSA key, ES256 for an EC P-256 key
//!   (`none`, HMAC and every other algorithm are refused);
//! - the signature verifies with that key;
//! - `iss` equals the configured issuer and `aud` is or contains the
//!   configured audience;
//! - `exp` is present and not past, and `nbf`, if present, is not future,
//!   both with [`LEEWAY_SECS`] of allowance for clock skew;
//! - its `infohash` claim is the announced infohash in lowercase hex, exactly
//!   (Go chihaya compares against lowercase hex, so an uppercase claim is
//!   refused rather than silently widened).
//!
//! Clients are told only "missing jwt" or "invalid jwt"; the precise reason is
//! logged at debug level for the operator, never sent to a client probing
//! the checks.

mod jwks;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use tokio_util::sync::{CancellationToken, DropGuard};

use self::jwks::{Fetcher, Keys};
use super::hook::Hook;
use crate::protocol::{AnnounceRequest, AnnounceResponse, ClientError, InfoHash};

/// Sent when the announce carries no `jwt` parameter.
pub const MISSING_JWT: &str = "unapproved request: missing jwt";
/// Sent for every other failure, whatever the reason.
pub const INVALID_JWT: &str = "unapproved request: invalid jwt";

/// Seconds of clock skew allowed on `exp` and `nbf`: enough for hosts kept
/// roughly in sync by NTP, small next to any sensible token lifetime.
pub const LEEWAY_SECS: u64 = 10;

/// Used when `jwk_set_update_interval` is missing or zero (a zero interval
/// would refetch in a tight loop).
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The hook's `options:`, with Go chihaya's key names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    issuer: String,
    audience: String,
    jwk_set_url: String,
    #[serde(default, with = "crate::config::duration")]
    jwk_set_update_interval: Duration,
}

/// Why a token was refused; logged, never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("token is not UTF-8")]
    NotUtf8,
    #[error("malformed token or unsupported alg: {0}")]
    Header(jsonwebtoken::errors::Error),
    #[error("token header has no kid")]
    NoKid,
    #[error("unknown kid {0:?}")]
    UnknownKid(String),
    #[error("alg {header:?} does not match the key's {key:?}")]
    AlgMismatch { header: Algorithm, key: Algorithm },
    #[error("signature or claims rejected: {0}")]
    Token(jsonwebtoken::errors::Error),
    #[error("infohash claim {claim:?} is not the announced {announced}")]
    InfoHash { claim: String, announced: String },
}

/// The claims beyond the registered ones (which `jsonwebtoken` checks).
#[derive(Deserialize)]
struct Claims {
    infohash: String,
}

/// The configured hook.
pub struct Jwt {
    keys: Arc<Keys>,
    /// One per accepted algorithm, built once: issuer, audience, leeway.
    rs256: Validation,
    es256: Validation,
    /// Stops the refresh task when the hook is dropped, not only at shutdown.
    _refresh: DropGuard,
}

impl Jwt {
    /// Reads the options, fetches the JWK set (failing if it cannot be had)
    /// and starts refreshing it until `shutdown` is cancelled.
    pub async fn new(
        options: &serde_yaml_ng::Value,
        shutdown: CancellationToken,
    ) -> Result<Jwt, String> {
        let opts = parse_options(options)?;
        let fetcher = Fetcher::new(&opts.jwk_set_url).map_err(|e| format!("jwk_set_url: {e}"))?;
        let set = fetcher
            .fetch()
            .await
            .map_err(|e| format!("jwk_set_url: {e}"))?;
        tracing::info!(hook = "jwt", url = %opts.jwk_set_url, keys = set.len(), "JWK set fetched");
        let keys = Arc::new(Keys::new(set));
        let stop = shutdown.child_token();
        jwks::spawn_refresh(
            fetcher,
            keys.clone(),
            refresh_interval(opts.jwk_set_update_interval),
            stop.clone(),
        );
        Ok(Jwt {
            keys,
            rs256: validation(Algorithm::RS256, &opts),
            es256: validation(Algorithm::ES256, &opts),
            _refresh: stop.drop_guard(),
        })
    }

    /// Checks the options as [`Jwt::new`] does, without fetching anything:
    /// what `check-config` can vouch for offline.
    pub fn validate(options: &serde_yaml_ng::Value) -> Result<(), String> {
        let opts = parse_options(options)?;
        Fetcher::new(&opts.jwk_set_url).map_err(|e| format!("jwk_set_url: {e}"))?;
        Ok(())
    }

    /// Checks one token against one infohash.
    pub fn verify(&self, token: &[u8], info_hash: &InfoHash) -> Result<(), Rejection> {
        let token = std::str::from_utf8(token).map_err(|_| Rejection::NotUtf8)?;
        let header = jsonwebtoken::decode_header(token).map_err(Rejection::Header)?;
        let kid = header.kid.ok_or(Rejection::NoKid)?;
        let keys = self.keys.current();
        let key = keys.get(&kid).ok_or(Rejection::UnknownKid(kid))?;
        if header.alg != key.alg {
            return Err(Rejection::AlgMismatch {
                header: header.alg,
                key: key.alg,
            });
        }
        let validation = match key.alg {
            Algorithm::ES256 => &self.es256,
            _ => &self.rs256,
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, validation)
            .map_err(Rejection::Token)?
            .claims;
        let announced = info_hash.to_hex();
        if claims.infohash != announced {
            return Err(Rejection::InfoHash {
                claim: claims.infohash,
                announced,
            });
        }
        Ok(())
    }
}

impl Hook for Jwt {
    fn name(&self) -> &'static str {
        "jwt"
    }

    fn before_announce(
        &self,
        req: &mut AnnounceRequest,
        _resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        let Some(token) = req.params.query_param("jwt") else {
            tracing::debug!(hook = "jwt", info_hash = %req.info_hash, "announce refused: no jwt parameter");
            return Err(ClientError::new(MISSING_JWT));
        };
        self.verify(&token, &req.info_hash).map_err(|why| {
            tracing::debug!(hook = "jwt", info_hash = %req.info_hash, "announce refused: {why}");
            ClientError::new(INVALID_JWT)
        })
    }
}

/// Options to their struct; every error names the key at fault (serde's
/// messages do: "missing field `issuer`", "unknown field `isuer`").
fn parse_options(options: &serde_yaml_ng::Value) -> Result<Options, String> {
    let opts: Options = super::options::parse(options)?;
    for (key, value) in [("issuer", &opts.issuer), ("audience", &opts.audience)] {
        if value.is_empty() {
            return Err(format!("{key}: must not be empty"));
        }
    }
    Ok(opts)
}

fn refresh_interval(configured: Duration) -> Duration {
    if configured.is_zero() {
        DEFAULT_UPDATE_INTERVAL
    } else {
        configured
    }
}

/// The registered-claim checks for tokens signed with `alg`: `exp`, `iss` and
/// `aud` must be present; `nbf` is checked when present.
fn validation(alg: Algorithm, opts: &Options) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = LEEWAY_SECS;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    v.set_issuer(&[&opts.issuer]);
    v.set_audience(&[&opts.audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v
}

#[cfg(test)]
mod tests;
