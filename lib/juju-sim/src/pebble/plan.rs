//! Pebble's layers and plan (`internals/plan`, `internals/overlord/planstate`), pure: a
//! layer parsed strictly (unknown fields refused), layers added (a label used twice is
//! refused) or combined into the layer of the same label, and the plan folded from the
//! layers in order with each service's and check's `override` (`merge`: scalars set in
//! the newer layer win, `after`/`before`/`requires` are appended, maps such as
//! `environment` are merged key by key; `replace`: the newer definition whole).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::yaml;

const SERVICE_FIELDS: &[&str] = &[
    "summary",
    "description",
    "startup",
    "override",
    "command",
    "after",
    "before",
    "requires",
    "workload",
    "environment",
    "user-id",
    "user",
    "group-id",
    "group",
    "working-dir",
    "on-success",
    "on-failure",
    "on-check-failure",
    "backoff-delay",
    "backoff-factor",
    "backoff-limit",
    "kill-delay",
];
const CHECK_FIELDS: &[&str] = &[
    "override",
    "level",
    "startup",
    "period",
    "timeout",
    "threshold",
    "http",
    "tcp",
    "exec",
];
const LIST_FIELDS: &[&str] = &["after", "before", "requires"];
const MAP_FIELDS: &[&str] = &["environment", "on-check-failure", "headers"];
const LAYER_SECTIONS: &[&str] = &[
    "summary",
    "description",
    "services",
    "checks",
    "log-targets",
];

/// One layer as added through the API.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Layer {
    pub label: String,
    pub summary: String,
    pub description: String,
    pub services: BTreeMap<String, Map<String, Value>>,
    pub checks: BTreeMap<String, Map<String, Value>>,
    pub log_targets: BTreeMap<String, Map<String, Value>>,
}

/// The layers combined.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Plan {
    pub services: BTreeMap<String, Map<String, Value>>,
    pub checks: BTreeMap<String, Map<String, Value>>,
    pub log_targets: BTreeMap<String, Map<String, Value>>,
}

fn section(
    label: &str,
    value: Option<&Value>,
    kind: &str,
    known: Option<&[&str]>,
) -> Result<BTreeMap<String, Map<String, Value>>, String> {
    let mut out = BTreeMap::new();
    let Some(value) = value else {
        return Ok(out);
    };
    if value.is_null() {
        return Ok(out);
    }
    let Value::Object(items) = value else {
        return Err(format!(
            "cannot parse layer {label:?}: {kind}s must be a map"
        ));
    };
    for (name, item) in items {
        if name.is_empty() {
            return Err(format!("cannot use empty string as {kind} name"));
        }
        let Value::Object(fields) = item else {
            return Err(format!("{kind} object cannot be null for {kind} {name:?}"));
        };
        if let Some(known) = known {
            if let Some(bad) = fields.keys().find(|k| !known.contains(&k.as_str())) {
                return Err(format!(
                    "cannot parse layer {label:?}: yaml: unmarshal errors:\n  field {bad} not found in type plan.{}",
                    if kind == "service" { "Service" } else { "Check" }
                ));
            }
        }
        out.insert(name.clone(), fields.clone());
    }
    Ok(out)
}

