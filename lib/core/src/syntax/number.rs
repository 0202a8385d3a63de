//! Numbers as Go reads them: `strconv.ParseFloat(s, 64)` and `strconv.ParseInt(s, 0, 64)`
//! (Go 1.19/1.20), and the PromQL number literal of Prometheus 2.42, which is its lexer's
//! token read by `ParseInt(s, 0, 64)`, else `ParseFloat(s, 64)`.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum NumberError {
    #[error("not a number")]
    Syntax,
    /// Go's `ErrRange`: a float beyond ±1.8e308 or an integer beyond 64 bits.
    #[error("number out of range")]
    Range,
}

/// `strconv.ParseFloat(s, 64)`: decimal or hexadecimal (`0x1.8p3`, exponent required)
/// floating point with Go's digit-separating underscores, or `inf`, `infinity` (signed or
/// not) and `nan` in any case. Overflow is an error, underflow is not (it rounds to 0).
pub fn parse_float(s: &str) -> Result<f64, NumberError> {
    if let Some(value) = special(s) {
        return Ok(value);
    }
    let float = read_float(s).ok_or(NumberError::Syntax)?;
    let value = float.value();
    if value.is_infinite() {
        return Err(NumberError::Range);
    }
    Ok(value)
}

/// Go's `special`: the spellings of infinity and NaN `ParseFloat` takes whole.
fn special(s: &str) -> Option<f64> {
    let (sign, unsigned) = match s.as_bytes().first() {
        Some(b'+') => (1.0, &s[1..]),
        Some(b'-') => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    // No sign before NaN: Go's `special` only looks for "nan" on an unsigned string.
    (s.eq_ignore_ascii_case("nan")).then_some(f64::NAN)
}

/// A float literal read as Go's `readFloat` reads it: the digits (underscores dropped, the
/// point kept) and the exponent.
struct Float {
    negative: bool,
    hex: bool,
    /// Mantissa digits in their base, without the point.
    digits: Vec<u8>,
    /// How many of `digits` come before the point.
    int_digits: usize,
    exponent: i64,
}

impl Float {
    fn value(&self) -> f64 {
        let magnitude = if self.hex {
            self.hex_value()
        } else {
            // Exact decimal text: Rust rounds it correctly, as Go does.
            let (int, frac) = self.digits.split_at(self.int_digits);
            let text = format!(
                "{}.{}e{}",
                if int.is_empty() { "0" } else { ascii(int) },
                if frac.is_empty() { "0" } else { ascii(frac) },
                self.exponent
            );
            text.parse::<f64>().unwrap_or(f64::NAN)
        };
        if self.negative {
            -magnitude
        } else {
            magnitude
        }
    }

    /// The value of hex digits times 2^exponent, rounded to nearest even as Go does; only
    /// whether it overflows matters to callers, so the rounding at the top is exact and the
    /// rest is f64 arithmetic.
    fn hex_value(&self) -> f64 {
        let mut mantissa: u128 = 0;
        let mut shift: i64 = self.exponent - 4 * (self.digits.len() - self.int_digits) as i64;
        let mut sticky = false;
        for &d in &self.digits {
            let v = (d as char).to_digit(16).unwrap_or(0) as u128;
            if mantissa >> 120 == 0 {
                mantissa = mantissa << 4 | v;
            } else {
                shift += 4;
                sticky |= v != 0;
            }
        }
        if mantissa == 0 {
            return 0.0;
        }
        // Round to 53 significant bits, to nearest, ties to even.
        let bits = 128 - i64::from(mantissa.leading_zeros());
        if bits > 53 {
            let drop = (bits - 53) as u32;
            let half = 1u128 << (drop - 1);
            let rest = mantissa & ((1u128 << drop) - 1);
            mantissa >>= drop;
            shift += i64::from(drop);
            if rest > half || (rest == half && (sticky || mantissa & 1 == 1)) {
                mantissa += 1;
            }
        }
        let top = 128 - i64::from(mantissa.leading_zeros()) - 1 + shift;
        if top > 1023 {
            return f64::INFINITY;
        }
        (mantissa as f64) * 2f64.powi(shift.clamp(-2000, 2000) as i32)
    }
}

fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("0")
}

/// Go's `readFloat`, taking the whole string: sign, `0x` prefix (needs a character after
/// it), digits with at most one point, exponent (`e`, or `p` and required for hex; digits
/// and underscores, the value capped as Go caps it), underscores only between digits.
fn read_float(s: &str) -> Option<Float> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    match b.first() {
        Some(b'+') => i += 1,
        Some(b'-') => {
            negative = true;
            i += 1;
        }
        _ => {}
    }
    let mut hex = false;
    if i + 2 < b.len() && b[i] == b'0' && b[i + 1] | 0x20 == b'x' {
        hex = true;
        i += 2;
    }
    let mut underscores = false;
    let mut digits = Vec::new();
    let mut int_digits = None;
    while i < b.len() {
        let c = b[i];
        match c {
            b'_' => underscores = true,
            b'.' if int_digits.is_none() => int_digits = Some(digits.len()),
            b'0'..=b'9' => digits.push(c),
            c if hex && c.is_ascii_hexdigit() => digits.push(c),
            _ => break,
        }
        i += 1;
    }
    if digits.is_empty() {
        return None;
    }
    let int_digits = int_digits.unwrap_or(digits.len());
    let mut exponent: i64 = 0;
    let exp_char = if hex { b'p' } else { b'e' };
    if i < b.len() && b[i] | 0x20 == exp_char {
        i += 1;
        let mut sign = 1;
        match b.get(i) {
            Some(b'+') => i += 1,
            Some(b'-') => {
                sign = -1;
                i += 1;
            }
            _ => {}
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            } else if exponent < 10_000 {
                // Go stops adding digits past 10000: already far out of range.
                exponent = exponent * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        exponent *= sign;
    } else if hex {
        return None;
    }
    if i != b.len() || (underscores && !underscore_ok(s)) {
        return None;
    }
    Some(Float {
        negative,
        hex,
        digits,
        int_digits,
        exponent,
    })
}

