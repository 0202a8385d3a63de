//! Just enough PromQL to scope a remote charm's rule expressions to its own series: every
//! vector selector gets the topology label matchers (what `cos-tool transform
//! --label-matcher` does for the library). The scanner is strict: an expression it does not
//! understand (unbalanced brackets, unterminated strings, characters PromQL does not use) is
//! refused rather than passed to Prometheus, where a bad rule file stops the reload.
//! It does not type-check: `rate(up)` passes here and fails in Prometheus.

use thiserror::Error;

/// Longest expression we accept, as sent and with the topology matchers added.
pub(super) const MAX_EXPR_BYTES: usize = 64 * 1024;

/// Deepest nesting the parse check follows: parentheses, calls, aggregations, unary signs
/// and the right-associative `^`. Prometheus has no limit (promtool parses 100,000 nested
/// parentheses, in 35 s), so any limit keeps us on its accepting side; this one is far
/// beyond what rules use and keeps the parser's recursion shallow on any stack.
pub(super) const MAX_PROMQL_DEPTH: usize = 128;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub(super) enum PromqlError {
    #[error("expression is empty")]
    Empty,
    #[error("expression is longer than {MAX_EXPR_BYTES} bytes")]
    TooLong,
    #[error("expression with the topology matchers added is longer than {MAX_EXPR_BYTES} bytes")]
    ScopedTooLong,
    #[error("expression nests deeper than {MAX_PROMQL_DEPTH} levels")]
    TooDeep,
    #[error("unterminated string at byte {0}")]
    UnterminatedString(usize),
    #[error("unexpected character {0:?} at byte {1}")]
    UnexpectedChar(char, usize),
    #[error("unbalanced {0:?} at byte {1}")]
    Unbalanced(char, usize),
    #[error("malformed label matchers at byte {0}")]
    Matchers(usize),
    #[error("{0}")]
    Parse(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Ident,
    Number,
    Str,
    Punct,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) kind: Kind,
    pub(super) text: &'a str,
    pub(super) start: usize,
}

/// Splits `expr` into tokens in one pass; refuses it past [`MAX_EXPR_BYTES`] first.
pub(super) fn lex(expr: &str) -> Result<Vec<Token<'_>>, PromqlError> {
    if expr.len() > MAX_EXPR_BYTES {
        return Err(PromqlError::TooLong);
    }
    let bytes = expr.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(PromqlError::UnterminatedString(start)),
                        Some(b'\\') if c != b'`' => i += 2,
                        Some(b'\n') if c != b'`' => {
                            return Err(PromqlError::UnterminatedString(start))
                        }
                        Some(&b) if b == c => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                if i > bytes.len() {
                    return Err(PromqlError::UnterminatedString(start));
                }
                Kind::Str
            }
            b'0'..=b'9' => {
                number_end(bytes, &mut i);
                Kind::Number
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                number_end(bytes, &mut i);
                Kind::Number
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
                {
                    i += 1;
                }
                Kind::Ident
            }
            b'=' | b'!' | b'<' | b'>' => {
                i += 1;
                if matches!(bytes.get(i), Some(b'=') | Some(b'~')) {
                    i += 1;
                }
                if &expr[start..i] == "!" {
                    return Err(PromqlError::UnexpectedChar('!', start));
                }
                Kind::Punct
            }
            b'(' | b')' | b'{' | b'}' | b'[' | b']' | b',' | b'@' | b'+' | b'-' | b'*' | b'/'
            | b'%' | b'^' => {
                i += 1;
                Kind::Punct
            }
            _ => {
                let ch = expr[start..].chars().next().unwrap_or('?');
                return Err(PromqlError::UnexpectedChar(ch, start));
            }
        };
        tokens.push(Token {
            kind,
            text: &expr[start..i],
            start,
        });
    }
    Ok(tokens)
}

/// Numbers, durations (`5m`, `1h30m`), hex and exponents share one token.
fn number_end(bytes: &[u8], i: &mut usize) {
    while *i < bytes.len() {
        let b = bytes[*i];
        let exponent_sign = (b == b'+' || b == b'-')
            && *i > 0
            && matches!(bytes[*i - 1], b'e' | b'E')
            && bytes.get(*i + 1).is_some_and(u8::is_ascii_digit);
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign {
            *i += 1;
        } else {
            break;
        }
    }
}

const KEYWORDS: [&str; 14] = [
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
];

const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// PromQL's aggregation operators (shared with the parse check).
pub(super) const AGGREGATORS: [&str; 12] = [
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
];

fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn matcher_list(matchers: &[&(String, String)]) -> String {
    matchers
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads the label matchers of a `{…}` selector starting at token `open`; returns the index
/// of the closing `}` and the label names matched.
fn selector_body<'a>(
    tokens: &[Token<'a>],
    open: usize,
) -> Result<(usize, Vec<&'a str>), PromqlError> {
    let mut names = Vec::new();
    let mut i = open + 1;
    let err = |i: usize| PromqlError::Matchers(tokens.get(i).map_or(0, |t| t.start));
    loop {
        match tokens.get(i) {
            Some(t) if t.text == "}" => return Ok((i, names)),
            Some(t) if t.kind == Kind::Ident => {
                let op = tokens.get(i + 1).ok_or_else(|| err(i))?;
                let value = tokens.get(i + 2).ok_or_else(|| err(i))?;
                if !["=", "!=", "=~", "!~"].contains(&op.text) || value.kind != Kind::Str {
                    return Err(err(i));
                }
                names.push(t.text);
                i += 3;
                match tokens.get(i) {
                    Some(t) if t.text == "," => i += 1,
                    Some(t) if t.text == "}" => {}
                    _ => return Err(err(i)),
                }
            }
            _ => return Err(err(i)),
        }
    }
}

fn next_text<'a>(tokens: &[Token<'a>], i: usize) -> Option<&'a str> {
    tokens.get(i).map(|t| t.text)
}

