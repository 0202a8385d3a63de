//! [`Expr`] back to PromQL text that Prometheus reads as the same tree: the tokens of the
//! source in their order (literals as written, parentheses where they were), keywords in
//! lower case, one space around binary operators and none where PromQL needs none, no
//! comments. An aggregation's `by`/`without` goes in front, as Prometheus prints it.
//! Tests only: the round-trip properties (printed, a tree reads back as itself) hold the
//! parser to saying everything it read; the charm itself keeps the operator's text.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{At, Binary, BinaryModifiers, Expr, Grouping, MatchOp, Modifiers, Selector, Sign};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(raw) => f.write_str(raw),
            Expr::Str(s) => f.write_str(&s.raw),
            Expr::Selector(s) => s.fmt(f),
            Expr::Subquery(s) => {
                write!(f, "{}[{}:", s.expr, s.range)?;
                if let Some(step) = &s.step {
                    write!(f, "{step}")?;
                }
                f.write_char(']')?;
                s.modifiers.fmt(f)
            }
            Expr::Paren(inner) => write!(f, "({inner})"),
            Expr::Unary(sign, operand) => write!(f, "{sign}{operand}"),
            Expr::Binary(b) => b.fmt(f),
            Expr::Call(call) => {
                write!(f, "{}(", call.function)?;
                list(f, &call.args)?;
                f.write_char(')')
            }
            Expr::Aggregate(a) => {
                f.write_str(a.op.name())?;
                if let Some(grouping) = &a.grouping {
                    write!(f, " {grouping} ")?;
                }
                f.write_char('(')?;
                if let Some(param) = &a.param {
                    write!(f, "{param}, ")?;
                }
                write!(f, "{})", a.expr)
            }
        }
    }
}

impl Display for Sign {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sign::Plus => "+",
            Sign::Minus => "-",
        })
    }
}

impl Display for Selector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.name {
            f.write_str(name)?;
        }
        if !self.matchers.is_empty() || self.name.is_none() {
            f.write_char('{')?;
            for (i, m) in self.matchers.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                let op = match m.op {
                    MatchOp::Equal => "=",
                    MatchOp::NotEqual => "!=",
                    MatchOp::Regex => "=~",
                    MatchOp::NotRegex => "!~",
                };
                write!(f, "{}{op}{}", m.label, m.value.raw)?;
            }
            f.write_char('}')?;
        }
        if let Some(range) = &self.range {
            write!(f, "[{range}]")?;
        }
        self.modifiers.fmt(f)
    }
}

impl Display for Modifiers {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(offset) = &self.offset {
            let sign = if offset.negative { "-" } else { "" };
            write!(f, " offset {sign}{}", offset.duration)?;
        }
        match &self.at {
            None => Ok(()),
            Some(At::Start) => f.write_str(" @ start()"),
            Some(At::End) => f.write_str(" @ end()"),
            Some(At::Timestamp(sign, seconds)) => {
                f.write_str(" @ ")?;
                if let Some(sign) = sign {
                    write!(f, "{sign}")?;
                }
                f.write_str(seconds)
            }
        }
    }
}

impl Display for Binary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        for operation in &self.rest {
            write!(
                f,
                " {}{} {}",
                operation.op.text(),
                operation.modifiers,
                operation.rhs
            )?;
        }
        Ok(())
    }
}

impl Display for BinaryModifiers {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.bool_ {
            f.write_str(" bool")?;
        }
        let Some(matching) = &self.matching else {
            return Ok(());
        };
        let on = if matching.ignoring { "ignoring" } else { "on" };
        write!(f, " {on} ")?;
        labels(f, &matching.labels)?;
        if let Some(group) = &matching.group {
            f.write_str(if group.right {
                " group_right"
            } else {
                " group_left"
            })?;
            if let Some(include) = &group.include {
                f.write_char(' ')?;
                labels(f, include)?;
            }
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(if self.without { "without " } else { "by " })?;
        labels(f, &self.labels)
    }
}

/// `(a, b)`
fn labels(f: &mut Formatter<'_>, labels: &[String]) -> fmt::Result {
    f.write_char('(')?;
    list(f, labels)?;
    f.write_char(')')
}

fn list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}
