//! `relation-ids`, `relation-list`, `relation-get`, `relation-set`.

use serde_json::Value;

use super::{
    check_empty, parse_flags, parse_key_values, settings_with_file, with_output, Env, OutputOpts,
    ToolError, ToolResult,
};
use crate::context::{apply_changes, stage};
use crate::flags::Flag;
use crate::format::Output;
use crate::model::{split_unit, Databag};

const RELATION_FLAGS: [Flag; 2] = [
    Flag::value("r", "relation"),
    Flag::value("relation", "relation"),
];

pub(super) fn relation_ids(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let args = parse_flags(&with_output(&[]), args, |k, v| {
        out.set(k, v).unwrap_or(Ok(()))
    })?;
    let name = match args.first() {
        Some(n) => n.clone(),
        None => match &env.ctx.relation {
            Some(r) => r.endpoint.clone(),
            None => return Err(ToolError::Init("no relation name specified".into())),
        },
    };
    check_empty(args.get(1..).unwrap_or_default())?;
    let mut ids: Vec<String> = env
        .model
        .unit_relations(env.unit())
        .into_iter()
        .filter(|r| r.local.endpoint == name)
        .map(|r| format!("{}:{}", r.local.endpoint, r.id))
        .collect();
    ids.sort();
    out.write(&Output::Strings(ids))
}

/// The flags `relation-list` and `relation-get` share: the output options, `-r` (the
/// hook's relation by default) and `--app`; also returns the positional arguments.
fn relation_app_flags(
    env: &Env,
    args: &[String],
) -> Result<(OutputOpts, u32, bool, Vec<String>), ToolError> {
    let mut out = OutputOpts::default();
    let mut relation = env.hook_relation();
    let mut app = false;
    let flags = with_output(&[
        RELATION_FLAGS[0],
        RELATION_FLAGS[1],
        Flag::boolean("app", "app"),
    ]);
    let args = parse_flags(&flags, args, |k, v| {
        if let Some(r) = out.set(k, v) {
            return r;
        }
        match k {
            "relation" => relation = Some(env.parse_relation(v)?),
            _ => app = v == "true",
        }
        Ok(())
    })?;
    let id = relation.ok_or_else(|| ToolError::Init("no relation id specified".into()))?;
    Ok((out, id, app, args))
}

pub(super) fn relation_list(env: &mut Env, args: &[String]) -> ToolResult {
    let (out, id, app, args) = relation_app_flags(env, args)?;
    check_empty(&args)?;
    let r = env.model.relation(id)?;
    if app {
        return out.write(&Output::Str(r.remote.app.clone()));
    }
    let units: Vec<String> = r
        .views
        .get(env.unit())
        .map(|v| v.iter().cloned().collect())
        .unwrap_or_default();
    out.write(&Output::Strings(units))
}

pub(crate) fn valid_app_name(s: &str) -> bool {
    let mut parts = s.split('-');
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && parts.all(|p| !p.is_empty() && !p.chars().all(|c| c.is_ascii_digit()))
}

fn valid_unit_name(s: &str) -> bool {
    split_unit(s).is_some_and(|(app, _)| valid_app_name(app))
}

pub(super) fn relation_get(env: &mut Env, args: &[String]) -> ToolResult {
    let (out, id, mut app, args) = relation_app_flags(env, args)?;
    let mut args = args.into_iter();
    let key = match args.next() {
        Some(k) if k == "-" => String::new(),
        Some(k) => k,
        None => String::new(),
    };
    let hook_remote_unit = env
        .ctx
        .relation
        .as_ref()
        .and_then(|r| r.remote_unit.clone());
    let hook_remote_app = env.ctx.relation.as_ref().map(|r| r.remote_app.clone());
    // Juju's determineUnitOrAppName.
    let target = match args.next() {
        Some(given) if app => {
            if valid_app_name(&given) {
                given
            } else if let Some((a, _)) = split_unit(&given).filter(|_| valid_unit_name(&given)) {
                a.to_string()
            } else {
                String::new()
            }
        }
        Some(given) => given,
        None if app => hook_remote_app
            .ok_or_else(|| ToolError::Init("no unit or application specified".into()))?,
        None => match (hook_remote_unit, hook_remote_app) {
            (Some(u), _) => u,
            (None, Some(a)) => {
                app = true;
                a
            }
            (None, None) => return Err(ToolError::Init("no unit or application specified".into())),
        },
    };
    check_empty(&args.collect::<Vec<_>>())?;
    let bag = read_bag(env, id, &target, app)?;
    let output = if key.is_empty() {
        Output::Value(serde_json::to_value(&bag).unwrap_or(Value::Null))
    } else {
        bag.get(&key).cloned().map_or(Output::Nil, Output::Str)
    };
    out.write(&output)
}

