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
use std::fmt;

use smallvec::SmallVec;

use crate::protocol::ClientError;

/// Where one decoded key or value lives: in the request (it had no escape)
/// or in the query's own buffer of decoded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Span {
    Raw { start: u32, end: u32 },
    Decoded { start: u32, end: u32 },
}

/// Pairs held without a heap allocation: a libtorrent announce has about 15.
const INLINE_PAIRS: usize = 16;
/// Decoded bytes held without a heap allocation: an escaped info hash and
/// peer id (20 bytes each) and some room for a few more.
const INLINE_DECODED: usize = 128;

/// A parsed query string: `(key, value)` pairs in request order.
///
/// Values without an escape are read straight from the request; escaped ones
/// are decoded once into one buffer the query owns. Both the pair list and
/// that buffer are inline up to a typical announce's size, so parsing an
/// announce allocates nothing.
#[derive(Clone, Default)]
pub struct Query<'a> {
    raw: &'a [u8],
    pairs: SmallVec<[(Span, Span); INLINE_PAIRS]>,
    decoded: SmallVec<[u8; INLINE_DECODED]>,
}

impl<'a> Query<'a> {
    /// Splits on `&`, then on the first `=`, and percent-decodes both sides.
    /// Empty segments (`a=1&&b=2`) are skipped; a key without `=` has an empty value.
    pub fn parse(raw: &'a [u8]) -> Result<Self, ClientError> {
        // Offsets are u32; a query is bounded far below that by the request
        // size limit, but a caller could pass anything.
        if raw.len() > u32::MAX as usize {
            return Err(ClientError::new("invalid query string: too long"));
        }
        let mut query = Query {
            raw,
            pairs: SmallVec::new(),
            decoded: SmallVec::new(),
        };
        let mut at = 0;
        while at <= raw.len() {
            let end = raw[at..]
                .iter()
                .position(|&b| b == b'&')
                .map_or(raw.len(), |i| at + i);
            if end > at {
                let eq = raw[at..end]
                    .iter()
                    .position(|&b| b == b'=')
                    .map_or(end, |i| at + i);
                let key = query.decode(at, eq)?;
                let value = query.decode((eq + 1).min(end), end)?;
                query.pairs.push((key, value));
            }
            at = end + 1;
        }
        Ok(query)
    }

    /// Decodes `raw[start..end]`, into the query's buffer only if it has an escape.
    fn decode(&mut self, start: usize, end: usize) -> Result<Span, ClientError> {
        let input = &self.raw[start..end];
        if !input.contains(&b'%') {
            return Ok(Span::Raw {
                start: start as u32,
                end: end as u32,
            });
        }
        // Decoding never lengthens: make room for the input, then trim.
        let from = self.decoded.len();
        self.decoded.resize(from + input.len(), 0);
        let written = decode_into(input, &mut self.decoded[from..])?;
        self.decoded.truncate(from + written);
        Ok(Span::Decoded {
            start: from as u32,
            end: self.decoded.len() as u32,
        })
    }

    fn bytes(&self, span: Span) -> &[u8] {
        match span {
            Span::Raw { start, end } => &self.raw[start as usize..end as usize],
            Span::Decoded { start, end } => &self.decoded[start as usize..end as usize],
        }
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
            .filter(move |&&(k, _)| self.bytes(k) == key)
            .map(|&(_, v)| self.bytes(v))
    }

    /// Every pair, in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs
            .iter()
            .map(|&(k, v)| (self.bytes(k), self.bytes(v)))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Two queries are equal when they hold the same pairs in the same order,
/// however each was escaped.
impl PartialEq for Query<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Query<'_> {}

impl fmt::Debug for Query<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(k, v)| (k.escape_ascii().to_string(), v.escape_ascii().to_string())),
            )
            .finish()
    }
}

/// Decodes `%XY` escapes; borrows when there is nothing to decode.
pub fn percent_decode(input: &[u8]) -> Result<Cow<'_, [u8]>, ClientError> {
    if !input.contains(&b'%') {
        return Ok(Cow::Borrowed(input));
    }
    let mut out = vec![0; input.len()];
    let written = decode_into(input, &mut out)?;
    out.truncate(written);
    Ok(Cow::Owned(out))
}

