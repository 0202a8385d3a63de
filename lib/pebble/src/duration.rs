//! Go's `time.Duration` text, as Pebble reads (`time.ParseDuration`) and writes
//! (`Duration.String`) it in layers and plans: a layer saying `1m` comes back in the plan
//! as `1m0s`, so durations are compared as values, never as text.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration written the way Go writes it (`500ms`, `1m30s`, `1h0m0s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    pub fn from_secs(secs: u64) -> Self {
        GoDuration(Duration::from_secs(secs))
    }

    pub fn from_millis(millis: u64) -> Self {
        GoDuration(Duration::from_millis(millis))
    }

    /// Parses Go's duration syntax (`time.ParseDuration`) for non-negative values:
    /// `0`, or one or more `<decimal><unit>` with units ns, us, µs, μs, ms, s, m, h.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("invalid duration {text:?}");
        let rest = text.strip_prefix('+').unwrap_or(text);
        if rest == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: u128 = 0;
        let mut rest = rest;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let (number, tail) = rest.split_at(digits);
            let unit_len = tail
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_len);
            let scale: u128 = match unit {
                "ns" => 1,
                "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                _ => return Err(bad()),
            };
            let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
            if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
                return Err(bad());
            }
            let whole: u128 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| bad())?
            };
            let mut nanos = whole.checked_mul(scale).ok_or_else(bad)?;
            // Fractions are truncated to whole nanoseconds, as Go does.
            let mut place = scale;
            for digit in frac.bytes() {
                place /= 10;
                nanos += u128::from(digit - b'0') * place;
            }
            total = total.checked_add(nanos).ok_or_else(bad)?;
            rest = tail;
        }
        // Go's Duration is an int64 of nanoseconds.
        if total > i64::MAX as u128 {
            return Err(bad());
        }
        let nanos = u64::try_from(total).map_err(|_| bad())?;
        Ok(GoDuration(Duration::from_nanos(nanos)))
    }
}

/// `fmt` of `whole.frac` with trailing zeros (and a bare point) dropped.
fn decimal(value: u128, unit: u128, digits: usize) -> String {
    let frac = value % unit;
    if frac == 0 {
        return format!("{}", value / unit);
    }
    let frac = format!("{frac:0digits$}");
    format!("{}.{}", value / unit, frac.trim_end_matches('0'))
}

impl fmt::Display for GoDuration {
    /// As Go's `Duration.String`: under a second in the largest of ns, µs, ms; else
    /// `[<h>h][<m>m]<s>s`, minutes shown whenever hours are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns == 0 {
            return f.write_str("0s");
        }
        if ns < 1_000 {
            return write!(f, "{ns}ns");
        }
        if ns < 1_000_000 {
            return write!(f, "{}\u{b5}s", decimal(ns, 1_000, 3));
        }
        if ns < 1_000_000_000 {
            return write!(f, "{}ms", decimal(ns, 1_000_000, 6));
        }
        let secs = ns / 1_000_000_000;
        let (hours, minutes) = (secs / 3600, (secs / 60) % 60);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{}s", decimal(ns % 60_000_000_000, 1_000_000_000, 9))
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        GoDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected strings from Go's time package tests (src/time/time_test.go,
    // durationTests / parseDurationTests), the non-negative ones.
    #[test]
    fn formats_as_go_does() {
        for (nanos, text) in [
            (0u64, "0s"),
            (1, "1ns"),
            (1_100, "1.1\u{b5}s"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (4 * 60_000_000_000 + 5_000_000_000, "4m5s"),
            (4 * 60_000_000_000 + 5_001_000_000, "4m5.001s"),
            (
                5 * 3_600_000_000_000 + 6 * 60_000_000_000 + 7_001_000_000,
                "5h6m7.001s",
            ),
            (8 * 60_000_000_000 + 1, "8m0.000000001s"),
            (60_000_000_000, "1m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (500_000_000, "500ms"),
        ] {
            assert_eq!(GoDuration(Duration::from_nanos(nanos)).to_string(), text);
        }
    }

    #[test]
    fn parses_as_go_does() {
        for (text, nanos) in [
            ("0", 0u64),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("+5s", 5_000_000_000),
            ("5.6s", 5_600_000_000),
            ("5.s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.0s", 1_000_000_000),
            ("1.004s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12\u{b5}s", 12_000),
            ("12\u{3bc}s", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14_000_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("1h1m1.5s", 3_661_500_000_000),
        ] {
            assert_eq!(
                GoDuration::parse(text),
                Ok(GoDuration(Duration::from_nanos(nanos))),
                "{text}"
            );
        }
        for bad in [
            "", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "-1s", "1.2.3s",
        ] {
            assert!(GoDuration::parse(bad).is_err(), "{bad}");
        }
    }
}
