//! Checks for values that arrive in relation data. Remote charms are not trusted: every value
//! that ends up in `prometheus.yml` or a rule file passes one of these first, because a single
//! value Prometheus refuses would stop the whole configuration from loading.

use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::prometheus::config::RelabelConfig;

/// Largest relation value we read (one databag key).
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Scrape jobs one application may ask for (before expansion into per-unit jobs).
pub const MAX_JOBS_PER_APP: usize = 100;
/// Jobs one relation may render after expansion into per-unit jobs.
pub const MAX_RENDERED_JOBS_PER_RELATION: usize = 2000;
/// Targets one relation may render after expansion (wildcards times units).
pub const MAX_RENDERED_TARGETS_PER_RELATION: usize = 20_000;
/// Alertmanager entries discovered through `alerting_config`, over all relations.
pub const MAX_DISCOVERED_ALERTMANAGERS: usize = 100;
pub const MAX_STATIC_CONFIGS_PER_JOB: usize = 100;
pub const MAX_TARGETS_PER_STATIC_CONFIG: usize = 1000;
pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_VALUE_BYTES: usize = 4096;
pub const MAX_RELABEL_CONFIGS: usize = 100;
pub const MAX_UNITS_PER_RELATION: usize = 1000;
pub const MAX_RULES_PER_APP: usize = 2000;
pub const MAX_ALERTMANAGERS_PER_SOURCE: usize = 100;
/// Names, paths, URLs and other short strings.
pub const MAX_SHORT_BYTES: usize = 1024;
/// Longest job name we render (Prometheus has no limit; humans reading `/targets` do).
pub const MAX_JOB_NAME_BYTES: usize = 200;

/// Why a value from relation data was refused. Messages show at most a short, escaped
/// excerpt of the offending value, since it may be huge or hostile.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Refused {
    #[error("{key} is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        key: String,
        size: usize,
        max: usize,
    },
    #[error("{key} is not valid: {reason}")]
    Json { key: String, reason: String },
    #[error("{what} {shown}: {why}")]
    Invalid {
        what: &'static str,
        shown: String,
        why: String,
    },
    #[error("too many {what}: {count}, at most {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{0} is missing")]
    Missing(&'static str),
}

impl Refused {
    pub fn invalid(what: &'static str, value: &str, why: impl Into<String>) -> Self {
        Refused::Invalid {
            what,
            shown: shown(value),
            why: why.into(),
        }
    }

    /// As [`Refused::invalid`] for a secret (a password, a token): its value is never shown.
    pub fn invalid_secret(what: &'static str, why: impl Into<String>) -> Self {
        Refused::Invalid {
            what,
            shown: "(value not shown)".to_string(),
            why: why.into(),
        }
    }
}

/// A URL for messages, with any credentials in it (`user:password@`) replaced.
pub fn url_shown(url: &str) -> String {
    let redacted = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://<credentials>{}", &rest[at..]),
                None => url.to_string(),
            }
        }
        None => match url.rfind('@') {
            Some(at) => format!("<credentials>{}", &url[at..]),
            None => url.to_string(),
        },
    };
    shown(&redacted)
}

/// A short, escaped excerpt of `value` for messages.
pub fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut excerpt: String = value.chars().take(MAX_CHARS).collect();
    if value.chars().nth(MAX_CHARS).is_some() {
        excerpt.push('…');
    }
    format!("{excerpt:?}")
}

fn clip(text: String) -> String {
    const MAX_CHARS: usize = 200;
    if text.chars().nth(MAX_CHARS).is_none() {
        return text;
    }
    let mut clipped: String = text.chars().take(MAX_CHARS).collect();
    clipped.push('…');
    clipped
}

/// Parses a JSON relation value into `T` after checking its size. Keys `T` does not model
/// are dropped by serde, which is how we refuse to pass on keys we did not allow.
pub fn parse_json<T: DeserializeOwned>(key: &str, raw: &str) -> Result<T, Refused> {
    check_size(key, raw)?;
    serde_json::from_str(raw).map_err(|e| Refused::Json {
        key: key.to_string(),
        reason: json_reason(&e),
    })
}

/// Reads one already-parsed JSON value (a job, a rule) into `T`, refusing it as `key`
/// without quoting what it holds.
pub fn from_json_value<T: DeserializeOwned>(
    key: &str,
    value: serde_json::Value,
) -> Result<T, Refused> {
    serde_json::from_value(value).map_err(|e| Refused::Json {
        key: key.to_string(),
        reason: json_reason(&e),
    })
}

