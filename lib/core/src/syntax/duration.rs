//! Prometheus durations (`model.ParseDuration` of prometheus/common, as in Prometheus 2.42):
//! the same grammar and bound for options, rule files, scrape jobs and PromQL ranges/offsets.

use std::fmt;

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("not a duration: expected 0 or <number><unit>… with units y w d h m s ms, each at most once, largest first")]
    Malformed,
    /// Go keeps a duration as int64 nanoseconds; Prometheus refuses anything longer.
    #[error("duration out of range: at most {MAX_TEXT}")]
    OutOfRange,
}

/// Units in the only order Prometheus accepts, in milliseconds.
pub const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// The longest duration Prometheus reads: `model.ParseDuration` refuses a unit whose
/// nanoseconds pass `i64::MAX` and a sum that wraps negative, so the total in nanoseconds
/// must fit an i64: 9223372036854 ms (292y24w3d23h47m16s854ms).
pub const MAX_MILLIS: u64 = (i64::MAX / 1_000_000) as u64;

/// [`MAX_MILLIS`] as a duration, for messages.
pub const MAX_TEXT: &str = "292y24w3d23h47m16s854ms";

/// A Prometheus duration (`1h30m`, `500ms`, `15d`) as written, and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duration {
    text: String,
    millis: u64,
}

impl Duration {
    /// `0`, or one or more `<digits><unit>` with units y w d h m s ms, each at most once,
    /// largest first (Prometheus's `^(([0-9]+)y)?(([0-9]+)w)?…(([0-9]+)ms)?$`), at most
    /// [`MAX_MILLIS`] in all.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        Ok(Duration {
            text: text.to_string(),
            millis: millis(text)?,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn millis(&self) -> u64 {
        self.millis
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The length of a Prometheus duration in milliseconds.
pub fn millis(text: &str) -> Result<u64, DurationError> {
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    let mut out_of_range = false;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::Malformed);
        }
        let number = &rest[..digits];
        rest = &rest[digits..];
        // "ms" before "m": Prometheus's regex backtracks to the same reading.
        let unit_len = if rest.starts_with("ms") {
            2
        } else if rest.starts_with(['y', 'w', 'd', 'h', 'm', 's']) {
            1
        } else {
            return Err(DurationError::Malformed);
        };
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let index = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .map(|p| next_unit + p)
            .ok_or(DurationError::Malformed)?;
        next_unit = index + 1;
        // The grammar is checked to the end before the range, as Prometheus's regex does.
        match number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(UNITS[index].1))
            .and_then(|ms| total.checked_add(ms))
        {
            Some(sum) if sum <= MAX_MILLIS => total = sum,
            _ => out_of_range = true,
        }
    }
    if out_of_range {
        return Err(DurationError::OutOfRange);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_prometheus_grammar() {
        for (text, ms) in [
            ("0", 0),
            ("0s", 0),
            ("00s", 0),
            ("0y", 0),
            ("1m", 60_000),
            ("30s", 30_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1s500ms", 1_500),
            ("1d1ms", 86_400_001),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            (
                "1y2w3d4h5m6s7ms",
                31_536_000_000 + 1_209_600_000 + 259_200_000 + 14_400_000 + 300_000 + 6_000 + 7,
            ),
            ("292y", 292 * 31_536_000_000),
            (MAX_TEXT, MAX_MILLIS),
            ("9223372036854ms", MAX_MILLIS),
        ] {
            assert_eq!(millis(text), Ok(ms), "{text}");
        }
        for text in [
            "1", "m", "1M", "1.5m", "-1m", "1m1h", "1m1m", "1ms1s", " 1m", "1m ", "1mm", "1us",
            "1ns", "+1m", "1h 30m", "1s1s", "5 m", "1x", "1ys", "1hs", "٣s",
        ] {
            assert_eq!(millis(text), Err(DurationError::Malformed), "{text:?}");
        }
        assert_eq!(millis(""), Err(DurationError::Empty));
        for text in [
            "293y",
            "292y24w3d23h47m16s855ms",
            "9223372036855ms",
            "106752d",
            "15251w",
            "2562048h",
            "153722868m",
            "9223372037s",
            "10000000y",
            "99999999999999999999999y",
        ] {
            assert_eq!(millis(text), Err(DurationError::OutOfRange), "{text:?}");
        }
    }
}
