//! `juju-log`.

use juju::LogLevel;

use super::{parse_flags, Env, ToolError, ToolResult};
use crate::flags::Flag;

pub(super) fn juju_log(env: &mut Env, args: &[String]) -> ToolResult {
    let mut debug = false;
    let mut level = "INFO".to_string();
    let flags = [
        Flag::boolean("debug", "debug"),
        Flag::value("l", "level"),
        Flag::value("log-level", "level"),
    ];
    let args = parse_flags(&flags, args, |k, v| {
        match k {
            "debug" => debug = v == "true",
            _ => level = v.to_string(),
        }
        Ok(())
    })?;
    if args.is_empty() {
        return Err(ToolError::Init("no message specified".into()));
    }
    let mut message = args.join(" ");
    let module = format!("unit.{}.juju-log", env.unit());
    let level = if debug {
        LogLevel::Debug
    } else {
        match LogLevel::parse(&level) {
            Some(l) => l,
            None => {
                env.log_line(
                    "WARNING",
                    &module,
                    &format!("Specified log level of {level:?} is not valid"),
                );
                LogLevel::Info
            }
        }
    };
    if let Some(r) = &env.ctx.relation {
        message = format!("{}:{}: {message}", r.endpoint, r.id);
    }
    env.log_line(level.as_str(), &module, &message);
    Ok(String::new())
}
