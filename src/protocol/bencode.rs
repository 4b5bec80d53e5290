//! Bencode (BEP 3): a streaming writer for the hot path and a strict decoder.
//!
//! The writer appends straight into a `Vec<u8>` with no intermediate tree, and
//! refuses (panics) to write dictionary keys out of order: strict decoders
//! reject unsorted dictionaries (Go chihaya's issue #520), so an ordering bug
//! must fail the first test that hits it rather than reach a client.
//!
//! The decoder is strict in the same spirit (sorted unique keys, canonical
//! integers and lengths, no trailing bytes); tests and the `e2e` self-test use
//! it to check replies exactly as a picky client would.

use std::collections::BTreeMap;
use std::fmt;

/// Appends `i<n>e`.
pub fn write_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    if n < 0 {
        out.push(b'-');
    }
    write_decimal(out, n.unsigned_abs());
    out.push(b'e');
}

/// Appends `<len>:<bytes>`.
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_bytes_header(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Appends only the `<len>:` prefix, for callers that stream the content
/// themselves (compact peer lists are written without a temporary buffer).
pub fn write_bytes_header(out: &mut Vec<u8>, len: usize) {
    write_decimal(out, len as u64);
    out.push(b':');
}

/// ASCII decimal without going through `fmt`.
fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A dictionary being written; `e` is appended when it is dropped (or `end`ed).
///
/// Keys must come in strictly increasing raw-byte order; anything else panics.
pub struct Dict<'o, 'k> {
    out: &'o mut Vec<u8>,
    last: Option<&'k [u8]>,
}

impl<'o, 'k> Dict<'o, 'k> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'd');
        Dict { out, last: None }
    }

    fn key(&mut self, key: &'k [u8]) -> &mut Vec<u8> {
        if let Some(last) = self.last {
            assert!(
                last < key,
                "bencode dictionary keys out of order: {:?} after {:?}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(last)
            );
        }
        self.last = Some(key);
        write_bytes(self.out, key);
        self.out
    }

    pub fn int(&mut self, key: &'k [u8], n: i64) -> &mut Self {
        write_int(self.key(key), n);
        self
    }

    pub fn bytes(&mut self, key: &'k [u8], value: &[u8]) -> &mut Self {
        write_bytes(self.key(key), value);
        self
    }

    /// Writes the key and the `<len>:` prefix; the caller appends exactly `len` bytes
    /// through [`Dict::raw`] before writing the next key.
    pub fn bytes_header(&mut self, key: &'k [u8], len: usize) -> &mut Self {
        write_bytes_header(self.key(key), len);
        self
    }

    /// The output buffer, for content announced with [`Dict::bytes_header`].
    pub fn raw(&mut self) -> &mut Vec<u8> {
        self.out
    }

    /// A nested dictionary under `key`; it closes when dropped.
    pub fn dict<'n>(&mut self, key: &'k [u8]) -> Dict<'_, 'n> {
        Dict::new(self.key(key))
    }

    /// A nested list under `key`; it closes when dropped.
    pub fn list(&mut self, key: &'k [u8]) -> List<'_> {
        List::new(self.key(key))
    }

    /// Closes the dictionary (the same as dropping it, but reads better).
    pub fn end(self) {}
}

impl Drop for Dict<'_, '_> {
    fn drop(&mut self) {
        self.out.push(b'e');
    }
}

/// A list being written; `e` is appended when it is dropped (or `end`ed).
pub struct List<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> List<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'l');
        List { out }
    }

    pub fn int(&mut self, n: i64) -> &mut Self {
        write_int(self.out, n);
        self
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        write_bytes(self.out, value);
        self
    }

    pub fn dict<'k>(&mut self) -> Dict<'_, 'k> {
        Dict::new(self.out)
    }

    pub fn list(&mut self) -> List<'_> {
        List::new(self.out)
    }

    pub fn end(self) {}
}

impl Drop for List<'_> {
    fn drop(&mut self) {
        self.out.push(b'e');
    }
}

