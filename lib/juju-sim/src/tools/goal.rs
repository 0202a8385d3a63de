//! `goal-state`: the units of the application and of each related application.

use serde_json::{json, Map, Value};

use super::{check_empty, parse_flags, with_output, Env, OutputOpts, ToolResult};
use crate::format::Output;

pub(super) fn goal_state(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let args = parse_flags(&with_output(&[]), args, |k, v| {
        out.set(k, v).unwrap_or(Ok(()))
    })?;
    check_empty(&args)?;
    let app = env.model.app()?;
    let units: Map<String, Value> = app
        .unit_names()
        .into_iter()
        .map(|u| (u, json!({"status": "active"})))
        .collect();
    let mut relations: Map<String, Value> = Map::new();
    for r in env.model.relations.values().filter(|r| !r.dying) {
        let entry = relations
            .entry(r.local.endpoint.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(entry) = entry else {
            continue;
        };
        entry.insert(r.remote.app.clone(), json!({"status": "joined"}));
        for u in env.model.remote_units(r, env.unit()) {
            entry.insert(u, json!({"status": "active"}));
        }
    }
    out.write(&Output::Value(
        json!({"units": units, "relations": relations}),
    ))
}
