//! Decodes a JSON value into typed structs the way Go's `encoding/json` does with
//! `DisallowUnknownFields`, which is how Juju reads a pod spec:
//! struct field names match case-insensitively, an unknown field is an error
//! (`json: unknown field "x"`), `null` leaves the zero value, and a wrong type is reported
//! as `json: cannot unmarshal <kind> into Go struct field <path> of type <type>`.
//!
//! Every struct decoded this way must give all its fields a default (Go has no required
//! fields); the validation that follows decoding enforces what must be present.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub(crate) enum GoJsonError {
    #[error("json: unknown field {0:?}")]
    UnknownField(String),
    #[error("json: cannot unmarshal {kind} into {}", describe_target(.path, .go_type))]
    Type {
        kind: String,
        go_type: String,
        /// Struct field names from the outside in, as Go names them.
        path: Vec<String>,
    },
    #[error("{0}")]
    Custom(String),
}

fn describe_target(path: &[String], go_type: &str) -> String {
    if path.is_empty() {
        format!("Go value of type {go_type}")
    } else {
        format!("Go struct field {} of type {go_type}", path.join("."))
    }
}

impl GoJsonError {
    fn in_field(self, field: &str) -> Self {
        match self {
            GoJsonError::Type {
                kind,
                go_type,
                mut path,
            } => {
                path.insert(0, field.to_string());
                GoJsonError::Type {
                    kind,
                    go_type,
                    path,
                }
            }
            other => other,
        }
    }
}

impl de::Error for GoJsonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        GoJsonError::Custom(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        GoJsonError::Type {
            kind: go_kind(&unexp).to_string(),
            go_type: go_type(&exp.to_string()),
            path: Vec::new(),
        }
    }

    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        let kind = match unexp {
            de::Unexpected::Signed(n) => format!("number {n}"),
            de::Unexpected::Unsigned(n) => format!("number {n}"),
            de::Unexpected::Float(n) => format!("number {n}"),
            other => go_kind(&other).to_string(),
        };
        GoJsonError::Type {
            kind,
            go_type: go_type(&exp.to_string()),
            path: Vec::new(),
        }
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        GoJsonError::UnknownField(field.to_string())
    }
}

fn go_kind(unexp: &de::Unexpected) -> &'static str {
    match unexp {
        de::Unexpected::Bool(_) => "bool",
        de::Unexpected::Unsigned(_) | de::Unexpected::Signed(_) | de::Unexpected::Float(_) => {
            "number"
        }
        de::Unexpected::Str(_) | de::Unexpected::Char(_) => "string",
        de::Unexpected::Seq => "array",
        de::Unexpected::Map => "object",
        de::Unexpected::Unit | de::Unexpected::Option => "null",
        _ => "value",
    }
}

/// Go's name for what serde expected ("a string" → "string", "i32" → "int32").
fn go_type(expected: &str) -> String {
    match expected {
        "a string" | "a borrowed string" | "string" => "string".into(),
        "a boolean" => "bool".into(),
        "i8" | "i16" | "i32" | "i64" => format!("int{}", &expected[1..]),
        "u8" | "u16" | "u32" | "u64" => format!("uint{}", &expected[1..]),
        "f32" => "float32".into(),
        "f64" => "float64".into(),
        "a sequence" => "[]interface {}".into(),
        "a map" => "map[string]interface {}".into(),
        other => match other.strip_prefix("struct ") {
            Some(name) => format!("specs.{name}"),
            None => other.to_string(),
        },
    }
}

/// Decodes `value` into `T` with Go's strict JSON rules.
pub(crate) fn from_value<'a, T: de::Deserialize<'a>>(value: &'a Value) -> Result<T, GoJsonError> {
    T::deserialize(GoValue(value))
}

/// A `serde_json::Value` seen through Go's decoder.
#[derive(Clone, Copy)]
struct GoValue<'a>(&'a Value);

impl<'a> GoValue<'a> {
    fn visit_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    let f = n.as_f64().unwrap_or_default();
                    // YAML's `1.0` reaches Go's decoder as the JSON number `1`.
                    if f.fract() == 0.0 && f.abs() < 9.0e15 {
                        visitor.visit_i64(f as i64)
                    } else {
                        visitor.visit_f64(f)
                    }
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(GoSeq {
                items: items.iter(),
            }),
            Value::Object(map) => visitor.visit_map(GoMap {
                entries: map.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                next: 0,
                structured: false,
            }),
        }
    }
}

macro_rules! null_is_zero {
    ($($method:ident => |$v:ident| $zero:expr;)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, $v: V) -> Result<V::Value, GoJsonError> {
                if self.0.is_null() {
                    $zero
                } else {
                    self.visit_any($v)
                }
            }
        )*
    };
}

