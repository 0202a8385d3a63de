//! `config`: show the application's settings, or change them (config-changed on every
//! unit when a value actually changes).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{key_value_pairs, render, OutFormat};
use crate::charm::ConfigOption;
use crate::flags::parse_bool;
use crate::hooks::{DriverError, HookSpec, Sim};

#[derive(clap::Args, Debug)]
pub(super) struct Args {
    application: String,
    /// `key=value` to set, or a single `key` to print.
    settings: Vec<String>,
    /// Options to return to their defaults, comma-separated.
    #[arg(long, value_delimiter = ',')]
    reset: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

/// juju/charm's option parsing: the value's text against the option's type.
fn parse_value(name: &str, option: &ConfigOption, text: &str) -> Result<Value, DriverError> {
    let bad = || {
        DriverError::Usage(format!(
            "option {name:?} expected {}, got {text:?}",
            option.kind
        ))
    };
    Ok(match option.kind.as_str() {
        "string" => Value::String(text.to_string()),
        "int" => Value::from(text.trim().parse::<i64>().map_err(|_| bad())?),
        "float" => {
            let f: f64 = text.trim().parse().map_err(|_| bad())?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(bad)?
        }
        "boolean" => Value::Bool(parse_bool(text.trim()).map_err(|_| bad())?),
        other => {
            return Err(DriverError::Usage(format!(
                "option {name:?} has unknown type {other:?}"
            )))
        }
    })
}

pub(super) fn parse_settings(
    options: &BTreeMap<String, ConfigOption>,
    pairs: &[(String, String)],
) -> Result<BTreeMap<String, Value>, DriverError> {
    pairs
        .iter()
        .map(|(k, v)| {
            let option = options
                .get(k)
                .ok_or_else(|| DriverError::Usage(format!("unknown option {k:?}")))?;
            Ok((k.clone(), parse_value(k, option, v)?))
        })
        .collect()
}

#[derive(Serialize)]
struct Setting {
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<Value>,
    description: String,
    source: &'static str,
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
}

#[derive(Serialize)]
struct Shown {
    application: String,
    charm: String,
    settings: BTreeMap<String, Setting>,
}

pub(super) fn run(sim: &mut Sim, args: &Args) -> Result<String, DriverError> {
    let app = sim.model.app_named(&args.application)?;
    let options = app.charm.options.clone();
    if args.settings.is_empty() && args.reset.is_empty() {
        let settings = options
            .iter()
            .map(|(k, o)| {
                let set = app.config.get(k).cloned();
                let setting = Setting {
                    default: o.default.clone(),
                    description: o.description.clone(),
                    source: if set.is_some() { "user" } else { "default" },
                    kind: o.kind.clone(),
                    value: set.or_else(|| o.default.clone()),
                };
                (k.clone(), setting)
            })
            .collect();
        let shown = Shown {
            application: app.name.clone(),
            charm: app.charm.metadata.name.clone(),
            settings,
        };
        return render(&shown, args.format);
    }
    if let [key] = args.settings.as_slice() {
        if !key.contains('=') && args.reset.is_empty() {
            let value = app.effective_config().get(key).cloned().ok_or_else(|| {
                DriverError::Usage(format!(
                    "key {key:?} not found in {:?} application config",
                    app.name
                ))
            })?;
            return Ok(match (value, args.format) {
                (Value::String(s), OutFormat::Human) => format!("{s}\n"),
                (v, f) => render(&v, f)?,
            });
        }
    }
    let pairs = key_value_pairs(&args.settings)?;
    let new_values = parse_settings(&options, &pairs)?;
    for k in &args.reset {
        if !options.contains_key(k) {
            return Err(DriverError::Usage(format!("unknown option {k:?}")));
        }
    }
    let before = app.effective_config();
    let app = sim.model.app_mut()?;
    for k in &args.reset {
        app.config.remove(k);
    }
    app.config.extend(new_values);
    let changed = app.effective_config() != before;
    let units = app.unit_names();
    sim.save()?;
    if !changed {
        return Ok("no change\n".into());
    }
    let mut fired = 0;
    for u in units {
        if sim.model.is_installed(&u) {
            sim.hook(&u, HookSpec::plain("config-changed"))?;
            fired += 1;
        }
    }
    sim.drain()?;
    Ok(format!("config-changed ran on {fired} unit(s)\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(kind: &str) -> ConfigOption {
        ConfigOption {
            kind: kind.into(),
            default: None,
            description: String::new(),
        }
    }

    #[test]
    fn values_are_typed_by_the_option() {
        assert_eq!(
            parse_value("p", &opt("int"), "9090").unwrap(),
            Value::from(9090)
        );
        assert_eq!(
            parse_value("b", &opt("boolean"), "true").unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            parse_value("f", &opt("float"), "0.5").unwrap(),
            Value::from(0.5)
        );
        assert_eq!(
            parse_value("port", &opt("int"), "abc")
                .unwrap_err()
                .to_string(),
            "option \"port\" expected int, got \"abc\""
        );
        assert!(parse_value("b", &opt("boolean"), "yes").is_err());
    }
}