/// Go's `underscoreOK`: an underscore only between digits, or between a base prefix and a
/// digit.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(b'+' | b'-') = b.first() {
        b = &b[1..];
    }
    // '^' start, '0' digit or base prefix, '_' underscore, '!' anything else.
    let mut saw = b'^';
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        hex = b[1] | 0x20 == b'x';
        saw = b'0';
        b = &b[2..];
    }
    for &c in b {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`/`0o`/`0b`/`0` prefixed or decimal
/// digits, underscores as Go allows them with base 0, within i64.
pub fn parse_int(s: &str) -> Result<i64, NumberError> {
    let (negative, unsigned) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let magnitude = u128::from(parse_uint(unsigned)?);
    if magnitude > 1u128 << 63 {
        return Err(NumberError::Range);
    }
    let value = if negative {
        -(magnitude as i128)
    } else {
        magnitude as i128
    };
    i64::try_from(value).map_err(|_| NumberError::Range)
}

/// `strconv.ParseUint(s, 0, 64)`: no sign, then `0x`/`0o`/`0b`/`0` prefixed or decimal
/// digits, underscores as Go allows them with base 0.
pub fn parse_uint(unsigned: &str) -> Result<u64, NumberError> {
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if lower.contains('_') && !underscore_ok(unsigned) {
        return Err(NumberError::Syntax);
    }
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(NumberError::Syntax);
    }
    u64::from_str_radix(&digits, radix).map_err(|_| NumberError::Range)
}

/// A number literal of Go's text/template, once its lexer has taken it: an integer that
/// fits 64 bits (`ParseInt` or `ParseUint`, base 0), else a float (`ParseFloat`) written with
/// a `.`, an exponent or hex digits and `p` (a whole number past 64 bits is refused as
/// "integer overflow"). Character and imaginary constants are not read here.
pub fn go_template_number(s: &str) -> Result<(), NumberError> {
    if parse_int(s).is_ok() || parse_uint(s).is_ok() {
        return Ok(());
    }
    parse_float(s)?;
    if s.contains(['.', 'e', 'E', 'p', 'P']) && !is_hex_int(s) {
        Ok(())
    } else {
        Err(NumberError::Range)
    }
}

/// `0x…` without a point or `p`: its `e`s are digits, so it is an integer, not a float.
fn is_hex_int(s: &str) -> bool {
    let unsigned = s.trim_start_matches(['+', '-']);
    unsigned.len() > 1
        && unsigned.as_bytes()[1] | 0x20 == b'x'
        && !unsigned.contains(['.', 'p', 'P'])
}

/// Whether a whole number fits Go's `int` (64 bits), as a rule group's `limit` must.
pub fn fits_int64(n: u64) -> bool {
    i64::try_from(n).is_ok()
}

/// A PromQL number literal of Prometheus 2.42, as written in an expression (no sign, which
/// is an operator; no `Inf`/`NaN`, which lex as identifiers). Its lexer takes
/// `[0-9]+` or `0x[0-9a-fA-F]*`, then an optional `.` and more digits of that base, then for
/// decimal an optional `e[+-]?[0-9]*`, and no letter, digit or underscore after (so no
/// underscores, no `0b`/`0o`, no `p` exponent); then `ParseInt(s, 0, 64)`, else
/// `ParseFloat(s, 64)`, must read it. So `0x8000000000000000` and `0x1.8` are refused (no
/// int64, and a hex float needs a `p`), `1e309` is out of range, `09` reads as 9.
pub fn promql_number(s: &str) -> Result<f64, NumberError> {
    let b = s.as_bytes();
    let hex = b.len() >= 2 && b[0] == b'0' && b[1] | 0x20 == b'x';
    let is_digit = |c: u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    let mut i = if hex { 2 } else { 0 };
    let start = i;
    while i < b.len() && is_digit(b[i]) {
        i += 1;
    }
    if !hex && i == start && b.get(i) != Some(&b'.') {
        return Err(NumberError::Syntax);
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && is_digit(b[i]) {
            i += 1;
        }
    }
    if b.get(i).is_some_and(|c| c | 0x20 == b'e') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i != b.len() {
        return Err(NumberError::Syntax);
    }
    match parse_int(s) {
        Ok(n) => Ok(n as f64),
        Err(_) => parse_float(s),
    }
}

/// The `@` modifier's timestamp bound in Prometheus 2.42: a finite value strictly between
/// `i64::MIN` and `i64::MAX` seconds (as float64).
pub fn is_promql_timestamp(seconds: f64) -> bool {
    seconds.is_finite() && seconds < i64::MAX as f64 && seconds > i64::MIN as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_parse_them() {
        for (s, v) in [
            ("0", 0.0),
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+.5", 0.5),
            ("5.", 5.0),
            ("1.e5", 1e5),
            ("1e308", 1e308),
            ("1.7976931348623157e308", f64::MAX),
            ("1e-400", 0.0),
            ("1_000", 1000.0),
            ("1_0.5_0", 10.5),
            ("1e1_0", 1e10),
            ("0x1p3", 8.0),
            ("0x1.8p1", 3.0),
            ("0X_1P-1", 0.5),
            ("0x1p1023", 2f64.powi(1023)),
            ("0x1.fffffffffffffp1023", f64::MAX),
            ("010", 10.0),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("+INF", f64::INFINITY),
        ] {
            assert_eq!(parse_float(s), Ok(v), "{s}");
        }
        assert!(parse_float("NaN").is_ok_and(f64::is_nan));
        assert!(parse_float("nan").is_ok_and(f64::is_nan));
        for s in [
            "", "+", ".", "e5", "1e", "1e+", "0x", "0x1", "0x1.8", "0xp1", "1__0", "_1", "1_",
            "1_.5", "1._5", "+nan", "-nan", "infx", "infinit", "1.2.3", "1e5.0", " 1", "1 ", "0b1",
            "0o7", "1p3", "0x1e3",
        ] {
            assert_eq!(parse_float(s), Err(NumberError::Syntax), "{s:?}");
        }
        for s in [
            "1e309",
            "-1e309",
            "1.7976931348623159e308",
            "0x1p1024",
            "0x1.fffffffffffff8p1023",
            "1e99999999999",
        ] {
            assert_eq!(parse_float(s), Err(NumberError::Range), "{s:?}");
        }
    }

    #[test]
    fn ints_as_go_parse_them_with_base_0() {
        for (s, v) in [
            ("0", 0),
            ("-0", 0),
            ("010", 8),
            ("0x1F", 31),
            ("0o17", 15),
            ("0b101", 5),
            ("1_000", 1000),
            ("0x_1f", 31),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("0x7fffffffffffffff", i64::MAX),
        ] {
            assert_eq!(parse_int(s), Ok(v), "{s}");
        }
        for s in ["", "09", "0x", "1.0", "1e3", "_1", "1__0", "0xg", "--1"] {
            assert_eq!(parse_int(s), Err(NumberError::Syntax), "{s:?}");
        }
        for s in [
            "9223372036854775808",
            "0x8000000000000000",
            "0x10000000000000000",
        ] {
            assert_eq!(parse_int(s), Err(NumberError::Range), "{s:?}");
        }
        assert_eq!(parse_uint("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_uint("18446744073709551616"), Err(NumberError::Range));
        assert_eq!(parse_uint("+1"), Err(NumberError::Syntax));
        assert!(fits_int64(i64::MAX as u64));
        assert!(!fits_int64(i64::MAX as u64 + 1));
    }

    #[test]
    fn go_template_numbers() {
        for ok in [
            "1",
            "-1",
            "0x1F",
            "18446744073709551615",
            "1.5",
            "1e5",
            "0x1p3",
            "1_000.5",
            "1e-400",
        ] {
            assert_eq!(go_template_number(ok), Ok(()), "{ok}");
        }
        for bad in [
            "18446744073709551616",
            "1e309",
            "1.8e308",
            "0x1.8",
            "1__0.5",
            "1e99999",
        ] {
            assert!(go_template_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn promql_numbers_as_prometheus_2_42_lexes_and_parses_them() {
        for (s, v) in [
            ("1", 1.0),
            ("010", 8.0),
            ("09", 9.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1.e5", 1e5),
            ("1e-400", 0.0),
            ("0x7fffffffffffffff", i64::MAX as f64),
            ("0X1F", 31.0),
            ("9223372036854775808", 9223372036854775808.0),
            ("1e308", 1e308),
        ] {
            assert_eq!(promql_number(s), Ok(v), "{s}");
        }
        for s in [
            "1e309",
            "0x8000000000000000",
            "0xffffffffffffffff",
            "0x10000000000000000",
            "0x1.8",
            "0x1p3",
            "0x",
            "1_000",
            "0b1",
            "0o7",
            "1e",
            "1e+",
            "Inf",
            "NaN",
            "",
            ".",
            "1.2.3",
        ] {
            assert!(promql_number(s).is_err(), "{s:?}");
        }
        assert!(is_promql_timestamp(9223372036854775.0));
        assert!(!is_promql_timestamp(9223372036854775807.0));
        assert!(!is_promql_timestamp(1e30));
        assert!(!is_promql_timestamp(f64::INFINITY));
        assert!(!is_promql_timestamp(f64::NAN));
    }
}
