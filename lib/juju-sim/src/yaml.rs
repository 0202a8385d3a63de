//! The one place that knows which YAML library juju-sim uses (serde-saphyr), and how its
//! errors are told in the words of Go's yaml.v2, which Juju uses.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub(crate) enum YamlError {
    #[error("cannot write YAML: {0}")]
    Serialize(String),
    /// yaml.v2 reports a repeated key as an unmarshal error with the line of the repeat.
    #[error("yaml: unmarshal errors:\n  line {line}: key {key:?} already set in map")]
    DuplicateKey { line: u64, key: String },
    #[error("yaml: line {line}: {message}")]
    Syntax { line: u64, message: String },
    #[error("yaml: {0}")]
    Other(String),
    /// yaml.v2's `TypeError`: every type mismatch of the document, one per line.
    #[error("yaml: unmarshal errors:\n  {}", .0.join("\n  "))]
    Unmarshal(Vec<String>),
}

/// Serializes `value` as YAML ending in exactly one newline.
pub(crate) fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let mut text =
        serde_saphyr::to_string(value).map_err(|e| YamlError::Serialize(e.to_string()))?;
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Parses one YAML document the way yaml.v2 reads charm files and tool input
/// (YAML 1.1: `0644` is octal).
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| translate(&e))
}

/// Parses one YAML document as Go's yaml.v3 does (YAML 1.2's core schema: only
/// `true`/`false` are booleans, `0644` is decimal), which Pebble reads layers with.
pub(crate) fn from_str_v3<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| translate(&e))
}

fn translate(err: &serde_saphyr::Error) -> YamlError {
    let inner = err.without_snippet();
    if let serde_saphyr::Error::DuplicateMappingKey { key, location } = inner {
        return YamlError::DuplicateKey {
            line: location.line(),
            key: key.clone().unwrap_or_default(),
        };
    }
    let text = inner.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match inner.location() {
        Some(loc) => {
            // The message ends with its own " at line L, column C"; yaml.v2 leads with the line.
            let message = first
                .rsplit_once(" at line ")
                .map_or(first, |(message, _)| message);
            YamlError::Syntax {
                line: loc.line(),
                message: message.to_string(),
            }
        }
        None => YamlError::Other(first.to_string()),
    }
}

/// yaml.v2's reader check, run over the raw input before anything is parsed: it accepts
/// only `#x9 | #xA | #xD | [#x20-#x7E] | #x85 | [#xA0-#xD7FF] | [#xE000-#xFFFD] |
/// [#x10000-#x10FFFF]` in well-formed UTF-8. Escapes in double-quoted scalars are not
/// raw input and pass. (yaml.v2 checks 512-byte chunks as it goes, so a syntax error
/// early in a long input can win over a control character later; juju-sim checks first.)
pub(crate) fn check_reader(bytes: &[u8]) -> Result<&str, YamlError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let rest = &bytes[e.valid_up_to()..];
        YamlError::Other(
            match (e.error_len(), rest.first()) {
                (None, _) => "incomplete UTF-8 octet sequence",
                (Some(_), Some(b)) if (0x80..0xc0).contains(b) || *b >= 0xf8 => {
                    "invalid leading UTF-8 octet"
                }
                _ => "invalid trailing UTF-8 octet",
            }
            .to_string(),
        )
    })?;
    let allowed = |c: char| {
        matches!(c as u32,
            0x09 | 0x0a | 0x0d | 0x20..=0x7e | 0x85 | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff)
    };
    if text.chars().all(allowed) {
        Ok(text)
    } else {
        Err(YamlError::Other(
            "control characters are not allowed".into(),
        ))
    }
}

/// A node of the first document, as yaml.v2's parser builds it (aliases resolved).
#[derive(Debug, Clone)]
enum Node {
    Scalar {
        value: String,
        /// A plain scalar without a tag: the only kind whose text is resolved (`~` is null).
        implicit: bool,
        /// The core-schema suffix of an explicit `!!` tag (`null`, `str`, …).
        tag: Option<String>,
        line: usize,
    },
    Sequence {
        items: Vec<Node>,
        line: usize,
    },
    Mapping {
        pairs: Vec<(Node, Node)>,
        line: usize,
    },
}

