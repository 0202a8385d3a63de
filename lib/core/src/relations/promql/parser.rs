//! PromQL text to [`Expr`], by Prometheus 2.42's grammar and operator precedence: vector
//! selectors and their matchers (string escapes, RE2-safe regexes), ranges and subqueries,
//! `offset` / `@`, aggregations, calls of known functions, binary operators and their
//! modifiers. What is a matter of types (argument types, `bool` only on comparisons, …) is
//! `check`'s; what cannot be written at all is refused here, with the byte it is at.
//!
//! One token of lookahead, no backtracking, operators joined by precedence on a small stack:
//! linear in the tokens. Only the nesting constructs (parentheses, calls, aggregations,
//! unary signs, `^`, subqueries) recurse, and each counts towards [`MAX_PROMQL_DEPTH`].

use crate::syntax::{is_label_name, is_metric_name, number, quote, regex, Duration};

use super::ast::{
    Aggregate, AggregateOp, At, Binary, BinaryModifiers, BinaryOp, Call, Expr, Group, Grouping,
    MatchOp, Matcher, Modifiers, Offset, Operation, Pos, Selector, Sign, Site, StringLiteral,
    Subquery, VectorMatching,
};
use super::check::function;
use super::lexer::{lex, Keyword, Kind, Token};
use super::{PromqlError, MAX_PROMQL_DEPTH};

