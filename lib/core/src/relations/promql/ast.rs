//! A parsed PromQL expression. Literals keep the text they were written as (numbers,
//! durations, strings), so printing one gives back what Prometheus read, never a float or
//! escape re-rendered by us. Parentheses are nodes, so the tree says how the text grouped.
//!
//! A run of left-associative operators of one precedence (`a + b - c + …`) is one
//! [`Binary`] node with a list, not a nested tree: a 64 KiB expression can hold thousands of
//! them, and walking (or dropping) a tree that deep would overflow the stack. Every other
//! way of nesting counts towards `MAX_PROMQL_DEPTH` in the parser, so each walk of the tree
//! recurses a bounded number of times.

use crate::syntax::Duration;

pub(super) use super::lexer::AggregateOp;

/// Where a node starts in the text it was parsed from, for messages. It compares equal to
/// any other position: two trees that say the same thing are the same wherever their
/// nodes were written.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Pos(pub(super) usize);

impl PartialEq for Pos {
    fn eq(&self, _: &Pos) -> bool {
        true
    }
}

impl Eq for Pos {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expr {
    /// As written: `1`, `0x1F`, `1e-3`, `Inf`, `NaN`.
    Number(String),
    Str(StringLiteral),
    Selector(Box<Selector>),
    Subquery(Box<Subquery>),
    Paren(Box<Expr>),
    Unary(Sign, Box<Expr>),
    Binary(Box<Binary>),
    Call(Box<Call>),
    Aggregate(Box<Aggregate>),
}

/// A string literal as written and what it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StringLiteral {
    pub(super) raw: String,
    pub(super) value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sign {
    Plus,
    Minus,
}

/// `name{matchers}`, with `[range]` a range vector selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Selector {
    pub(super) name: Option<String>,
    pub(super) matchers: Vec<Matcher>,
    pub(super) range: Option<Duration>,
    pub(super) modifiers: Modifiers,
    pub(super) site: Site,
}

/// Where matchers go into the text a selector was parsed from: just after its `{`, or after
/// a bare metric name (which then needs braces). Like [`Pos`], it compares equal to any
/// other site: it says where a node was written, not what it means.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Site {
    pub(super) at: usize,
    pub(super) bare: bool,
}

impl PartialEq for Site {
    fn eq(&self, _: &Site) -> bool {
        true
    }
}

impl Eq for Site {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Matcher {
    pub(super) label: String,
    pub(super) op: MatchOp,
    pub(super) value: StringLiteral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// `expr[range:step]`; no step is `[range:]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Subquery {
    pub(super) expr: Expr,
    pub(super) range: Duration,
    pub(super) step: Option<Duration>,
    pub(super) modifiers: Modifiers,
    pub(super) at: Pos,
}

/// `offset` and `@`, on a selector or a subquery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Modifiers {
    pub(super) offset: Option<Offset>,
    pub(super) at: Option<At>,
}

impl Modifiers {
    pub(super) fn is_empty(&self) -> bool {
        self.offset.is_none() && self.at.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Offset {
    pub(super) negative: bool,
    pub(super) duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum At {
    Start,
    End,
    /// Seconds as written, with its sign if it had one.
    Timestamp(Option<Sign>, String),
}

/// `first op₁ e₁ op₂ e₂ …`, all operators of one precedence, evaluated left to right (or
/// one `^`, which is right-associative: its right side is its own node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binary {
    pub(super) first: Expr,
    pub(super) rest: Vec<Operation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Operation {
    pub(super) op: BinaryOp,
    pub(super) modifiers: BinaryModifiers,
    pub(super) rhs: Expr,
    pub(super) at: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinaryOp {
    Or,
    And,
    Unless,
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Atan2,
    Pow,
}

impl BinaryOp {
    /// The operator a punctuation token spells (the word operators are keywords).
    pub(super) fn from_symbol(text: &str) -> Option<BinaryOp> {
        Some(match text {
            "==" => BinaryOp::Eq,
            "!=" => BinaryOp::Ne,
            "<=" => BinaryOp::Le,
            "<" => BinaryOp::Lt,
            ">=" => BinaryOp::Ge,
            ">" => BinaryOp::Gt,
            "+" => BinaryOp::Add,
            "-" => BinaryOp::Sub,
            "*" => BinaryOp::Mul,
            "/" => BinaryOp::Div,
            "%" => BinaryOp::Mod,
            "^" => BinaryOp::Pow,
            _ => return None,
        })
    }

    pub(super) fn text(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Unless => "unless",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Le => "<=",
            BinaryOp::Lt => "<",
            BinaryOp::Ge => ">=",
            BinaryOp::Gt => ">",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Pow => "^",
        }
    }

    /// Precedence, 1 binding loosest.
    pub(super) fn level(self) -> usize {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Le
            | BinaryOp::Lt
            | BinaryOp::Ge
            | BinaryOp::Gt => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    pub(super) fn is_comparison(self) -> bool {
        self.level() == 3
    }

    pub(super) fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

/// `bool`, `on(…)` / `ignoring(…)`, `group_left(…)` / `group_right(…)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct BinaryModifiers {
    pub(super) bool_: bool,
    /// Boxed: rare, and an operator's size is on the parser's stack once per nesting level.
    pub(super) matching: Option<Box<VectorMatching>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VectorMatching {
    pub(super) ignoring: bool,
    pub(super) labels: Vec<String>,
    pub(super) group: Option<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Group {
    pub(super) right: bool,
    /// `None`: no label list written (`group_left b`), which the printer must keep so, as a
    /// right side in parentheses would otherwise read as the list.
    pub(super) include: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Call {
    pub(super) function: &'static str,
    pub(super) args: Vec<Expr>,
    pub(super) at: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Aggregate {
    pub(super) op: AggregateOp,
    pub(super) grouping: Option<Grouping>,
    pub(super) param: Option<Expr>,
    pub(super) expr: Expr,
    pub(super) at: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Grouping {
    pub(super) without: bool,
    pub(super) labels: Vec<String>,
}
