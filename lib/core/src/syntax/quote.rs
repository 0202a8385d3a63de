//! Quoted string literals as Go reads them (`strconv.Unquote`), and as the PromQL lexer and
//! `strutil.Unquote` of Prometheus 2.42 read them: the same escapes, but a single-quoted
//! PromQL string holds any number of characters where Go's holds one.

use thiserror::Error;

/// Whose rules for single quotes apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Go source (`text/template`): `'x'` is one character.
    Go,
    /// PromQL: `'…'` is a string like `"…"`, and U+FFFD is refused in any string (its lexer
    /// cannot tell it from a decoding error).
    Promql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{}", self.reason())]
pub enum QuoteError {
    NotQuoted,
    Unescaped,
    UnknownEscape,
    ShortEscape,
    InvalidCodePoint,
    NotOneCharacter,
    ReplacementCharacter,
    InvalidUtf8,
}

impl QuoteError {
    /// The message, for callers whose errors carry a `&'static str`.
    pub fn reason(self) -> &'static str {
        match self {
            QuoteError::NotQuoted => "not a quoted string",
            QuoteError::Unescaped => "unescaped quote or line break inside the string",
            QuoteError::UnknownEscape => "unknown escape sequence",
            QuoteError::ShortEscape => "escape sequence needs more hex or octal digits",
            QuoteError::InvalidCodePoint => "escape sequence is an invalid Unicode code point",
            QuoteError::NotOneCharacter => "a character literal holds exactly one character",
            QuoteError::ReplacementCharacter => "invalid UTF-8 rune (U+FFFD)",
            QuoteError::InvalidUtf8 => "the string is not valid UTF-8 once unescaped",
        }
    }
}

