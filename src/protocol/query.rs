//! Binary-safe query-string decoding (HTTP announce/scrape, UDP BEP 41 URLData).
//!
//! Info hashes and peer ids are raw bytes, so values are decoded to bytes, never
//! to strings. Decoding happens once, bytewise:
//!
//! - `%XY` is the byte `0xXY`, hex digits in either case;
//! - `+` is the byte `0x2B`, not a space. Every major tracker except Go chihaya
//!   reads it this way, and clients put raw `+` in binary peer ids;
//! - a malformed escape is the client's error, never silently kept;
//! - repeated keys are kept, in order (scrape sends `info_hash` many times).
//!
//! Values that contain no escape borrow from the request, so a typical announce
//! allocates only for its 20-byte hashes.

use std::borrow::Cow;

use crate::protocol::ClientError;

/// One decoded `key=value`; borrowed from the request unless it had escapes.
type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// A parsed query string: `(key, value)` pairs in request order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query<'a> {
    pairs: Vec<Pair<'a>>,
}

impl<'a> Query<'a> {
    /// Splits on `&`, then on the first `=`, and percent-decodes both sides.
    /// Empty segments (`a=1&&b=2`) are skipped; a key without `=` has an empty value.
    pub fn parse(raw: &'a [u8]) -> Result<Self, ClientError> {
        let mut pairs = Vec::with_capacity(raw.iter().filter(|&&b| b == b'&').count() + 1);
        for segment in raw.split(|&b| b == b'&').filter(|s| !s.is_empty()) {
            let (key, value) = match segment.iter().position(|&b| b == b'=') {
                Some(eq) => (&segment[..eq], &segment[eq + 1..]),
                None => (segment, &segment[segment.len()..]),
            };
            pairs.push((percent_decode(key)?, percent_decode(value)?));
        }
        Ok(Query { pairs })
    }

    /// The first value given for `key`.
    pub fn first(&self, key: &[u8]) -> Option<&[u8]> {
        self.all(key).next()
    }

    /// Every value given for `key`, in request order.
    pub fn all<'s, 'k>(
        &'s self,
        key: &'k [u8],
    ) -> impl Iterator<Item = &'s [u8]> + use<'s, 'k, 'a> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Every pair, in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Decodes `%XY` escapes; borrows when there is nothing to decode.
pub fn percent_decode(input: &[u8]) -> Result<Cow<'_, [u8]>, ClientError> {
    let Some(first) = input.iter().position(|&b| b == b'%') else {
        return Ok(Cow::Borrowed(input));
    };
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&input[..first]);
    let mut rest = &input[first..];
    while let Some((&b, tail)) = rest.split_first() {
        if b != b'%' {
            out.push(b);
            rest = tail;
            continue;
        }
        let byte = match tail {
            [hi, lo, ..] => hex_value(*hi).zip(hex_value(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        out.push(byte.ok_or_else(malformed_escape)?);
        rest = &tail[2..];
    }
    Ok(Cow::Owned(out))
}

fn malformed_escape() -> ClientError {
    ClientError::new("invalid query string: malformed percent-escape")
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes every byte except RFC 3986's unreserved ones, the way a
/// careful client would. Used by tests and the `e2e` self-test's client.
pub fn percent_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_both_hex_cases_and_keeps_plus() {
        let q = Query::parse(b"a=%41%6a%6A+b&b=c").unwrap();
        assert_eq!(q.first(b"a"), Some(&b"Ajj+b"[..]));
        assert_eq!(q.first(b"b"), Some(&b"c"[..]));
    }

    #[test]
    fn unescaped_values_borrow() {
        let q = Query::parse(b"port=6881&info_hash=%00").unwrap();
        assert!(matches!(q.pairs[0].1, Cow::Borrowed(_)));
        assert!(matches!(q.pairs[1].1, Cow::Owned(_)));
    }

    #[test]
    fn repeated_keys_stay_in_order() {
        let q = Query::parse(b"h=1&x=0&h=2&h=3").unwrap();
        let all: Vec<&[u8]> = q.all(b"h").collect();
        assert_eq!(all, [&b"1"[..], b"2", b"3"]);
        assert_eq!(q.first(b"h"), Some(&b"1"[..]));
        assert_eq!(q.len(), 4);
    }

    #[test]
    fn empty_segments_and_bare_keys() {
        let q = Query::parse(b"&&a&b=&=v&").unwrap();
        let pairs: Vec<_> = q.iter().collect();
        assert_eq!(pairs, [(&b"a"[..], &b""[..]), (b"b", b""), (b"", b"v")]);
        assert!(Query::parse(b"").unwrap().is_empty());
        assert_eq!(q.first(b"missing"), None);
    }

    #[test]
    fn value_may_contain_equals() {
        let q = Query::parse(b"a=b=c").unwrap();
        assert_eq!(q.first(b"a"), Some(&b"b=c"[..]));
    }

    #[test]
    fn keys_are_decoded_too() {
        let q = Query::parse(b"info%5Fhash=x").unwrap();
        assert_eq!(q.first(b"info_hash"), Some(&b"x"[..]));
    }

    #[test]
    fn malformed_escapes_are_errors() {
        for bad in [
            &b"a=%"[..],
            b"a=%4",
            b"a=%zz",
            b"a=%4g",
            b"%=1",
            b"a=1&b=%%41",
        ] {
            assert_eq!(
                Query::parse(bad).unwrap_err().0,
                "invalid query string: malformed percent-escape",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn encode_leaves_unreserved_alone() {
        assert_eq!(
            percent_encode(b"aZ9-._~ +/\x00\xff"),
            "aZ9-._~%20%2B%2F%00%FF"
        );
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let raw = format!("k={}", percent_encode(&bytes));
            let q = Query::parse(raw.as_bytes()).unwrap();
            prop_assert_eq!(q.first(b"k"), Some(&bytes[..]));
        }

        #[test]
        fn twenty_bytes_round_trip_lowercase(bytes in proptest::array::uniform20(any::<u8>())) {
            let escaped: String = bytes.iter().map(|b| format!("%{b:02x}")).collect();
            let raw = format!("info_hash={escaped}");
            let q = Query::parse(raw.as_bytes()).unwrap();
            prop_assert_eq!(q.first(b"info_hash"), Some(&bytes[..]));
        }

        #[test]
        fn parse_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Query::parse(&raw);
        }
    }
}
