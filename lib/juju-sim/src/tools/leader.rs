//! `is-leader`, `leader-get`, `leader-set`.

use serde_json::Value;

use super::{
    check_empty, key_arg, parse_flags, parse_key_values, with_output, Env, OutputOpts, ToolError,
    ToolResult,
};
use crate::format::Output;

pub(super) fn is_leader(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let args = parse_flags(&with_output(&[]), args, |k, v| {
        out.set(k, v).unwrap_or(Ok(()))
    })?;
    check_empty(&args)?;
    out.write(&Output::Bool(env.is_leader()))
}

pub(super) fn leader_get(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let args = parse_flags(&with_output(&[]), args, |k, v| {
        out.set(k, v).unwrap_or(Ok(()))
    })?;
    let key = key_arg(&args);
    if key.contains('=') {
        return Err(ToolError::Init(format!("invalid key {key:?}")));
    }
    check_empty(args.get(1..).unwrap_or_default())?;
    let settings = &env.model.leader_settings;
    let output = if key.is_empty() {
        Output::Value(serde_json::to_value(settings).unwrap_or(Value::Null))
    } else {
        settings.get(&key).cloned().map_or(Output::Nil, Output::Str)
    };
    out.write(&output)
}

pub(super) fn leader_set(env: &mut Env, args: &[String]) -> ToolResult {
    let args = parse_flags(&[], args, |_, _| Ok(()))?;
    let settings = parse_key_values(&args)?;
    if !env.is_leader() {
        return Err(ToolError::Run(
            "cannot write leadership settings: cannot write settings: not the leader".into(),
        ));
    }
    for (k, v) in settings {
        if v.is_empty() {
            env.model.leader_settings.remove(&k);
        } else {
            env.model.leader_settings.insert(k, v);
        }
    }
    Ok(String::new())
}