impl<'a> de::Deserializer<'a> for GoValue<'a> {
    type Error = GoJsonError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.visit_any(visitor)
    }

    null_is_zero! {
        deserialize_bool => |v| v.visit_bool(false);
        deserialize_i8 => |v| v.visit_i64(0);
        deserialize_i16 => |v| v.visit_i64(0);
        deserialize_i32 => |v| v.visit_i64(0);
        deserialize_i64 => |v| v.visit_i64(0);
        deserialize_u8 => |v| v.visit_u64(0);
        deserialize_u16 => |v| v.visit_u64(0);
        deserialize_u32 => |v| v.visit_u64(0);
        deserialize_u64 => |v| v.visit_u64(0);
        deserialize_f32 => |v| v.visit_f64(0.0);
        deserialize_f64 => |v| v.visit_f64(0.0);
        deserialize_char => |v| v.visit_borrowed_str("");
        deserialize_str => |v| v.visit_borrowed_str("");
        deserialize_string => |v| v.visit_borrowed_str("");
        deserialize_bytes => |v| v.visit_borrowed_str("");
        deserialize_byte_buf => |v| v.visit_borrowed_str("");
        deserialize_seq => |v| v.visit_seq(GoSeq { items: [].iter() });
        deserialize_map => |v| v.visit_map(GoMap { entries: Vec::new(), next: 0, structured: false });
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.visit_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        self.visit_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        let map = match self.0 {
            Value::Null => {
                return visitor.visit_map(GoMap {
                    entries: Vec::new(),
                    next: 0,
                    structured: true,
                })
            }
            Value::Object(map) => map,
            _ => return self.visit_any(visitor),
        };
        let mut entries: Vec<(&'a str, &'a Value)> = Vec::with_capacity(map.len());
        for (key, value) in map {
            let field = fields
                .iter()
                .find(|f| **f == key.as_str())
                .or_else(|| fields.iter().find(|f| equal_fold(f, key)))
                .ok_or_else(|| GoJsonError::UnknownField(key.clone()))?;
            // Go assigns repeated (case-folded) fields in order: the last one wins.
            entries.retain(|(f, _)| f != field);
            entries.push((field, value));
        }
        visitor.visit_map(GoMap {
            entries,
            next: 0,
            structured: true,
        })
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => self.visit_any(visitor),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.visit_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        visitor.visit_unit()
    }
}

/// Go folds case (Unicode simple folding) when matching JSON keys to struct fields.
fn equal_fold(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

struct GoSeq<'a> {
    items: std::slice::Iter<'a, Value>,
}

impl<'a> SeqAccess<'a> for GoSeq<'a> {
    type Error = GoJsonError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GoJsonError> {
        match self.items.next() {
            Some(v) => seed.deserialize(GoValue(v)).map(Some),
            None => Ok(None),
        }
    }
}

struct GoMap<'a> {
    entries: Vec<(&'a str, &'a Value)>,
    next: usize,
    /// Struct fields put their name in a type error's path; map keys do not (as in Go).
    structured: bool,
}

impl<'a> MapAccess<'a> for GoMap<'a> {
    type Error = GoJsonError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GoJsonError> {
        match self.entries.get(self.next) {
            Some((key, _)) => {
                let key: de::value::BorrowedStrDeserializer<'a, GoJsonError> =
                    de::value::BorrowedStrDeserializer::new(key);
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, GoJsonError> {
        let (key, value) = self
            .entries
            .get(self.next)
            .copied()
            .ok_or_else(|| GoJsonError::Custom("value without a key".into()))?;
        self.next += 1;
        let result = seed.deserialize(GoValue(value));
        if self.structured {
            result.map_err(|e| e.in_field(key))
        } else {
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Port {
        #[serde(rename = "containerPort")]
        container_port: i32,
        protocol: String,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Container {
        name: String,
        ports: Vec<Port>,
        #[serde(rename = "envConfig")]
        env_config: BTreeMap<String, Value>,
        init: Option<bool>,
    }

    #[test]
    fn matches_fields_case_insensitively() {
        let v = json!({"NAME": "p", "Ports": [{"containerport": 9090, "protocol": "TCP"}]});
        let c: Container = from_value(&v).unwrap();
        assert_eq!(c.name, "p");
        assert_eq!(c.ports[0].container_port, 9090);
    }

    #[test]
    fn unknown_field_is_an_error_in_go_words() {
        let v = json!({"name": "p", "ports": [{"containerPort": 1, "proto": "TCP"}]});
        let e = from_value::<Container>(&v).unwrap_err();
        assert_eq!(e.to_string(), "json: unknown field \"proto\"");
    }

    #[test]
    fn wrong_type_names_the_field_path() {
        let v = json!({"ports": [{"containerPort": "http"}]});
        let e = from_value::<Container>(&v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go struct field ports.containerPort of type int32"
        );
    }

    #[test]
    fn out_of_range_number_is_rejected() {
        let v = json!({"ports": [{"containerPort": 99999999999i64}]});
        let e = from_value::<Container>(&v).unwrap_err();
        assert!(e.to_string().contains("number 99999999999"), "{e}");
    }

    #[test]
    fn null_leaves_the_zero_value_and_free_maps_keep_their_keys() {
        let v = json!({"name": null, "init": null, "envConfig": {"Mixed": 1}});
        let c: Container = from_value(&v).unwrap();
        assert_eq!(c.name, "");
        assert_eq!(c.init, None);
        assert_eq!(c.env_config["Mixed"], json!(1));
    }
}