/// Parses a whole expression: anything left after it is an error.
pub(super) fn parse(expr: &str) -> Result<Expr, PromqlError> {
    let tokens = lex(expr)?;
    let mut p = Parser {
        src: expr,
        tokens,
        pos: 0,
        depth: 0,
    };
    let tree = p.expr()?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(t, "unexpected token"));
    }
    Ok(tree)
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn peek_text(&self) -> Option<&'a str> {
        self.peek().map(|t| t.text)
    }

    fn peek_keyword(&self) -> Option<Keyword> {
        self.peek().and_then(|t| t.keyword())
    }

    fn bump(&mut self) -> Option<Token<'a>> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    fn error_at(&self, t: Token<'_>, what: &str) -> PromqlError {
        PromqlError::Parse(format!("{what} {:?} at byte {}", t.text, t.start))
    }

    fn error(&self, what: &str) -> PromqlError {
        match self.peek() {
            Some(t) => self.error_at(t, what),
            None => PromqlError::Parse(format!("{what} at end of expression")),
        }
    }

    fn expect(&mut self, text: &str) -> Result<(), PromqlError> {
        if self.peek_text() == Some(text) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {text:?}, found")))
        }
    }

    /// One level deeper into a nesting construct, the only parse that recurses.
    fn enter(&mut self) -> Result<(), PromqlError> {
        self.depth += 1;
        if self.depth > MAX_PROMQL_DEPTH {
            return Err(PromqlError::TooDeep);
        }
        Ok(())
    }

    /// A binary expression: operands (`unary`) and the operators between them, joined by
    /// precedence with a stack of pending operators rather than a recursion per level, so
    /// that only the nesting constructs use the call stack. The stack holds at most one
    /// operator per level (five), and a run of one level becomes one list.
    ///
    /// This, `unary`, `postfix` and `primary` recurse into each other once per nesting
    /// level, so they keep their frames small (debug builds give every temporary its own
    /// slot): all else is in helpers called between the recursions.
    fn expr(&mut self) -> Result<Expr, PromqlError> {
        let mut pending = Vec::new();
        let mut operand = self.unary()?;
        while let Some(head) = self.binary_head()? {
            operand = reduce(&mut pending, operand, head.op.level());
            pending.push((operand, head));
            operand = self.unary()?;
        }
        Ok(reduce(&mut pending, operand, 0))
    }

    /// The binary operator at the cursor and its modifiers, if there is one. (`^` is taken
    /// by `unary`, as it binds tighter than a sign and associates to the right.)
    #[inline(never)]
    fn binary_head(&mut self) -> Result<Option<Head>, PromqlError> {
        let Some(t) = self.peek() else {
            return Ok(None);
        };
        let op = match (t.kind, t.keyword()) {
            (Kind::Punct, _) => BinaryOp::from_symbol(t.text),
            (_, Some(Keyword::And)) => Some(BinaryOp::And),
            (_, Some(Keyword::Or)) => Some(BinaryOp::Or),
            (_, Some(Keyword::Unless)) => Some(BinaryOp::Unless),
            (_, Some(Keyword::Atan2)) => Some(BinaryOp::Atan2),
            _ => None,
        };
        let Some(op) = op.filter(|op| *op != BinaryOp::Pow) else {
            return Ok(None);
        };
        self.pos += 1;
        let modifiers = self.binary_modifiers()?;
        Ok(Some(Head {
            op,
            modifiers,
            at: Pos(t.start),
        }))
    }

    fn unary(&mut self) -> Result<Expr, PromqlError> {
        if let Some(sign) = self.sign()? {
            let operand = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Unary(sign, Box::new(operand)));
        }
        let lhs = self.postfix()?;
        match self.pow_head()? {
            Some(head) => {
                let rhs = self.unary()?;
                self.depth -= 1;
                Ok(join(lhs, head, rhs))
            }
            None => Ok(lhs),
        }
    }

    /// A unary sign at the cursor, taken as one nesting level.
    #[inline(never)]
    fn sign(&mut self) -> Result<Option<Sign>, PromqlError> {
        let sign = self.peek_sign();
        if sign.is_some() {
            self.enter()?;
            self.pos += 1;
        }
        Ok(sign)
    }

    /// A `^` at the cursor and its modifiers; `a ^ b ^ c …` recurses once per operator, so
    /// each is one nesting level.
    #[inline(never)]
    fn pow_head(&mut self) -> Result<Option<Head>, PromqlError> {
        match self.peek() {
            Some(t) if t.text == "^" => {
                self.pos += 1;
                let modifiers = self.binary_modifiers()?;
                self.enter()?;
                Ok(Some(Head {
                    op: BinaryOp::Pow,
                    modifiers,
                    at: Pos(t.start),
                }))
            }
            _ => Ok(None),
        }
    }

    fn peek_sign(&self) -> Option<Sign> {
        match self.peek_text() {
            Some("+") => Some(Sign::Plus),
            Some("-") => Some(Sign::Minus),
            _ => None,
        }
    }

    fn binary_modifiers(&mut self) -> Result<BinaryModifiers, PromqlError> {
        let mut m = BinaryModifiers::default();
        if self.peek_keyword() == Some(Keyword::Bool) {
            self.pos += 1;
            m.bool_ = true;
        }
        let ignoring = match self.peek_keyword() {
            Some(Keyword::On) => false,
            Some(Keyword::Ignoring) => true,
            _ => return Ok(m),
        };
        self.pos += 1;
        let labels = self.label_list()?;
        // group_left / group_right only after on / ignoring.
        let right = match self.peek_keyword() {
            Some(Keyword::GroupLeft) => Some(false),
            Some(Keyword::GroupRight) => Some(true),
            _ => None,
        };
        let group = match right {
            Some(right) => {
                self.pos += 1;
                let include = match self.peek_text() {
                    Some("(") => Some(self.label_list()?),
                    _ => None,
                };
                Some(Group { right, include })
            }
            None => None,
        };
        m.matching = Some(Box::new(VectorMatching {
            ignoring,
            labels,
            group,
        }));
        Ok(m)
    }

    /// `( label, ... )`, trailing comma allowed.
    fn label_list(&mut self) -> Result<Vec<String>, PromqlError> {
        self.expect("(")?;
        let mut labels = Vec::new();
        loop {
            match self.peek() {
                Some(t) if t.text == ")" => {
                    self.pos += 1;
                    return Ok(labels);
                }
                Some(t) if t.kind == Kind::Ident && is_label_name(t.text) => {
                    self.pos += 1;
                    labels.push(t.text.to_string());
                    match self.peek_text() {
                        Some(",") => self.pos += 1,
                        Some(")") => {}
                        _ => return Err(self.error("expected ',' or ')' in label list, found")),
                    }
                }
                _ => return Err(self.error("expected a label name, found")),
            }
        }
    }

    /// A primary expression and what may follow it: `[range]`, `[range:step]`, `offset`, `@`.
    fn postfix(&mut self) -> Result<Expr, PromqlError> {
        let e = self.primary()?;
        self.suffixes(e)
    }

    #[inline(never)]
    fn suffixes(&mut self, mut e: Expr) -> Result<Expr, PromqlError> {
        let mut subqueries = 0;
        loop {
            match self.peek() {
                Some(t) if t.text == "[" => {
                    if modifiers(&mut e).is_some_and(|m| !m.is_empty()) {
                        return Err(
                            self.error("no offset or @ modifiers allowed before a range, found")
                        );
                    }
                    e = match (self.bracket()?, e) {
                        (Bracket::Subquery(range, step), inner) => {
                            // A subquery of a subquery is a type error, but a nesting first.
                            self.enter()?;
                            subqueries += 1;
                            Expr::Subquery(Box::new(Subquery {
                                expr: inner,
                                range,
                                step,
                                modifiers: Modifiers::default(),
                                at: Pos(t.start),
                            }))
                        }
                        (Bracket::Range(range), Expr::Selector(mut s)) if s.range.is_none() => {
                            s.range = Some(range);
                            Expr::Selector(s)
                        }
                        (Bracket::Range(_), _) => {
                            return Err(PromqlError::Parse(
                                "ranges only allowed for vector selectors".into(),
                            ))
                        }
                    };
                }
                Some(_) if self.peek_keyword() == Some(Keyword::Offset) => {
                    match modifiers(&mut e) {
                        Some(m) if m.offset.is_none() => {}
                        _ => {
                            return Err(
                                self.error("offset must follow a selector or subquery, once:")
                            )
                        }
                    }
                    self.pos += 1;
                    let negative = self.peek_text() == Some("-");
                    if negative {
                        self.pos += 1;
                    }
                    let d = self
                        .bump()
                        .ok_or_else(|| self.error("expected a duration"))?;
                    // Prometheus refuses some zero offsets ("-0m"); none is useful.
                    let duration = match d.kind {
                        Kind::Number => positive_duration(d.text),
                        _ => None,
                    }
                    .ok_or_else(|| self.error_at(d, "expected a positive duration, found"))?;
                    if let Some(m) = modifiers(&mut e) {
                        m.offset = Some(Offset { negative, duration });
                    }
                }
                Some(t) if t.text == "@" => {
                    match modifiers(&mut e) {
                        Some(m) if m.at.is_none() => {}
                        _ => return Err(self.error("@ must follow a selector or subquery, once:")),
                    }
                    self.pos += 1;
                    let at = self.at_value()?;
                    if let Some(m) = modifiers(&mut e) {
                        m.at = Some(at);
                    }
                }
                _ => break,
            }
        }
        self.depth -= subqueries;
        Ok(e)
    }

    /// What follows `@`: `start()`, `end()` or a timestamp in seconds.
    fn at_value(&mut self) -> Result<At, PromqlError> {
        let edge = match self.peek_keyword() {
            Some(Keyword::Start) => Some(At::Start),
            Some(Keyword::End) => Some(At::End),
            _ => None,
        };
        if let Some(edge) = edge {
            self.pos += 1;
            self.expect("(")?;
            self.expect(")")?;
            return Ok(edge);
        }
        let sign = self.peek_sign();
        if sign.is_some() {
            self.pos += 1;
        }
        let n = self
            .bump()
            .ok_or_else(|| self.error("expected a timestamp"))?;
        if n.kind != Kind::Number
            || !number::promql_number(n.text).is_ok_and(number::is_promql_timestamp)
        {
            return Err(self.error_at(n, "expected a timestamp, found"));
        }
        Ok(At::Timestamp(sign, n.text.to_string()))
    }

    /// `[duration]`, `[duration:step]` or `[duration:]`, read from the source text since
    /// `5m:1m` does not lex as PromQL outside brackets.
    fn bracket(&mut self) -> Result<Bracket, PromqlError> {
        let open = self.bump().ok_or_else(|| self.error("expected '['"))?;
        let close_index = self.tokens[self.pos..]
            .iter()
            .position(|t| t.text == "]")
            .map(|i| self.pos + i)
            .ok_or_else(|| self.error_at(open, "unclosed"))?;
        let close = self.tokens[close_index];
        let inner = &self.src[open.start + 1..close.start];
        self.pos = close_index + 1;
        let bad = || PromqlError::Parse(format!("bad range {inner:?} at byte {}", open.start));
        match inner.split_once(':') {
            None => Ok(Bracket::Range(
                positive_duration(inner.trim()).ok_or_else(bad)?,
            )),
            Some((range, step)) => {
                let range = positive_duration(range.trim()).ok_or_else(bad)?;
                let step = match step.trim() {
                    "" => None,
                    step => Some(positive_duration(step).ok_or_else(bad)?),
                };
                Ok(Bracket::Subquery(range, step))
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, PromqlError> {
        match self.nesting()? {
            Nesting::Paren => {
                let inner = self.expr()?;
                self.expect(")")?;
                self.depth -= 1;
                Ok(Expr::Paren(Box::new(inner)))
            }
            Nesting::Aggregate(op, at) => self.aggregation(op, at),
            Nesting::Call(function, at) => self.call(function, at),
            Nesting::None => self.leaf(),
        }
    }

    /// Whether the cursor opens a nesting construct (taking `(` as one level), and which.
    #[inline(never)]
    fn nesting(&mut self) -> Result<Nesting, PromqlError> {
        let t = self
            .peek()
            .ok_or_else(|| self.error("expected an expression"))?;
        let next = self.tokens.get(self.pos + 1).map(|t| t.text);
        match (t.kind, t.keyword()) {
            (Kind::Punct, _) if t.text == "(" => {
                self.enter()?;
                self.pos += 1;
                Ok(Nesting::Paren)
            }
            (Kind::Ident, Some(Keyword::Aggregate(op))) => {
                self.pos += 1;
                Ok(Nesting::Aggregate(op, Pos(t.start)))
            }
            (Kind::Ident, Some(Keyword::Inf | Keyword::Nan)) => Ok(Nesting::None),
            (Kind::Ident, _) if next == Some("(") => {
                let function =
                    function(t.text).ok_or_else(|| self.error_at(t, "unknown function"))?;
                self.pos += 1;
                Ok(Nesting::Call(function.name, Pos(t.start)))
            }
            _ => Ok(Nesting::None),
        }
    }

    /// A primary expression that nests nothing: a number, a string, a selector.
    #[inline(never)]
    fn leaf(&mut self) -> Result<Expr, PromqlError> {
        let t = self
            .peek()
            .ok_or_else(|| self.error("expected an expression"))?;
        match t.kind {
            Kind::Number => {
                self.pos += 1;
                if number::promql_number(t.text).is_err() {
                    return Err(self.error_at(t, "not a number:"));
                }
                Ok(Expr::Number(t.text.to_string()))
            }
            Kind::Str => {
                self.pos += 1;
                Ok(Expr::Str(self.string_literal(t)?))
            }
            Kind::Punct if t.text == "{" => self.selector(None),
            Kind::Ident => {
                match t.keyword() {
                    Some(Keyword::Inf | Keyword::Nan) => {
                        self.pos += 1;
                        return Ok(Expr::Number(t.text.to_string()));
                    }
                    Some(_) => return Err(self.error_at(t, "unexpected keyword")),
                    None => {}
                }
                if !is_metric_name(t.text) {
                    return Err(self.error_at(t, "not a metric name:"));
                }
                self.pos += 1;
                self.selector(Some(t.text))
            }
            _ => Err(self.error_at(t, "unexpected")),
        }
    }

    fn string_literal(&self, t: Token<'_>) -> Result<StringLiteral, PromqlError> {
        let value = quote::unquote_utf8(t.text, quote::Dialect::Promql)
            .map_err(|e| self.error_at(t, e.reason()))?;
        Ok(StringLiteral {
            raw: t.text.to_string(),
            value,
        })
    }

    /// The optional `{...}` after a metric name (required without one).
    fn selector(&mut self, name: Option<&str>) -> Result<Expr, PromqlError> {
        // The name, when there is one, is the token just read.
        let name_end = self
            .pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.start + t.text.len());
        let mut selector = Selector {
            name: name.map(str::to_string),
            matchers: Vec::new(),
            range: None,
            modifiers: Modifiers::default(),
            site: Site {
                at: name_end,
                bare: true,
            },
        };
        if let Some(open) = self.peek().filter(|t| t.text == "{") {
            selector.site = Site {
                at: open.start + 1,
                bare: false,
            };
        }
        if self.peek_text() != Some("{") {
            return match name {
                Some(_) => Ok(Expr::Selector(Box::new(selector))),
                None => Err(self.error("expected a selector")),
            };
        }
        self.pos += 1;
        let mut names_metric = name.is_some();
        loop {
            let t = self.peek().ok_or_else(|| self.error("unclosed '{'"))?;
            if t.text == "}" {
                self.pos += 1;
                break;
            }
            if t.kind != Kind::Ident || !is_label_name(t.text) {
                return Err(self.error_at(t, "expected a label name, found"));
            }
            self.pos += 1;
            let op_token = self
                .bump()
                .ok_or_else(|| self.error("expected a matcher"))?;
            let op = match op_token.text {
                "=" => MatchOp::Equal,
                "!=" => MatchOp::NotEqual,
                "=~" => MatchOp::Regex,
                "!~" => MatchOp::NotRegex,
                _ => return Err(self.error_at(op_token, "expected a label matcher, found")),
            };
            let v = self.bump().ok_or_else(|| self.error("expected a string"))?;
            if v.kind != Kind::Str {
                return Err(self.error_at(v, "expected a string, found"));
            }
            let value = self.string_literal(v)?;
            if matches!(op, MatchOp::Regex | MatchOp::NotRegex) {
                regex::check(&value.value)
                    .map_err(|e| PromqlError::Parse(format!("regex: {e}")))?;
            }
            if t.text == "__name__" {
                if names_metric {
                    return Err(self.error_at(t, "metric name must not be set twice:"));
                }
                names_metric = true;
            }
            selector.matchers.push(Matcher {
                label: t.text.to_string(),
                op,
                value,
            });
            match self.peek_text() {
                Some(",") => self.pos += 1,
                Some("}") => {}
                _ => return Err(self.error("expected ',' or '}', found")),
            }
        }
        Ok(Expr::Selector(Box::new(selector)))
    }

    /// The rest of an aggregation, after its operator.
    fn aggregation(&mut self, op: AggregateOp, at: Pos) -> Result<Expr, PromqlError> {
        let mut grouping = self.grouping()?;
        self.enter()?;
        self.expect("(")?;
        let param = if op.takes_parameter() {
            let param = self.expr()?;
            self.expect(",")?;
            Some(param)
        } else {
            None
        };
        let expr = self.expr()?;
        self.expect(")")?;
        self.depth -= 1;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(Expr::Aggregate(Box::new(Aggregate {
            op,
            grouping,
            param,
            expr,
            at,
        })))
    }

    /// An aggregation's `by (…)` / `without (…)`, if there is one here.
    fn grouping(&mut self) -> Result<Option<Grouping>, PromqlError> {
        let without = match self.peek_keyword() {
            Some(Keyword::By) => false,
            Some(Keyword::Without) => true,
            _ => return Ok(None),
        };
        self.pos += 1;
        let labels = self.label_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    /// The arguments of a call, after the function's name.
    fn call(&mut self, function: &'static str, at: Pos) -> Result<Expr, PromqlError> {
        self.enter()?;
        self.expect("(")?;
        let mut args = Vec::new();
        if self.peek_text() != Some(")") {
            loop {
                args.push(self.expr()?);
                match self.peek_text() {
                    Some(",") => self.pos += 1,
                    _ => break,
                }
            }
        }
        self.expect(")")?;
        self.depth -= 1;
        Ok(Expr::Call(Box::new(Call { function, args, at })))
    }
}

/// A binary operator read, before its right side.
struct Head {
    op: BinaryOp,
    modifiers: BinaryModifiers,
    at: Pos,
}

/// What a `[…]` after an expression says: a range, or a subquery's range and step.
enum Bracket {
    Range(Duration),
    Subquery(Duration, Option<Duration>),
}

/// What the cursor opens.
enum Nesting {
    Paren,
    Aggregate(AggregateOp, Pos),
    Call(&'static str, Pos),
    None,
}

/// Joins the pending operators that bind at least as tightly as `level` with `rhs`,
/// tightest first (all are left-associative); what is left binds more loosely.
#[inline(never)]
fn reduce(pending: &mut Vec<(Expr, Head)>, mut rhs: Expr, level: usize) -> Expr {
    while pending
        .last()
        .is_some_and(|(_, head)| head.op.level() >= level)
    {
        if let Some((lhs, head)) = pending.pop() {
            rhs = join(lhs, head, rhs);
        }
    }
    rhs
}

/// `lhs op rhs`: one more operand of `lhs`'s run if `lhs` is a run of that level (which the
/// caller made: a `^` from `unary` never takes more), else a new node.
#[inline(never)]
fn join(lhs: Expr, head: Head, rhs: Expr) -> Expr {
    let operation = Operation {
        op: head.op,
        modifiers: head.modifiers,
        rhs,
        at: head.at,
    };
    match lhs {
        Expr::Binary(mut b)
            if head.op != BinaryOp::Pow
                && b.rest
                    .first()
                    .is_some_and(|o| o.op != BinaryOp::Pow && o.op.level() == head.op.level()) =>
        {
            b.rest.push(operation);
            Expr::Binary(b)
        }
        lhs => Expr::Binary(Box::new(Binary {
            first: lhs,
            rest: vec![operation],
        })),
    }
}

/// Where `offset` and `@` go on `e`, if it may have them (selectors and subqueries).
fn modifiers(e: &mut Expr) -> Option<&mut Modifiers> {
    match e {
        Expr::Selector(s) => Some(&mut s.modifiers),
        Expr::Subquery(s) => Some(&mut s.modifiers),
        _ => None,
    }
}

/// A duration longer than zero: ranges, steps and offsets of zero are refused by
/// Prometheus or mean nothing.
fn positive_duration(text: &str) -> Option<Duration> {
    Duration::parse(text).ok().filter(|d| d.millis() > 0)
}
