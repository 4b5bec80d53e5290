//! Go-style durations: `"30m"`, `"1m30s"`, `"500ms"`.
//!
//! Go chihaya's YAML decodes a `time.Duration` from either a string in Go's
//! syntax or a bare integer of nanoseconds, so both are accepted here. Parsing
//! happens inside a serde visitor so that a bad value is reported with the
//! full key path (`chihaya.http.read_timeout`) and line, not just its parent.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Parses Go's duration syntax (`time.ParseDuration`): a sequence of
/// decimal numbers, each with an optional fraction and a unit (`ns`, `us`,
/// `µs`, `μs`, `ms`, `s`, `m`, `h`), as in `"1.5h"` or `"2h45m"`; a bare `"0"`
/// is zero. The same strings are valid or invalid here as in Go, with the
/// same value, so one file serves either tracker. Negative durations are
/// refused because no setting here has a meaning for them.
///
/// Our own code, not the go-parse-duration crate (0.1.1) this used before:
/// that port loops forever on a fraction of more than 18 digits (which Go
/// parses, cutting the precision; fuzzing `Config::parse` found it) and
/// panicked on non-ASCII text. This one walks bytes, as Go does, and every
/// loop advances.
pub fn parse(text: &str) -> Result<Duration, String> {
    let (negative, nanos) = parse_go(text.trim()).map_err(|why| {
        format!("invalid duration {text:?}: {why} (expected e.g. \"30m\", \"1m30s\", \"500ms\")")
    })?;
    if negative && nanos > 0 {
        return Err(format!("invalid duration {text:?}: must not be negative"));
    }
    Ok(Duration::from_nanos(nanos))
}

/// The longest Go's `time.Duration` (an int64 of nanoseconds) holds.
const MAX_NANOS: u64 = i64::MAX as u64;

/// Go's `time.ParseDuration`: the sign, and the magnitude in nanoseconds (at
/// most [`MAX_NANOS`]).
fn parse_go(s: &str) -> Result<(bool, u64), String> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok((negative, 0));
    }
    if rest.is_empty() {
        return Err("no number".into());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (nanos, after) = term(rest)?;
        total = total
            .checked_add(nanos)
            .filter(|&t| t <= MAX_NANOS)
            .ok_or(TOO_LONG)?;
        rest = after;
    }
    Ok((negative, total))
}

const TOO_LONG: &str = "longer than 2562047h47m16.854775807s";

/// One `[0-9]*(.[0-9]*)?unit` at the start of `s`, in nanoseconds, and
/// what follows it.
fn term(s: &str) -> Result<(u64, &str), String> {
    let (whole, rest) = leading_int(s).ok_or(TOO_LONG)?;
    let had_whole = rest.len() != s.len();
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let (digits, scale, after) = leading_fraction(after_dot);
            let had_fraction = after.len() != after_dot.len();
            (had_fraction.then_some((digits, scale)), after)
        }
        None => (None, rest),
    };
    if !had_whole && fraction.is_none() {
        return Err("a number must come before each unit".into());
    }
    // The unit runs to the next digit or dot: ASCII, so a char boundary.
    let unit_len = rest
        .bytes()
        .position(|b| b == b'.' || b.is_ascii_digit())
        .unwrap_or(rest.len());
    if unit_len == 0 {
        return Err("missing unit".into());
    }
    let (unit, rest) = rest.split_at(unit_len);
    let unit = unit_nanos(unit)
        .ok_or_else(|| format!("unknown unit {unit:?} (valid: ns, us, ms, s, m, h)"))?;
    let mut nanos = whole
        .checked_mul(unit)
        .filter(|&n| n <= MAX_NANOS)
        .ok_or(TOO_LONG)?;
    if let Some((digits, scale)) = fraction
        && digits > 0
    {
        // As Go does: a float is exact to the nanosecond for fractions of an hour.
        nanos += (digits as f64 * (unit as f64 / scale)) as u64;
        if nanos > MAX_NANOS {
            return Err(TOO_LONG.into());
        }
    }
    Ok((nanos, rest))
}

/// The leading `[0-9]*` of `s` and what follows; `None` past 2^63.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut x: u64 = 0;
    for b in s[..len].bytes() {
        x = push_digit(x, b)?;
    }
    Some((x, &s[len..]))
}

/// `x` with the ASCII digit `b` appended, or `None` past 2^63 (Go's bound
/// for both the whole part and the fraction's digits).
fn push_digit(x: u64, b: u8) -> Option<u64> {
    x.checked_mul(10)
        .and_then(|x| x.checked_add(u64::from(b - b'0')))
        .filter(|&x| x <= 1 << 63)
}

/// The leading `[0-9]*` of a fraction: its digits as an integer, the power
/// of ten to divide them by, and what follows. Digits past 2^63 are
/// consumed but add no precision (Go's rule; the old crate looped forever
/// on them).
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (mut x, mut scale) = (0u64, 1f64);
    for b in s[..len].bytes() {
        let Some(y) = push_digit(x, b) else { break };
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[len..])
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        // Go's three spellings: ASCII, the micro sign, the Greek mu.
        "us" | "\u{00B5}s" | "\u{03BC}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Writes the largest whole unit, so `check-config` output reads like the
