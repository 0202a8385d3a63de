//! `state-get`, `state-set`, `state-delete`: unit state, committed at hook end.

use serde_json::Value;

use super::{
    check_empty, key_arg, only_arg, parse_flags, parse_key_values, settings_with_file, with_output,
    Env, OutputOpts, ToolError, ToolResult,
};
use crate::context::apply_changes;
use crate::flags::Flag;
use crate::format::Output;

const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 64 * 1024;

fn current(env: &Env) -> Result<std::collections::BTreeMap<String, String>, ToolError> {
    let mut state = env.model.unit(env.unit())?.state.clone();
    apply_changes(&mut state, &env.ctx.pending.state);
    Ok(state)
}

pub(super) fn state_get(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let mut strict = false;
    let args = parse_flags(
        &with_output(&[Flag::boolean("strict", "strict")]),
        args,
        |k, v| {
            if let Some(r) = out.set(k, v) {
                return r;
            }
            strict = v == "true";
            Ok(())
        },
    )?;
    let key = key_arg(&args);
    check_empty(args.get(1..).unwrap_or_default())?;
    let state = current(env)?;
    let output = if key.is_empty() {
        if state.is_empty() {
            Output::Nil
        } else {
            Output::Value(serde_json::to_value(&state).unwrap_or(Value::Null))
        }
    } else {
        match state.get(&key) {
            Some(v) => Output::Str(v.clone()),
            None if strict => return Err(ToolError::Run(format!("{key:?} not found"))),
            None => Output::Str(String::new()),
        }
    };
    out.write(&output)
}

pub(super) fn state_set(env: &mut Env, args: &[String]) -> ToolResult {
    let mut file: Option<String> = None;
    let args = parse_flags(&[Flag::value("file", "file")], args, |_, v| {
        file = Some(v.to_string());
        Ok(())
    })?;
    let overrides = parse_key_values(&args)?;
    let settings = settings_with_file(env, file.as_deref(), overrides)?;
    // core/quota CheckTupleSize, as SetCharmStateValue applies it to each pair.
    for (k, v) in &settings {
        if k.len() > MAX_KEY {
            return Err(ToolError::Run(format!(
                "max allowed key length ({MAX_KEY}) exceeded"
            )));
        }
        if v.len() > MAX_VALUE {
            return Err(ToolError::Run(format!(
                "max allowed value length ({MAX_VALUE}) exceeded"
            )));
        }
    }
    // Unlike relation-set, an empty value is stored, not deleted (SetCharmStateValue).
    for (k, v) in settings {
        env.ctx.pending.state.insert(k, Some(v));
    }
    Ok(String::new())
}

pub(super) fn state_delete(env: &mut Env, args: &[String]) -> ToolResult {
    let args = parse_flags(&[], args, |_, _| Ok(()))?;
    let key = only_arg(&args, "no key specified")?;
    env.ctx.pending.state.insert(key.clone(), None);
    Ok(String::new())
}
