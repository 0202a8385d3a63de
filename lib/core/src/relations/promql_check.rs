//! A PromQL parser that only answers "would Prometheus 2.42 parse this?", types included:
//! grammar and operator precedence, vector selectors and their matchers (string escapes,
//! RE2-safe regexes), ranges and subqueries, `offset` / `@`, aggregations, the function table
//! with argument types, and the binary operator rules (`bool`, set operators, vector
//! matching). A remote charm's rule that fails here would make Prometheus refuse the whole
//! rule file, so it is dropped instead. Unknown functions (newer than 2.42) are refused too.

use std::collections::BTreeSet;

use crate::syntax::{duration, is_label_name, is_metric_name, number, quote, regex};

use super::promql::{lex, Kind, PromqlError, Token, AGGREGATORS, MAX_PROMQL_DEPTH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    Scalar,
    Vector,
    Matrix,
    Str,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Scalar => "scalar",
            Type::Vector => "instant vector",
            Type::Matrix => "range vector",
            Type::Str => "string",
        }
    }
}

/// What an operand is, for the postfix rules (ranges only on selectors, and so on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Selector,
    Range,
    Subquery,
    Other,
}

const KEYWORDS: [&str; 13] = [
    "and",
    "or",
    "unless",
    "atan2",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "start",
];

use Type::{Matrix as M, Scalar as S, Str as T, Vector as V};

/// (name, argument types, how many of the last may repeat or be left out, result).
/// `optional` counts trailing arguments that may be omitted; `variadic` lets the last repeat.
struct Function {
    name: &'static str,
    args: &'static [Type],
    optional: usize,
    variadic: bool,
    result: Type,
}

const fn f(name: &'static str, args: &'static [Type], result: Type) -> Function {
    Function {
        name,
        args,
        optional: 0,
        variadic: false,
        result,
    }
}

const fn opt(name: &'static str, args: &'static [Type], optional: usize, result: Type) -> Function {
    Function {
        name,
        args,
        optional,
        variadic: false,
        result,
    }
}

/// Prometheus 2.42's functions.
const FUNCTIONS: &[Function] = &[
    f("abs", &[V], V),
    f("absent", &[V], V),
    f("absent_over_time", &[M], V),
    f("acos", &[V], V),
    f("acosh", &[V], V),
    f("asin", &[V], V),
    f("asinh", &[V], V),
    f("atan", &[V], V),
    f("atanh", &[V], V),
    f("avg_over_time", &[M], V),
    f("ceil", &[V], V),
    f("changes", &[M], V),
    f("clamp", &[V, S, S], V),
    f("clamp_max", &[V, S], V),
    f("clamp_min", &[V, S], V),
    f("cos", &[V], V),
    f("cosh", &[V], V),
    f("count_over_time", &[M], V),
    opt("days_in_month", &[V], 1, V),
    opt("day_of_month", &[V], 1, V),
    opt("day_of_week", &[V], 1, V),
    opt("day_of_year", &[V], 1, V),
    f("deg", &[V], V),
    f("delta", &[M], V),
    f("deriv", &[M], V),
    f("exp", &[V], V),
    f("floor", &[V], V),
    f("histogram_count", &[V], V),
    f("histogram_sum", &[V], V),
    f("histogram_fraction", &[S, S, V], V),
    f("histogram_quantile", &[S, V], V),
    f("holt_winters", &[M, S, S], V),
    opt("hour", &[V], 1, V),
    f("idelta", &[M], V),
    f("increase", &[M], V),
    f("irate", &[M], V),
    Function {
        name: "label_join",
        args: &[V, T, T, T],
        optional: 1,
        variadic: true,
        result: V,
    },
    f("label_replace", &[V, T, T, T, T], V),
    f("last_over_time", &[M], V),
    f("ln", &[V], V),
    f("log10", &[V], V),
    f("log2", &[V], V),
    f("max_over_time", &[M], V),
    f("min_over_time", &[M], V),
    opt("minute", &[V], 1, V),
    opt("month", &[V], 1, V),
    f("pi", &[], S),
    f("predict_linear", &[M, S], V),
    f("present_over_time", &[M], V),
    f("quantile_over_time", &[S, M], V),
    f("rad", &[V], V),
    f("rate", &[M], V),
    f("resets", &[M], V),
    opt("round", &[V, S], 1, V),
    f("scalar", &[V], S),
    f("sgn", &[V], V),
    f("sin", &[V], V),
    f("sinh", &[V], V),
    f("sort", &[V], V),
    f("sort_desc", &[V], V),
    f("sqrt", &[V], V),
    f("stddev_over_time", &[M], V),
    f("stdvar_over_time", &[M], V),
    f("sum_over_time", &[M], V),
    f("tan", &[V], V),
    f("tanh", &[V], V),
    f("time", &[], S),
    f("timestamp", &[V], V),
    f("vector", &[S], V),
    opt("year", &[V], 1, V),
];

