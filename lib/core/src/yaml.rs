//! The one place that knows which YAML library we use (serde-saphyr; serde_yaml is
//! deprecated), so it can be swapped without touching the models.

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum YamlError {
    #[error("cannot write YAML: {0}")]
    Serialize(String),
    #[error("cannot read YAML: {0}")]
    Deserialize(String),
}

/// Serializes `value` as a YAML document ending in a newline, for any reader: strings with a
/// line break are written double-quoted with escapes, never as block scalars, because Go's
/// YAML parsers (Prometheus's, Juju's) refuse some block scalars serde-saphyr writes (a first
/// line starting with a tab: "found a tab character where an indentation space is
/// expected"), and values from relations or options can have any shape.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serialize(value, options)
}

fn serialize<T: Serialize>(
    value: &T,
    options: serde_saphyr::SerializerOptions,
) -> Result<String, YamlError> {
    let mut text = serde_saphyr::to_string_with_options(value, options)
        .map_err(|e| YamlError::Serialize(e.to_string()))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Parses one YAML document.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str(text).map_err(|e| YamlError::Deserialize(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn round_trips_strings_that_look_like_other_types() {
        let mut m = BTreeMap::new();
        for v in [
            "on",
            "yes",
            "no",
            "2021-01-01",
            "0644",
            "1e3",
            "null",
            "~",
            "a: b",
            "- x",
            "#c",
        ] {
            m.insert(v.to_string(), v.to_string());
        }
        let text = super::to_string(&m).unwrap();
        let back: BTreeMap<String, String> = super::from_str(&text).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn no_line_starts_with_a_tab_and_every_string_round_trips() {
        let awkward = [
            "\tx\ny",
            " x\ny",
            "x\n\ty",
            "x\n y",
            "x\r\ny",
            "x\n",
            "\n",
            "\n\nx\n\n",
            "x \ny ",
            "a: b\n- c",
            "\t",
            "\u{85}x\u{2028}y",
            "# not a comment\n#",
        ];
        let m: BTreeMap<String, String> = awkward
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("k{i}"), v.to_string()))
            .collect();
        let text = super::to_string(&m).unwrap();
        assert!(!text.lines().any(|l| l.starts_with('\t')), "{text}");
        assert!(!text.contains('|'), "{text}");
        let back: BTreeMap<String, String> = super::from_str(&text).unwrap();
        assert_eq!(back, m);
    }
}
