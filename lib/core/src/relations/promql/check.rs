//! The type rules of Prometheus 2.42 over a parsed [`Expr`]: what each function and
//! aggregation takes, what unary and binary operators take (`bool` only on comparisons, set
//! operators and vector matching only between instant vectors, grouping not with set
//! operators), subqueries only of instant vectors, selectors that match something. A
//! remote charm's rule that fails here would make Prometheus refuse the whole rule file, so
//! it is dropped instead. Unknown functions (newer than 2.42) are refused by the parser.

use std::collections::BTreeSet;

use super::ast::{
    Aggregate, AggregateOp, Binary, BinaryModifiers, BinaryOp, Call, Expr, MatchOp, Selector, Sign,
};
use super::PromqlError;

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

/// The type of a rule's expression, which must be an instant vector or a scalar.
pub(super) fn rule_type(expr: &Expr) -> Result<Type, PromqlError> {
    match type_of(expr)? {
        ty @ (Type::Vector | Type::Scalar) => Ok(ty),
        other => Err(PromqlError::Parse(format!(
            "rule expression must be an instant vector or a scalar, not a {}",
            other.name()
        ))),
    }
}

/// The type of `expr`, or the first rule it breaks. Recurses as deep as the tree, which the
/// parser bounds; each rule is in a helper, so the recursive frames stay small.
pub(super) fn type_of(expr: &Expr) -> Result<Type, PromqlError> {
    match expr {
        Expr::Number(_) => Ok(Type::Scalar),
        Expr::Str(_) => Ok(Type::Str),
        Expr::Selector(s) => selector_type(s),
        Expr::Subquery(s) => subquery_type(type_of(&s.expr)?),
        Expr::Paren(inner) => type_of(inner),
        Expr::Unary(sign, operand) => unary_type(*sign, type_of(operand)?),
        Expr::Binary(b) => binary_type(b),
        Expr::Call(call) => {
            let args = arg_types(&call.args)?;
            call_type(call, &args)
        }
        Expr::Aggregate(a) => aggregate_type(a),
    }
}

#[inline(never)]
fn binary_type(b: &Binary) -> Result<Type, PromqlError> {
    let mut lhs = type_of(&b.first)?;
    for operation in &b.rest {
        let rhs = type_of(&operation.rhs)?;
        lhs = combine(operation.op, &operation.modifiers, lhs, rhs, operation.at.0)?;
    }
    Ok(lhs)
}

#[inline(never)]
fn arg_types(args: &[Expr]) -> Result<Vec<Type>, PromqlError> {
    args.iter().map(type_of).collect()
}

#[inline(never)]
fn selector_type(s: &Selector) -> Result<Type, PromqlError> {
    selects_something(s)?;
    Ok(match s.range {
        Some(_) => Type::Matrix,
        None => Type::Vector,
    })
}

#[inline(never)]
fn subquery_type(inner: Type) -> Result<Type, PromqlError> {
    match inner {
        Type::Vector => Ok(Type::Matrix),
        other => Err(PromqlError::Parse(format!(
            "subquery is only allowed on instant vectors, got {}",
            other.name()
        ))),
    }
}

#[inline(never)]
fn unary_type(sign: Sign, operand: Type) -> Result<Type, PromqlError> {
    match operand {
        ty @ (Type::Scalar | Type::Vector) => Ok(ty),
        other => Err(PromqlError::Parse(format!(
            "unary {:?} only allowed on scalars and instant vectors, got {}",
            match sign {
                Sign::Plus => "+",
                Sign::Minus => "-",
            },
            other.name()
        ))),
    }
}

/// A selector must have a matcher that cannot match the empty string (a name counts), or
/// it would select every series.
fn selects_something(s: &Selector) -> Result<(), PromqlError> {
    let non_empty = s.name.is_some()
        || s.matchers.iter().any(|m| match m.op {
            MatchOp::Equal => !m.value.value.is_empty(),
            MatchOp::NotEqual => m.value.value.is_empty(),
            MatchOp::Regex => regex_needs_a_character(&m.value.value),
            MatchOp::NotRegex => false,
        });
    if non_empty {
        Ok(())
    } else {
        Err(PromqlError::Parse(
            "vector selector must contain at least one non-empty matcher".into(),
        ))
    }
}