/// serde_json's message without the values it quotes (`invalid type: string "user:s3cr3t",
/// expected …`): the value may be a password or a token. What was expected, and where, is
/// enough for the sender to find it.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // A value already parsed (`from_value`) has no place in the text.
    let place = if e.line() == 0 {
        String::new()
    } else {
        format!(" at line {} column {}", e.line(), e.column())
    };
    match e.classify() {
        serde_json::error::Category::Data => {
            let expected = text
                .split_once(", expected ")
                .map(|(_, rest)| rest.rsplit_once(" at line ").map_or(rest, |(e, _)| e))
                .map(|expected| format!(": expected {}", clip(expected.to_string())))
                .unwrap_or_default();
            // "missing field `x`" and "unknown variant" name only our own words.
            if text.starts_with("missing field") || text.starts_with("duplicate field") {
                return clip(text);
            }
            format!("a value of the wrong type{place}{expected}")
        }
        serde_json::error::Category::Syntax => format!("not JSON{place}"),
        serde_json::error::Category::Eof => format!("JSON cut short{place}"),
        serde_json::error::Category::Io => clip(text),
    }
}

pub fn check_size(key: &str, raw: &str) -> Result<(), Refused> {
    if raw.len() > MAX_VALUE_BYTES {
        return Err(Refused::TooLarge {
            key: key.to_string(),
            size: raw.len(),
            max: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

pub fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), Refused> {
    if count > max {
        return Err(Refused::TooMany { what, count, max });
    }
    Ok(())
}

/// Prometheus label name grammar: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus metric name grammar: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn label_name(s: &str) -> Result<(), Refused> {
    if is_label_name(s) {
        Ok(())
    } else {
        Err(Refused::invalid(
            "label name",
            s,
            "not a Prometheus label name",
        ))
    }
}

/// Label values may be any text; we refuse control characters and oversized values.
pub fn label_value(s: &str) -> Result<(), Refused> {
    if s.len() > MAX_LABEL_VALUE_BYTES {
        return Err(Refused::invalid(
            "label value",
            s,
            format!("longer than {MAX_LABEL_VALUE_BYTES} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Refused::invalid(
            "label value",
            s,
            "contains control characters",
        ));
    }
    Ok(())
}

/// A secret (basic_auth password, authorization credentials) that must be short and
/// printable; refused without showing it.
pub fn secret_text(what: &'static str, s: &str) -> Result<(), Refused> {
    if s.len() > MAX_SHORT_BYTES {
        return Err(Refused::invalid_secret(
            what,
            format!("longer than {MAX_SHORT_BYTES} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Refused::invalid_secret(what, "contains control characters"));
    }
    Ok(())
}

/// Text that must be short and printable (names, separators, replacement strings).
pub fn short_text(what: &'static str, s: &str) -> Result<(), Refused> {
    if s.len() > MAX_SHORT_BYTES {
        return Err(Refused::invalid(
            what,
            s,
            format!("longer than {MAX_SHORT_BYTES} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Refused::invalid(what, s, "contains control characters"));
    }
    Ok(())
}

/// Prometheus duration (`1h30m`, `15s`, `500ms`, `0`), in milliseconds.
pub fn duration_ms(s: &str) -> Result<u64, Refused> {
    let bad = |why: &str| Refused::invalid("duration", s, why.to_string());
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() || s.len() > 64 {
        return Err(bad("empty or too long"));
    }
    // Units in the only order Prometheus accepts, each at most once.
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| bad("number out of range"))?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let position = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(|| bad("unknown or out-of-order unit"))?;
        let factor = UNITS[next_unit + position].1;
        next_unit += position + 1;
        total = n
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("out of range"))?;
    }
    Ok(total)
}

/// Host part of a target or URL: a DNS name, an IPv4 address, or an IPv6 address (bare or in
/// brackets). Returns the host as it must appear in `host:port`.
pub fn host(s: &str) -> Result<String, Refused> {
    let bad = |why: &str| Refused::invalid("host", s, why.to_string());
    if s.is_empty() || s.len() > 253 + 2 {
        return Err(bad("empty or too long"));
    }
    let ipv6 = |inner: &str| inner.parse::<std::net::Ipv6Addr>().is_ok();
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return if ipv6(inner) {
            Ok(s.to_string())
        } else {
            Err(bad("not an IPv6 address"))
        };
    }
    if ipv6(s) {
        return Ok(format!("[{s}]"));
    }
    let dns_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        && !s.starts_with(['-', '.']);
    if dns_ok {
        Ok(s.to_string())
    } else {
        Err(bad("not a host name or IP address"))
    }
}

pub fn port(s: &str) -> Result<u16, Refused> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(Refused::invalid("port", s, "not a port number")),
    }
}

/// `host[:port]` split into its parts, the host bracketed when it is IPv6.
pub fn split_host_port(s: &str) -> Result<(String, Option<u16>), Refused> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or_else(|| Refused::invalid("address", s, "unclosed '['"))?;
        let h = host(&format!("[{inner}]"))?;
        return match after {
            "" => Ok((h, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((h, Some(port(p)?))),
                None => Err(Refused::invalid("address", s, "junk after ']'")),
            },
        };
    }
    match s.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((h, _)) if h.contains(':') => Ok((host(s)?, None)),
        Some((h, p)) => Ok((host(h)?, Some(port(p)?))),
        None => Ok((host(s)?, None)),
    }
}

pub fn host_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// An URL path (or path prefix): empty, or `/`-led, made of URL path characters.
pub fn url_path(s: &str) -> Result<(), Refused> {
    if s.is_empty() {
        return Ok(());
    }
    if s.len() > MAX_SHORT_BYTES || !s.starts_with('/') {
        return Err(Refused::invalid(
            "path",
            s,
            "must start with '/' and be short",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(c);
    if !s.chars().all(allowed) {
        return Err(Refused::invalid(
            "path",
            s,
            "contains characters not allowed in a URL path",
        ));
    }
    if s.split('/').any(|seg| seg == "..") {
        return Err(Refused::invalid("path", s, "contains '..'"));
    }
    // Every '%' must start an escape of two hex digits, or URL parsing fails.
    let bytes = s.as_bytes();
    let bad_escape = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if bad_escape {
        return Err(Refused::invalid("path", s, "has a malformed %-escape"));
    }
    Ok(())
}

/// A parsed `http(s)://host[:port][/path]` URL; anything else (credentials, query, fragment)
/// is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
}

impl HttpUrl {
    pub fn parse(s: &str) -> Result<Self, Refused> {
        let bad = |why: &str| Refused::Invalid {
            what: "URL",
            shown: url_shown(s),
            why: why.to_string(),
        };
        if s.len() > MAX_SHORT_BYTES {
            return Err(bad("too long"));
        }
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("scheme must be http or https"));
        }
        if rest.contains(['?', '#', '@']) {
            return Err(bad("credentials, query or fragment not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority)?;
        url_path(path)?;
        Ok(HttpUrl {
            scheme,
            host,
            port,
            path: path.to_string(),
        })
    }

    pub fn address(&self) -> String {
        host_port(&self.host, self.port)
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.address(), self.path)
    }
}

/// Job names are free text to Prometheus, but they end up in file names, URLs and logs:
/// keep a conservative alphabet and a bounded length.
pub fn sanitize_job_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_JOB_NAME_BYTES)
        .collect()
}

/// A conservative check that `re` is an RE2 expression Prometheus will compile. It refuses
/// what RE2 lacks (look-around, back-references, possessive or atomic groups) and what RE2
/// rejects structurally (unbalanced groups and classes, dangling or stacked repetition).
pub fn regex(re: &str) -> Result<(), Refused> {
    let bad = |why: &str| Refused::invalid("regex", re, why.to_string());
    if re.len() > MAX_SHORT_BYTES {
        return Err(bad("too long"));
    }
    if re.chars().any(char::is_control) {
        return Err(bad("contains control characters"));
    }
    let chars: Vec<char> = re.chars().collect();
    let mut depth = 0usize;
    let mut group_names = std::collections::BTreeSet::new();
    // Whether the previous item can take a repetition operator, and whether it already has one.
    let mut repeatable = false;
    let mut repeated = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let next = *chars.get(i + 1).ok_or_else(|| bad("trailing backslash"))?;
                if next.is_ascii_digit() && next != '0' {
                    return Err(bad("back-references are not supported"));
                }
                if !next.is_ascii()
                    || (next.is_ascii_alphabetic() && !"afnrtvdDsSwWbBAzpPx".contains(next))
                {
                    return Err(bad("unknown escape"));
                }
                i += 2;
                if next == 'p' || next == 'P' || next == 'x' {
                    let argument: String = if chars.get(i) == Some(&'{') {
                        let close = chars[i..]
                            .iter()
                            .position(|&c| c == '}')
                            .ok_or_else(|| bad("unclosed '{' in escape"))?;
                        let arg = chars[i + 1..i + close].iter().collect();
                        i += close + 1;
                        arg
                    } else {
                        let n = if next == 'x' { 2 } else { 1 };
                        let arg: String = chars.iter().skip(i).take(n).collect();
                        if arg.chars().count() != n {
                            return Err(bad("incomplete escape"));
                        }
                        i += n;
                        arg
                    };
                    let ok = if next == 'x' {
                        !argument.is_empty()
                            && argument.len() <= 6
                            && u32::from_str_radix(&argument, 16).is_ok_and(|c| c <= 0x10_FFFF)
                    } else {
                        UNICODE_CLASSES.contains(&argument.as_str())
                    };
                    if !ok {
                        return Err(bad("unknown escape argument"));
                    }
                }
                repeatable = !matches!(next, 'b' | 'B' | 'A' | 'z');
                repeated = false;
                continue;
            }
            '[' => {
                i = skip_class(&chars, i).ok_or_else(|| bad("unclosed '['"))?;
                repeatable = true;
                repeated = false;
                continue;
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    let (next, name) = skip_group_flags(&chars, i + 2)
                        .ok_or_else(|| bad("unsupported (?…) group"))?;
                    if let Some(name) = name {
                        if !group_names.insert(name) {
                            return Err(bad("duplicate group name"));
                        }
                    }
                    i = next;
                    if chars.get(i) == Some(&')') {
                        // A flags-only group like (?i) is not a group.
                        i += 1;
                        repeatable = false;
                        repeated = false;
                        continue;
                    }
                } else {
                    i += 1;
                }
                depth += 1;
                repeatable = false;
                repeated = false;
                continue;
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| bad("unbalanced ')'"))?;
                repeatable = true;
                repeated = false;
            }
            '|' => {
                repeatable = false;
                repeated = false;
            }
            '*' | '+' | '?' => {
                if c == '?' && repeated && repeatable {
                    // Non-greedy marker after a repetition; nothing may follow it.
                    repeatable = false;
                } else if !repeatable || repeated {
                    return Err(bad("misplaced repetition operator"));
                } else {
                    repeated = true;
                }
            }
            '{' => {
                if let Some(end) = repetition_end(&chars, i) {
                    let end = end.ok_or_else(|| bad("invalid repeat count"))?;
                    if !repeatable || repeated {
                        return Err(bad("misplaced repetition operator"));
                    }
                    repeated = true;
                    i = end;
                    continue;
                }
                // RE2 takes a '{' that does not start a valid repetition as a literal.
                repeatable = true;
                repeated = false;
            }
            '^' | '$' => {
                repeatable = false;
                repeated = false;
            }
            _ => {
                repeatable = true;
                repeated = false;
            }
        }
        i += 1;
    }
    if depth != 0 {
        return Err(bad("unbalanced '('"));
    }
    Ok(())
}

