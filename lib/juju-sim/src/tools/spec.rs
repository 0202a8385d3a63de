//! `pod-spec-set`/`k8s-spec-set` (leader only, strictly validated, committed at hook end)
//! and `pod-spec-get`/`k8s-spec-get`.

use super::{check_empty, parse_flags, read_path, Env, ToolError, ToolResult};
use crate::context::PendingPodSpec;
use crate::flags::Flag;
use crate::podspec;

pub(super) fn pod_spec_set(env: &mut Env, args: &[String]) -> ToolResult {
    set(env, args, "pod-spec-set", "pod")
}

pub(super) fn k8s_spec_set(env: &mut Env, args: &[String]) -> ToolResult {
    set(env, args, "k8s-spec-set", "k8s")
}

fn set(env: &mut Env, args: &[String], tool: &str, noun: &str) -> ToolResult {
    let mut file = "-".to_string();
    let mut k8s_resources: Option<String> = None;
    let flags = [
        Flag::value("file", "file"),
        Flag::value("k8s-resources", "k8s-resources"),
    ];
    let args = parse_flags(&flags, args, |k, v| {
        match k {
            "file" => file = v.to_string(),
            _ => k8s_resources = Some(v.to_string()),
        }
        Ok(())
    })?;
    check_empty(&args)?;
    if !env.is_leader() {
        let unit = env.unit().to_string();
        env.log_line(
            "WARNING",
            "juju.worker.uniter.context",
            &format!("{unit:?} is not the leader but is setting application k8s spec"),
        );
        return Err(ToolError::Run("this unit is not the leader".into()));
    }
    let spec = env.read_file_var(&file)?;
    if spec.is_empty() {
        return Err(ToolError::Run(format!(
            "no {noun} spec specified: pipe {noun} spec to command, or specify a file with --file"
        )));
    }
    let resources = match &k8s_resources {
        Some(path) => Some(read_path(path).map_err(ToolError::Run)?),
        None => None,
    };
    // Juju appends the resources file as raw text and parses the whole as one document.
    let whole = format!("{spec}{}", resources.as_deref().unwrap_or(""));
    podspec::parse(&whole).map_err(|e| ToolError::Run(e.to_string()))?;
    env.ctx.pending.pod_spec = Some(PendingPodSpec {
        spec,
        k8s_resources: resources,
        tool: tool.to_string(),
    });
    Ok(String::new())
}

pub(super) fn spec_get(env: &mut Env, args: &[String]) -> ToolResult {
    let args = parse_flags(&[], args, |_, _| Ok(()))?;
    check_empty(&args)?;
    if let Some(p) = &env.ctx.pending.pod_spec {
        return Ok(format!(
            "{}{}",
            p.spec,
            p.k8s_resources.as_deref().unwrap_or("")
        ));
    }
    Ok(env
        .model
        .app()?
        .pod_spec
        .as_ref()
        .map(super::super::model::StoredPodSpec::text)
        .unwrap_or_default())
}