type Events<'a> = std::iter::Peekable<
    serde_saphyr::granit_parser::Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
>;

fn syntax(e: &serde_saphyr::granit_parser::ScanError) -> YamlError {
    let info = e.info();
    YamlError::Syntax {
        line: e.marker().line() as u64,
        message: info.lines().next().unwrap_or_default().to_string(),
    }
}

/// The next node of the stream (`None` at the end of the document or collection).
fn next_node(
    events: &mut Events<'_>,
    anchors: &mut BTreeMap<usize, Node>,
) -> Result<Option<Node>, YamlError> {
    use serde_saphyr::granit_parser::Event;
    loop {
        let Some(item) = events.next() else {
            return Ok(None);
        };
        let (event, span) = item.map_err(|e| syntax(&e))?;
        let line = span.start.line();
        let core = |tag: Option<&serde_saphyr::granit_parser::Tag>| {
            tag.map(|t| t.core_suffix().unwrap_or(t.suffix()).to_string())
        };
        let (node, anchor) = match event {
            Event::Scalar(value, style, anchor, tag) => {
                let tag = core(tag.as_deref());
                let implicit =
                    tag.is_none() && style == serde_saphyr::granit_parser::ScalarStyle::Plain;
                let node = Node::Scalar {
                    value: value.into_owned(),
                    implicit,
                    tag,
                    line,
                };
                (node, anchor)
            }
            Event::SequenceStart(_, anchor, _) => {
                let mut items = Vec::new();
                while let Some(item) = next_node(events, anchors)? {
                    items.push(item);
                }
                (Node::Sequence { items, line }, anchor)
            }
            Event::MappingStart(_, anchor, _) => {
                let mut pairs = Vec::new();
                while let Some(key) = next_node(events, anchors)? {
                    let value = next_node(events, anchors)?.ok_or_else(|| YamlError::Syntax {
                        line: line as u64,
                        message: "did not find expected key".into(),
                    })?;
                    pairs.push((key, value));
                }
                (Node::Mapping { pairs, line }, anchor)
            }
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| {
                    YamlError::Other(format!("unknown anchor referenced (line {line})"))
                })?;
                return Ok(Some(node));
            }
            Event::SequenceEnd | Event::MappingEnd | Event::DocumentEnd | Event::StreamEnd => {
                return Ok(None)
            }
            // Stream and document starts, comments, anchor metadata: no node.
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        return Ok(Some(node));
    }
}

/// yaml.v2's `resolve` for a plain scalar, as far as the tag goes (for error texts).
fn resolved_tag(value: &str) -> &'static str {
    const BOOLS: [&str; 22] = [
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    ];
    if is_null(value) {
        "!!null"
    } else if BOOLS.contains(&value) {
        "!!bool"
    } else if value.parse::<i64>().is_ok() {
        "!!int"
    } else if value.parse::<f64>().is_ok() {
        "!!float"
    } else {
        "!!str"
    }
}

fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// yaml.v2's `terror` text: `line L: cannot unmarshal <tag>[ `<value>`] into <type>`.
fn type_error(node: &Node, into: &str) -> String {
    match node {
        Node::Scalar {
            value,
            implicit,
            tag,
            line,
        } => {
            let tag = match tag {
                Some(t) => format!("!!{t}"),
                None if *implicit => resolved_tag(value).to_string(),
                None => "!!str".to_string(),
            };
            let shown = if value.len() > 10 {
                let cut = (0..=7)
                    .rev()
                    .find(|i| value.is_char_boundary(*i))
                    .unwrap_or(0);
                format!("{}...", &value[..cut])
            } else {
                value.clone()
            };
            format!("line {line}: cannot unmarshal {tag} `{shown}` into {into}")
        }
        Node::Sequence { line, .. } => format!("line {line}: cannot unmarshal !!seq into {into}"),
        Node::Mapping { line, .. } => format!("line {line}: cannot unmarshal !!map into {into}"),
    }
}