/// Unicode classes accepted after `\p` / `\P`: the general categories and the common
/// scripts (RE2 knows more; refusing a rare one costs little, passing a bad one breaks the
/// config).
const UNICODE_CLASSES: [&str; 44] = [
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
    "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C",
    "Cc", "Cf", "Co", "Cs", "Greek", "Latin", "Cyrillic", "Han", "Arabic", "Hebrew", "Hiragana",
    "Katakana",
];

/// POSIX classes RE2 knows, as in `[[:alpha:]]` (or negated, `[[:^alpha:]]`).
const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// One member of a character class at `i`: `Some(c)` for a single character (which may
/// start or end a range), `None` for a class escape like `\d`; and the index after it.
/// Escapes with arguments (`\p{..}`, `\x..`) are refused here rather than half-checked.
fn class_member(chars: &[char], i: usize) -> Option<(Option<char>, usize)> {
    let c = *chars.get(i)?;
    if c != '\\' {
        return Some((Some(c), i + 1));
    }
    let escaped = *chars.get(i + 1)?;
    let single = match escaped {
        'd' | 'D' | 's' | 'S' | 'w' | 'W' => None,
        'a' => Some('\u{7}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        c if c.is_ascii_punctuation() => Some(c),
        _ => return None,
    };
    Some((single, i + 2))
}

/// Index just past the `]` closing the class opened at `start`, or `None` when RE2 would
/// refuse the class (unclosed, unknown POSIX class, reversed range, unknown escape).
fn skip_class(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    // A ']' right after '[' or '[^' is a literal.
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some(i + 1);
        }
        first = false;
        if c == '[' && chars.get(i + 1) == Some(&':') {
            let rest: String = chars[i + 2..].iter().collect();
            let end = rest.find(":]")?;
            let name = rest[..end].strip_prefix('^').unwrap_or(&rest[..end]);
            if !POSIX_CLASSES.contains(&name) {
                return None;
            }
            i += 2 + rest[..end].chars().count() + 2;
            continue;
        }
        let (lo, next) = class_member(chars, i)?;
        i = next;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
            let (hi, next) = class_member(chars, i + 1)?;
            if lo? > hi? {
                return None;
            }
            i = next;
        }
    }
}