/// Reads a databag as the unit may see it: its own unit bag and (leader) its own app bag
/// from the hook's context, pending writes included; everything else as committed.
fn read_bag(env: &Env, id: u32, target: &str, app: bool) -> Result<Databag, ToolError> {
    let r = env.model.relation(id)?;
    let pending = env.ctx.pending.relations.get(&id);
    let own_app = env.app_name().to_string();
    if target == env.unit() && !app {
        let mut bag = r.unit_data.get(target).cloned().unwrap_or_default();
        if let Some(p) = pending {
            apply_changes(&mut bag, &p.unit);
        }
        return Ok(bag);
    }
    let reading_app = app || (!target.contains('/') && valid_app_name(target));
    if reading_app {
        if target == own_app {
            if env.is_leader() {
                let mut bag = r.app_data.get(target).cloned().unwrap_or_default();
                if let Some(p) = pending {
                    apply_changes(&mut bag, &p.app);
                }
                return Ok(bag);
            }
            if !r.is_peer() {
                return Err(ToolError::Run("permission denied".into()));
            }
        } else if target != r.remote.app {
            return Err(ToolError::Run("permission denied".into()));
        }
        return Ok(r.app_data.get(target).cloned().unwrap_or_default());
    }
    if !valid_unit_name(target) {
        return Err(ToolError::Run(format!(
            "cannot read settings for unit {target:?} in relation {:?}: {target:?} is not a valid unit name",
            r.key()
        )));
    }
    r.unit_data.get(target).cloned().ok_or_else(|| {
        ToolError::Run(format!(
            "cannot read settings for unit {target:?} in relation {:?}: unit {target:?}: settings not found",
            r.key()
        ))
    })
}

pub(super) fn relation_set(env: &mut Env, args: &[String]) -> ToolResult {
    let mut relation = env.hook_relation();
    let mut app = false;
    let mut file: Option<String> = None;
    let mut format_flag = String::new();
    let flags = [
        RELATION_FLAGS[0],
        RELATION_FLAGS[1],
        Flag::boolean("app", "app"),
        Flag::value("file", "file"),
        Flag::value("format", "format"),
    ];
    let args = parse_flags(&flags, args, |k, v| {
        match k {
            "relation" => relation = Some(env.parse_relation(v)?),
            "app" => app = v == "true",
            "file" => file = Some(v.to_string()),
            _ => format_flag = v.to_string(),
        }
        Ok(())
    })?;
    let id = relation.ok_or_else(|| ToolError::Init("no relation id specified".into()))?;
    let overrides = parse_key_values(&args)?;
    if !format_flag.is_empty() {
        env.stderr
            .push_str("--format flag deprecated for command \"relation-set\"");
    }
    let settings = settings_with_file(env, file.as_deref(), overrides)?;
    if app && !env.is_leader() {
        return Err(ToolError::Run("cannot write relation settings".into()));
    }
    let pending = env.ctx.pending.relations.entry(id).or_default();
    let changes = if app {
        &mut pending.app
    } else {
        &mut pending.unit
    };
    stage(changes, settings);
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_and_unit_names() {
        assert!(valid_app_name("prometheus-k8s"));
        assert!(!valid_app_name("prometheus/0"));
        assert!(!valid_app_name("app-1"));
        assert!(valid_unit_name("alertmanager/3"));
        assert!(!valid_unit_name("alertmanager"));
    }
}
