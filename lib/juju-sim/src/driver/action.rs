//! `run-action`: validate the parameters against actions.yaml, run the handler, report.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{render, OutFormat};
use crate::charm::ActionSpec;
use crate::context::set_nested;
use crate::hooks::{DriverError, Sim};
use crate::yaml;

#[derive(clap::Args, Debug)]
pub(super) struct Args {
    unit: String,
    action: String,
    /// `key=value` parameters; values are read as YAML, dotted keys nest.
    params: Vec<String>,
    /// Keep every value a string.
    #[arg(long)]
    string_args: bool,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

#[derive(Serialize)]
struct Report {
    unit: String,
    action: String,
    id: String,
    status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    results: Map<String, Value>,
    stdout: String,
    stderr: String,
    code: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    log: Vec<String>,
}

fn parse_params(args: &Args) -> Result<Map<String, Value>, DriverError> {
    let mut params = Map::new();
    for p in &args.params {
        let (key, text) = p.split_once('=').ok_or_else(|| {
            DriverError::Usage(format!("argument {p:?} must be of the form key=value"))
        })?;
        let value = if args.string_args {
            Value::String(text.to_string())
        } else {
            yaml::from_str::<Value>(text)
                .ok()
                .filter(|v| !v.is_null() || text.trim().is_empty())
                .unwrap_or_else(|| Value::String(text.to_string()))
        };
        let path: Vec<String> = key.split('.').map(String::from).collect();
        set_nested(&mut params, &path, value);
    }
    Ok(params)
}

fn type_matches(kind: &str, v: &Value) -> bool {
    match kind {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// A gojsonschema-style check of the parameters, then defaults filled in.
pub(super) fn validate(
    spec: &ActionSpec,
    mut params: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let given = Value::Object(params.clone()).to_string();
    let fail = |path: &str, what: String| {
        format!("validation failed: (root){path} : {what}, given {given}")
    };
    for (k, v) in &params {
        let Some(schema) = spec.params.get(k) else {
            if spec.additional_properties {
                continue;
            }
            return Err(fail(
                "",
                format!("additional property {k:?} is not allowed"),
            ));
        };
        if let Some(kind) = schema.get("type").and_then(Value::as_str) {
            if !type_matches(kind, v) {
                return Err(format!(
                    "validation failed: (root).{k} : must be of type {kind}, given {v}"
                ));
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(v) {
                let listed: Vec<String> = options.iter().map(Value::to_string).collect();
                return Err(format!(
                    "validation failed: (root).{k} : must be one of the following: {}, given {v}",
                    listed.join(", ")
                ));
            }
        }
    }
    for required in &spec.required {
        if !params.contains_key(required) {
            return Err(fail(
                "",
                format!("{required:?} property is missing and required"),
            ));
        }
    }
    for (k, schema) in &spec.params {
        if let (false, Some(default)) = (params.contains_key(k), schema.get("default")) {
            params.insert(k.clone(), default.clone());
        }
    }
    Ok(params)
}

pub(super) fn run(sim: &mut Sim, args: &Args) -> Result<String, DriverError> {
    sim.model.unit(&args.unit)?;
    let spec = sim
        .model
        .app()?
        .charm
        .actions
        .get(&args.action)
        .cloned()
        .ok_or_else(|| {
            DriverError::Usage(format!(
                "action {:?} not defined on unit {:?}",
                args.action, args.unit
            ))
        })?;
    let params = validate(&spec, parse_params(args)?).map_err(DriverError::Usage)?;
    let outcome = sim.run_action(&args.unit, &args.action, params)?;
    sim.save()?;
    sim.drain()?;
    let report = Report {
        unit: args.unit.clone(),
        action: args.action.clone(),
        id: outcome.id.to_string(),
        status: outcome.status.clone(),
        message: outcome.message,
        results: outcome.results,
        stdout: outcome.stdout,
        stderr: outcome.stderr,
        code: outcome.code,
        log: outcome.log,
    };
    let text = render(&report, args.format)?;
    if outcome.status == "completed" {
        Ok(text)
    } else {
        Err(DriverError::ActionFailed(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> ActionSpec {
        serde_json::from_value(json!({
            "params": {
                "limit": {"type": "integer", "default": 10},
                "mode": {"type": "string", "enum": ["a", "b"]}
            },
            "required": ["mode"]
        }))
        .unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_are_filled() {
        let p = validate(&spec(), obj(json!({"mode": "a"}))).unwrap();
        assert_eq!(Value::Object(p), json!({"mode": "a", "limit": 10}));
    }

    #[test]
    fn schema_violations_are_refused() {
        assert!(validate(&spec(), obj(json!({"mode": "a", "x": 1})))
            .unwrap_err()
            .contains("additional property \"x\" is not allowed"));
        assert!(
            validate(&spec(), obj(json!({"mode": "a", "limit": "many"})))
                .unwrap_err()
                .contains("(root).limit : must be of type integer")
        );
        assert!(validate(&spec(), obj(json!({"mode": "c"})))
            .unwrap_err()
            .contains("must be one of the following"));
        assert!(validate(&spec(), obj(json!({})))
            .unwrap_err()
            .contains("\"mode\" property is missing and required"));
    }
}
