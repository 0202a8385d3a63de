//! The `--format smart|yaml|json` output of the hook tools, as juju/cmd writes it
//! (`FormatSmart`, `FormatYaml`, `FormatJson`), and `-o/--output`.

use serde::Serialize;
use serde_json::{Number, Value};
use thiserror::Error;

use crate::yaml;

#[derive(Debug, Error)]
pub(crate) enum FormatError {
    #[error("cannot render output: {0}")]
    Render(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Format {
    #[default]
    Smart,
    Yaml,
    Json,
}

impl Format {
    /// The `--format` value setter, with juju/cmd's message.
    pub(crate) fn parse(s: &str) -> Result<Format, String> {
        match s {
            "smart" => Ok(Format::Smart),
            "yaml" => Ok(Format::Yaml),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format {other:?}")),
        }
    }
}

/// What a tool prints, with the Go type's shape that `smart` cares about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    Nil,
    Str(String),
    Strings(Vec<String>),
    Bool(bool),
    /// Maps (sorted by key, like Go maps), numbers, mixed values.
    Value(Value),
    /// A Go struct: fields in declaration order, pre-rendered.
    Struct {
        json: String,
        yaml: String,
    },
}

impl Output {
    pub(crate) fn from_value(v: Value) -> Output {
        match v {
            Value::Null => Output::Nil,
            Value::String(s) => Output::Str(s),
            Value::Bool(b) => Output::Bool(b),
            other => Output::Value(other),
        }
    }

    pub(crate) fn from_struct<T: Serialize>(value: &T) -> Result<Output, FormatError> {
        let json = serde_json::to_string(value).map_err(|e| FormatError::Render(e.to_string()))?;
        let yaml = yaml::to_string(value).map_err(|e| FormatError::Render(e.to_string()))?;
        Ok(Output::Struct {
            json: go_escape(&json),
            yaml,
        })
    }
}

pub(crate) fn render(output: &Output, format: Format) -> Result<String, FormatError> {
    match format {
        Format::Json => Ok(format!("{}\n", json(output)?)),
        Format::Yaml => yaml_of(output),
        Format::Smart => smart(output),
    }
}

fn json(output: &Output) -> Result<String, FormatError> {
    let v = match output {
        Output::Nil => Value::Null,
        Output::Str(s) => Value::String(s.clone()),
        Output::Strings(items) => Value::from(items.clone()),
        Output::Bool(b) => Value::Bool(*b),
        Output::Value(v) => go_numbers(v.clone()),
        Output::Struct { json, .. } => return Ok(json.clone()),
    };
    let text = serde_json::to_string(&v).map_err(|e| FormatError::Render(e.to_string()))?;
    Ok(go_escape(&text))
}

fn yaml_of(output: &Output) -> Result<String, FormatError> {
    let v = match output {
        Output::Nil => return Ok(String::new()),
        Output::Str(s) => Value::String(s.clone()),
        Output::Strings(items) => Value::from(items.clone()),
        Output::Bool(b) => Value::Bool(*b),
        Output::Value(Value::Null) => return Ok(String::new()),
        Output::Value(v) => go_numbers(v.clone()),
        Output::Struct { yaml, .. } => return Ok(yaml.clone()),
    };
    yaml::to_string(&v).map_err(|e| FormatError::Render(e.to_string()))
}

fn smart(output: &Output) -> Result<String, FormatError> {
    match output {
        Output::Nil => Ok(String::new()),
        Output::Str(s) if s.is_empty() => Ok(String::new()),
        Output::Str(s) => Ok(format!("{s}\n")),
        // Go prints an empty []string as one empty line.
        Output::Strings(items) => Ok(format!("{}\n", items.join("\n"))),
        Output::Bool(true) => Ok("True\n".into()),
        Output::Bool(false) => Ok("False\n".into()),
        Output::Value(Value::Number(n)) => Ok(format!("{}\n", go_number_text(n))),
        Output::Value(Value::Array(items)) if items.iter().all(Value::is_string) => {
            let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            Ok(format!("{}\n", strings.join("\n")))
        }
        Output::Value(v @ (Value::Null | Value::String(_) | Value::Bool(_))) => {
            smart(&Output::from_value(v.clone()))
        }
        other => yaml_of(other),
    }
}

/// Go renders a float64 that holds a whole number without a fraction.
fn go_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => Value::Number(whole(&n).unwrap_or(n)),
        Value::Array(items) => Value::Array(items.into_iter().map(go_numbers).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, go_numbers(v))).collect())
        }
        other => other,
    }
}

fn whole(n: &Number) -> Option<Number> {
    let f = n.as_f64().filter(|_| n.is_f64())?;
    (f.fract() == 0.0 && f.abs() < 1e15).then(|| Number::from(f as i64))
}

fn go_number_text(n: &Number) -> String {
    whole(n).unwrap_or_else(|| n.clone()).to_string()
}

/// Go's encoding/json escapes `<`, `>`, `&`, U+2028 and U+2029 (only ever inside strings).
pub(crate) fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Writes `text` to `-o FILE` when given (Go creates or truncates it), else stdout.
pub(crate) fn emit(text: &str, output_file: Option<&str>) -> Result<String, std::io::Error> {
    match output_file {
        Some(path) => {
            std::fs::write(path, text)?;
            Ok(String::new())
        }
        None => Ok(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(o: Output) -> (String, String, String) {
        (
            render(&o, Format::Smart).unwrap(),
            render(&o, Format::Yaml).unwrap(),
            render(&o, Format::Json).unwrap(),
        )
    }

    #[test]
    fn nil() {
        assert_eq!(
            all(Output::Nil),
            (String::new(), String::new(), "null\n".into())
        );
    }

    #[test]
    fn strings() {
        assert_eq!(
            all(Output::Str("a b".into())),
            ("a b\n".into(), "a b\n".into(), "\"a b\"\n".into())
        );
        assert_eq!(
            render(&Output::Str(String::new()), Format::Smart).unwrap(),
            ""
        );
        assert_eq!(
            all(Output::Strings(vec!["x:1".into(), "x:2".into()])).0,
            "x:1\nx:2\n"
        );
        assert_eq!(
            all(Output::Strings(vec![])),
            ("\n".into(), "[]\n".into(), "[]\n".into())
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(
            all(Output::Bool(true)),
            ("True\n".into(), "true\n".into(), "true\n".into())
        );
    }

    #[test]
    fn maps_are_sorted_and_json_escapes_like_go() {
        let v = json!({"port": 9090, "b": "x&y<z>", "ratio": 1.0});
        let (smart, yaml, json) = all(Output::Value(v));
        assert_eq!(
            json,
            "{\"b\":\"x\\u0026y\\u003cz\\u003e\",\"port\":9090,\"ratio\":1}\n"
        );
        assert_eq!(smart, yaml);
        assert!(
            yaml.starts_with("b: x&y<z>\nport: 9090\nratio: 1\n"),
            "{yaml}"
        );
    }

    #[test]
    fn numbers_in_smart() {
        assert_eq!(
            render(&Output::Value(json!(1.5)), Format::Smart).unwrap(),
            "1.5\n"
        );
        assert_eq!(
            render(&Output::Value(json!(2.0)), Format::Smart).unwrap(),
            "2\n"
        );
    }
}
