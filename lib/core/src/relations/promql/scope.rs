//! Scoping a remote charm's expression to its own series: every vector selector gets the
//! topology label matchers it does not already match on (what `cos-tool transform
//! --label-matcher` does for the library), in front of the ones it has.

use crate::syntax::quote;

use super::ast::{Expr, MatchOp, Matcher, Selector, StringLiteral};
use super::{PromqlError, MAX_EXPR_BYTES};

/// Adds `matchers` (label, value) to every selector of `expr` that has no matcher on that
/// label, and says what to insert where in the text `expr` was parsed from to say the same
/// (`(byte offset, text)`, in the order of the selectors). Stops with
/// [`PromqlError::ScopedTooLong`] as soon as what it added alone would not fit the size
/// limit, so a hostile run of selectors costs no more than a fitting one.
pub(super) fn scope(
    expr: &mut Expr,
    matchers: &[(String, String)],
) -> Result<Vec<(usize, String)>, PromqlError> {
    let matchers: Vec<Matcher> = matchers
        .iter()
        .map(|(label, value)| Matcher {
            label: label.clone(),
            op: MatchOp::Equal,
            value: StringLiteral {
                raw: quote::quote(value),
                value: value.clone(),
            },
        })
        .collect();
    let mut scoping = Scoping {
        budget: MAX_EXPR_BYTES,
        inserts: Vec::new(),
    };
    walk(expr, &matchers, &mut scoping)?;
    Ok(scoping.inserts)
}

struct Scoping {
    budget: usize,
    inserts: Vec<(usize, String)>,
}

/// Recurses as deep as the tree, which the parser bounds; the work is in `add_missing`, so
/// the recursive frames stay small.
fn walk(expr: &mut Expr, matchers: &[Matcher], budget: &mut Scoping) -> Result<(), PromqlError> {
    match expr {
        Expr::Number(_) | Expr::Str(_) => Ok(()),
        Expr::Selector(s) => add_missing(s, matchers, budget),
        Expr::Subquery(s) => walk(&mut s.expr, matchers, budget),
        Expr::Paren(inner) | Expr::Unary(_, inner) => walk(inner, matchers, budget),
        Expr::Binary(b) => {
            walk(&mut b.first, matchers, budget)?;
            b.rest
                .iter_mut()
                .try_for_each(|operation| walk(&mut operation.rhs, matchers, budget))
        }
        Expr::Call(call) => call
            .args
            .iter_mut()
            .try_for_each(|arg| walk(arg, matchers, budget)),
        Expr::Aggregate(a) => {
            if let Some(param) = &mut a.param {
                walk(param, matchers, budget)?;
            }
            walk(&mut a.expr, matchers, budget)
        }
    }
}

#[inline(never)]
fn add_missing(
    s: &mut Selector,
    matchers: &[Matcher],
    scoping: &mut Scoping,
) -> Result<(), PromqlError> {
    let missing: Vec<Matcher> = matchers
        .iter()
        .filter(|m| !s.matchers.iter().any(|have| have.label == m.label))
        .cloned()
        .collect();
    // `label=value,` each, and the braces a bare name gets.
    let added: usize = missing
        .iter()
        .map(|m| m.label.len() + m.value.raw.len() + 2)
        .sum::<usize>()
        + 2;
    scoping.budget = scoping
        .budget
        .checked_sub(added)
        .ok_or(PromqlError::ScopedTooLong)?;
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|m| format!("{}={}", m.label, m.value.raw))
            .collect::<Vec<_>>()
            .join(",");
        let text = match (s.site.bare, s.matchers.is_empty()) {
            (true, _) => format!("{{{list}}}"),
            (false, true) => list,
            (false, false) => format!("{list},"),
        };
        scoping.inserts.push((s.site.at, text));
    }
    s.matchers.splice(0..0, missing);
    Ok(())
}
