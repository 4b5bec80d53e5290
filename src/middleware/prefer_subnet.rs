//! Placeholder: the `prefer subnet` hook is built on another branch and
//! replaces this file at merge. It exists only so the registry can name it.

use serde_yaml_ng::Value;

use super::hook::Hook;

/// Peers in the announcer's subnet are handed out first.
pub struct PreferSubnet;

impl PreferSubnet {
    pub fn new(_options: &Value) -> Result<PreferSubnet, String> {
        Err("not built in this branch".into())
    }
}

impl Hook for PreferSubnet {
    fn name(&self) -> &'static str {
        "prefer subnet"
    }
}