fn text(map: &Map<String, Value>, key: &str) -> String {
    match map.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Parses a layer's YAML as Pebble does.
pub(crate) fn parse_layer(label: &str, text_yaml: &str) -> Result<Layer, String> {
    let value: Value =
        yaml::from_str_v3(text_yaml).map_err(|e| format!("cannot parse layer {label:?}: {e}"))?;
    let top = match value {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => return Err(format!("cannot parse layer {label:?}: not a map")),
    };
    if let Some(bad) = top.keys().find(|k| !LAYER_SECTIONS.contains(&k.as_str())) {
        return Err(format!(
            "cannot parse layer {label:?}: unknown section {bad:?}"
        ));
    }
    if label.starts_with("pebble-") {
        return Err("cannot use reserved label prefix \"pebble-\"".into());
    }
    let layer = Layer {
        label: label.to_string(),
        summary: text(&top, "summary"),
        description: text(&top, "description"),
        services: section(label, top.get("services"), "service", Some(SERVICE_FIELDS))?,
        checks: section(label, top.get("checks"), "check", Some(CHECK_FIELDS))?,
        log_targets: section(label, top.get("log-targets"), "log target", None)?,
    };
    for name in layer.services.keys() {
        if name == "all" || name == "pebble" {
            return Err(format!("cannot use reserved service name {name:?}"));
        }
        if name.starts_with('-') {
            return Err(format!(
                "cannot use service name {name:?}: starting with \"-\" not allowed"
            ));
        }
    }
    Ok(layer)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `Service.Merge` / `Check.Merge`: what `other` sets wins; lists append; maps merge.
fn merge(into: &mut Map<String, Value>, other: &Map<String, Value>) {
    for (k, v) in other {
        if is_empty(v) && !matches!(v, Value::Object(_)) {
            continue;
        }
        if LIST_FIELDS.contains(&k.as_str()) {
            let mut list = match into.get(k) {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            if let Value::Array(more) = v {
                list.extend(more.iter().cloned());
            }
            into.insert(k.clone(), Value::Array(list));
        } else if MAP_FIELDS.contains(&k.as_str()) || matches!(k.as_str(), "http" | "tcp" | "exec")
        {
            let mut map = match into.get(k) {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            if let Value::Object(more) = v {
                if matches!(k.as_str(), "http" | "tcp" | "exec") {
                    merge(&mut map, more);
                } else {
                    for (mk, mv) in more {
                        map.insert(mk.clone(), mv.clone());
                    }
                }
            }
            into.insert(k.clone(), Value::Object(map));
        } else {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn fold(
    combined: &mut BTreeMap<String, Map<String, Value>>,
    items: &BTreeMap<String, Map<String, Value>>,
    label: &str,
    kind: &str,
) -> Result<(), String> {
    for (name, item) in items {
        match item.get("override").and_then(Value::as_str) {
            Some("merge") => match combined.get_mut(name) {
                Some(old) => merge(old, item),
                None => {
                    combined.insert(name.clone(), item.clone());
                }
            },
            Some("replace") => {
                combined.insert(name.clone(), item.clone());
            }
            None | Some("") => {
                return Err(format!(
                    "layer {label:?} must define \"override\" for {kind} {name:?}"
                ))
            }
            Some(_) => {
                return Err(format!(
                    "layer {label:?} has invalid \"override\" value for {kind} {name:?}"
                ))
            }
        }
    }
    Ok(())
}

/// Combines `other` into `layer` (the API's `combine: true` for an existing label).
fn combine_into(layer: &mut Layer, other: &Layer) -> Result<(), String> {
    fold(
        &mut layer.services,
        &other.services,
        &other.label,
        "service",
    )?;
    fold(&mut layer.checks, &other.checks, &other.label, "check")?;
    fold(
        &mut layer.log_targets,
        &other.log_targets,
        &other.label,
        "log target",
    )?;
    if !other.summary.is_empty() {
        layer.summary = other.summary.clone();
    }
    if !other.description.is_empty() {
        layer.description = other.description.clone();
    }
    Ok(())
}

/// The plan of `layers`, folded in order and validated.
pub(crate) fn combine(layers: &[Layer]) -> Result<Plan, String> {
    let mut plan = Plan::default();
    for l in layers {
        fold(&mut plan.services, &l.services, &l.label, "service")?;
        fold(&mut plan.checks, &l.checks, &l.label, "check")?;
        fold(
            &mut plan.log_targets,
            &l.log_targets,
            &l.label,
            "log target",
        )?;
    }
    validate(&plan)?;
    Ok(plan)
}

fn validate(plan: &Plan) -> Result<(), String> {
    for (name, s) in &plan.services {
        if text(s, "command").trim().is_empty() {
            return Err(format!("plan must define \"command\" for service {name:?}"));
        }
        if let Err(e) = super::mapping::split_command(&text(s, "command")) {
            return Err(format!("plan service {name:?} command invalid: {e}"));
        }
        let startup = text(s, "startup");
        if !matches!(startup.as_str(), "" | "enabled" | "disabled") {
            return Err(format!(
                "cannot parse layer: invalid startup value {startup:?}"
            ));
        }
    }
    for (name, c) in &plan.checks {
        let level = text(c, "level");
        if !matches!(level.as_str(), "" | "alive" | "ready") {
            return Err(format!(
                "plan check {name:?} level must be \"alive\" or \"ready\""
            ));
        }
        if !["http", "tcp", "exec"].iter().any(|k| c.contains_key(*k)) {
            return Err(format!(
                "plan must specify one of \"http\", \"tcp\" or \"exec\" for check {name:?}"
            ));
        }
    }
    Ok(())
}

/// Adds `layer` on top (`combine` false, or no layer has its label) or combines it into
/// the layer with its label; the new plan must be valid, or nothing changes.
pub(crate) fn add_layer(
    layers: &mut Vec<Layer>,
    layer: Layer,
    combine_it: bool,
) -> Result<(), String> {
    let mut next = layers.clone();
    match next.iter_mut().find(|l| l.label == layer.label) {
        Some(existing) if combine_it => combine_into(existing, &layer)?,
        Some(_) => return Err(format!("layer {:?} already exists", layer.label)),
        None => next.push(layer),
    }
    combine(&next)?;
    *layers = next;
    Ok(())
}

/// The plan as `GET /v1/plan?format=yaml` gives it.
pub(crate) fn to_yaml(plan: &Plan) -> Result<String, String> {
    let mut top = Map::new();
    let as_value = |m: &BTreeMap<String, Map<String, Value>>| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::Object(v.clone())))
                .collect(),
        )
    };
    if !plan.services.is_empty() {
        top.insert("services".into(), as_value(&plan.services));
    }
    if !plan.checks.is_empty() {
        top.insert("checks".into(), as_value(&plan.checks));
    }
    if !plan.log_targets.is_empty() {
        top.insert("log-targets".into(), as_value(&plan.log_targets));
    }
    if top.is_empty() {
        return Ok("{}\n".into());
    }
    yaml::to_string(&Value::Object(top)).map_err(|e| e.to_string())
}

/// A service's text field.
pub(crate) fn field(map: &Map<String, Value>, key: &str) -> String {
    text(map, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(label: &str, y: &str) -> Layer {
        parse_layer(label, y).unwrap()
    }

    #[test]
    fn merge_appends_lists_merges_maps_and_replaces_scalars() {
        let mut layers = Vec::new();
        add_layer(
            &mut layers,
            layer("base", "services:\n  p:\n    override: replace\n    command: /bin/prometheus --a\n    startup: enabled\n    after: [x]\n    environment: {A: '1', B: '2'}\n"),
            false,
        )
        .unwrap();
        add_layer(
            &mut layers,
            layer("top", "services:\n  p:\n    override: merge\n    command: /bin/prometheus --b\n    after: [y]\n    environment: {B: '3'}\n"),
            false,
        )
        .unwrap();
        let plan = combine(&layers).unwrap();
        let p = &plan.services["p"];
        assert_eq!(field(p, "command"), "/bin/prometheus --b");
        assert_eq!(p["after"], serde_json::json!(["x", "y"]));
        assert_eq!(p["environment"], serde_json::json!({"A": "1", "B": "3"}));
        assert_eq!(field(p, "startup"), "enabled");
        // replace drops what the older layer had
        add_layer(
            &mut layers,
            layer(
                "last",
                "services:\n  p:\n    override: replace\n    command: /bin/true\n",
            ),
            false,
        )
        .unwrap();
        let plan = combine(&layers).unwrap();
        assert!(!plan.services["p"].contains_key("environment"));
    }

    #[test]
    fn labels_overrides_and_fields_are_checked() {
        let mut layers = vec![layer(
            "a",
            "services:\n  s:\n    override: replace\n    command: x\n",
        )];
        let again = layer(
            "a",
            "services:\n  s:\n    override: merge\n    command: y\n",
        );
        assert_eq!(
            add_layer(&mut layers, again.clone(), false).unwrap_err(),
            "layer \"a\" already exists"
        );
        add_layer(&mut layers, again, true).unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(field(&layers[0].services["s"], "command"), "y");
        let no_override = layer("b", "services:\n  s:\n    command: z\n");
        assert_eq!(
            add_layer(&mut layers, no_override, false).unwrap_err(),
            "layer \"b\" must define \"override\" for service \"s\""
        );
        assert!(parse_layer("c", "services:\n  s:\n    comand: z\n")
            .unwrap_err()
            .contains("field comand not found"));
        let no_command = layer("d", "services:\n  t:\n    override: replace\n");
        assert_eq!(
            add_layer(&mut layers, no_command, false).unwrap_err(),
            "plan must define \"command\" for service \"t\""
        );
        assert_eq!(layers.len(), 1);
    }
}
