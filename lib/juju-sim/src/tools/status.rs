//! `status-set`, `status-get`, `application-version-set` (all immediate).

use serde_json::{json, Map, Value};

use super::{
    check_empty, only_arg, parse_flags, with_output, Env, OutputOpts, ToolError, ToolResult,
};
use crate::flags::Flag;
use crate::format::{Format, Output};
use crate::model::StatusValue;

const SETTABLE: [&str; 4] = ["maintenance", "blocked", "waiting", "active"];

pub(super) fn status_set(env: &mut Env, args: &[String]) -> ToolResult {
    let mut application = false;
    let args = parse_flags(
        &[Flag::boolean("application", "application")],
        args,
        |_, v| {
            application = v == "true";
            Ok(())
        },
    )?;
    let Some(status) = args.first() else {
        return Err(ToolError::Init(
            "invalid args, require <status> [message]".into(),
        ));
    };
    if !SETTABLE.contains(&status.as_str()) {
        return Err(ToolError::Init(format!(
            "invalid status {status:?}, expected one of [{}]",
            SETTABLE.join(" ")
        )));
    }
    let message = args.get(1).cloned().unwrap_or_default();
    check_empty(args.get(2..).unwrap_or_default())?;
    let value = StatusValue::new(status, &message);
    if application {
        if !env.is_leader() {
            return Err(ToolError::Run("this unit is not the leader".into()));
        }
        env.model.app_mut()?.status = Some(value);
    } else {
        let unit = env.unit().to_string();
        env.model.unit_mut(&unit)?.workload = value;
    }
    Ok(String::new())
}

fn details(s: &StatusValue, include_data: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("status".into(), Value::from(s.status.clone()));
    if include_data {
        m.insert("message".into(), Value::from(s.message.clone()));
        m.insert("status-data".into(), json!({}));
    }
    m
}

pub(super) fn status_get(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let mut include_data = false;
    let mut application = false;
    let flags = with_output(&[
        Flag::boolean("include-data", "include-data"),
        Flag::boolean("application", "application"),
    ]);
    let args = parse_flags(&flags, args, |k, v| {
        if let Some(r) = out.set(k, v) {
            return r;
        }
        match k {
            "include-data" => include_data = v == "true",
            _ => application = v == "true",
        }
        Ok(())
    })?;
    check_empty(&args)?;
    let smart_plain = !include_data && out.format == Format::Smart;
    if application {
        if !env.is_leader() {
            return Err(ToolError::Run(
                "finding application status: this unit is not the leader".into(),
            ));
        }
        let app = env.model.app()?;
        let app_status = app
            .status
            .clone()
            .unwrap_or_else(|| StatusValue::new("unknown", ""));
        if smart_plain {
            return out.write(&Output::Str(app_status.status));
        }
        let mut d = details(&app_status, include_data);
        let units: Map<String, Value> = app
            .units
            .values()
            .map(|u| {
                (
                    app.unit_name(u.number),
                    Value::Object(details(&u.workload, include_data)),
                )
            })
            .collect();
        d.insert("units".into(), Value::Object(units));
        return out.write(&Output::Value(json!({ "application-status": d })));
    }
    let unit = env.model.unit(env.unit())?;
    if smart_plain {
        return out.write(&Output::Str(unit.workload.status.clone()));
    }
    out.write(&Output::Value(Value::Object(details(
        &unit.workload,
        include_data,
    ))))
}

pub(super) fn application_version_set(env: &mut Env, args: &[String]) -> ToolResult {
    let args = parse_flags(&[], args, |_, _| Ok(()))?;
    let version = only_arg(&args, "no version specified")?;
    env.model.app_mut()?.version = version.clone();
    Ok(String::new())
}
