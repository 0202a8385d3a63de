//! `config-get`.

use serde_json::{Map, Value};

use super::{check_empty, parse_flags, with_output, Env, OutputOpts, ToolError, ToolResult};
use crate::flags::Flag;
use crate::format::Output;

pub(super) fn config_get(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let mut all = false;
    let flags = with_output(&[Flag::boolean("a", "all"), Flag::boolean("all", "all")]);
    let args = parse_flags(&flags, args, |k, v| {
        if let Some(r) = out.set(k, v) {
            return r;
        }
        all = v == "true";
        Ok(())
    })?;
    let key = args.first().cloned().unwrap_or_default();
    if !key.is_empty() && all {
        return Err(ToolError::Init(format!(
            "cannot use argument --all together with key {key:?}"
        )));
    }
    check_empty(args.get(1..).unwrap_or_default())?;
    let settings = env.model.app()?.effective_config();
    let output = if key.is_empty() {
        let map: Map<String, Value> = settings
            .into_iter()
            .filter(|(_, v)| all || !v.is_null())
            .collect();
        Output::Value(Value::Object(map))
    } else {
        Output::from_value(settings.get(&key).cloned().unwrap_or(Value::Null))
    };
    out.write(&output)
}
