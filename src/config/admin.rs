//! The admin API's bearer token: `chihaya.admin_token`, or
//! `chihaya.admin_token_file` so the secret need not sit in the YAML.
//!
//! They sit beside `metrics_addr` because the API is served there; neither
//! set means the API is off.

use std::path::Path;

use serde::Serializer;

/// Shorter tokens are refused: the API can ban any torrent, so a token must
/// not be guessable, and 16 characters is the least a generated one has.
pub const MIN_LEN: usize = 16;

/// The token the two keys give; `None` when neither is set. Errors name the key.
pub fn resolve(inline: &str, file: &str) -> Result<Option<String>, String> {
    let token = match (inline.is_empty(), file.is_empty()) {
        (true, true) => return Ok(None),
        (false, false) => {
            return Err("admin_token and admin_token_file are both set; keep one".into());
        }
        (false, true) => check("admin_token", inline)?,
        (true, false) => {
            let text = std::fs::read_to_string(Path::new(file))
                .map_err(|e| format!("admin_token_file: {file}: cannot read it: {e}"))?;
            // Files end with a newline; the token does not.
            check("admin_token_file", text.trim_end_matches(['\n', '\r']))?
        }
    };
    Ok(Some(token))
}

fn check(key: &str, token: &str) -> Result<String, String> {
    if token.chars().count() < MIN_LEN {
        return Err(format!(
            "{key}: the token must be at least {MIN_LEN} characters"
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{key}: the token must not contain spaces or control characters"
        ));
    }
    Ok(token.to_string())
}

/// `check-config` prints the configuration: never the secret itself.
pub fn redacted<S: Serializer>(token: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if token.is_empty() { "" } else { "<redacted>" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_key_is_off_and_both_is_an_error() {
        assert_eq!(resolve("", ""), Ok(None));
        let both = resolve("0123456789abcdef", "/x").unwrap_err();
        assert!(both.contains("both set"), "{both}");
    }

    #[test]
    fn short_or_spaced_tokens_are_refused_naming_the_key() {
        let short = resolve("short", "").unwrap_err();
        assert_eq!(
            short,
            "admin_token: the token must be at least 16 characters"
        );
        assert!(resolve("0123456789 abcdef", "").is_err());
        assert_eq!(
            resolve("0123456789abcdef", ""),
            Ok(Some("0123456789abcdef".into()))
        );
    }

    #[test]
    fn a_token_file_loses_its_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdefXYZ\n").unwrap();
        let read = resolve("", path.to_str().unwrap());
        assert_eq!(read, Ok(Some("0123456789abcdefXYZ".into())));
        let missing = resolve("", "/nonexistent/token").unwrap_err();
        assert!(missing.starts_with("admin_token_file: /nonexistent/token: cannot read it"));
    }
}