/// A decoded bencode value. Dictionaries are ordered maps, so encoding a
/// `Value` back always yields sorted keys.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// The value under `key` if this is a dictionary that has it.
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.as_dict()?.get(key)
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The bytes as UTF-8 text, if they are.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()?).ok()
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Appends the canonical encoding.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => write_int(out, *n),
            Value::Bytes(b) => write_bytes(out, b),
            Value::List(items) => {
                out.push(b'l');
                items.iter().for_each(|v| v.encode_into(out));
                out.push(b'e');
            }
            Value::Dict(entries) => {
                out.push(b'd');
                for (k, v) in entries {
                    write_bytes(out, k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// Shows byte strings as escaped text (`b"peers"`), which is what one wants
/// to read in a failing assertion.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Bytes(b) => write!(f, "b\"{}\"", b.escape_ascii()),
            Value::List(items) => f.debug_list().entries(items).finish(),
            Value::Dict(entries) => f
                .debug_map()
                .entries(entries.iter().map(|(k, v)| (Value::Bytes(k.clone()), v)))
                .finish(),
        }
    }
}

/// Why bytes are not (canonical) bencode, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid bencode at byte {offset}: {reason}")]
pub struct DecodeError {
    pub offset: usize,
    pub reason: &'static str,
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// Decodes exactly one value spanning all of `input`.
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = Decoder { input, at: 0 };
    let value = decoder.value(0)?;
    if decoder.at != input.len() {
        return Err(decoder.error("trailing bytes after the value"));
    }
    Ok(value)
}

struct Decoder<'a> {
    input: &'a [u8],
    at: usize,
}

