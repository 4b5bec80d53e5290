//! The JWK set: fetched once at start, refreshed in the background, read by
//! every announce without waiting.
//!
//! Verification only ever clones an `Arc` out of a lock held for a pointer
//! copy; the network fetch happens outside the lock, and a failed refresh
//! leaves the last good set in place (an identity provider that is down for a
//! minute must not lock every client out).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::RwLock;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// A JWK set is a few kilobytes; anything much larger is not one.
const MAX_BODY: usize = 1 << 20;
/// A fetch that hangs must not hold up start (or a refresh) for long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A public key and the one algorithm it may verify. Binding the algorithm to
/// the key (not to the token's header) is what stops an attacker from
/// presenting an RSA public key as an HMAC secret.
pub(crate) struct VerifyingKey {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// The usable keys of one fetched set, by `kid`.
pub(crate) type KeySet = HashMap<String, VerifyingKey>;

/// The current key set, swapped whole on each successful refresh.
pub(crate) struct Keys(RwLock<Arc<KeySet>>);

impl Keys {
    pub fn new(set: KeySet) -> Self {
        Keys(RwLock::new(Arc::new(set)))
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.0.read().clone()
    }

    fn replace(&self, set: KeySet) {
        *self.0.write() = Arc::new(set);
    }
}

/// Fetches and parses the set at one URL.
pub(crate) struct Fetcher {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Fetcher {
    /// Checks the URL up front so a typo is reported as such, not as a
    /// failed connection.
    pub fn new(url: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("invalid URL {url:?}: must be http or https"));
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Fetcher {
            client,
            url: parsed,
        })
    }

    /// One GET of the set; every error names the URL and what went wrong.
    pub async fn fetch(&self) -> Result<KeySet, String> {
        let url = &self.url;
        let fail = |what: String| format!("cannot fetch {url}: {what}");
        let mut resp = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| fail(error_chain(&e.without_url())))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(fail(format!("HTTP status {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| fail(error_chain(&e.without_url())))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(fail(format!("body larger than {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        parse_key_set(&body).map_err(|e| format!("{url}: {e}"))
    }
}

/// reqwest's top-level messages ("error sending request") hide the cause
/// ("connection refused"); the operator needs the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWK set document, keeping the keys this hook can verify with.
/// Keys of other kinds are skipped (a provider may publish encryption keys
/// beside signing keys); a set with none usable is an error that says why
/// each key was skipped.
pub(crate) fn parse_key_set(body: &[u8]) -> Result<KeySet, String> {
    let raw: RawSet =
        serde_json::from_slice(body).map_err(|e| format!("not a JWK set (JSON): {e}"))?;
    let mut set = KeySet::new();
    let mut skipped = Vec::new();
    for (i, value) in raw.keys.into_iter().enumerate() {
        match usable_key(value) {
            Ok((kid, _)) if set.contains_key(&kid) => {
                skipped.push(format!("key {i}: duplicate kid {kid:?}"));
            }
            Ok((kid, key)) => {
                set.insert(kid, key);
            }
            Err(why) => skipped.push(format!("key {i}: {why}")),
        }
    }
    for why in &skipped {
        tracing::debug!(hook = "jwt", "JWK skipped: {why}");
    }
    if set.is_empty() {
        return Err(format!(
            "no usable keys (need RSA or EC P-256 signing keys with a kid){}",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(": {}", skipped.join("; "))
            }
        ));
    }
    Ok(set)
}

/// One JWK to (kid, key), or why it cannot be used.
fn usable_key(value: serde_json::Value) -> Result<(String, VerifyingKey), String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("not a JWK: {e}"))?;
    let kid = jwk.common.key_id.clone().ok_or("no kid")?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return Err(format!("kid {kid:?}: not a signing key (use)"));
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return Err(format!("kid {kid:?}: not an RSA or EC P-256 key")),
    };
    if let Some(declared) = jwk.common.key_algorithm
        && !same_alg(declared, alg)
    {
        return Err(format!(
            "kid {kid:?}: alg {declared:?} is not {alg:?} (only RS256 and ES256 are accepted)"
        ));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("kid {kid:?}: {e}"))?;
    Ok((kid, VerifyingKey { alg, key }))
}

fn same_alg(declared: KeyAlgorithm, alg: Algorithm) -> bool {
    matches!(
        (declared, alg),
        (KeyAlgorithm::RS256, Algorithm::RS256) | (KeyAlgorithm::ES256, Algorithm::ES256)
    )
}

/// Refreshes `keys` every `interval` until `stop` is cancelled. One fetch at a
/// time: the next wait starts only after the previous fetch finished, so a
/// slow server is never hit by overlapping requests.
pub(crate) fn spawn_refresh(
    fetcher: Fetcher,
    keys: Arc<Keys>,
    interval: Duration,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            if stop
                .run_until_cancelled(tokio::time::sleep(interval))
                .await
                .is_none()
            {
                break;
            }
            match stop.run_until_cancelled(fetcher.fetch()).await {
                None => break,
                Some(Ok(set)) => {
                    tracing::debug!(hook = "jwt", keys = set.len(), "JWK set refreshed");
                    keys.replace(set);
                }
                Some(Err(e)) => {
                    tracing::warn!(
                        hook = "jwt",
                        "JWK set refresh failed, keeping the old set: {e}"
                    );
                }
            }
        }
        tracing::debug!(hook = "jwt", "JWK set refresh stopped");
    });
}
