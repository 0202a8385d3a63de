//! Alert labels and annotations are Go text/templates, parsed when Prometheus loads the rule
//! file: one that does not parse makes Prometheus refuse the whole file. This checks a
//! template the way Go 1.19's parser (Prometheus 2.42's) would, within a conservative subset:
//! actions made of pipelines over Prometheus's template functions, `$labels`, `$value`,
//! `$externalLabels`, `$externalURL` and variables declared in scope, fields, strings and
//! decimal numbers, and the `if` / `else` / `else if` / `range` / `with` / `end` structure.
//! `define`, `template`, `block`, `break`, `continue`, character, hex and complex constants
//! are refused though Go has them; so is `query` (see [`TemplateError::Query`]).
//!
//! The input is untrusted and may be large, so the check is one pass over the text: every
//! action is lexed once and parsed by recursive descent whose depth is bounded by
//! [`MAX_TEMPLATE_DEPTH`], and variables are looked up in a map, not by scanning scopes.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::syntax::{number, quote};

/// Longest template (one label value or annotation) we check. Alert texts are a few lines;
/// the limit keeps one rule from spending its relation's whole megabyte on one text.
pub(super) const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// Deepest nesting we follow, of parentheses within an action and of `if` / `range` /
/// `with` blocks within a template. Go's parser has none (promtool parses 10,000 nested
/// parentheses), so any limit keeps us on the accepting side of Prometheus; this one is far
/// beyond what alert texts use and keeps the recursion shallow on any stack.
pub(super) const MAX_TEMPLATE_DEPTH: usize = 64;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub(super) enum TemplateError {
    #[error("template is longer than {MAX_TEMPLATE_BYTES} bytes")]
    TooLong,
    #[error("template nests {0} deeper than {MAX_TEMPLATE_DEPTH} levels")]
    TooDeep(&'static str),
    /// `query` runs any PromQL, unscoped by the topology matchers that scope the rule's own
    /// expression, and its result goes to every Alertmanager: a remote charm could read any
    /// series in this Prometheus through its alerts.
    #[error(
        "templates from relations may not call \"query\": it would read series outside the \
         rule's topology and send them to every Alertmanager"
    )]
    Query,
    #[error("{0}")]
    Syntax(String),
}

fn fail<T>(why: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError::Syntax(why.into()))
}

/// Functions a Prometheus 2.42 alert template may call (Go's built-ins and Prometheus's own),
/// less `query` (refused with its own reason).
const FUNCTIONS: [&str; 44] = [
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "first",
    "label",
    "value",
    "sortByLabel",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "pathPrefix",
    "externalURL",
    "stripPort",
    "stripDomain",
    "parseDuration",
    "toTime",
];

/// Variables Prometheus defines before every alert template.
const PREDEFINED: [&str; 4] = ["labels", "externalLabels", "externalURL", "value"];