impl Decoder<'_> {
    fn error(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.at,
            reason,
        }
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.at)
            .copied()
            .ok_or_else(|| self.error("unexpected end of input"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.peek()? {
            b'i' => {
                self.at += 1;
                let n = self.integer(b'e')?;
                Ok(Value::Int(n))
            }
            b'0'..=b'9' => self.byte_string().map(|b| Value::Bytes(b.to_vec())),
            b'l' => self.list(depth),
            b'd' => self.dict(depth),
            _ => Err(self.error("expected i, l, d or a digit")),
        }
    }

    /// A canonical integer up to `end`: no leading zeros, no `-0`, no `+`.
    fn integer(&mut self, end: u8) -> Result<i64, DecodeError> {
        let start = self.at;
        let len = self.input[start..]
            .iter()
            .position(|&b| b == end)
            .ok_or_else(|| self.error("unterminated integer"))?;
        let text = &self.input[start..start + len];
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        let canonical = !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits[0] != b'0')
            && text != b"-0";
        if !canonical {
            return Err(self.error("not a canonical integer"));
        }
        let n = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| self.error("integer out of range"))?;
        self.at = start + len + 1;
        Ok(n)
    }

    fn byte_string(&mut self) -> Result<&[u8], DecodeError> {
        let at = self.at;
        let len = self.integer(b':')?;
        let len = usize::try_from(len).map_err(|_| DecodeError {
            offset: at,
            reason: "negative length",
        })?;
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| self.error("string longer than the input"))?;
        let bytes = &self.input[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn list(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.at += 1;
        let mut items = Vec::new();
        while self.peek()? != b'e' {
            items.push(self.value(depth + 1)?);
        }
        self.at += 1;
        Ok(Value::List(items))
    }

    fn dict(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.at += 1;
        let mut entries = BTreeMap::new();
        let mut last: Option<Vec<u8>> = None;
        while self.peek()? != b'e' {
            if !self.peek()?.is_ascii_digit() {
                return Err(self.error("dictionary key is not a byte string"));
            }
            let key_at = self.at;
            let key = self.byte_string()?.to_vec();
            if last.as_ref().is_some_and(|last| *last >= key) {
                return Err(DecodeError {
                    offset: key_at,
                    reason: "dictionary keys not sorted or repeated",
                });
            }
            let value = self.value(depth + 1)?;
            last = Some(key.clone());
            entries.insert(key, value);
        }
        self.at += 1;
        Ok(Value::Dict(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(input: &[u8]) -> &'static str {
        decode(input).unwrap_err().reason
    }

    #[test]
    fn writes_integers() {
        for (n, text) in [
            (0, "i0e"),
            (7, "i7e"),
            (-7, "i-7e"),
            (1800, "i1800e"),
            (i64::MIN, "i-9223372036854775808e"),
            (i64::MAX, "i9223372036854775807e"),
        ] {
            let mut out = Vec::new();
            write_int(&mut out, n);
            assert_eq!(out, text.as_bytes());
        }
    }

    #[test]
    fn writes_nested_structures_byte_exact() {
        let mut out = Vec::new();
        {
            let mut d = Dict::new(&mut out);
            d.int(b"a", 1).bytes(b"b", b"xy");
            d.list(b"c").int(2).bytes(b"").dict().int(b"k", 3);
            d.dict(b"d").end();
            d.bytes_header(b"e", 2).raw().extend_from_slice(b"zz");
        }
        assert_eq!(out, b"d1:ai1e1:b2:xy1:cli2e0:d1:ki3eee1:dde1:e2:zze");
        assert!(decode(&out).is_ok());
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn writer_refuses_unsorted_keys() {
        let mut out = Vec::new();
        Dict::new(&mut out).int(b"peers", 1).int(b"interval", 2);
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn writer_refuses_repeated_keys() {
        let mut out = Vec::new();
        Dict::new(&mut out).int(b"a", 1).int(b"a", 2);
    }

    #[test]
    fn decodes_and_navigates() {
        let v = decode(b"d8:intervali1800e5:peersl2:abee").unwrap();
        assert_eq!(v.get(b"interval").and_then(Value::as_int), Some(1800));
        let peers = v.get(b"peers").and_then(Value::as_list).unwrap();
        assert_eq!(peers[0].as_str(), Some("ab"));
        assert_eq!(v.get(b"nope"), None);
        assert_eq!(
            format!("{v:?}"),
            r#"{b"interval": 1800, b"peers": [b"ab"]}"#
        );
    }

    #[test]
    fn rejects_non_canonical_input() {
        assert_eq!(
            err(b"d1:bi1e1:ai2ee"),
            "dictionary keys not sorted or repeated"
        );
        assert_eq!(
            err(b"d1:ai1e1:ai2ee"),
            "dictionary keys not sorted or repeated"
        );
        assert_eq!(err(b"i03e"), "not a canonical integer");
        assert_eq!(err(b"i-0e"), "not a canonical integer");
        assert_eq!(err(b"ie"), "not a canonical integer");
        assert_eq!(err(b"i+1e"), "not a canonical integer");
        assert_eq!(err(b"i99999999999999999999e"), "integer out of range");
        assert_eq!(err(b"01:a"), "not a canonical integer");
        assert_eq!(err(b"5:abc"), "string longer than the input");
        assert_eq!(err(b"i1ei2e"), "trailing bytes after the value");
        assert_eq!(err(b"l"), "unexpected end of input");
        assert_eq!(err(b"i12"), "unterminated integer");
        assert_eq!(err(b"di1ei2ee"), "dictionary key is not a byte string");
        assert_eq!(err(b"x"), "expected i, l, d or a digit");
        assert_eq!(err(&[b'l'; 100]), "nested too deeply");
        assert_eq!(
            decode(b"d1:bi1e1:ai2ee").unwrap_err().to_string(),
            "invalid bencode at byte 7: dictionary keys not sorted or repeated"
        );
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::btree_map(
                    proptest::collection::vec(any::<u8>(), 0..6),
                    inner,
                    0..6
                )
                .prop_map(Value::Dict),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(v in arb_value()) {
            let bytes = v.encode();
            prop_assert_eq!(decode(&bytes).unwrap(), v);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(v) = decode(&bytes) {
                // Whatever strict decoding accepts is canonical, so it re-encodes identically.
                prop_assert_eq!(v.encode(), bytes);
            }
        }
    }
}