/// Writes `input` with every `%XY` replaced by its byte into `out` (at least
/// as long as `input`) and returns how many bytes that took.
fn decode_into(input: &[u8], out: &mut [u8]) -> Result<usize, ClientError> {
    let (mut read, mut written) = (0, 0);
    while let Some(&b) = input.get(read) {
        out[written] = if b == b'%' {
            let hi = input
                .get(read + 1)
                .map_or(NOT_HEX, |&d| HEX_VALUE[usize::from(d)]);
            let lo = input
                .get(read + 2)
                .map_or(NOT_HEX, |&d| HEX_VALUE[usize::from(d)]);
            if hi > 15 || lo > 15 {
                return Err(malformed_escape());
            }
            read += 3;
            hi << 4 | lo
        } else {
            read += 1;
            b
        };
        written += 1;
    }
    Ok(written)
}

fn malformed_escape() -> ClientError {
    ClientError::new("invalid query string: malformed percent-escape")
}

const NOT_HEX: u8 = 0xFF;

/// Each byte's value as a hex digit (either case), or [`NOT_HEX`].
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

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
    fn unescaped_values_borrow_and_an_announce_stays_inline() {
        let q = Query::parse(b"port=6881&info_hash=%00").unwrap();
        assert!(matches!(q.pairs[0].1, Span::Raw { .. }));
        assert!(matches!(q.pairs[1].1, Span::Decoded { .. }));
        assert!(matches!(percent_decode(b"6881").unwrap(), Cow::Borrowed(_)));
        assert!(matches!(percent_decode(b"%00").unwrap(), Cow::Owned(_)));

        let escaped = |n: u8| format!("%{n:02x}").repeat(20);
        let raw = format!(
            "info_hash={}&peer_id={}&port=6881&uploaded=0&downloaded=0&left=1&corrupt=0\
             &key=0a1b2c3d&event=started&numwant=50&compact=1&no_peer_id=1&supportcrypto=1&redundant=0",
            escaped(0xab),
            escaped(0xcd)
        );
        let q = Query::parse(raw.as_bytes()).unwrap();
        assert_eq!(q.first(b"info_hash"), Some(&[0xab; 20][..]));
        assert_eq!(q.first(b"peer_id"), Some(&[0xcd; 20][..]));
        assert!(!q.pairs.spilled() && !q.decoded.spilled(), "{q:?}");
    }

    #[test]
    fn equality_is_by_decoded_pairs() {
        assert_eq!(
            Query::parse(b"a=%41").unwrap(),
            Query::parse(b"a=A").unwrap()
        );
        assert_ne!(
            Query::parse(b"a=A").unwrap(),
            Query::parse(b"a=A&a=A").unwrap()
        );
        assert_ne!(Query::parse(b"a=A").unwrap(), Query::parse(b"a=B").unwrap());
    }

    #[test]
    fn many_escaped_pairs_spill_to_the_heap_and_still_decode() {
        let raw: Vec<String> = (0..40u8)
            .map(|i| format!("info_hash={}", percent_encode(&[i; 20])))
            .collect();
        let raw = raw.join("&");
        let q = Query::parse(raw.as_bytes()).unwrap();
        let all: Vec<&[u8]> = q.all(b"info_hash").collect();
        assert_eq!(all.len(), 40);
        for (i, v) in all.iter().enumerate() {
            assert_eq!(*v, &[i as u8; 20][..]);
        }
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

    /// A decoded key and value.
    type Pair = (Vec<u8>, Vec<u8>);

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

        /// The single-pass parser agrees with the plain definition: split on
        /// `&`, drop empty segments, split on the first `=`, decode each side.
        #[test]
        fn parse_matches_the_definition(raw in proptest::collection::vec(
            prop_oneof![Just(b'&'), Just(b'='), Just(b'%'), Just(b'a'), Just(b'4'), Just(b'F'), any::<u8>()],
            0..96,
        )) {
            let reference: Result<Vec<Pair>, ClientError> = raw
                .split(|&b| b == b'&')
                .filter(|s| !s.is_empty())
                .map(|segment| {
                    let (k, v) = match segment.iter().position(|&b| b == b'=') {
                        Some(eq) => (&segment[..eq], &segment[eq + 1..]),
                        None => (segment, &segment[segment.len()..]),
                    };
                    Ok((percent_decode(k)?.into_owned(), percent_decode(v)?.into_owned()))
                })
                .collect();
            match (Query::parse(&raw), reference) {
                (Ok(q), Ok(pairs)) => {
                    let got: Vec<(Vec<u8>, Vec<u8>)> =
                        q.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                    prop_assert_eq!(got, pairs);
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (got, want) => prop_assert!(false, "parse {:?} vs definition {:?}", got, want),
            }
        }
    }
}
