//! The one place that knows which YAML library juju-sim uses (serde-saphyr), and how its
//! errors are told in the words of Go's yaml.v2, which Juju uses.

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum YamlError {
    #[error("cannot write YAML: {0}")]
    Serialize(String),
    /// yaml.v2 reports a repeated key as an unmarshal error with the line of the repeat.
    #[error("yaml: unmarshal errors:\n  line {line}: key {key:?} already set in map")]
    DuplicateKey { line: u64, key: String },
    #[error("yaml: line {line}: {message}")]
    Syntax { line: u64, message: String },
    #[error("yaml: {0}")]
    Other(String),
}

/// Serializes `value` as YAML ending in exactly one newline.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
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
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
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