/// Go's template keywords: never a function name.
const KEYWORDS: [&str; 10] = [
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Variable(String),
    Field,
    Dot,
    Literal,
    Pipe,
    Declare,
    Assign,
    Comma,
    Open,
    Close,
    /// A run of spaces: Go's parser tells `$x .y` from `$x.y` and `f x` from `f"x"` by it.
    Space,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("{name:?}"),
            Tok::Variable(name) => format!("${name}"),
            Tok::Field => "field".into(),
            Tok::Dot => "'.'".into(),
            Tok::Literal => "constant".into(),
            Tok::Pipe => "'|'".into(),
            Tok::Declare => "':='".into(),
            Tok::Assign => "'='".into(),
            Tok::Comma => "','".into(),
            Tok::Open => "'('".into(),
            Tok::Close => "')'".into(),
            Tok::Space => "space".into(),
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Letters, digits and `_` of identifiers, fields and variables. Go takes any Unicode
/// letter or digit; we take ASCII only (Rust's and Go's Unicode classes differ, and label
/// names are ASCII).
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Splits one action into tokens, in one pass.
fn lex_action(action: &str) -> Result<Vec<Tok>, TemplateError> {
    let chars: Vec<char> = action.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if is_space(c) => {
                while chars.get(i).copied().is_some_and(is_space) {
                    i += 1;
                }
                toks.push(Tok::Space);
            }
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            '(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            ')' => {
                toks.push(Tok::Close);
                i += 1;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '"' => {
                let start = i;
                i += 1;
                loop {
                    match chars.get(i) {
                        None | Some('\n') => return fail("unterminated quoted string"),
                        Some('\\') => i += 2,
                        Some('"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let literal: String = chars[start..i.min(chars.len())].iter().collect();
                quote::unquote(&literal, quote::Dialect::Go)
                    .map_err(|e| TemplateError::Syntax(e.reason().to_string()))?;
                toks.push(Tok::Literal);
            }
            '`' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or_else(|| {
                        TemplateError::Syntax("unterminated raw quoted string".into())
                    })?;
                i += close + 2;
                toks.push(Tok::Literal);
            }
            '$' => {
                let start = i + 1;
                i += 1;
                while chars.get(i).copied().is_some_and(is_word) {
                    i += 1;
                }
                toks.push(Tok::Variable(chars[start..i].iter().collect()));
                i = fields(&chars, i, &mut toks)?;
            }
            '.' if chars.get(i + 1).copied().is_some_and(is_word_start) => {
                i = fields(&chars, i, &mut toks)?;
            }
            '.' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                i = number(&chars, i, &mut toks)?;
            }
            '.' => {
                toks.push(Tok::Dot);
                i += 1;
            }
            '+' | '-' | '0'..='9' => i = number(&chars, i, &mut toks)?,
            c if is_word_start(c) => {
                let start = i;
                while chars.get(i).copied().is_some_and(is_word) {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
                i = fields(&chars, i, &mut toks)?;
            }
            c => return fail(format!("bad character {c:?} in action")),
        }
    }
    Ok(toks)
}

/// `.a.b.c` after an operand (or as one).
fn fields(chars: &[char], mut i: usize, toks: &mut Vec<Tok>) -> Result<usize, TemplateError> {
    while chars.get(i) == Some(&'.') {
        i += 1;
        if !chars.get(i).copied().is_some_and(is_word_start) {
            return fail("bad field name");
        }
        while chars.get(i).copied().is_some_and(is_word) {
            i += 1;
        }
        toks.push(Tok::Field);
    }
    Ok(i)
}