/// Parses `expr` as Prometheus would and returns its type; a rule's expression must be an
/// instant vector or a scalar.
pub(super) fn check_rule_expr(expr: &str) -> Result<Type, PromqlError> {
    let tokens = lex(expr)?;
    let mut p = Parser {
        src: expr,
        tokens,
        pos: 0,
        depth: 0,
    };
    let (ty, _) = p.expr(0)?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(t, "unexpected token"));
    }
    match ty {
        Type::Vector | Type::Scalar => Ok(ty),
        other => Err(PromqlError::Parse(format!(
            "rule expression must be an instant vector or a scalar, not a {}",
            other.name()
        ))),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
}

/// Binary operators by precedence level (1 binds loosest).
fn binary_level(op: &str) -> Option<usize> {
    match op.to_ascii_lowercase().as_str() {
        "or" => Some(1),
        "and" | "unless" => Some(2),
        "==" | "!=" | "<=" | "<" | ">=" | ">" => Some(3),
        "+" | "-" => Some(4),
        "*" | "/" | "%" | "atan2" => Some(5),
        "^" => Some(6),
        _ => None,
    }
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | "<=" | "<" | ">=" | ">")
}

fn is_set_operator(op: &str) -> bool {
    matches!(op, "and" | "or" | "unless")
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn peek_text(&self) -> Option<&'a str> {
        self.peek().map(|t| t.text)
    }

    fn peek_lower(&self) -> Option<String> {
        self.peek()
            .filter(|t| t.kind == Kind::Ident)
            .map(|t| t.text.to_ascii_lowercase())
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

    /// One level deeper into a nesting construct. Only these recurse without bound; the
    /// precedence levels between them add at most six frames each.
    fn enter(&mut self) -> Result<(), PromqlError> {
        self.depth += 1;
        if self.depth > MAX_PROMQL_DEPTH {
            return Err(PromqlError::TooDeep);
        }
        Ok(())
    }

    /// Binary expressions at `min_level` and above (precedence climbing).
    fn expr(&mut self, min_level: usize) -> Result<(Type, Shape), PromqlError> {
        let mut lhs = if min_level <= 5 {
            self.unary()?
        } else {
            self.postfix()?
        };
        while let Some(op_token) = self.peek() {
            let op = op_token.text.to_ascii_lowercase();
            let level = match (op_token.kind, binary_level(&op)) {
                (Kind::Punct | Kind::Ident, Some(l)) if l >= min_level.max(1) => l,
                _ => break,
            };
            if op_token.kind == Kind::Ident
                && !matches!(op.as_str(), "and" | "or" | "unless" | "atan2")
            {
                break;
            }
            self.pos += 1;
            let modifiers = self.binary_modifiers()?;
            // '^' is right-associative and binds tighter than unary minus on its right.
            let rhs = if op == "^" {
                self.unary()?
            } else {
                self.expr(level + 1)?
            };
            lhs = (
                self.combine(&op, &modifiers, lhs.0, rhs.0, op_token)?,
                Shape::Other,
            );
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<(Type, Shape), PromqlError> {
        if matches!(self.peek_text(), Some("+" | "-")) {
            self.enter()?;
            let op = self.bump();
            let (ty, _) = self.unary()?;
            self.depth -= 1;
            if !matches!(ty, Type::Scalar | Type::Vector) {
                return Err(PromqlError::Parse(format!(
                    "unary {:?} only allowed on scalars and instant vectors, got {}",
                    op.map_or("-", |t| t.text),
                    ty.name()
                )));
            }
            return Ok((ty, Shape::Other));
        }
        let lhs = self.postfix()?;
        if self.peek_text() == Some("^") {
            let op_token = self.bump().ok_or_else(|| self.error("expected '^'"))?;
            let modifiers = self.binary_modifiers()?;
            // `a ^ b ^ c …` recurses once per operator.
            self.enter()?;
            let rhs = self.unary()?;
            self.depth -= 1;
            return Ok((
                self.combine("^", &modifiers, lhs.0, rhs.0, op_token)?,
                Shape::Other,
            ));
        }
        Ok(lhs)
    }

    fn binary_modifiers(&mut self) -> Result<BinaryModifiers, PromqlError> {
        let mut m = BinaryModifiers::default();
        if self.peek_lower().as_deref() == Some("bool") {
            self.pos += 1;
            m.bool_ = true;
        }
        if matches!(self.peek_lower().as_deref(), Some("on" | "ignoring")) {
            self.pos += 1;
            m.matching = true;
            m.on_labels = self.label_list()?;
        }
        // group_left / group_right only after on / ignoring.
        if m.matching
            && matches!(
                self.peek_lower().as_deref(),
                Some("group_left" | "group_right")
            )
        {
            self.pos += 1;
            m.grouping = true;
            if self.peek_text() == Some("(") {
                let include = self.label_list()?;
                let on: BTreeSet<&String> = m.on_labels.iter().collect();
                if let Some(l) = include.iter().find(|l| on.contains(l)) {
                    return Err(PromqlError::Parse(format!(
                        "label {l:?} must not occur in ON and GROUP clause at once"
                    )));
                }
            }
        }
        Ok(m)
    }

    fn combine(
        &self,
        op: &str,
        m: &BinaryModifiers,
        lhs: Type,
        rhs: Type,
        at: Token<'_>,
    ) -> Result<Type, PromqlError> {
        let err = |why: &str| {
            Err(PromqlError::Parse(format!(
                "{why} (operator {op:?} at byte {})",
                at.start
            )))
        };
        for t in [lhs, rhs] {
            if !matches!(t, Type::Scalar | Type::Vector) {
                return err(&format!(
                    "binary expression must contain only scalar and instant vector types, got {}",
                    t.name()
                ));
            }
        }
        let both_scalar = lhs == Type::Scalar && rhs == Type::Scalar;
        if m.bool_ && !is_comparison(op) {
            return err("bool modifier can only be used on comparison operators");
        }
        if is_comparison(op) && both_scalar && !m.bool_ {
            return err("comparisons between scalars must use BOOL modifier");
        }
        let any_scalar = lhs == Type::Scalar || rhs == Type::Scalar;
        if is_set_operator(op) && any_scalar {
            return err("set operator not allowed in binary scalar expression");
        }
        if (m.matching || m.grouping) && any_scalar {
            return err("vector matching only allowed between instant vectors");
        }
        if m.grouping && is_set_operator(op) {
            return err("no grouping allowed for set operations");
        }
        Ok(if both_scalar {
            Type::Scalar
        } else {
            Type::Vector
        })
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
    fn postfix(&mut self) -> Result<(Type, Shape), PromqlError> {
        let (mut ty, mut shape) = self.primary()?;
        let mut offset = false;
        let mut at = false;
        loop {
            match self.peek_text() {
                Some("[") => {
                    if offset || at {
                        return Err(
                            self.error("no offset or @ modifiers allowed before a range, found")
                        );
                    }
                    let subquery = self.range()?;
                    if subquery {
                        if ty != Type::Vector {
                            return Err(PromqlError::Parse(format!(
                                "subquery is only allowed on instant vectors, got {}",
                                ty.name()
                            )));
                        }
                        shape = Shape::Subquery;
                    } else {
                        if shape != Shape::Selector {
                            return Err(PromqlError::Parse(
                                "ranges only allowed for vector selectors".into(),
                            ));
                        }
                        shape = Shape::Range;
                    }
                    ty = Type::Matrix;
                }
                _ if self.peek_lower().as_deref() == Some("offset") => {
                    if offset || shape == Shape::Other {
                        return Err(self.error("offset must follow a selector or subquery, once:"));
                    }
                    self.pos += 1;
                    if self.peek_text() == Some("-") {
                        self.pos += 1;
                    }
                    let d = self
                        .bump()
                        .ok_or_else(|| self.error("expected a duration"))?;
                    // Prometheus refuses some zero offsets ("-0m"); none is useful.
                    if d.kind != Kind::Number || !duration::millis(d.text).is_ok_and(|ms| ms > 0) {
                        return Err(self.error_at(d, "expected a positive duration, found"));
                    }
                    offset = true;
                }
                Some("@") => {
                    if at || shape == Shape::Other {
                        return Err(self.error("@ must follow a selector or subquery, once:"));
                    }
                    self.pos += 1;
                    match self.peek_lower().as_deref() {
                        Some("start" | "end") => {
                            self.pos += 1;
                            self.expect("(")?;
                            self.expect(")")?;
                        }
                        _ => {
                            if matches!(self.peek_text(), Some("+" | "-")) {
                                self.pos += 1;
                            }
                            let n = self
                                .bump()
                                .ok_or_else(|| self.error("expected a timestamp"))?;
                            if n.kind != Kind::Number
                                || !number::promql_number(n.text)
                                    .is_ok_and(number::is_promql_timestamp)
                            {
                                return Err(self.error_at(n, "expected a timestamp, found"));
                            }
                        }
                    }
                    at = true;
                }
                _ => break,
            }
        }
        Ok((ty, shape))
    }

    /// `[duration]` (false) or `[duration:step]` / `[duration:]` (true), read from the source
    /// text since `5m:1m` does not lex as PromQL outside brackets.
    fn range(&mut self) -> Result<bool, PromqlError> {
        let open = self.bump().ok_or_else(|| self.error("expected '['"))?;
        let close_index = self.tokens[self.pos..]
            .iter()
            .position(|t| t.text == "]")
            .map(|i| self.pos + i)
            .ok_or_else(|| self.error_at(open, "unclosed"))?;
        let close = self.tokens[close_index];
        let inner = &self.src[open.start + 1..close.start];
        self.pos = close_index + 1;
        let positive = |d: &str| duration::millis(d.trim()).is_ok_and(|ms| ms > 0);
        match inner.split_once(':') {
            None if positive(inner) => Ok(false),
            Some((range, step))
                if positive(range) && (step.trim().is_empty() || positive(step)) =>
            {
                Ok(true)
            }
            _ => Err(PromqlError::Parse(format!(
                "bad range {inner:?} at byte {}",
                open.start
            ))),
        }
    }

    fn primary(&mut self) -> Result<(Type, Shape), PromqlError> {
        let t = self
            .peek()
            .ok_or_else(|| self.error("expected an expression"))?;
        match t.kind {
            Kind::Number => {
                self.pos += 1;
                if number::promql_number(t.text).is_err() {
                    return Err(self.error_at(t, "not a number:"));
                }
                Ok((Type::Scalar, Shape::Other))
            }
            Kind::Str => {
                self.pos += 1;
                string_value(t.text).map_err(|why| self.error_at(t, why))?;
                Ok((Type::Str, Shape::Other))
            }
            Kind::Punct if t.text == "(" => {
                self.enter()?;
                self.pos += 1;
                let (ty, _) = self.expr(0)?;
                self.expect(")")?;
                self.depth -= 1;
                Ok((ty, Shape::Other))
            }
            Kind::Punct if t.text == "{" => {
                self.selector(None)?;
                Ok((Type::Vector, Shape::Selector))
            }
            Kind::Ident => {
                let lower = t.text.to_ascii_lowercase();
                let next = self.tokens.get(self.pos + 1).map(|t| t.text);
                if lower == "inf" || lower == "nan" {
                    self.pos += 1;
                    return Ok((Type::Scalar, Shape::Other));
                }
                if AGGREGATORS.contains(&lower.as_str()) {
                    return self.aggregation();
                }
                if next == Some("(") {
                    return self.call();
                }
                if KEYWORDS.contains(&lower.as_str()) || lower == "end" {
                    return Err(self.error_at(t, "unexpected keyword"));
                }
                if !is_metric_name(t.text) {
                    return Err(self.error_at(t, "not a metric name:"));
                }
                self.pos += 1;
                self.selector(Some(t.text))?;
                Ok((Type::Vector, Shape::Selector))
            }
            _ => Err(self.error_at(t, "unexpected")),
        }
    }

    /// The optional `{...}` after a metric name (required without one).
    fn selector(&mut self, name: Option<&str>) -> Result<(), PromqlError> {
        if self.peek_text() != Some("{") {
            return match name {
                Some(_) => Ok(()),
                None => Err(self.error("expected a selector")),
            };
        }
        self.pos += 1;
        let mut non_empty = name.is_some();
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
            let op = self
                .bump()
                .ok_or_else(|| self.error("expected a matcher"))?;
            if !matches!(op.text, "=" | "!=" | "=~" | "!~") {
                return Err(self.error_at(op, "expected a label matcher, found"));
            }
            let v = self.bump().ok_or_else(|| self.error("expected a string"))?;
            if v.kind != Kind::Str {
                return Err(self.error_at(v, "expected a string, found"));
            }
            let value = string_value(v.text).map_err(|why| self.error_at(v, why))?;
            if op.text.ends_with('~') {
                regex::check(&value).map_err(|e| PromqlError::Parse(format!("regex: {e}")))?;
            }
            if t.text == "__name__" {
                if names_metric {
                    return Err(self.error_at(t, "metric name must not be set twice:"));
                }
                names_metric = true;
            }
            non_empty |= match op.text {
                "=" => !value.is_empty(),
                "!=" => value.is_empty(),
                "=~" => regex_needs_a_character(&value),
                _ => false,
            };
            match self.peek_text() {
                Some(",") => self.pos += 1,
                Some("}") => {}
                _ => return Err(self.error("expected ',' or '}', found")),
            }
        }
        if !non_empty {
            return Err(PromqlError::Parse(
                "vector selector must contain at least one non-empty matcher".into(),
            ));
        }
        Ok(())
    }

    fn aggregation(&mut self) -> Result<(Type, Shape), PromqlError> {
        let t = self
            .bump()
            .ok_or_else(|| self.error("expected an aggregation"))?;
        let op = t.text.to_ascii_lowercase();
        let mut grouped = false;
        if matches!(self.peek_lower().as_deref(), Some("by" | "without")) {
            self.pos += 1;
            self.label_list()?;
            grouped = true;
        }
        self.enter()?;
        self.expect("(")?;
        let param = match op.as_str() {
            "topk" | "bottomk" | "quantile" => Some(Type::Scalar),
            "count_values" => Some(Type::Str),
            _ => None,
        };
        if let Some(want) = param {
            let (ty, _) = self.expr(0)?;
            if ty != want {
                return Err(PromqlError::Parse(format!(
                    "expected type {} in aggregation parameter of {op}, got {}",
                    want.name(),
                    ty.name()
                )));
            }
            self.expect(",")?;
        }
        let (ty, _) = self.expr(0)?;
        if ty != Type::Vector {
            return Err(PromqlError::Parse(format!(
                "expected type instant vector in aggregation expression of {op}, got {}",
                ty.name()
            )));
        }
        self.expect(")")?;
        self.depth -= 1;
        if !grouped && matches!(self.peek_lower().as_deref(), Some("by" | "without")) {
            self.pos += 1;
            self.label_list()?;
        }
        Ok((Type::Vector, Shape::Other))
    }

    fn call(&mut self) -> Result<(Type, Shape), PromqlError> {
        let t = self
            .bump()
            .ok_or_else(|| self.error("expected a function"))?;
        let function = FUNCTIONS
            .iter()
            .find(|f| f.name == t.text)
            .ok_or_else(|| self.error_at(t, "unknown function"))?;
        self.enter()?;
        self.expect("(")?;
        let mut args = Vec::new();
        if self.peek_text() != Some(")") {
            loop {
                args.push(self.expr(0)?.0);
                match self.peek_text() {
                    Some(",") => self.pos += 1,
                    _ => break,
                }
            }
        }
        self.expect(")")?;
        self.depth -= 1;
        let min = function.args.len() - function.optional;
        let max = if function.variadic {
            usize::MAX
        } else {
            function.args.len()
        };
        if args.len() < min || args.len() > max {
            return Err(PromqlError::Parse(format!(
                "wrong number of arguments ({}) for {}",
                args.len(),
                function.name
            )));
        }
        for (i, got) in args.iter().enumerate() {
            let want = function.args[i.min(function.args.len() - 1)];
            if *got != want {
                return Err(PromqlError::Parse(format!(
                    "expected type {} in call to function {}, got {}",
                    want.name(),
                    function.name,
                    got.name()
                )));
            }
        }
        Ok((function.result, Shape::Other))
    }
}

#[derive(Default)]
struct BinaryModifiers {
    bool_: bool,
    matching: bool,
    grouping: bool,
    on_labels: Vec<String>,
}

/// The value of a PromQL string literal (`syntax::quote`, PromQL dialect), or why it is
/// malformed.
fn string_value(literal: &str) -> Result<String, &'static str> {
    quote::unquote_utf8(literal, quote::Dialect::Promql).map_err(quote::QuoteError::reason)
}

/// Whether a regex cannot match the empty string: conservatively, every alternative starts
/// with a mandatory literal character (alternatives are only split in regexes without
/// groups, classes or escapes; otherwise an alternation is taken as maybe-empty).
fn regex_needs_a_character(re: &str) -> bool {
    let simple = !re.contains(['(', '[', '\\']);
    if !simple && re.contains('|') {
        return false;
    }
    re.split('|').all(|alternative| {
        let mut chars = alternative.chars();
        let first = chars.next();
        let second = chars.next();
        first.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && !matches!(second, Some('*' | '?' | '{'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relations::promql::MAX_EXPR_BYTES;

    #[test]
    fn accepts_what_prometheus_parses() {
        for ok in [
            "up",
            "up == 0",
            "up{job=\"x\"} < 1",
            "sum by (job, instance) (rate(http_requests_total[5m])) > 0",
            "sum(rate(x[5m:1m])) without (pod)",
            "a / on(job) group_left(team) b offset 5m",
            "absent(up{job=\"zinc\"}) and vector(1) > bool Inf",
            "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
            "label_join(up, \"a\", \",\", \"b\", \"c\")",
            "job:up:rate5m > 1e-3",
            "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
            "topk(3, count_values(\"v\", up))",
            "quantile(0.9, up) unless on() absent(up)",
            "up @ start()",
            "up offset -5m @ 100",
            "rate(up[1h30m])",
            "max_over_time(up[5m:30s] offset 1m)",
            "max_over_time(rate(up[5m])[30m:])",
            "-up",
            "- -1",
            "NaN",
            "0x1F * up",
            "-2 ^ 2",
            "2 ^ -1",
            "time() - process_start_time_seconds > 3600",
            "count without(a,b,) (up)",
            "up == bool 1",
            "1 > bool 2",
            "sum(up) or vector(0)",
            "{__name__=~\"up|down\", job=\"x\"}",
            "{job!=\"\"}",
            "{__name__=~\"up|down\"}",
            "up{a=~'x\\\\d+', b=`raw\\d`}",
            "round(up)",
            "round(up, 0.5)",
            "hour()",
            "scalar(up) * 2",
            "(up)",
            "max_over_time(((up + 1) * 2)[5m:1m] offset 1m) > 0",
            "# just\nup # comments",
        ] {
            assert!(
                check_rule_expr(ok).is_ok(),
                "{ok}: {:?}",
                check_rule_expr(ok)
            );
        }
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        for bad in [
            "",
            "up up",
            "rate(up)",
            "-\"x\"",
            "sum(up[5m])",
            "(up)[5m]",
            "up offset 5m [5m]",
            "up[5m][5m]",
            "rate(up[5m])[5m]",
            "foo(up)",
            "1 > 2",
            "up and 1",
            "1 + on(a) up",
            "up + bool up",
            "up and on(a) group_left b",
            "up{a=\"\\d\"}",
            "up{a=~\"(\"}",
            "up{__name__=\"x\"}",
            "{a=~\".*\"}",
            "{a=~\"up|\"}",
            "{}",
            "up{a=\"x\",}}",
            "sum(up) by",
            "topk(up, 3)",
            "count_values(1, up)",
            "vector(up)",
            "clamp(up, 1)",
            "label_replace(up, 1, \"a\", \"b\", \"c\")",
            "5m",
            "up offset 5",
            "up offset -0m",
            "a / on(job)Z>group_left(team) b offset 5m",
            "up[0s]",
            "up[5m:1x]",
            "up @ end",
            "(1 + 2) offset 5m",
            "up +",
            "up ^",
            "up{a=\"x\" b=\"y\"}",
            "1.2.3",
            "on(a)",
            "a * on(x) group_left(x) b",
            "day_of_week(up, up)",
        ] {
            assert!(check_rule_expr(bad).is_err(), "{bad}");
        }
        // Prometheus parses these, but they could never be evaluated as a rule (a string, a
        // range vector) or read as intended (keywords as metric names): refused too.
        for odd in ["\"x\"", "up[5m]", "sum", "by"] {
            assert!(check_rule_expr(odd).is_err(), "{odd}");
        }
        let deep = format!("{}up{}", "(".repeat(500), ")".repeat(500));
        assert_eq!(check_rule_expr(&deep), Err(PromqlError::TooDeep));
    }

    /// Each nesting construct counts towards the limit, and the refusal names it.
    #[test]
    fn nesting_is_limited_and_the_refusal_names_the_limit() {
        let n = MAX_PROMQL_DEPTH;
        let shapes: [(&str, &str, &str); 6] = [
            ("(", "up", ")"),
            ("abs(", "up", ")"),
            ("sum(", "up", ")"),
            ("- ", "up", ""),
            ("2 ^ ", "2", ""),
            // Every precedence level between two parentheses: the deepest stack per level.
            ("up or up and up == bool up + up * up ^ (", "up", ")"),
        ];
        for (open, inner, close) in shapes {
            let at = |n: usize| format!("{}{inner}{}", open.repeat(n), close.repeat(n));
            assert!(
                check_rule_expr(&at(n)).is_ok(),
                "{open} × {n}: {:?}",
                check_rule_expr(&at(n))
            );
            assert_eq!(
                check_rule_expr(&at(n + 1)),
                Err(PromqlError::TooDeep),
                "{open}"
            );
        }
        assert!(PromqlError::TooDeep
            .to_string()
            .contains(&MAX_PROMQL_DEPTH.to_string()));
    }

    /// Expressions just under the size limit in the shapes that cost a naive parser
    /// quadratic time or deep recursion: each is answered.
    #[test]
    fn hostile_shapes_at_the_size_limit_are_answered() {
        let fill = |unit: &str, open: &str, close: &str| {
            let n = (MAX_EXPR_BYTES - open.len() - close.len()) / unit.len();
            format!("{open}{}{close}", unit.repeat(n))
        };
        for deep in [
            fill("(", "", ""),
            fill("{", "", ""),
            fill("[", "up", ""),
            fill("-", "", "1"),
            fill("2^", "", "2"),
            fill("abs(", "", ""),
        ] {
            assert!(check_rule_expr(&deep).is_err());
        }
        for flat in [
            fill(" + up", "up", ""),
            fill(" or up", "up", ""),
            fill(" * 2 + 1", "up", ""),
            fill(",a=\"b\"", "up{c=\"d\"", "}"),
            fill(", a", "up * on(b", ") group_left(c) up"),
            fill(", a", "sum by (b", ") (up)"),
            fill("up[5m:1m]", "", ""),
            fill(" ", "up", ""),
            fill("# c\n", "", "up"),
        ] {
            let _ = check_rule_expr(&flat);
        }
        assert_eq!(check_rule_expr(&fill(" + up", "up", "")), Ok(Type::Vector));
        assert_eq!(
            check_rule_expr(&"u".repeat(MAX_EXPR_BYTES + 1)),
            Err(PromqlError::TooLong)
        );
    }

    #[test]
    fn string_literals_follow_go_quoting() {
        assert_eq!(string_value(r#""a\"b\n\\""#), Ok("a\"b\n\\".to_string()));
        assert_eq!(
            string_value(r"'it\'s \x41\u00e9\101'"),
            Ok("it's AéA".to_string())
        );
        assert_eq!(string_value(r"`raw\d`"), Ok(r"raw\d".to_string()));
        assert!(string_value(r#""\d""#).is_err());
        assert!(string_value(r#""\x4""#).is_err());
        assert!(string_value(r#""\400""#).is_err());
    }
}
