//! Placeholder: the `jwt` hook is built on another branch and replaces this
//! file at merge. It exists only so the registry can name the hook here.

use serde_yaml_ng::Value;
use tokio_util::sync::CancellationToken;

use super::hook::Hook;

/// Announces must carry a JWT signed by a key of the configured JWK set.
pub struct Jwt;

impl Jwt {
    pub async fn new(_options: &Value, _shutdown: CancellationToken) -> Result<Jwt, String> {
        Err("not built in this branch".into())
    }
}

impl Hook for Jwt {
    fn name(&self) -> &'static str {
        "jwt"
    }
}