/// A scalar decoded into a Go `string`: its text as written, whatever type it would
/// resolve to (`1.50` stays `1.50`, `yes` stays `yes`); null (`~`, `null`, nothing)
/// is the zero value "".
fn scalar_string(node: &Node, errors: &mut Vec<String>) -> Option<String> {
    match node {
        Node::Scalar {
            value,
            implicit,
            tag,
            ..
        } => {
            let null = match tag.as_deref() {
                Some("null") => true,
                Some(_) => false,
                None => *implicit && is_null(value),
            };
            Some(if null { String::new() } else { value.clone() })
        }
        other => {
            errors.push(type_error(other, "string"));
            None
        }
    }
}

fn is_merge_key(node: &Node) -> bool {
    matches!(node, Node::Scalar { value, implicit, tag, .. }
        if value == "<<" && (*implicit || tag.as_deref() == Some("merge")))
}

fn decode_pairs(
    pairs: &[(Node, Node)],
    out: &mut BTreeMap<String, String>,
    errors: &mut Vec<String>,
) -> Result<(), YamlError> {
    let want_map =
        || YamlError::Other("map merge requires map or sequence of maps as the value".into());
    for (key, value) in pairs {
        if is_merge_key(key) {
            match value {
                Node::Mapping { pairs, .. } => decode_pairs(pairs, out, errors)?,
                // Earlier maps take precedence: yaml.v2 applies them last.
                Node::Sequence { items, .. } => {
                    for item in items.iter().rev() {
                        let Node::Mapping { pairs, .. } = item else {
                            return Err(want_map());
                        };
                        decode_pairs(pairs, out, errors)?;
                    }
                }
                Node::Scalar { .. } => return Err(want_map()),
            }
            continue;
        }
        let Some(k) = scalar_string(key, errors) else {
            continue;
        };
        if let Some(v) = scalar_string(value, errors) {
            // Plain Unmarshal is not strict: a repeated key takes the later value.
            out.insert(k, v);
        }
    }
    Ok(())
}

/// Decodes `bytes` as Juju's `goyaml.Unmarshal(data, map[string]string)` does (the
/// `--file` of relation-set and state-set): the reader check, then the first document;
/// scalars become their text, null becomes "", and every list or map where a string
/// belongs is a type error, reported together after the rest was decoded.
pub(crate) fn string_map_v2(bytes: &[u8]) -> Result<BTreeMap<String, String>, YamlError> {
    let text = check_reader(bytes)?;
    let mut events: Events<'_> = serde_saphyr::granit_parser::Parser::new_from_str(text).peekable();
    let mut anchors = BTreeMap::new();
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    match next_node(&mut events, &mut anchors)? {
        None => {}
        Some(Node::Mapping { pairs, .. }) => decode_pairs(&pairs, &mut out, &mut errors)?,
        Some(Node::Scalar {
            value,
            implicit,
            tag,
            ..
        }) if tag.as_deref() == Some("null") || (tag.is_none() && implicit && is_null(&value)) => {}
        Some(other) => errors.push(type_error(&other, "map[string]string")),
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(YamlError::Unmarshal(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn octal_is_yaml_1_1() {
        let v: Value = from_str("mode: 0644\n").unwrap();
        assert_eq!(v, json!({"mode": 420}));
    }

    #[test]
    fn duplicate_key_is_reported_with_its_line() {
        let e = from_str::<Value>("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "yaml: unmarshal errors:\n  line 3: key \"a\" already set in map"
        );
    }

    #[test]
    fn syntax_error_names_the_line() {
        let e = from_str::<Value>("a: b\nkey: [unclosed\n").unwrap_err();
        assert!(matches!(e, YamlError::Syntax { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn writes_one_trailing_newline() {
        assert_eq!(to_string(&json!({"a": "b"})).unwrap(), "a: b\n");
    }
}