/// Adds `matchers` to every vector selector of `expr` that does not already match on that
/// label. Returns the rewritten expression.
pub(super) fn inject_matchers(
    expr: &str,
    matchers: &[(String, String)],
) -> Result<String, PromqlError> {
    if expr.trim().is_empty() {
        return Err(PromqlError::Empty);
    }
    let tokens = lex(expr)?;
    check_balance(&tokens)?;
    // (byte offset, text) insertions; the selector for a bare metric name is always the same.
    let mut inserts: Vec<(usize, String)> = Vec::new();
    let all: Vec<_> = matchers.iter().collect();
    let bare_selector = format!("{{{}}}", matcher_list(&all));
    let mut added = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        match (t.kind, t.text) {
            (Kind::Punct, "{") => {
                let (close, present) = selector_body(&tokens, i)?;
                let missing: Vec<_> = matchers
                    .iter()
                    .filter(|(k, _)| !present.contains(&k.as_str()))
                    .collect();
                if !missing.is_empty() {
                    let mut text = matcher_list(&missing);
                    if close > i + 1 {
                        text.push(',');
                    }
                    added += text.len();
                    inserts.push((t.start + 1, text));
                }
                i = close + 1;
            }
            (Kind::Punct, "[") => {
                // Range or subquery: durations only, nothing to scope.
                let mut depth = 0;
                while i < tokens.len() {
                    match tokens[i].text {
                        "[" => depth += 1,
                        "]" => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            (Kind::Ident, word) => {
                let lower = word.to_ascii_lowercase();
                let next = next_text(&tokens, i + 1);
                if GROUPING.contains(&lower.as_str()) && next == Some("(") {
                    // Label list of a grouping clause: skip to its ')'.
                    i += 2;
                    while i < tokens.len() && tokens[i].text != ")" {
                        if tokens[i].kind != Kind::Ident && tokens[i].text != "," {
                            return Err(PromqlError::Matchers(tokens[i].start));
                        }
                        i += 1;
                    }
                    i += 1;
                    continue;
                }
                let is_call = next == Some("(");
                let is_aggregation = AGGREGATORS.contains(&lower.as_str())
                    && matches!(
                        next.map(str::to_ascii_lowercase).as_deref(),
                        Some("by" | "without")
                    );
                if KEYWORDS.contains(&lower.as_str()) || is_call || is_aggregation {
                    i += 1;
                    continue;
                }
                // A metric name: its selector is the following '{…}', or none at all.
                if next != Some("{") && !matchers.is_empty() {
                    added += bare_selector.len();
                    inserts.push((t.start + t.text.len(), bare_selector.clone()));
                }
                i += 1;
            }
            _ => i += 1,
        }
        if expr.len() + added > MAX_EXPR_BYTES {
            return Err(PromqlError::ScopedTooLong);
        }
    }
    // Built front to back: inserting in place would move the tail once per selector.
    let mut out = String::with_capacity(expr.len() + added);
    let mut copied = 0;
    for (at, text) in inserts {
        out.push_str(&expr[copied..at]);
        out.push_str(&text);
        copied = at;
    }
    out.push_str(&expr[copied..]);
    Ok(out)
}

fn check_balance(tokens: &[Token<'_>]) -> Result<(), PromqlError> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    for t in tokens.iter().filter(|t| t.kind == Kind::Punct) {
        match t.text {
            "(" | "{" | "[" => stack.push((t.text.chars().next().unwrap_or('('), t.start)),
            ")" | "}" | "]" => {
                let want = match t.text {
                    ")" => '(',
                    "}" => '{',
                    _ => '[',
                };
                match stack.pop() {
                    Some((open, _)) if open == want => {}
                    _ => return Err(PromqlError::Unbalanced(want, t.start)),
                }
            }
            _ => {}
        }
    }
    match stack.pop() {
        Some((open, at)) => Err(PromqlError::Unbalanced(open, at)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zinc() -> Vec<(String, String)> {
        vec![
            ("juju_model".into(), "cos".into()),
            ("juju_application".into(), "zinc".into()),
        ]
    }

    fn inject(expr: &str) -> String {
        inject_matchers(expr, &zinc()).unwrap()
    }

    #[test]
    fn bare_metric_gets_a_selector() {
        assert_eq!(
            inject("up < 1"),
            r#"up{juju_model="cos",juju_application="zinc"} < 1"#
        );
    }

    #[test]
    fn existing_selector_is_extended_without_duplicates() {
        assert_eq!(
            inject(r#"up{juju_application="zinc",job="x"} == 0"#),
            r#"up{juju_model="cos",juju_application="zinc",job="x"} == 0"#
        );
        assert_eq!(
            inject("up{}"),
            r#"up{juju_model="cos",juju_application="zinc"}"#
        );
        assert_eq!(
            inject(r#"{__name__=~"up|down"}"#),
            r#"{juju_model="cos",juju_application="zinc",__name__=~"up|down"}"#
        );
    }

    #[test]
    fn functions_aggregations_and_grouping_are_left_alone() {
        assert_eq!(
            inject("sum by (job, instance) (rate(http_requests_total[5m])) > 0"),
            r#"sum by (job, instance) (rate(http_requests_total{juju_model="cos",juju_application="zinc"}[5m])) > 0"#
        );
        assert_eq!(
            inject("sum(rate(x[5m:1m])) without (pod)"),
            r#"sum(rate(x{juju_model="cos",juju_application="zinc"}[5m:1m])) without (pod)"#
        );
        assert_eq!(
            inject("a / on(job) group_left(team) b offset 5m"),
            r#"a{juju_model="cos",juju_application="zinc"} / on(job) group_left(team) b{juju_model="cos",juju_application="zinc"} offset 5m"#
        );
        assert_eq!(
            inject(r#"absent(up{job="zinc"}) AND vector(1) > bool Inf"#),
            r#"absent(up{juju_model="cos",juju_application="zinc",job="zinc"}) AND vector(1) > bool Inf"#
        );
        assert_eq!(
            inject(r#"label_replace(up, "a", "$1", "b", "(.*)")"#),
            r#"label_replace(up{juju_model="cos",juju_application="zinc"}, "a", "$1", "b", "(.*)")"#
        );
        assert_eq!(
            inject("job:up:rate5m > 1e-3 # comment up"),
            r#"job:up:rate5m{juju_model="cos",juju_application="zinc"} > 1e-3 # comment up"#
        );
    }

    #[test]
    fn values_are_quoted() {
        let out = inject_matchers("up", &[("a".into(), "x\"y\\".into())]).unwrap();
        assert_eq!(out, r#"up{a="x\"y\\"}"#);
    }

    #[test]
    fn malformed_expressions_are_refused() {
        for bad in [
            "",
            "  ",
            "up{",
            "up)",
            "(up",
            "up{job=}",
            r#"up{job="x""#,
            "up{job=\"x\" job=\"y\"}",
            "up; drop",
            "up $x",
            "rate(up[5m)",
            "sum by (a b\"c\") (up)",
            "up ! 1",
        ] {
            assert!(inject_matchers(bad, &zinc()).is_err(), "{bad:?}");
        }
        assert_eq!(
            inject_matchers(&"u".repeat(MAX_EXPR_BYTES + 1), &zinc()),
            Err(PromqlError::TooLong)
        );
    }

    /// The rewrite is one pass (no insertion that moves the tail once per selector), and what
    /// it makes must fit the same limit as what was sent.
    #[test]
    fn rewrites_of_many_selectors_are_bounded() {
        let many = |n: usize| format!("a{}", "+a".repeat(n));
        let fits = inject(&many(100));
        assert_eq!(fits.matches("juju_application").count(), 101);
        // 32,768 bare selectors: the input fits, its scoped form would not.
        let err = inject_matchers(&many(MAX_EXPR_BYTES / 2 - 1), &zinc()).unwrap_err();
        assert_eq!(err, PromqlError::ScopedTooLong);
        assert!(err.to_string().contains(&MAX_EXPR_BYTES.to_string()));
        assert_eq!(
            inject_matchers(&many(MAX_EXPR_BYTES / 2 - 1), &[]).map(|s| s.len()),
            Ok(MAX_EXPR_BYTES - 1)
        );
    }
}