/// example config (`"30m"`, not `"1800s"`) and parses back to the same value.
pub fn format(d: &Duration) -> String {
    let nanos = d.as_nanos();
    const UNITS: [(u128, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    if nanos == 0 {
        return "0s".into();
    }
    let (size, unit) = UNITS
        .iter()
        .find(|(size, _)| nanos.is_multiple_of(*size))
        .expect("every duration is a whole number of nanoseconds");
    format!("{}{unit}", nanos / size)
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(d))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as \"30m\" or \"5s\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    /// A bare number is nanoseconds, as Go reads it into a `time.Duration`
    /// (an int64): past that range it is refused like the same length
    /// written with a unit, so every accepted value can be written back.
    fn visit_u64<E: de::Error>(self, nanos: u64) -> Result<Duration, E> {
        if nanos > MAX_NANOS {
            return Err(E::custom(format!("invalid duration {nanos}: {TOO_LONG}")));
        }
        Ok(Duration::from_nanos(nanos))
    }

    fn visit_i64<E: de::Error>(self, nanos: i64) -> Result<Duration, E> {
        match u64::try_from(nanos) {
            Ok(nanos) => self.visit_u64(nanos),
            Err(_) => Err(E::custom(format!(
                "invalid duration {nanos}: must not be negative"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_and_negative() {
        for bad in ["", "30", "3x", "m", "1.2.3s", "thirty minutes"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("invalid duration"), "{bad:?}: {err}");
        }
        assert!(parse("-5s").unwrap_err().contains("must not be negative"));
    }

    /// Fuzzing found these panicking inside the go-parse-duration crate.
    #[test]
    fn non_ascii_is_an_error_and_both_micro_signs_work() {
        for bad in [
            "15\u{00B5}m",
            "1\u{00E9}s",
            "\u{1F600}",
            "5s\u{00A0}x",
            "1.\u{00B5}",
        ] {
            assert!(
                parse(bad).unwrap_err().contains("invalid duration"),
                "{bad:?}"
            );
        }
        assert_eq!(parse("5\u{00B5}s"), Ok(Duration::from_micros(5)));
        assert_eq!(parse("5\u{03BC}s"), Ok(Duration::from_micros(5)));
    }

    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;

    /// Go's own table (`parseDurationTests` in time/time_test.go), all but
    /// its negative durations, which no setting here takes.
    #[test]
    fn agrees_with_go() {
        let max = i64::MAX as u64;
        let valid: &[(&str, u64)] = &[
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-0", 0),
            ("+0", 0),
            ("+5s", 5 * S),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            ("10ns", 10),
            ("11us", 11 * US),
            ("12\u{00B5}s", 12 * US),
            ("12\u{03BC}s", 12 * US),
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4 * MS + 5 * US + 6),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * M),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", max),
            ("9223372036854775.807us", max),
            ("9223372036s854ms775us807ns", max),
            ("0.100000000000000000000h", 6 * M),
            ("0.830103483285477580700h", 49 * M + 48 * S + 372_539_827),
        ];
        for &(text, nanos) in valid {
            assert_eq!(parse(text), Ok(Duration::from_nanos(nanos)), "{text}");
        }
        let invalid = [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "\u{FFFD}ff",
            "hello \u{FFFD}ff world",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036s854ms775us808ns",
            "18446744073709551615ns",
            "18446744073709551616ns",
            "106751d23h47m16s854ms775us808ns",
        ];
        for text in invalid {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with("invalid duration"), "{text:?}: {err}");
        }
    }

    /// The go-parse-duration crate looped forever on a fraction longer than
    /// 18 digits (fuzzing found it; the config fuzzer's 10 s timeout fired).
    /// Go reads such digits and drops the precision past 63 bits.
    #[test]
    fn long_fractions_end() {
        assert_eq!(parse("1.00000000000000000001s"), Ok(Duration::from_secs(1)));
        let digits = "0".repeat(10_000);
        assert_eq!(
            parse(&format!("{digits}1.5{digits}1m")),
            Ok(Duration::from_secs(90))
        );
        let fuzzed = "0000000000000000000000000000000000000000000000000000000.\
                      00000000000000000000000000000012297829382473034411\"30m\"";
        assert!(parse(fuzzed).unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn errors_say_why() {
        let cases = [
            ("1d", "unknown unit \"d\" (valid: ns, us, ms, s, m, h)"),
            ("30", "missing unit"),
            ("m", "a number must come before each unit"),
            ("999999999999h", "longer than 2562047h47m16.854775807s"),
        ];
        for (text, why) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    /// Fuzzing found a bare 18446744073709551615 accepted, then written
    /// back as a length the parser refuses.
    #[test]
    fn bare_numbers_are_nanoseconds_within_gos_range() {
        use serde::de::value::{Error, I64Deserializer, U64Deserializer};
        let bare = |n: u64| deserialize(U64Deserializer::<Error>::new(n));
        let max = bare(MAX_NANOS).unwrap();
        assert_eq!(max, Duration::from_nanos(i64::MAX as u64));
        assert_eq!(parse(&format(&max)), Ok(max), "the largest writes back");
        assert_eq!(bare(90_000_000_000), Ok(Duration::from_secs(90)));
        for too_long in [MAX_NANOS + 1, u64::MAX] {
            let err = bare(too_long).unwrap_err().to_string();
            assert!(err.contains(TOO_LONG), "{too_long}: {err}");
        }
        let err = deserialize(I64Deserializer::<Error>::new(-1)).unwrap_err();
        assert!(err.to_string().contains("must not be negative"), "{err}");
    }

    #[test]
    fn formats_in_the_largest_whole_unit_and_round_trips() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(1800), "30m"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1500us"),
            (Duration::from_nanos(7), "7ns"),
        ];
        for (d, text) in cases {
            assert_eq!(format(&d), text);
            assert_eq!(parse(text), Ok(d), "{text} parses back");
        }
    }
}
