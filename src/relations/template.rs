//! Alert labels and annotations are Go text/templates, parsed when Prometheus loads the rule
//! file: one that does not parse makes Prometheus refuse the whole file. This checks a
//! template the way Go's parser would, within a conservative subset: actions made of
//! pipelines over Prometheus's template functions, `$labels`, `$value`, `$externalLabels`,
//! `$externalURL` and variables declared in scope, fields, strings and numbers, and the
//! `if` / `else` / `range` / `with` / `end` structure. `define`, `template`, `block`, `break`,
//! `continue` and character constants are refused though Go has them.

use thiserror::Error;

use crate::syntax::{number, quote};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("template: {0}")]
pub struct TemplateError(String);

fn fail<T>(why: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(why.into()))
}

/// Functions a Prometheus 2.42 alert template may call (Go's built-ins and Prometheus's own).
const FUNCTIONS: [&str; 43] = [
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
    "query",
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
];

/// Variables Prometheus defines before every alert template.
const PREDEFINED: [&str; 4] = ["labels", "externalLabels", "externalURL", "value"];

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
}

fn lex_action(action: &str) -> Result<Vec<Tok>, TemplateError> {
    let chars: Vec<char> = action.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut tokens_at_last_space = 0;
    while i < chars.len() {
        let c = chars[i];
        // Operands must be followed by a space, a pipe, a closing paren or (for variables
        // being declared) ',' or ':='; Go refuses `gt$value`, `"a""b"` or `$x=1`.
        let operand_ended = toks.len() > tokens_at_last_space
            && matches!(
                toks.last(),
                Some(
                    Tok::Ident(_)
                        | Tok::Variable(_)
                        | Tok::Field
                        | Tok::Dot
                        | Tok::Literal
                        | Tok::Close
                )
            );
        if operand_ended && !matches!(c, ' ' | '\t' | '\r' | '\n' | '|' | ')' | ',' | ':') {
            let field_after_paren = c == '.' && toks.last() == Some(&Tok::Close);
            if !field_after_paren {
                return fail(format!("unexpected {c:?} in operand"));
            }
        }
        if c.is_whitespace() {
            tokens_at_last_space = toks.len();
        }
        match c {
            ' ' | '\t' | '\r' | '\n' => i += 1,
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
                    .map_err(|e| TemplateError::from_str(e.reason()))?;
                toks.push(Tok::Literal);
            }
            '`' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or_else(|| TemplateError("unterminated raw quoted string".into()))?;
                i += close + 2;
                toks.push(Tok::Literal);
            }
            '$' => {
                let start = i + 1;
                i += 1;
                while i < chars.len() && word(chars[i]) {
                    i += 1;
                }
                toks.push(Tok::Variable(chars[start..i].iter().collect()));
                i = fields(&chars, i, &mut toks)?;
            }
            '.' if chars
                .get(i + 1)
                .is_some_and(|c| c.is_alphabetic() || *c == '_') =>
            {
                i = fields(&chars, i, &mut toks)?;
            }
            '.' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                i = number(&chars, i, &mut toks)?
            }
            '.' => {
                toks.push(Tok::Dot);
                i += 1;
            }
            '+' | '-' | '0'..='9' => i = number(&chars, i, &mut toks)?,
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && word(chars[i]) {
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

impl TemplateError {
    fn from_str(why: &str) -> Self {
        TemplateError(why.to_string())
    }
}

/// `.a.b.c` after an operand (or as one).
fn fields(chars: &[char], mut i: usize, toks: &mut Vec<Tok>) -> Result<usize, TemplateError> {
    while chars.get(i) == Some(&'.') {
        let start = i + 1;
        i += 1;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        if i == start || chars[start].is_ascii_digit() {
            return fail("bad field name");
        }
        toks.push(Tok::Field);
    }
    Ok(i)
}

fn number(chars: &[char], mut i: usize, toks: &mut Vec<Tok>) -> Result<usize, TemplateError> {
    let start = i;
    if matches!(chars.get(i), Some('+' | '-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
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
    if !any
        || chars
            .get(i)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
    {
        let shown: String = chars[start..(i + 1).min(chars.len())].iter().collect();
        return fail(format!("bad number syntax {shown:?}"));
    }
    let text: String = chars[start..i].iter().collect();
    if number::go_template_number(&text).is_err() {
        return fail(format!("illegal number syntax {text:?}"));
    }
    toks.push(Tok::Literal);
    Ok(i)
}

/// Checks one pipeline: `[$a[, $b] (:=|=)] command { | command }`.
fn pipeline(
    toks: &[Tok],
    scopes: &mut [Vec<String>],
    declare_ok: bool,
) -> Result<(), TemplateError> {
    let mut rest = toks;
    // Declarations.
    let assign_at = toks
        .iter()
        .position(|t| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(at) = assign_at {
        if !declare_ok {
            return fail("unexpected declaration");
        }
        let names = &toks[..at];
        let valid = matches!(
            names,
            [Tok::Variable(_)] | [Tok::Variable(_), Tok::Comma, Tok::Variable(_)]
        );
        if !valid {
            return fail("bad variable declaration");
        }
        let declares = toks[at] == Tok::Declare;
        for t in names {
            if let Tok::Variable(name) = t {
                if declares {
                    if let Some(scope) = scopes.last_mut() {
                        scope.push(name.clone());
                    }
                } else if !defined(scopes, name) {
                    return fail(format!("undefined variable ${name}"));
                }
            }
        }
        rest = &toks[at + 1..];
    }
    if rest.is_empty() {
        return fail("missing value for command");
    }
    // Commands are separated by the pipes outside parentheses.
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in rest.iter().enumerate() {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => depth = depth.saturating_sub(1),
            Tok::Pipe if depth == 0 => {
                command(&rest[start..i], start > 0, scopes)?;
                start = i + 1;
            }
            _ => {}
        }
    }
    command(&rest[start..], start > 0, scopes)
}

/// A pipeline stage after the first receives the previous result, so it must start with
/// something executable, not a constant or `.`.
fn command(
    toks: &[Tok],
    later_stage: bool,
    scopes: &mut [Vec<String>],
) -> Result<(), TemplateError> {
    let constant = match toks.first() {
        Some(Tok::Literal | Tok::Dot) => true,
        Some(Tok::Ident(name)) => matches!(name.as_str(), "true" | "false" | "nil"),
        _ => false,
    };
    if later_stage && constant {
        return fail("non executable command in pipeline");
    }
    operands(toks, scopes)
}

fn defined(scopes: &[Vec<String>], name: &str) -> bool {
    PREDEFINED.contains(&name) || scopes.iter().any(|s| s.iter().any(|v| v == name))
}

/// A command: one or more operands, parentheses holding whole pipelines.
fn operands(command: &[Tok], scopes: &mut [Vec<String>]) -> Result<(), TemplateError> {
    if command.is_empty() {
        return fail("missing command");
    }
    let mut i = 0;
    while i < command.len() {
        match &command[i] {
            Tok::Open => {
                let mut depth = 0;
                let mut j = i;
                loop {
                    match command.get(j) {
                        Some(Tok::Open) => depth += 1,
                        Some(Tok::Close) => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return fail("unclosed left paren"),
                    }
                    j += 1;
                }
                pipeline(&command[i + 1..j], scopes, false)?;
                i = j + 1;
            }
            Tok::Close => return fail("unexpected right paren"),
            Tok::Ident(name) => {
                let known = FUNCTIONS.contains(&name.as_str())
                    || matches!(name.as_str(), "true" | "false" | "nil");
                if !known {
                    return fail(format!("function {name:?} not defined"));
                }
                i += 1;
            }
            Tok::Variable(name) => {
                if !defined(scopes, name) {
                    return fail(format!("undefined variable ${name}"));
                }
                i += 1;
            }
            Tok::Field | Tok::Dot | Tok::Literal => i += 1,
            Tok::Comma | Tok::Pipe | Tok::Declare | Tok::Assign => {
                return fail("unexpected token in command")
            }
        }
    }
    Ok(())
}

/// Checks `text` as Prometheus's alert templating would parse it.
pub fn check(text: &str) -> Result<(), TemplateError> {
    let mut rest = text;
    // Variable scopes: the template's top level, then one per open control structure.
    let mut scopes: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError("unclosed action".into()))?;
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
        if trimmed.starts_with("/*") {
            if !trimmed.ends_with("*/") || trimmed.len() < 4 {
                return fail("unclosed comment");
            }
            if action != trimmed {
                return fail("comment must be the whole action");
            }
            continue;
        }
        let toks = lex_action(action)?;
        match toks.first() {
            None => return fail("missing value for command"),
            Some(Tok::Ident(k)) if matches!(k.as_str(), "if" | "range" | "with") => {
                scopes.push(Vec::new());
                pipeline(&toks[1..], &mut scopes, true)?;
            }
            Some(Tok::Ident(k)) if k == "else" => {
                if scopes.len() < 2 {
                    return fail("unexpected {{else}}");
                }
                match toks.get(1) {
                    None => {}
                    Some(Tok::Ident(k)) if k == "if" => pipeline(&toks[2..], &mut scopes, true)?,
                    _ => return fail("unexpected token after else"),
                }
            }
            Some(Tok::Ident(k)) if k == "end" => {
                if toks.len() > 1 {
                    return fail("unexpected token after end");
                }
                if scopes.len() < 2 {
                    return fail("unexpected {{end}}");
                }
                scopes.pop();
            }
            Some(Tok::Ident(k))
                if matches!(
                    k.as_str(),
                    "define" | "template" | "block" | "break" | "continue"
                ) =>
            {
                return fail(format!("{{{{{k}}}}} is not allowed here"));
            }
            _ => pipeline(&toks, &mut scopes, true)?,
        }
    }
    if scopes.len() > 1 {
        return fail("unexpected EOF: a block is not closed with {{end}}");
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const ACCEPTED: [&str; 17] = [
        "plain text, even } and { alone",
        "{{ $labels.instance }} is down",
        "{{ if gt $value 1.0 }}many{{ else }}few{{ end }}",
        "{{- $value | humanize -}}",
        "{{/* note */}}",
        "}} alone",
        "{{ $labels.juju_unit }} of {{ $labels.juju_application }} at {{ $externalURL }}",
        "{{ printf \"%.2f\" $value }}%",
        "{{ range $i, $e := query \"up\" }}{{ $i }}={{ $e.Value }}{{ end }}",
        "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
        "{{ with $labels.job }}job {{ . }}{{ end }}",
        "{{ if eq $labels.severity \"critical\" }}!{{ else if ne $value 0.0 }}?{{ end }}",
        "{{ humanizeDuration (index $labels \"age\" | len) }}",
        "{{ -1.5e3 }} {{ 42 }} {{ .5 }} {{ `raw {{` }}",
        "{{ reReplaceAll \"(.*)\" \"$1\" $labels.instance | toUpper }}",
        "{{ true }}{{ nil | not }}",
        "{{ (index $labels \"a\").b }}{{ $x:=1 }}{{ $x }}{{ $x = 2 }}",
    ];

    #[test]
    fn accepts_go_templates() {
        for ok in ACCEPTED {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    pub const REFUSED: [&str; 25] = [
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
    ];

    /// Go parses these; we refuse them all the same (a trailing pipe, templates defined
    /// inside an annotation, character constants).
    const CONSERVATIVE: [&str; 3] = ["{{ $value | }}", "{{ define \"x\" }}{{ end }}", "{{ 'c' }}"];

    #[test]
    fn refuses_what_go_refuses() {
        for bad in REFUSED.iter().chain(&CONSERVATIVE) {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