/// A decimal number: `[+-]digits[.digits][e[+-]digits]` or `[+-].digits…`. Go also has hex,
/// octal, binary, `_` separators, complex and character constants; we refuse those.
fn number(chars: &[char], mut i: usize, toks: &mut Vec<Tok>) -> Result<usize, TemplateError> {
    let start = i;
    if matches!(chars.get(i), Some('+' | '-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    let mut any = digits(&mut i);
    if chars.get(i) == Some(&'.') {
        i += 1;
        any |= digits(&mut i);
    }
    if any && matches!(chars.get(i), Some('e' | 'E')) {
        i += 1;
        if matches!(chars.get(i), Some('+' | '-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return fail("bad number syntax");
        }
    }
    let text: String = chars[start..i].iter().collect();
    if !any || chars.get(i).is_some_and(|&c| is_word(c) || c == '.') {
        let shown: String = chars[start..(i + 1).min(chars.len())].iter().collect();
        return fail(format!("bad number syntax {shown:?}"));
    }
    go_number(&text)?;
    toks.push(Tok::Literal);
    Ok(i)
}

/// What Go's parser makes of a decimal literal (`parse.newNumber`): one without `.` or an
/// exponent is an integer, octal after a leading `0`, and must fit an int64 (a uint64
/// without a sign); one with them is a float and must be finite. `08` and `1e400` fail.
/// Go's rules for a number literal (one grammar: `syntax::number`).
fn go_number(text: &str) -> Result<(), TemplateError> {
    number::go_template_number(text)
        .or_else(|_| fail(format!("illegal number or integer overflow: {text:?}")))
}

/// Declared variables, as a stack (popped at `else` and `end`) and as counts by name (so a
/// lookup costs the same however many are in scope).
#[derive(Default)]
struct Vars {
    stack: Vec<String>,
    counts: BTreeMap<String, usize>,
}

impl Vars {
    fn declare(&mut self, name: String) {
        *self.counts.entry(name.clone()).or_default() += 1;
        self.stack.push(name);
    }

    fn defined(&self, name: &str) -> bool {
        PREDEFINED.contains(&name) || self.counts.contains_key(name)
    }

    fn mark(&self) -> usize {
        self.stack.len()
    }

    fn truncate(&mut self, mark: usize) {
        while self.stack.len() > mark {
            if let Some(name) = self.stack.pop() {
                if let Some(n) = self.counts.get_mut(&name) {
                    *n -= 1;
                    if *n == 0 {
                        self.counts.remove(&name);
                    }
                }
            }
        }
    }
}

/// Where a pipeline stands, which decides what it may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A plain action, `if` or `with`: one variable.
    Single,
    /// `range`: one or two variables.
    Range,
    /// Inside parentheses: none (Go allows them; nobody needs them).
    Paren,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    If,
    Range,
    With,
}

/// An open `if` / `range` / `with`.
struct Block {
    kind: BlockKind,
    /// Variables in scope before the block (restored at `end`).
    vars_before: usize,
    /// ... and after its pipeline (restored at `else`: the body's are gone).
    vars_after_pipeline: usize,
    else_seen: bool,
}

/// Parses the tokens of one action. Each token is looked at a bounded number of times.
struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    vars: &'a mut Vars,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(&Tok::Space) {
            self.pos += 1;
        }
    }

    /// Steps over a keyword, which Go ends at a space (or `.`, `(`, …: we take spaces only,
    /// so `{{if"x"}}` is refused as Go refuses it).
    fn keyword(&mut self) -> Result<(), TemplateError> {
        self.pos += 1;
        match self.peek() {
            None | Some(Tok::Space) => Ok(()),
            Some(t) => fail(format!("unexpected {} after keyword", t.describe())),
        }
    }

    fn ident(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Ident(name)) => Some(name),
            _ => None,
        }
    }

    /// `[$a[, $b] (:=|=)] command { | command }`, up to a `)` or the end of the action.
    fn pipeline(&mut self, context: Context, depth: usize) -> Result<(), TemplateError> {
        self.skip_space();
        let declared = self.declarations(context)?;
        let mut stage = 1;
        loop {
            self.command(stage, depth)?;
            if self.peek() != Some(&Tok::Pipe) {
                break;
            }
            self.pos += 1;
            stage += 1;
        }
        // Visible after the pipeline (Go already lets the pipeline itself use them).
        for name in declared {
            self.vars.declare(name);
        }
        match (context, self.peek()) {
            (Context::Paren, Some(Tok::Close)) => Ok(()),
            (Context::Paren, _) => fail("unclosed left paren"),
            (_, None) => Ok(()),
            (_, Some(t)) => fail(format!("unexpected {}", t.describe())),
        }
    }

    /// The variables a pipeline declares (empty for an assignment or none).
    fn declarations(&mut self, context: Context) -> Result<Vec<String>, TemplateError> {
        let start = self.pos;
        let mut names = Vec::new();
        while let Some(Tok::Variable(name)) = self.peek() {
            let name = name.clone();
            self.pos += 1;
            // Go lexes `$x=` as a bad character: `=` is no terminator of a variable.
            let glued_assign = self.peek() == Some(&Tok::Assign);
            self.skip_space();
            match self.peek() {
                Some(Tok::Declare | Tok::Assign) if context == Context::Paren => {
                    return fail("declaration inside parentheses")
                }
                Some(Tok::Declare | Tok::Assign) if glued_assign => {
                    return fail("bad character '=' after variable")
                }
                Some(Tok::Declare | Tok::Assign) => {
                    names.push(name);
                    let declares = self.peek() == Some(&Tok::Declare);
                    self.pos += 1;
                    if declares {
                        return Ok(names);
                    }
                    if let Some(undefined) = names.iter().find(|n| !self.vars.defined(n)) {
                        return fail(format!("undefined variable ${undefined}"));
                    }
                    return Ok(Vec::new());
                }
                Some(Tok::Comma) if context == Context::Range && names.is_empty() => {
                    names.push(name);
                    self.pos += 1;
                    self.skip_space();
                    if !matches!(self.peek(), Some(Tok::Variable(_))) {
                        return fail("range can only initialize variables");
                    }
                }
                Some(Tok::Comma) => return fail("too many declarations"),
                _ if names.is_empty() => break,
                _ => return fail("bad variable declaration"),
            }
        }
        self.pos = start;
        Ok(Vec::new())
    }

    /// Operands separated by spaces, up to a `|`, a `)` or the end. A stage after the first
    /// receives the previous result, so it must start with something executable.
    fn command(&mut self, stage: usize, depth: usize) -> Result<(), TemplateError> {
        self.skip_space();
        let mut operands = 0;
        while !matches!(self.peek(), None | Some(Tok::Pipe | Tok::Close)) {
            let constant = self.operand(depth)?;
            if operands == 0 && stage > 1 && constant {
                return fail(format!("non executable command in pipeline stage {stage}"));
            }
            operands += 1;
            match self.peek() {
                Some(Tok::Space) => self.skip_space(),
                None | Some(Tok::Pipe | Tok::Close) => {}
                Some(t) => return fail(format!("unexpected {} in operand", t.describe())),
            }
        }
        if operands == 0 {
            return fail(if stage == 1 {
                "missing value for command"
            } else {
                "missing command after '|'"
            });
        }
        Ok(())
    }

    /// One operand and the fields chained to it; whether it is a constant.
    fn operand(&mut self, depth: usize) -> Result<bool, TemplateError> {
        let Some(tok) = self.peek().cloned() else {
            return fail("missing operand");
        };
        self.pos += 1;
        // (constant, may take fields)
        let (constant, chains) = match tok {
            Tok::Ident(name) => match name.as_str() {
                "true" | "false" | "nil" => (true, false),
                "query" => return Err(TemplateError::Query),
                n if FUNCTIONS.contains(&n) => (false, false),
                n if KEYWORDS.contains(&n) => return fail(format!("unexpected {n:?} in operand")),
                n => return fail(format!("function {n:?} not defined")),
            },
            Tok::Variable(name) => {
                if !self.vars.defined(&name) {
                    return fail(format!("undefined variable ${name}"));
                }
                (false, true)
            }
            Tok::Field => (false, true),
            Tok::Dot | Tok::Literal => (true, false),
            Tok::Open => {
                if depth >= MAX_TEMPLATE_DEPTH {
                    return Err(TemplateError::TooDeep("parentheses"));
                }
                self.pipeline(Context::Paren, depth + 1)?;
                // pipeline() stopped at the ')'.
                self.pos += 1;
                (false, true)
            }
            t => return fail(format!("unexpected {}", t.describe())),
        };
        if self.peek() == Some(&Tok::Field) {
            if !chains {
                return fail("unexpected . after term");
            }
            while self.peek() == Some(&Tok::Field) {
                self.pos += 1;
            }
        }
        Ok(constant)
    }
}

