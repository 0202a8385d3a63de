//! `action-get`, `action-set`, `action-fail`, `action-log`: only inside an action.

use serde_json::Value;

use super::{check_empty, parse_flags, with_output, Env, OutputOpts, ToolError, ToolResult};
use crate::context::{set_nested, ActionState};
use crate::format::Output;

fn action(env: &mut Env) -> Result<&mut ActionState, ToolError> {
    env.ctx
        .action
        .as_mut()
        .ok_or_else(|| ToolError::Run("not running an action".into()))
}

pub(super) fn action_get(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let args = parse_flags(&with_output(&[]), args, |k, v| {
        out.set(k, v).unwrap_or(Ok(()))
    })?;
    let keys: Vec<String> = args
        .first()
        .map(|k| k.split('.').map(String::from).collect())
        .unwrap_or_default();
    check_empty(args.get(1..).unwrap_or_default())?;
    let params = Value::Object(action(env)?.params.clone());
    let mut current = Some(&params);
    for k in &keys {
        current = current.and_then(|v| v.get(k));
    }
    let output = match current {
        None => Output::Nil,
        Some(v) if keys.is_empty() => Output::Value(v.clone()),
        Some(v) => Output::from_value(v.clone()),
    };
    out.write(&output)
}

/// charm's `GetActionNameRule()`: `^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`.
fn valid_key(k: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !k.is_empty() && k.starts_with(ok) && k.ends_with(ok) && k.chars().all(|c| ok(c) || c == '-')
}

/// action-set.go's `reservedKeys`: result keys Juju fills in itself.
const RESERVED: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

pub(super) fn action_set(env: &mut Env, args: &[String]) -> ToolResult {
    let args = parse_flags(&[], args, |_, _| Ok(()))?;
    let mut pairs = Vec::new();
    for arg in &args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(ToolError::Init(format!(
                "argument {arg:?} must be of the form key...=value"
            )));
        };
        let path: Vec<String> = key.split('.').map(String::from).collect();
        // As action-set.go's Init: each segment in turn is checked against keyRule, then
        // against the reserved keys, so `a.stdout` is refused as well as `stdout`.
        for segment in &path {
            if !valid_key(segment) {
                return Err(ToolError::Init(format!(
                    "key {segment:?} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"
                )));
            }
            if RESERVED.contains(&segment.as_str()) {
                return Err(ToolError::Init(format!(
                    "cannot set reserved action key \"{segment}\""
                )));
            }
        }
        pairs.push((path, value.to_string()));
    }
    let state = action(env)?;
    for (path, value) in pairs {
        set_nested(&mut state.results, &path, Value::String(value));
    }
    Ok(String::new())
}

pub(super) fn action_fail(env: &mut Env, args: &[String]) -> ToolResult {
    let args = parse_flags(&[], args, |_, _| Ok(()))?;
    check_empty(args.get(1..).unwrap_or_default())?;
    let message = args.first().cloned().unwrap_or_else(|| {
        "action failed without reason given, check action for errors".to_string()
    });
    action(env)?.failure = Some(message);
    Ok(String::new())
}

pub(super) fn action_log(env: &mut Env, args: &[String]) -> ToolResult {
    let args = parse_flags(&[], args, |_, _| Ok(()))?;
    if args.is_empty() {
        return Err(ToolError::Init("no message specified".into()));
    }
    let message = args.join(" ");
    action(env)?.log.push(message.clone());
    let module = format!("unit.{}.juju-log", env.unit());
    env.log_line("INFO", &module, &message);
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    #[test]
    fn dotted_keys_nest() {
        let mut m = Map::new();
        set_nested(&mut m, &["a".into(), "b".into()], "1".into());
        set_nested(&mut m, &["a".into(), "c".into()], "2".into());
        set_nested(&mut m, &["d".into()], "3".into());
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"a": {"b": "1", "c": "2"}, "d": "3"})
        );
    }

    #[test]
    fn key_rules() {
        assert!(valid_key("a-b1"));
        assert!(!valid_key("Foo"));
        assert!(!valid_key("-a"));
        assert!(!valid_key("a_b"));
    }
}
