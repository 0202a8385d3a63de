//! The controller's and the cluster's part of a pod-spec application: after a hook commits
//! a new spec (or the charm is upgraded), Juju applies it to Kubernetes. The API server may
//! refuse an object ([`names`]); the StatefulSet's pod template ([`template`]) may change,
//! and then Kubernetes rolls every pod. This module is the one place that decides whether
//! pods roll: the live workload restarts exactly when the template revision moves.

pub(crate) mod admission;
pub(crate) mod names;
pub(crate) mod template;

use crate::debuglog;
use crate::model::{Model, ModelDir, ModelError, StatusValue};
use template::PodTemplate;

/// What applying the stored spec did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    NoSpec,
    Failed(String),
    /// Same template: at most the ConfigMaps' contents changed.
    InPlace,
    Created,
    Rolled {
        parts: Vec<String>,
        pods: usize,
    },
}

const MODULE: &str = "juju.worker.caasunitprovisioner";

/// Applies the application's stored spec as the controller does after a hook commits it
/// (`EnsureService`). A refused object leaves the application in error (its operator
/// status, which `status` shows as the application's) and the old template in force.
pub(crate) fn apply(dir: &ModelDir, model: &mut Model) -> Result<Applied, ModelError> {
    let namespace = model.name.clone();
    let app = model.app_mut()?;
    let Some(stored) = app.pod_spec.clone() else {
        return Ok(Applied::NoSpec);
    };
    let name = app.name.clone();
    let failed = |app: &mut crate::model::Application, message: String, detail: Option<String>| {
        app.operator_status = Some(StatusValue::new("error", &message));
        app.statefulset.error = detail.clone();
        let text = match detail {
            Some(d) => format!("{name}: {message} ({d})"),
            None => format!("{name}: {message}"),
        };
        (
            Applied::Failed(message),
            debuglog::controller_line("ERROR", MODULE, &text),
        )
    };
    let spec = match stored.parsed() {
        Ok(s) => s,
        Err(e) => {
            // pod-spec-set validated it; only a hand-edited model gets here.
            let (out, line) = failed(app, format!("cannot parse pod spec: {e}"), None);
            debuglog::append(dir, &[line])?;
            return Ok(out);
        }
    };
    let template = PodTemplate::build(&name, &spec, app.charm_modified_version);
    let check = admission::check(&admission::Apply {
        app: &name,
        namespace: &namespace,
        spec: &spec,
        template: &template,
        existing: app.statefulset.template.is_some(),
    });
    if let Err(e) = check {
        let detail = e.kubernetes().map(ToString::to_string);
        let (out, line) = failed(app, e.to_string(), detail);
        debuglog::append(dir, &[line])?;
        return Ok(out);
    }
    // Simplified: Juju sets the operator status only on failure; a later good apply
    // clearing it keeps a fixed spec from showing an old error.
    app.operator_status = None;
    let pods = app.units.len();
    let sts = &mut app.statefulset;
    sts.error = None;
    sts.applied = Some(stored);
    let template = match &sts.template {
        Some(old) => template.updated(old),
        None => template,
    };
    let outcome = match &sts.template {
        None => Applied::Created,
        Some(old) => {
            let parts: Vec<String> = template
                .changes_from(old)
                .into_iter()
                .map(|p| p.word().to_string())
                .collect();
            if parts.is_empty() {
                Applied::InPlace
            } else {
                Applied::Rolled { parts, pods }
            }
        }
    };
    let line = match &outcome {
        Applied::Created => {
            sts.revision += 1;
            format!(
                "statefulset {name}: created with pod template revision {} ({pods} pod(s))",
                sts.revision
            )
        }
        Applied::Rolled { parts, pods } => {
            sts.revision += 1;
            if *pods > 0 {
                sts.rolls += 1;
                sts.rolled_pods += u32::try_from(*pods).unwrap_or(u32::MAX);
            }
            sts.last_change = parts.clone();
            format!(
                "statefulset {name}: pod template changed ({}): rolling {pods} pod(s), revision {}",
                parts.join(", "),
                sts.revision
            )
        }
        _ => String::new(),
    };
    sts.template = Some(template);
    if !line.is_empty() {
        debuglog::append(
            dir,
            &[debuglog::controller_line(
                "INFO",
                "juju-sim.kubernetes",
                &line,
            )],
        )?;
    }
    Ok(outcome)
}
