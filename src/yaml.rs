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

/// Serializes `value` as a YAML document ending in a newline.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let mut text =
        serde_saphyr::to_string(value).map_err(|e| YamlError::Serialize(e.to_string()))?;
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
}
