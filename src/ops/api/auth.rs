//! The admin API's bearer token, and checking it without a timing leak.

use std::hash::Hasher;

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use siphasher::sip128::{Hasher128, SipHasher24};
use subtle::ConstantTimeEq;

/// The configured token, kept only as a keyed digest.
///
/// A request's token is digested with the same random per-process key and
/// the two 16-byte digests are compared in constant time: how long the check
/// takes says nothing about the token, not even its length, and the key is
/// unknown outside the process so digests cannot be aimed at.
pub struct Token {
    key: [u8; 16],
    digest: [u8; 16],
}

impl Token {
    pub fn new(token: &str) -> Token {
        let key = rand::random();
        Token {
            key,
            digest: digest(&key, token.as_bytes()),
        }
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(given) = bearer(headers) else {
            return false;
        };
        digest(&self.key, given).ct_eq(&self.digest).into()
    }
}

fn digest(key: &[u8; 16], bytes: &[u8]) -> [u8; 16] {
    let mut hasher = SipHasher24::new_with_key(key);
    hasher.write(bytes);
    hasher.finish128().as_bytes()
}

/// The credentials of `Authorization: Bearer <token>` (the scheme is
/// case-insensitive, as RFC 9110 says).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.trim_ascii())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_right_bearer_token_is_admitted() {
        let token = Token::new("0123456789abcdef");
        assert!(token.admits(&with("Bearer 0123456789abcdef")));
        assert!(token.admits(&with("bearer 0123456789abcdef")));
    }

    #[test]
    fn anything_else_is_refused() {
        let token = Token::new("0123456789abcdef");
        assert!(!token.admits(&HeaderMap::new()));
        for value in [
            "Bearer 0123456789abcdeF",
            "Bearer 0123456789abcde",
            "Bearer 0123456789abcdef0",
            "Basic 0123456789abcdef",
            "0123456789abcdef",
            "Bearer ",
            "Bearer",
        ] {
            assert!(!token.admits(&with(value)), "{value}");
        }
    }

    #[test]
    fn two_processes_digest_the_same_token_differently() {
        let (a, b) = (
            Token::new("same token here!!"),
            Token::new("same token here!!"),
        );
        assert_ne!(a.digest, b.digest, "keys are random per Token");
    }
}
