//! What the site registers with the tracker: users (who announce with a
//! passkey) and torrents (which may be announced at all).

use serde::{Deserialize, Serialize};

use crate::protocol::InfoHash;

/// The site's user id (its database key; sites use 64-bit ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// The site's torrent id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TorrentId(pub i64);

/// A user's secret announce token, as it appears in `/:passkey/announce`.
///
/// Only URL-safe characters are accepted, so a passkey never needs escaping
/// in an announce URL, a log line or a BEP 41 path, and the set of valid
/// passkeys is the set a site can actually hand out.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Passkey(String);

impl Passkey {
    pub const MAX_LEN: usize = 64;

    pub fn new(text: &str) -> Result<Passkey, String> {
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(format!(
                "a passkey is 1 to {} characters long",
                Self::MAX_LEN
            ));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("a passkey holds only letters, digits, '-' and '_'".into());
        }
        Ok(Passkey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Passkey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Passkey::new(&s)
    }
}

impl From<Passkey> for String {
    fn from(p: Passkey) -> String {
        p.0
    }
}

/// Never printed whole: a passkey in a log is a stolen account.
impl std::fmt::Debug for Passkey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self.0.chars().take(4).collect();
        write!(f, "Passkey({shown}…)")
    }
}

/// A registered user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: UserId,
    pub passkey: Passkey,
    /// Without it, announces with `left > 0` are refused ("leeching forbidden").
    #[serde(default = "yes")]
    pub can_leech: bool,
    /// Applied to every byte this user uploads (e.g. 2.0 for a bonus).
    #[serde(default = "one")]
    pub upload_multiplier: f64,
    /// Applied to every byte this user downloads.
    #[serde(default = "one")]
    pub download_multiplier: f64,
}

/// Which of a torrent's transfers count against a user's ratio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Freeleech {
    /// Both directions count.
    #[default]
    Normal,
    /// Downloads are not counted; uploads are.
    Free,
    /// Neither direction is counted.
    Neutral,
}

impl Freeleech {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Freeleech::Normal => "normal",
            Freeleech::Free => "free",
            Freeleech::Neutral => "neutral",
        }
    }

    pub fn parse(text: &str) -> Result<Freeleech, String> {
        match text {
            "normal" => Ok(Freeleech::Normal),
            "free" => Ok(Freeleech::Free),
            "neutral" => Ok(Freeleech::Neutral),
            other => Err(format!(
                "unknown freeleech kind {other:?} (normal, free or neutral)"
            )),
        }
    }
}

/// A registered torrent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Torrent {
    pub id: TorrentId,
    /// The v1 info hash (hex in JSON and in the database).
    #[serde(with = "hex_hash")]
    pub info_hash: InfoHash,
    /// For a hybrid torrent, its v2 hash truncated to 20 bytes, which BEP 52
    /// clients announce as well: both hashes are one swarm and one account.
    #[serde(default, with = "hex_hash_opt")]
    pub info_hash_v2: Option<InfoHash>,
    #[serde(default)]
    pub freeleech: Freeleech,
    #[serde(default = "one")]
    pub upload_multiplier: f64,
    #[serde(default = "one")]
    pub download_multiplier: f64,
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

/// 40 lower- or upper-case hex digits to an info hash.
pub fn parse_hex_hash(text: &str) -> Result<InfoHash, String> {
    let bytes = text.as_bytes();
    if bytes.len() != 40 {
        return Err(format!("an info hash is 40 hex digits, got {:?}", text));
    }
    let mut out = [0u8; 20];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16);
        let lo = (pair[1] as char).to_digit(16);
        match (hi, lo) {
            (Some(h), Some(l)) => out[i] = (h * 16 + l) as u8,
            _ => return Err(format!("an info hash is 40 hex digits, got {:?}", text)),
        }
    }
    Ok(InfoHash(out))
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::protocol::InfoHash;

    pub fn serialize<S: Serializer>(h: &InfoHash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&h.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<InfoHash, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_hex_hash(&text).map_err(serde::de::Error::custom)
    }
}

mod hex_hash_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::protocol::InfoHash;

    pub fn serialize<S: Serializer>(h: &Option<InfoHash>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_some(&h.to_hex()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<InfoHash>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| super::parse_hex_hash(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkeys_are_url_safe_and_bounded() {
        assert!(Passkey::new("aB3_-x").is_ok());
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(Passkey::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            format!("{:?}", Passkey::new("abcdefgh").unwrap()),
            "Passkey(abcd…)"
        );
    }

    #[test]
    fn torrents_read_from_json_with_defaults() {
        let t: Torrent = serde_json::from_str(
            r#"{"id": 7, "info_hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "freeleech": "neutral"}"#,
        )
        .unwrap();
        assert_eq!(t.id, TorrentId(7));
        assert_eq!(t.info_hash, InfoHash([0xaa; 20]));
        assert_eq!(t.info_hash_v2, None);
        assert_eq!(t.freeleech, Freeleech::Neutral);
        assert_eq!(t.upload_multiplier, 1.0);
        let bad = serde_json::from_str::<Torrent>(r#"{"id": 1, "info_hash": "zz"}"#);
        assert!(bad.unwrap_err().to_string().contains("40 hex digits"));
    }
}
