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

/// Parses Go's duration syntax; negative durations are refused because no
/// setting here has a meaning for them.
///
/// go-parse-duration mixes character and byte positions and panics on
/// non-ASCII text (found by fuzzing `Config::parse` with `"15µm"`), so Go's
/// two spellings of the micro sign become `u` and anything else non-ASCII is
/// refused before it gets there: a bad config is an error, never a crash.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid =
        || format!("invalid duration {text:?} (expected e.g. \"30m\", \"1m30s\", \"500ms\")");
    let ascii = text.trim().replace(['\u{00B5}', '\u{03BC}'], "u");
    if !ascii.is_ascii() {
        return Err(invalid());
    }
    let nanos = go_parse_duration::parse_duration(&ascii).map_err(|_| invalid())?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("invalid duration {text:?}: must not be negative"))
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

    fn visit_u64<E: de::Error>(self, nanos: u64) -> Result<Duration, E> {
        Ok(Duration::from_nanos(nanos))
    }

    fn visit_i64<E: de::Error>(self, nanos: i64) -> Result<Duration, E> {
        u64::try_from(nanos)
            .map(Duration::from_nanos)
            .map_err(|_| E::custom(format!("invalid duration {nanos}: must not be negative")))
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

    /// Fuzzing found these panicking inside go-parse-duration.
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
