//! PromQL's tokens and its one keyword list. The scanner is strict: an unterminated string
//! or a character PromQL does not use is refused here, before any parsing.

use super::{PromqlError, MAX_EXPR_BYTES};

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
    /// Looked up once here: the parser asks about most identifiers several times.
    keyword: Option<Keyword>,
}

impl Token<'_> {
    /// The keyword this identifier is, whatever its case (PromQL keywords are
    /// case-insensitive; function names are not, so they are no keywords).
    pub(super) fn keyword(&self) -> Option<Keyword> {
        self.keyword
    }
}

/// Every word PromQL 2.42 reserves. A keyword is never a metric name here, even where
/// Prometheus's grammar would take one as such: a rule reading `by` or `sum` as a metric is
/// not what anybody meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keyword {
    And,
    Or,
    Unless,
    Atan2,
    By,
    Without,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Bool,
    Offset,
    Start,
    End,
    Inf,
    Nan,
    Aggregate(AggregateOp),
}

impl Keyword {
    fn from_word(word: &str) -> Option<Keyword> {
        const WORDS: [(&str, Keyword); 16] = [
            ("and", Keyword::And),
            ("or", Keyword::Or),
            ("unless", Keyword::Unless),
            ("atan2", Keyword::Atan2),
            ("by", Keyword::By),
            ("without", Keyword::Without),
            ("on", Keyword::On),
            ("ignoring", Keyword::Ignoring),
            ("group_left", Keyword::GroupLeft),
            ("group_right", Keyword::GroupRight),
            ("bool", Keyword::Bool),
            ("offset", Keyword::Offset),
            ("start", Keyword::Start),
            ("end", Keyword::End),
            ("inf", Keyword::Inf),
            ("nan", Keyword::Nan),
        ];
        WORDS
            .into_iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, k)| k)
            .or_else(|| {
                AggregateOp::ALL
                    .into_iter()
                    .find(|op| op.name().eq_ignore_ascii_case(word))
                    .map(Keyword::Aggregate)
            })
    }
}

/// PromQL's aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AggregateOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
}

impl AggregateOp {
    const ALL: [AggregateOp; 12] = [
        AggregateOp::Sum,
        AggregateOp::Avg,
        AggregateOp::Count,
        AggregateOp::Min,
        AggregateOp::Max,
        AggregateOp::Group,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Topk,
        AggregateOp::Bottomk,
        AggregateOp::CountValues,
        AggregateOp::Quantile,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
        }
    }

    /// `topk(k, …)`, `bottomk`, `quantile` and `count_values` take a parameter first.
    pub(super) fn takes_parameter(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::Quantile
                | AggregateOp::CountValues
        )
    }
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
        let text = &expr[start..i];
        tokens.push(Token {
            kind,
            text,
            start,
            keyword: match kind {
                Kind::Ident => Keyword::from_word(text),
                _ => None,
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_case_insensitive_and_functions_are_not_keywords() {
        let kw = |s: &str| lex(s).ok().and_then(|t| t.first().and_then(Token::keyword));
        assert_eq!(kw("AND"), Some(Keyword::And));
        assert_eq!(kw("Inf"), Some(Keyword::Inf));
        assert_eq!(
            kw("Count_Values"),
            Some(Keyword::Aggregate(AggregateOp::CountValues))
        );
        assert_eq!(kw("rate"), None);
        assert_eq!(kw("\"and\""), None);
    }

    #[test]
    fn unknown_characters_and_unterminated_strings_are_refused() {
        assert_eq!(
            lex("up $x").map(|t| t.len()),
            Err(PromqlError::UnexpectedChar('$', 3))
        );
        assert_eq!(
            lex("up ! 1").map(|t| t.len()),
            Err(PromqlError::UnexpectedChar('!', 3))
        );
        assert_eq!(
            lex("up{a=\"x}").map(|t| t.len()),
            Err(PromqlError::UnterminatedString(5))
        );
        assert_eq!(
            lex("\"a\nb\"").map(|t| t.len()),
            Err(PromqlError::UnterminatedString(0))
        );
        assert_eq!(lex("`a\nb`").map(|t| t.len()), Ok(1));
    }
}
