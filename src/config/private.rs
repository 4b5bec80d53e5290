//! `private:`: private tracking (passkeys, registered torrents, per-user
//! accounting written to a database). Absent: a public tracker, which never
//! pays for any of it.
//!
//! Not a Go chihaya key: Go chihaya's early versions configured their
//! backend drivers elsewhere, and its current versions have none.

use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::duration;

/// The `private:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivateConfig {
    /// Where users, torrents and the accounting live: `sqlite://PATH` (the
    /// file is created on first start) or `postgres://USER:PASSWORD@HOST/DB`.
    /// Printed with the password redacted.
    #[serde(serialize_with = "redact_password")]
    pub database: String,
    /// A directory where every batch is written (and fsynced) before it is
    /// sent to the database, and removed once committed; replayed at start.
    pub journal_path: String,
    /// How often the accumulated deltas are written, as one batch.
    #[serde(with = "duration")]
    pub flush_interval: Duration,
    /// How often users and torrents are re-read from the database, to catch
    /// changes the site made without telling the admin API.
    #[serde(with = "duration")]
    pub reload_interval: Duration,
    /// The longest wait between two attempts while the database is down
    /// (the wait doubles from `flush_interval` up to this).
    #[serde(with = "duration")]
    pub max_retry_backoff: Duration,
    /// Site-wide freeleech: no torrent's download is counted.
    pub global_freeleech: bool,
}

impl Default for PrivateConfig {
    fn default() -> Self {
        PrivateConfig {
            database: "sqlite://chihaya-private.sqlite".into(),
            journal_path: "chihaya-private.journal".into(),
            flush_interval: Duration::from_secs(3),
            reload_interval: Duration::from_secs(5 * 60),
            max_retry_backoff: Duration::from_secs(60),
            global_freeleech: false,
        }
    }
}

impl PrivateConfig {
    /// Problems named by their key under `private.`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, problem: &str| Err((key.to_string(), problem.to_string()));
        if !(self.database.starts_with("sqlite:")
            || self.database.starts_with("postgres://")
            || self.database.starts_with("postgresql://"))
        {
            return err(
                "database",
                "must be a sqlite://PATH or postgres://USER:PASSWORD@HOST/DB URL",
            );
        }
        if self.journal_path.is_empty() {
            return err("journal_path", "must name a directory");
        }
        if self.flush_interval.is_zero() {
            return err("flush_interval", "must be greater than zero");
        }
        if self.reload_interval.is_zero() {
            return err("reload_interval", "must be greater than zero");
        }
        if self.max_retry_backoff < self.flush_interval {
            return err(
                "max_retry_backoff",
                "must not be shorter than flush_interval",
            );
        }
        Ok(())
    }
}

/// `postgres://user:secret@host/db` printed as `postgres://user:<redacted>@host/db`.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_string(),
    }
}

fn redact_password<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redacted_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_nothing_else() {
        assert_eq!(
            redacted_url("postgres://tracker:s3cr@t@db.example/chihaya"),
            "postgres://tracker:<redacted>@db.example/chihaya"
        );
        assert_eq!(
            redacted_url("postgres://tracker@db/x"),
            "postgres://tracker@db/x"
        );
        assert_eq!(redacted_url("sqlite://a.db"), "sqlite://a.db");
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = PrivateConfig {
            database: "mysql://x".into(),
            ..PrivateConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "database");
        let bad = PrivateConfig {
            max_retry_backoff: Duration::from_secs(1),
            ..PrivateConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "max_retry_backoff");
        assert_eq!(PrivateConfig::default().validate(), Ok(()));
    }
}
