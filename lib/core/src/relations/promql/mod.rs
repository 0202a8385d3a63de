//! The one PromQL front-end for remote charms' rule expressions: [`parser`] reads the text
//! (tokens from [`lexer`], the one keyword list) into the tree of [`ast`], [`check`] applies
//! Prometheus 2.42's type rules to it, and [`scope`] adds the topology matchers to every
//! selector of the tree and says where each goes in the text (each selector knows its
//! site). The scoped expression is the operator's text with those matchers inserted — their
//! layout and comments stay, so a rule renders byte for byte as it did before this
//! front-end — and it is read again and must give the scoped tree, of a rule's type, before
//! it is used. `print` (tests only) writes any tree back, for the round-trip properties.
//! Literals, names and durations are read by `crate::syntax`, as in every other value we
//! pass to Prometheus.
//!
//! What we accept, Prometheus must load: a rule it refuses makes it refuse the whole rule
//! file. So anything this front-end does not understand is refused with the reason and the
//! byte it is at, never passed through.

mod ast;
mod check;
mod lexer;
mod parser;
#[cfg(test)]
mod print;
mod scope;

use thiserror::Error;

/// Longest expression we accept, as sent and as printed with the topology matchers added.
pub(super) const MAX_EXPR_BYTES: usize = 64 * 1024;

/// Deepest nesting the parser follows: parentheses, calls, aggregations, unary signs, the
/// right-associative `^` and subqueries. Prometheus has no limit (promtool parses 100,000
/// nested parentheses, in 35 s), so any limit keeps us on its accepting side; this one is
/// far beyond what rules use and keeps every walk of the tree shallow on any stack.
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
    #[error("{0}")]
    Parse(String),
    /// A printer bug, caught before Prometheus could read the result.
    #[error("the rewritten expression {0:?} does not read as the original")]
    Reprinted(String),
}

/// A remote charm's rule expression made ours: parsed, type-checked (an instant vector or a
/// scalar), `matchers` (label, value) added to every selector that does not match on that
/// label, and printed. Errors point into `expr` as sent.
pub(super) fn scope_rule_expr(
    expr: &str,
    matchers: &[(String, String)],
) -> Result<String, PromqlError> {
    if expr.trim().is_empty() {
        return Err(PromqlError::Empty);
    }
    let mut tree = parser::parse(expr)?;
    check::rule_type(&tree)?;
    let mut inserts = scope::scope(&mut tree, matchers)?;
    // The operator's text with the matchers put in where the selectors are: their layout
    // and comments stay as written. Read back, it must be the scoped tree.
    inserts.sort_by_key(|(at, _)| *at);
    let added: usize = inserts.iter().map(|(_, text)| text.len()).sum();
    if expr.len() + added > MAX_EXPR_BYTES {
        return Err(PromqlError::ScopedTooLong);
    }
    let mut scoped = String::with_capacity(expr.len() + added);
    let mut copied = 0;
    for (at, text) in &inserts {
        scoped.push_str(expr.get(copied..*at).unwrap_or_default());
        scoped.push_str(text);
        copied = *at;
    }
    scoped.push_str(expr.get(copied..).unwrap_or_default());
    let reread = parser::parse(&scoped).map_err(|_| PromqlError::Reprinted(scoped.clone()))?;
    if reread != tree || check::rule_type(&reread).is_err() {
        return Err(PromqlError::Reprinted(scoped));
    }
    Ok(scoped)
}

#[cfg(test)]
mod front_end_tests;