#[inline(never)]
fn combine(
    op: BinaryOp,
    m: &BinaryModifiers,
    lhs: Type,
    rhs: Type,
    at: usize,
) -> Result<Type, PromqlError> {
    let err = |why: &str| {
        Err(PromqlError::Parse(format!(
            "{why} (operator {:?} at byte {at})",
            op.text()
        )))
    };
    // After `ignoring` as after `on`: refusing more than Prometheus is safe, less is not.
    let matching = m.matching.as_deref();
    let include = matching.and_then(|v| v.group.as_ref()?.include.as_ref());
    if let (Some(v), Some(include)) = (matching, include) {
        let on: BTreeSet<&String> = v.labels.iter().collect();
        if let Some(label) = include.iter().find(|l| on.contains(l)) {
            return Err(PromqlError::Parse(format!(
                "label {label:?} must not occur in ON and GROUP clause at once"
            )));
        }
    }
    for t in [lhs, rhs] {
        if !matches!(t, Type::Scalar | Type::Vector) {
            return err(&format!(
                "binary expression must contain only scalar and instant vector types, got {}",
                t.name()
            ));
        }
    }
    let both_scalar = lhs == Type::Scalar && rhs == Type::Scalar;
    if m.bool_ && !op.is_comparison() {
        return err("bool modifier can only be used on comparison operators");
    }
    if op.is_comparison() && both_scalar && !m.bool_ {
        return err("comparisons between scalars must use BOOL modifier");
    }
    let any_scalar = lhs == Type::Scalar || rhs == Type::Scalar;
    if op.is_set_operator() && any_scalar {
        return err("set operator not allowed in binary scalar expression");
    }
    let grouping = m.matching.as_ref().is_some_and(|v| v.group.is_some());
    if m.matching.is_some() && any_scalar {
        return err("vector matching only allowed between instant vectors");
    }
    if grouping && op.is_set_operator() {
        return err("no grouping allowed for set operations");
    }
    Ok(if both_scalar {
        Type::Scalar
    } else {
        Type::Vector
    })
}

#[inline(never)]
fn aggregate_type(a: &Aggregate) -> Result<Type, PromqlError> {
    let param = match &a.param {
        Some(param) => Some(type_of(param)?),
        None => None,
    };
    let body = type_of(&a.expr)?;
    let op = a.op.name();
    let want = match a.op {
        AggregateOp::CountValues => Some(Type::Str),
        _ if a.op.takes_parameter() => Some(Type::Scalar),
        _ => None,
    };
    if let (Some(want), Some(ty)) = (want, param) {
        if ty != want {
            return Err(PromqlError::Parse(format!(
                "expected type {} in aggregation parameter of {op}, got {}",
                want.name(),
                ty.name()
            )));
        }
    }
    if body != Type::Vector {
        return Err(PromqlError::Parse(format!(
            "expected type instant vector in aggregation expression of {op}, got {}",
            body.name()
        )));
    }
    Ok(Type::Vector)
}

/// The result of `call` given its arguments' types, if they are what its function takes.
#[inline(never)]
fn call_type(call: &Call, args: &[Type]) -> Result<Type, PromqlError> {
    let function = function(call.function).ok_or_else(|| {
        PromqlError::Parse(format!(
            "unknown function {:?} at byte {}",
            call.function, call.at.0
        ))
    })?;
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
    Ok(function.result)
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

/// Prometheus 2.42's function of that name (names are case-sensitive).
pub(super) fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

use Type::{Matrix as M, Scalar as S, Str as T, Vector as V};

/// (name, argument types, how many of the last may repeat or be left out, result).
/// `optional` counts trailing arguments that may be omitted; `variadic` lets the last repeat.
pub(super) struct Function {
    pub(super) name: &'static str,
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