/// Checks `text` as Prometheus's alert templating would parse it.
pub(super) fn check(text: &str) -> Result<(), TemplateError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::TooLong);
    }
    let mut rest = text;
    let mut vars = Vars::default();
    let mut blocks: Vec<Block> = Vec::new();
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError::Syntax("unclosed action".into()))?;
        let mut action = &after[..end];
        rest = &after[end + 2..];
        // Trim markers are "- " after "{{" and " -" before "}}".
        if let Some(a) = action.strip_prefix("- ") {
            action = a;
        }
        if let Some(a) = action.strip_suffix(" -") {
            action = a;
        }
        let trimmed = action.trim();
        if let Some(comment) = trimmed.strip_prefix("/*") {
            // Go ends a comment at its first "*/", which must be followed by the "}}".
            match comment.find("*/") {
                None => return fail("unclosed comment"),
                Some(end) if end + 2 != comment.len() => {
                    return fail("comment ends before closing delimiter")
                }
                Some(_) => {}
            }
            if action != trimmed {
                return fail("comment must be the whole action");
            }
            continue;
        }
        let toks = lex_action(action)?;
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            vars: &mut vars,
        };
        p.skip_space();
        let keyword = p.ident().map(str::to_string);
        match keyword.as_deref() {
            Some(k @ ("if" | "range" | "with")) => {
                if blocks.len() >= MAX_TEMPLATE_DEPTH {
                    return Err(TemplateError::TooDeep("blocks"));
                }
                let (kind, context) = match k {
                    "if" => (BlockKind::If, Context::Single),
                    "range" => (BlockKind::Range, Context::Range),
                    _ => (BlockKind::With, Context::Single),
                };
                p.keyword()?;
                let vars_before = p.vars.mark();
                p.pipeline(context, 0)?;
                blocks.push(Block {
                    kind,
                    vars_before,
                    vars_after_pipeline: p.vars.mark(),
                    else_seen: false,
                });
            }
            Some("else") => {
                p.keyword()?;
                let Some(block) = blocks.last_mut() else {
                    return fail("unexpected {{else}}");
                };
                if block.else_seen {
                    return fail("expected {{end}}, found {{else}}");
                }
                p.vars.truncate(block.vars_after_pipeline);
                p.skip_space();
                match p.ident() {
                    None if p.peek().is_none() => block.else_seen = true,
                    // `{{else if}}` is an `if` inside the else branch that shares the `end`;
                    // Go 1.19 has it for `if` only.
                    Some("if") if block.kind == BlockKind::If => {
                        p.keyword()?;
                        p.pipeline(Context::Single, 0)?;
                        block.vars_after_pipeline = p.vars.mark();
                    }
                    _ => return fail("unexpected token after else"),
                }
            }
            Some("end") => {
                p.keyword()?;
                p.skip_space();
                if p.peek().is_some() {
                    return fail("unexpected token after end");
                }
                let Some(block) = blocks.pop() else {
                    return fail("unexpected {{end}}");
                };
                p.vars.truncate(block.vars_before);
            }
            Some(k @ ("define" | "template" | "block" | "break" | "continue")) => {
                return fail(format!("{{{{{k}}}}} is not allowed here"));
            }
            _ => p.pipeline(Context::Single, 0)?,
        }
    }
    if !blocks.is_empty() {
        return fail("unexpected EOF: a block is not closed with {{end}}");
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) const ACCEPTED: [&str; 24] = [
        "plain text, even } and { alone",
        "{{ $labels.instance }} is down",
        "{{ if gt $value 1.0 }}many{{ else }}few{{ end }}",
        "{{- $value | humanize -}}",
        "{{/* note */}}",
        "}} alone",
        "{{ $labels.juju_unit }} of {{ $labels.juju_application }} at {{ $externalURL }}",
        "{{ printf \"%.2f\" $value }}%",
        "{{ range $i, $e := $labels }}{{ $i }}={{ $e }}{{ else }}none{{ end }}",
        "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
        "{{ with $labels.job }}job {{ . }}{{ else }}no job{{ end }}",
        "{{ if eq $labels.severity \"critical\" }}!{{ else if ne $value 0.0 }}?{{ end }}",
        "{{ humanizeDuration (index $labels \"age\" | len) }}",
        "{{ -1.5e3 }} {{ 42 }} {{ .5 }} {{ `raw {{` }}",
        "{{ reReplaceAll \"(.*)\" \"$1\" $labels.instance | toUpper }}",
        "{{ true }}{{ nil | not }}",
        "{{ (index $labels \"a\").b }}{{ $x:=1 }}{{ $x }}{{ $x = 2 }}",
        "{{ if true }}a{{ else if false }}b{{ else if true }}c{{ else }}d{{ end }}",
        "{{ 0777 }} {{ 00 }} {{ -0 }} {{ 18446744073709551615 }} {{ -9223372036854775808 }}",
        "{{ +9223372036854775807 }} {{ 1e-400 }} {{ 1. }} {{ 08.5 }} {{ 1.7976931348623157e308 }}",
        "{{ ($labels).instance }} {{ (1) }} {{ $value|humanize|printf \"%s\" }}",
        "{{ range $k, $v := $labels }}{{ $k }}{{ end }}{{ range $labels }}{{ . }}{{ end }}",
        "{{ if $x := $labels.a }}{{ $x }}{{ else }}{{ $x }}{{ end }}",
        "{{ with $labels }}{{ .instance }}{{ end }} {{ $value | parseDuration }} {{ toTime 1 }}",
    ];

    #[test]
    fn accepts_go_templates() {
        for ok in ACCEPTED {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    pub(crate) const REFUSED: [&str; 49] = [
        "{{ $labels.instance",
        "{{ if true }}x",
        "{{ end }}",
        "{{ }}",
        "{{/* open }}",
        "{{ printf \"%s }}",
        "{{ $labels.x? }}",
        "{{ $undefined }}",
        "{{ nosuchfunction 1 }}",
        "{{ | humanize }}",
        "{{ (humanize }}",
        "{{ 1x }}",
        "{{ \"\\d\" }}",
        "{{ else }}",
        "{{ if true }}{{ end x }}{{ end }}",
        "{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}",
        "{{ $a, $b, $c := 1 }}",
        "{{ $labels.1x }}",
        "{{ @ }}",
        "{{ if gt$value 1.0 }}{{ end }}",
        "{{ 1-0 }}",
        "{{ humanize(1) }}",
        "{{ $value | 1 }}",
        "{{ $labels=.instance }}",
        "{{ \"a\"\"b\" }}",
        // Go's number rules: octal after a leading 0, int64/uint64 range, finite floats.
        "{{ 08 }}",
        "{{ +08 }}",
        "{{ 1e400 }}",
        "{{ 1.7976931348623159e308 }}",
        "{{ 18446744073709551616 }}",
        "{{ -9223372036854775809 }}",
        "{{ +18446744073709551615 }}",
        // Go 1.19's block structure.
        "{{ if true }}a{{ else }}b{{ else }}c{{ end }}",
        "{{ if true }}a{{ else }}b{{ else if true }}c{{ end }}",
        "{{ range $labels }}a{{ else if true }}b{{ end }}",
        "{{ with 1 }}a{{ else with 2 }}b{{ end }}",
        "{{ if true }}{{ else }}{{ end }}{{ end }}",
        "{{ $a, $b := 1 }}",
        "{{ if $a, $b := 1 }}{{ end }}",
        // Fields only after variables, fields and parentheses.
        "{{ true.x }}",
        "{{ \"a\".b }}",
        "{{ 1 .5 }}{{ ..x }}",
        "{{ $labels.a² }}",
        "{{ (1)(2) }}",
        "{{ (1)x }}",
        "{{ if }}{{ end }}",
        "{{- /* c */ -^}{{/**/}}",
        "{{ if\"x\" }}{{ end }}",
        "{{ if true }}{{ else if\"x\" }}{{ end }}",
    ];

    /// Go parses these; we refuse them all the same (a trailing pipe, templates defined
    /// inside an annotation, character, hex and complex constants, `_` in numbers, fields of
    /// functions, assignments to undeclared variables, a body's variables in its else).
    const CONSERVATIVE: [&str; 11] = [
        "{{ $value | }}",
        "{{ define \"x\" }}{{ end }}",
        "{{ 'c' }}",
        "{{ 0x1F }}",
        "{{ 1i }}",
        "{{ 1_000 }}",
        "{{ humanize.x }}",
        "{{ $y = 1 }}",
        "{{ if true }}{{ $x := 1 }}{{ else }}{{ $x }}{{ end }}",
        "{{ ($x := 1) }}",
        "{{ $ }}",
    ];

    #[test]
    fn refuses_what_go_refuses() {
        for bad in REFUSED.iter().chain(&CONSERVATIVE) {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    /// Go parses these and Prometheus would run them; relation data may not.
    pub(crate) const QUERIES: [&str; 3] = [
        "{{ query \"up\" }}",
        "{{ range query \"secret_series\" }}{{ .Labels }} {{ .Value }}{{ end }}",
        "{{ with (query \"up\" | first) }}{{ . | value }}{{ end }}",
    ];

    #[test]
    fn query_is_refused_naming_why() {
        for q in QUERIES {
            let err = check(q).unwrap_err();
            assert_eq!(err, TemplateError::Query, "{q}");
            assert!(err.to_string().contains("may not call \"query\""));
        }
        // Names that only contain it are other things.
        assert!(check("{{ $labels.query }} {{ urlquery \"a b\" }}").is_ok());
    }

    #[test]
    fn nesting_is_limited_and_the_refusal_names_the_limit() {
        let parens = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        assert_eq!(check(&parens(MAX_TEMPLATE_DEPTH)), Ok(()));
        let err = check(&parens(MAX_TEMPLATE_DEPTH + 1)).unwrap_err();
        assert_eq!(err, TemplateError::TooDeep("parentheses"));
        assert!(err.to_string().contains(&MAX_TEMPLATE_DEPTH.to_string()));

        let blocks = |n: usize| format!("{}x{}", "{{ if true }}".repeat(n), "{{ end }}".repeat(n));
        assert_eq!(check(&blocks(MAX_TEMPLATE_DEPTH)), Ok(()));
        assert_eq!(
            check(&blocks(MAX_TEMPLATE_DEPTH + 1)),
            Err(TemplateError::TooDeep("blocks"))
        );
        // The 70,000 parentheses: refused at the size limit, before any parsing.
        assert_eq!(check(&parens(70_000)), Err(TemplateError::TooLong));
        assert!(TemplateError::TooLong
            .to_string()
            .contains(&MAX_TEMPLATE_BYTES.to_string()));
    }

    /// Templates just under the size limit in every shape that used to cost quadratic time or
    /// stack: each is answered, and deep ones at the depth limit.
    #[test]
    fn hostile_shapes_at_the_size_limit_are_answered() {
        let fill = |unit: &str, open: &str, close: &str| {
            let n = (MAX_TEMPLATE_BYTES - open.len() - close.len()) / unit.len();
            format!("{open}{}{close}", unit.repeat(n))
        };
        let deep = [
            fill("(", "{{ ", " }}"),
            fill("{{ if true }}", "", ""),
            fill("{{ range $labels }}", "", ""),
            fill("{{ with 1 }}(", "", ""),
        ];
        for t in &deep {
            assert!(
                matches!(check(t), Err(TemplateError::TooDeep(_))),
                "{:?}",
                check(t)
            );
        }
        let answered = [
            fill("{{", "", ""),
            fill("}}", "", ""),
            fill("{{ $value }}", "", ""),
            fill(" | humanize", "{{ $value", " }}"),
            fill(" $value", "{{ printf \"%v\"", " }}"),
            fill("(1) ", "{{ print ", " }}"),
            fill("{{ $x := 1 }}", "", "{{ $x }}"),
            fill("{{ if true }}{{ $x := 1 }}{{ end }}", "", ""),
            fill("{{ if true }}{{ else if true }}", "", "{{ end }}"),
            fill(".a", "{{ $labels", " }}"),
            fill("\\n", "{{ \"", "\" }}"),
            fill("9", "{{ ", " }}"),
            fill("x", "{{ `", " }}"),
            fill("{{/* */}}", "", ""),
        ];
        for t in &answered {
            let _ = check(t);
        }
        assert_eq!(check(&answered[2]), Ok(()));
        assert_eq!(check(&answered[3]), Ok(()));
        assert_eq!(check(&answered[6]), Ok(()));
    }
}