/// The bytes a quoted literal stands for (`\xff` is one byte, not a character), or why the
/// literal is refused: `"…"` and `'…'` with Go's escapes (`\a \b \f \n \r \t \v \\`, the
/// quote itself, `\xHH`, `\uHHHH`, `\UHHHHHHHH` naming a Unicode scalar value, octal
/// `\OOO` up to `\377`), no line break; `` `…` `` raw, without backquotes (Go also drops
/// carriage returns from it).
pub fn unquote(literal: &str, dialect: Dialect) -> Result<Vec<u8>, QuoteError> {
    let quote = *literal.as_bytes().first().ok_or(QuoteError::NotQuoted)?;
    if literal.len() < 2
        || !matches!(quote, b'"' | b'\'' | b'`')
        || !literal.ends_with(quote as char)
    {
        return Err(QuoteError::NotQuoted);
    }
    let inner = &literal[1..literal.len() - 1];
    if dialect == Dialect::Promql && inner.contains('\u{FFFD}') {
        return Err(QuoteError::ReplacementCharacter);
    }
    if quote == b'`' {
        if inner.contains('`') {
            return Err(QuoteError::Unescaped);
        }
        return Ok(match dialect {
            Dialect::Go => inner.bytes().filter(|&b| b != b'\r').collect(),
            Dialect::Promql => inner.as_bytes().to_vec(),
        });
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    let mut count = 0;
    while let Some(c) = chars.next() {
        count += 1;
        if c == quote as char || c == '\n' {
            return Err(QuoteError::Unescaped);
        }
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next().ok_or(QuoteError::UnknownEscape)?;
        let simple = match e {
            'a' => Some(7),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            c if c == quote as char => Some(quote),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        let (digits, radix, max) = match e {
            'x' => (2, 16, 0xFF),
            'u' => (4, 16, 0x10_FFFF),
            'U' => (8, 16, 0x10_FFFF),
            '0'..='7' => (3, 8, 0xFF),
            _ => return Err(QuoteError::UnknownEscape),
        };
        let mut value: u32 = 0;
        let mut read = 0;
        if e.is_digit(8) {
            value = e.to_digit(8).unwrap_or(0);
            read = 1;
        }
        while read < digits {
            let d = chars
                .next()
                .and_then(|c| c.to_digit(radix))
                .ok_or(QuoteError::ShortEscape)?;
            value = value * radix + d;
            read += 1;
        }
        if value > max || (0xD800..0xE000).contains(&value) {
            return Err(QuoteError::InvalidCodePoint);
        }
        if matches!(e, 'u' | 'U') {
            let c = char::from_u32(value).ok_or(QuoteError::InvalidCodePoint)?;
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else {
            // `\xHH` and octal are bytes (in a Go character literal, the rune of that value).
            out.push(value as u8);
        }
    }
    if quote == b'\'' && dialect == Dialect::Go && count != 1 {
        return Err(QuoteError::NotOneCharacter);
    }
    Ok(out)
}

/// [`unquote`] for a value that must be text (a label value, a regex): bytes that are not
/// UTF-8 are refused, since Prometheus would refuse such a regex and mangle such a label.
pub fn unquote_utf8(literal: &str, dialect: Dialect) -> Result<String, QuoteError> {
    String::from_utf8(unquote(literal, dialect)?).map_err(|_| QuoteError::InvalidUtf8)
}

/// `value` as a double-quoted literal that [`unquote`] reads back as `value` in either
/// dialect: the backslash, the quote and line breaks escaped, everything else as is.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{Go, Promql};

    #[test]
    fn every_escape_form() {
        let accepted: [(&str, &[u8]); 8] = [
            (r#""\a\b\f\n\r\t\v\\\"""#, b"\x07\x08\x0c\n\r\t\x0b\\\""),
            (r"'\''", b"'"),
            (r#""\x41""#, b"A"),
            (r#""\u0041\U00010000""#, "A\u{10000}".as_bytes()),
            (r#""\101\377\000""#, b"A\xff\x00"),
            (r#""\xff""#, b"\xff"),
            ("`raw\\d\"'`", b"raw\\d\"'"),
            ("\"é\"", "é".as_bytes()),
        ];
        for (literal, value) in accepted {
            assert_eq!(unquote(literal, Promql).as_deref(), Ok(value), "{literal}");
        }
        assert_eq!(unquote(r"'it\'s'", Promql), Ok(b"it's".to_vec()));
        assert_eq!(unquote(r"'it\'s'", Go), Err(QuoteError::NotOneCharacter));
        assert_eq!(unquote(r"'\x41'", Go), Ok(b"A".to_vec()));
        assert_eq!(unquote("`a\r\nb`", Go), Ok(b"a\nb".to_vec()));
        assert_eq!(unquote("`a\r\nb`", Promql), Ok(b"a\r\nb".to_vec()));
        for (literal, error) in [
            (r#""\'""#, QuoteError::UnknownEscape),
            (r#"'\"'"#, QuoteError::UnknownEscape),
            (r#""\x+4""#, QuoteError::ShortEscape),
            (r#""\x4""#, QuoteError::ShortEscape),
            (r#""\xg1""#, QuoteError::ShortEscape),
            (r#""\u+041""#, QuoteError::ShortEscape),
            (r#""\U+0010000""#, QuoteError::ShortEscape),
            (r#""\uD800""#, QuoteError::InvalidCodePoint),
            (r#""\uDFFF""#, QuoteError::InvalidCodePoint),
            (r#""\U00110000""#, QuoteError::InvalidCodePoint),
            (r#""\400""#, QuoteError::InvalidCodePoint),
            (r#""\0""#, QuoteError::ShortEscape),
            (r#""\00""#, QuoteError::ShortEscape),
            (r#""\8""#, QuoteError::UnknownEscape),
            (r#""\d""#, QuoteError::UnknownEscape),
            (r#""\ ""#, QuoteError::UnknownEscape),
            ("\"\\\n\"", QuoteError::UnknownEscape),
            ("\"a\nb\"", QuoteError::Unescaped),
            (r#""a"b""#, QuoteError::Unescaped),
            (r#""\""#, QuoteError::UnknownEscape),
            ("`a`b`", QuoteError::Unescaped),
            ("\"\u{FFFD}\"", QuoteError::ReplacementCharacter),
            ("\"", QuoteError::NotQuoted),
            ("x", QuoteError::NotQuoted),
            ("\"a'", QuoteError::NotQuoted),
        ] {
            assert_eq!(unquote(literal, Promql), Err(error), "{literal}");
        }
        assert_eq!(
            unquote_utf8(r#""\xff""#, Promql),
            Err(QuoteError::InvalidUtf8)
        );
        assert_eq!(unquote_utf8(r#""\xc3\xa9""#, Promql), Ok("é".to_string()));
    }

    #[test]
    fn quote_is_read_back_as_the_value() {
        assert_eq!(quote("x\"y\\"), r#""x\"y\\""#);
        for value in ["", "cos", "a\"b", "back\\slash", "two\nlines\r", "é'`\t"] {
            assert_eq!(unquote_utf8(&quote(value), Promql).as_deref(), Ok(value));
            assert_eq!(unquote_utf8(&quote(value), Go).as_deref(), Ok(value));
        }
    }
}