/// After `(?`: flags `[imsU]*(-[imsU]+)?` followed by `:` or `)`, or a named group
/// `P<name>` (the Go of Prometheus 2.x has no `(?<name>`). Returns the index of the `)`
/// (flags only) or just past the `:` / `>`, and the group's name if any.
fn skip_group_flags(chars: &[char], mut i: usize) -> Option<(usize, Option<String>)> {
    if chars.get(i) == Some(&'P') {
        if chars.get(i + 1) != Some(&'<') {
            return None;
        }
        let mut j = i + 2;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        let name: String = chars[i + 2..j].iter().collect();
        return (!name.is_empty() && chars.get(j) == Some(&'>')).then_some((j + 1, Some(name)));
    }
    let is_flag = |c: Option<&char>| c.is_some_and(|c| "imsU".contains(*c));
    let start = i;
    while is_flag(chars.get(i)) {
        i += 1;
    }
    if chars.get(i) == Some(&'-') {
        i += 1;
        if !is_flag(chars.get(i)) {
            return None;
        }
        while is_flag(chars.get(i)) {
            i += 1;
        }
    }
    match chars.get(i) {
        Some(':') => Some((i + 1, None)),
        Some(')') if i > start => Some((i, None)),
        _ => None,
    }
}

/// If a `{n}`, `{n,}` or `{n,m}` repetition starts at `start`: `Some(Some(end))` with the
/// index just past it, or `Some(None)` when its counts are out of RE2's range (at most
/// 1000, min <= max). `None` when it is not a repetition (RE2 reads a literal `{`).
fn repetition_end(chars: &[char], start: usize) -> Option<Option<usize>> {
    let close = chars[start..].iter().position(|&c| c == '}')? + start;
    let inner: String = chars[start + 1..close].iter().collect();
    let (min, max) = match inner.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (inner.as_str(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(min) || max.is_some_and(|m| !m.is_empty() && !digits(m)) {
        return None;
    }
    let number = |s: &str| s.parse::<u32>().ok().filter(|n| *n <= 1000);
    let ok = match (number(min), max) {
        (Some(_), None | Some("")) => true,
        (Some(lo), Some(m)) => number(m).is_some_and(|hi| lo <= hi),
        (None, _) => false,
    };
    Some(ok.then_some(close + 1))
}

const RELABEL_ACTIONS: [&str; 11] = [
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
];

/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`: a label name that may use `$1` / `${name}`.
fn is_relabel_target(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        match b[i] {
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && word(b[j]) {
                        j += 1;
                    }
                    if j == start || b.get(j) != Some(&b'}') {
                        return false;
                    }
                    i = j + 1;
                } else {
                    let start = i;
                    while i < b.len() && word(b[i]) {
                        i += 1;
                    }
                    if i == start {
                        return false;
                    }
                }
            }
            c if first && !(c.is_ascii_alphabetic() || c == b'_') => return false,
            c if word(c) => i += 1,
            _ => return false,
        }
        first = false;
    }
    true
}

/// Checks a relabel rule as Prometheus's own validation does, and normalises the action to
/// lower case (Prometheus accepts any case).
pub fn relabel_config(rc: &mut RelabelConfig) -> Result<(), Refused> {
    let action = rc
        .action
        .as_deref()
        .unwrap_or("replace")
        .to_ascii_lowercase();
    if !RELABEL_ACTIONS.contains(&action.as_str()) {
        return Err(Refused::invalid(
            "relabel action",
            &action,
            "unknown action",
        ));
    }
    if rc.action.is_some() {
        rc.action = Some(action.clone());
    }
    for l in &rc.source_labels {
        label_name(l)?;
    }
    if let Some(r) = &rc.regex {
        regex(r)?;
    }
    for s in [&rc.separator, &rc.replacement, &rc.target_label]
        .into_iter()
        .flatten()
    {
        short_text("relabel field", s)?;
    }
    let default_separator = matches!(rc.separator.as_deref(), None | Some(";"));
    let default_replacement = matches!(rc.replacement.as_deref(), None | Some("$1"));
    let default_regex = matches!(rc.regex.as_deref(), None | Some("(.*)"));
    let target = rc.target_label.as_deref().unwrap_or("");
    let refuse = |why: &str| Err(Refused::invalid("relabel rule", &action, why.to_string()));
    let only_regex = rc.source_labels.is_empty()
        && target.is_empty()
        && rc.modulus.is_none()
        && default_separator
        && default_replacement;
    let only_labels =
        default_regex && rc.modulus.is_none() && default_separator && default_replacement;
    match action.as_str() {
        "labeldrop" | "labelkeep" if !only_regex => return refuse("takes only 'regex'"),
        "keepequal" | "dropequal" if !only_labels => {
            return refuse("takes only 'source_labels' and 'target_label'")
        }
        _ => {}
    }
    let needs_target = [
        "replace",
        "hashmod",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    ];
    if needs_target.contains(&action.as_str()) && target.is_empty() {
        return refuse("needs 'target_label'");
    }
    if ["replace", "lowercase", "uppercase"].contains(&action.as_str())
        && !is_relabel_target(target)
    {
        return refuse("'target_label' is not a valid label name");
    }
    if ["lowercase", "uppercase"].contains(&action.as_str()) && !default_replacement {
        return refuse("takes no 'replacement'");
    }
    if action == "labelmap" && !is_relabel_target(rc.replacement.as_deref().unwrap_or("$1")) {
        return refuse("'replacement' is not a valid label name");
    }
    if action == "hashmod" {
        if !is_label_name(target) {
            return refuse("'target_label' is not a valid label name");
        }
        if rc.modulus.unwrap_or(0) == 0 {
            return refuse("needs a non-zero 'modulus'");
        }
    }
    if ["keepequal", "dropequal"].contains(&action.as_str()) && !is_label_name(target) {
        return refuse("'target_label' is not a valid label name");
    }
    Ok(())
}

pub fn relabel_configs(rcs: &mut [RelabelConfig]) -> Result<(), Refused> {
    check_count("relabel rules", rcs.len(), MAX_RELABEL_CONFIGS)?;
    rcs.iter_mut().try_for_each(relabel_config)
}

/// Labels starting with `__` that a target relabel rule may write: scrape parameters and
/// scratch labels. The others (`__address__`, `__scheme__`, `__metrics_path__`,
/// `__scrape_interval__`, ...) make or break the target itself.
/// Whether a label name written by a relation's target relabel rule can never be one of the
/// reserved `__` labels a target is made of, whatever its `$1`/`${1}` expansions hold: the
/// literal text before the first `$` must already rule out a leading `__` (so `_${1}` or
/// `$1` are refused, since `_` + `_address__` is `__address__`), or start one of the
/// prefixes Prometheus leaves to relabelling (`__param_`, `__tmp`).
fn harmless_target_label(name: &str) -> bool {
    let literal = name.split('$').next().unwrap_or("");
    let expands = literal.len() < name.len();
    if literal.starts_with("__param_") || literal.starts_with("__tmp") {
        return true;
    }
    let mut chars = literal.chars();
    match (chars.next(), chars.next()) {
        (None, _) => false,
        (Some('_'), None) => !expands,
        (Some('_'), Some('_')) => false,
        _ => true,
    }
}

/// Whether a regex cannot fully match any reserved `__` label: it starts with a mandatory
/// literal that no reserved label starts with, and has no alternation that could bypass it.
fn spares_reserved_labels(re: &str) -> bool {
    if re.contains('|') {
        return false;
    }
    let chars: Vec<char> = re.chars().collect();
    let mut prefix = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let optional = matches!(chars.get(i + 1), Some('*' | '?' | '{'));
        if !(c.is_ascii_alphanumeric() || c == '_') || optional {
            break;
        }
        prefix.push(c);
    }
    !prefix.is_empty()
        && (!prefix.starts_with('_')
            || prefix.starts_with("__meta_")
            || prefix.starts_with("__tmp"))
}

/// The stricter check for relabel rules that run on targets (`relabel_configs` of a scrape
/// job or of an Alertmanager): on top of [`relabel_config`], a remote charm's rule may not
/// remove or rewrite the labels a target is made of, since Prometheus (and promtool) refuse a
/// static target left without a valid `__address__` or scrape interval. Writing a constant,
/// valid `__address__`, `__metrics_path__` or `__scheme__` (the blackbox-exporter pattern) is
/// allowed.
pub fn target_relabel_config(rc: &RelabelConfig) -> Result<(), Refused> {
    let action = rc.action.as_deref().unwrap_or("replace");
    let refuse = |why: &str| Err(Refused::invalid("relabel rule", action, why.to_string()));
    match action {
        "labelkeep" => refuse("'labelkeep' would drop the target's own labels"),
        "labeldrop" if !spares_reserved_labels(rc.regex.as_deref().unwrap_or("(.*)")) => {
            refuse("a 'labeldrop' regex must start with a literal that is not '__'")
        }
        "labelmap" if !harmless_target_label(rc.replacement.as_deref().unwrap_or("$1")) => {
            refuse("a 'labelmap' replacement must be a plain label name")
        }
        "replace" | "lowercase" | "uppercase" | "hashmod" => {
            let target = rc.target_label.as_deref().unwrap_or("");
            if harmless_target_label(target) {
                return Ok(());
            }
            let constant = rc.replacement.as_deref().filter(|r| !r.contains('$'));
            let valid_constant = action == "replace"
                && match (target, constant) {
                    ("__address__", Some(r)) => split_host_port(r).is_ok(),
                    ("__metrics_path__", Some(r)) => r.starts_with('/') && url_path(r).is_ok(),
                    ("__scheme__", Some(r)) => r == "http" || r == "https",
                    _ => false,
                };
            if valid_constant {
                Ok(())
            } else {
                refuse(
                    "may only write a constant, valid __address__, __metrics_path__ or __scheme__",
                )
            }
        }
        _ => Ok(()),
    }
}

pub fn target_relabel_configs(rcs: &mut [RelabelConfig]) -> Result<(), Refused> {
    relabel_configs(rcs)?;
    rcs.iter().try_for_each(target_relabel_config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_follow_the_prometheus_grammar() {
        for ok in ["a", "_x", "juju_unit", "A9_"] {
            assert!(is_label_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a.b", "é", "a b", "a:b"] {
            assert!(!is_label_name(bad), "{bad}");
        }
        assert!(is_metric_name("job:up:rate5m"));
        assert!(!is_metric_name("1up"));
    }

    #[test]
    fn label_values_refuse_control_characters_and_huge_values() {
        assert!(label_value("any text, even \"quotes\" and ünïcode").is_ok());
        assert!(label_value("a\nb").is_err());
        assert!(label_value(&"x".repeat(MAX_LABEL_VALUE_BYTES + 1)).is_err());
    }

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(duration_ms("0"), Ok(0));
        assert_eq!(duration_ms("15s"), Ok(15_000));
        assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(duration_ms("500ms"), Ok(500));
        assert_eq!(duration_ms("1d1ms"), Ok(86_400_001));
        for bad in [
            "",
            "5",
            "1m1h",
            "1s1s",
            "5 m",
            "1x",
            "-1s",
            "1.5s",
            "99999999999999999999y",
        ] {
            assert!(duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_and_targets() {
        assert_eq!(
            split_host_port("10.1.36.90:8080"),
            Ok(("10.1.36.90".into(), Some(8080)))
        );
        assert_eq!(
            split_host_port("zinc-0.zinc-endpoints.cos.svc.cluster.local"),
            Ok(("zinc-0.zinc-endpoints.cos.svc.cluster.local".into(), None))
        );
        assert_eq!(
            split_host_port("[fd00::1]:9090"),
            Ok(("[fd00::1]".into(), Some(9090)))
        );
        assert_eq!(split_host_port("fd00::1"), Ok(("[fd00::1]".into(), None)));
        for bad in [
            "",
            "a b:80",
            "host:0",
            "host:99999",
            "host:+80",
            "http://x:80",
            "x/y:80",
            "[zz]:1",
            "-x",
            "a:b:c:",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://alertmanager-0.am.cos.svc.cluster.local:9093").unwrap();
        assert_eq!(u.scheme, "http");
        assert_eq!(u.port, Some(9093));
        assert_eq!(u.path, "");
        let u = HttpUrl::parse("HTTPS://10.0.0.1/cos-am/").unwrap();
        assert_eq!((u.scheme.as_str(), u.path.as_str()), ("https", "/cos-am/"));
        assert_eq!(u.to_string(), "https://10.0.0.1/cos-am/");
        for bad in [
            "ftp://x",
            "x:9093",
            "http://u:p@x",
            "http://x/?q",
            "http://x/a b",
            "http://x/../etc",
            "http://x/a%i/b",
            "http://x/a%2",
            "http:///p",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn job_names_are_sanitized_and_bounded() {
        assert_eq!(sanitize_job_name("zinc"), "zinc");
        assert_eq!(sanitize_job_name("a b/c\n{}"), "a_b_c___");
        assert_eq!(
            sanitize_job_name(&"é".repeat(500)).len(),
            MAX_JOB_NAME_BYTES
        );
    }

    #[test]
    fn regexes_re2_would_refuse_are_refused() {
        for ok in [
            "(.*)",
            "up|down",
            "foo_(.+)_bar",
            "[a-z]+",
            "[]a]",
            "[^]a]",
            "[[:alpha:]]+",
            "[[:^space:][:digit:]_-]",
            "[a-z-]",
            r"[\]\-a-c]",
            "(?i-s:x)",
            "a*?b+?",
            "a{2,3}",
            "a{2,}",
            "x{",
            "(?i)abc",
            "(?P<name>x)",
            "(?:a|b)*?",
            r"\d+\.\d+",
            r"\p{Greek}",
            r"\pL",
            r"\x41\x{263a}",
            "^$",
        ] {
            assert!(regex(ok).is_ok(), "{ok}");
        }
        for bad in [
            "(",
            ")",
            "[a",
            "*a",
            "a**",
            "(?=x)",
            "(?!x)",
            "(?<=x)",
            r"(a)\1",
            "a\\",
            r"\k",
            "a{1001}",
            "a{3,2}",
            "(|*)",
            r"\p{Gre0k}",
            r"\p{Gree*}",
            r"\x{110000}",
            r"\xZZ",
            r"[\p{Greek}]",
            r"[\k]",
            "[[:lpha:]]",
            "[a-!]",
            "a*??",
            "a*?+",
            r"\Q(\E",
            r"\é",
            "(?<n>x)",
            "(?P<n>a)(?P<n>b)",
            "(?i-)x",
            "[]",
        ] {
            assert!(regex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn target_relabels_cannot_unmake_the_target() {
        let ok = [
            RelabelConfig {
                source_labels: vec!["__address__".into()],
                target_label: Some("__param_target".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("__address__".into()),
                replacement: Some("blackbox-exporter:9115".into()),
                ..rc("replace")
            },
            RelabelConfig {
                regex: Some("tmp_.*".into()),
                ..rc("labeldrop")
            },
            RelabelConfig {
                regex: Some("__meta_(.+)".into()),
                replacement: Some("k8s_$1".into()),
                ..rc("labelmap")
            },
            RelabelConfig {
                source_labels: vec!["__address__".into()],
                regex: Some("x".into()),
                ..rc("drop")
            },
            RelabelConfig {
                source_labels: vec!["x".into()],
                target_label: Some("_x${1}".into()),
                ..rc("replace")
            },
            RelabelConfig {
                regex: Some("x(.*)".into()),
                replacement: Some("__tmp_$1".into()),
                ..rc("labelmap")
            },
        ];
        for r in &ok {
            assert!(target_relabel_config(r).is_ok(), "{r:?}");
        }
        let bad = [
            rc("labelkeep"),
            RelabelConfig {
                regex: Some("__.*".into()),
                ..rc("labeldrop")
            },
            RelabelConfig {
                regex: Some("tmp|__address__".into()),
                ..rc("labeldrop")
            },
            RelabelConfig {
                regex: Some("t?__address__".into()),
                ..rc("labeldrop")
            },
            RelabelConfig {
                source_labels: vec!["missing".into()],
                target_label: Some("__address__".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("__address__".into()),
                replacement: Some("evil host/x".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("__scrape_interval__".into()),
                replacement: Some("1s".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("${1}".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("__address__".into()),
                ..rc("lowercase")
            },
            RelabelConfig {
                regex: Some("foo_(.*)".into()),
                ..rc("labelmap")
            },
            // Expansion may not reach a reserved label either: `_` + `_address__`.
            RelabelConfig {
                source_labels: vec!["x".into()],
                regex: Some("(.*)".into()),
                target_label: Some("_${1}".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("_$1".into()),
                ..rc("hashmod")
            },
            RelabelConfig {
                regex: Some("x(.*)".into()),
                replacement: Some("_$1".into()),
                ..rc("labelmap")
            },
            RelabelConfig {
                regex: Some("x(.*)".into()),
                replacement: Some("__$1".into()),
                ..rc("labelmap")
            },
        ];
        for r in &bad {
            assert!(target_relabel_config(r).is_err(), "{r:?}");
        }
    }

    fn rc(action: &str) -> RelabelConfig {
        RelabelConfig {
            action: Some(action.to_string()),
            ..RelabelConfig::default()
        }
    }

    #[test]
    fn relabel_rules_are_checked_like_prometheus() {
        let mut ok = RelabelConfig {
            source_labels: vec!["__address__".into()],
            target_label: Some("instance".into()),
            regex: Some("(.*):.*".into()),
            ..RelabelConfig::default()
        };
        assert!(relabel_config(&mut ok).is_ok());
        let mut templated = RelabelConfig {
            target_label: Some("${1}_x".into()),
            ..rc("Replace")
        };
        assert!(relabel_config(&mut templated).is_ok());
        assert_eq!(templated.action.as_deref(), Some("replace"));
        assert!(relabel_config(&mut rc("labeldrop")).is_ok());

        let mut unknown = rc("exfiltrate");
        assert!(relabel_config(&mut unknown).is_err());
        let mut no_target = rc("replace");
        assert!(relabel_config(&mut no_target).is_err());
        let mut hashmod = RelabelConfig {
            target_label: Some("__tmp".into()),
            ..rc("hashmod")
        };
        assert!(relabel_config(&mut hashmod).is_err());
        let mut labeldrop_extra = RelabelConfig {
            target_label: Some("x".into()),
            ..rc("labeldrop")
        };
        assert!(relabel_config(&mut labeldrop_extra).is_err());
        let mut bad_source = RelabelConfig {
            source_labels: vec!["a-b".into()],
            ..rc("keep")
        };
        assert!(relabel_config(&mut bad_source).is_err());
        let mut bad_target = RelabelConfig {
            target_label: Some("a-b".into()),
            ..rc("replace")
        };
        assert!(relabel_config(&mut bad_target).is_err());
    }
}
