//! What the unit (and, on the leader, the application) shows in `juju status`. Pure.

use juju::{Status, StatusKind};

use crate::config::ConfigError;
use crate::image::ImageError;
use crate::relations::RelationWarning;
use crate::workload::{KubernetesAccess, WorkloadState};

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct StatusInput<'a> {
    pub leader: bool,
    pub config_errors: &'a [ConfigError],
    pub image_error: Option<&'a ImageError>,
    pub relation_warnings: &'a [RelationWarning],
    /// Relation contributions left out while rendering (clashing names).
    pub render_warnings: &'a [String],
    /// Why the rendered files cannot be applied as they are (too large for a ConfigMap).
    pub unappliable: Option<&'a str>,
}

/// The statuses to set: the application's only on the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statuses {
    pub unit: Status,
    pub application: Option<Status>,
}

/// Sources named in a status message before the rest are only counted.
const SOURCES_SHOWN: usize = 3;

/// Blocked while the operator must act (bad option values, no usable image), each reason
/// spelled out; otherwise active, mentioning relation data that was left out.
pub fn decide(input: StatusInput<'_>) -> Statuses {
    let mut blockers: Vec<String> = Vec::new();
    if !input.config_errors.is_empty() {
        let all: Vec<String> = input
            .config_errors
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        blockers.push(format!("invalid config: {}", all.join("; ")));
    }
    if let Some(image) = input.image_error {
        blockers.push(image.to_string());
    }
    if let Some(why) = input.unappliable {
        blockers.push(why.to_string());
    }

    let unit = if blockers.is_empty() {
        Status::active(active_message(input))
    } else {
        Status::blocked(blockers.join("; "))
    };
    Statuses {
        application: input.leader.then(|| unit.clone()),
        unit,
    }
}

/// Adds what the unit's own Prometheus says. Blocked stays as it is: the operator acts first.
/// A configuration Prometheus refuses blocks too (it will not load by retrying), unless this
/// very hook set a new spec, whose files reach the pod only after the hook; anything else
/// short of serving the rendered configuration makes an active unit wait, keeping its notes,
/// until a later hook (update-status at the latest) finds it done.
pub fn with_workload(statuses: Statuses, workload: &WorkloadState, spec_set: bool) -> Statuses {
    if statuses.unit.kind == StatusKind::Blocked {
        return statuses;
    }
    // Waiting keeps the notes an active unit had.
    let waiting = |reason: String| match statuses.unit.message.as_str() {
        "" => Status::waiting(reason),
        notes => Status::waiting(format!("{reason}; {notes}")),
    };
    let unit = match workload {
        WorkloadState::Current { .. } => return statuses,
        WorkloadState::Refused { target, message } if !spec_set => Status::blocked(format!(
            "Prometheus at {target} refused the configuration: {message}"
        )),
        WorkloadState::Refused { target, message } => waiting(format!(
            "waiting for Prometheus at {target} to load the new configuration \
             (it refused the one it has: {message})"
        )),
        WorkloadState::NoAddress => waiting("waiting for the pod's address".to_string()),
        WorkloadState::NoPebble { container, reason } => waiting(format!(
            "waiting for Pebble in the {container} container: {reason}"
        )),
        WorkloadState::NotReady { target } => waiting(format!(
            "waiting for Prometheus at {target} to become ready"
        )),
        WorkloadState::Behind { target, difference } => waiting(format!(
            "waiting for Prometheus at {target} to load the new configuration ({difference})"
        )),
        WorkloadState::Unreachable { target, reason }
        | WorkloadState::Unreadable { target, reason } => {
            waiting(format!("waiting for Prometheus at {target}: {reason}"))
        }
    };
    Statuses {
        application: statuses.application.map(|_| unit.clone()),
        unit,
    }
}

/// Sidecar charm with `monitor-k8s`: a cluster that refuses Prometheus's discovery blocks
/// the unit until the operator trusts the application (`juju trust` gives its service
/// account cluster access; the pod-spec charm's spec asks for exactly that RBAC instead).
pub fn with_kubernetes_access(
    statuses: Statuses,
    access: &KubernetesAccess,
    app: &str,
) -> Statuses {
    let KubernetesAccess::Refused { status_code } = access else {
        return statuses;
    };
    if statuses.unit.kind == StatusKind::Blocked {
        return statuses;
    }
    let unit = Status::blocked(format!(
        "monitor-k8s: the Kubernetes API refuses Prometheus's discovery (HTTP {status_code}): \
         run `juju trust {app} --scope=cluster`"
    ));
    Statuses {
        application: statuses.application.map(|_| unit.clone()),
        unit,
    }
}

fn active_message(input: StatusInput<'_>) -> String {
    let mut notes = Vec::new();
    let mut sources: Vec<&str> = input
        .relation_warnings
        .iter()
        .map(|w| w.source.as_str())
        .collect();
    sources.sort_unstable();
    sources.dedup();
    if !sources.is_empty() {
        let mut named = sources
            .iter()
            .take(SOURCES_SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if sources.len() > SOURCES_SHOWN {
            named.push_str(&format!(" and {} more", sources.len() - SOURCES_SHOWN));
        }
        notes.push(format!("ignoring invalid relation data from {named}"));
    }
    if !input.render_warnings.is_empty() {
        notes.push(format!(
            "left out {} clashing relation contribution(s)",
            input.render_warnings.len()
        ));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!("{} (see juju debug-log)", notes.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::api::Target;
    use crate::prometheus::served::Difference;
    use juju::RelationId;

    fn input<'a>(leader: bool) -> StatusInput<'a> {
        StatusInput {
            leader,
            config_errors: &[],
            image_error: None,
            relation_warnings: &[],
            render_warnings: &[],
            unappliable: None,
        }
    }

    fn config_error(option: &'static str, value: &str, expected: &str) -> ConfigError {
        ConfigError {
            option,
            value: value.into(),
            expected: expected.into(),
        }
    }

    #[test]
    fn all_good_is_active_on_both() {
        let s = decide(input(true));
        assert_eq!(s.unit, Status::active(""));
        assert_eq!(s.application, Some(Status::active("")));
    }

    #[test]
    fn a_follower_sets_only_its_unit() {
        let s = decide(input(false));
        assert_eq!(s.unit, Status::active(""));
        assert_eq!(s.application, None);
    }

    #[test]
    fn invalid_config_blocks_naming_every_option() {
        let errors = [
            config_error("port", "0", "an integer from 1 to 65535"),
            config_error("log-level", "\"loud\"", "one of debug, info, warn, error"),
        ];
        let s = decide(StatusInput {
            config_errors: &errors,
            ..input(true)
        });
        assert_eq!(s.unit.kind, StatusKind::Blocked);
        assert_eq!(
            s.unit.message,
            "invalid config: port=0: expected an integer from 1 to 65535; \
             log-level=\"loud\": expected one of debug, info, warn, error"
        );
        assert_eq!(s.application, Some(s.unit.clone()));
        let follower = decide(StatusInput {
            config_errors: &errors,
            ..input(false)
        });
        assert_eq!(follower.unit, s.unit);
    }

    #[test]
    fn a_missing_image_blocks() {
        let missing = ImageError::Missing("attach one".into());
        let s = decide(StatusInput {
            image_error: Some(&missing),
            ..input(true)
        });
        assert_eq!(
            s.unit,
            Status::blocked("resource prometheus-image is missing: attach one")
        );
    }

    #[test]
    fn config_and_image_problems_are_both_shown() {
        let errors = [config_error("port", "0", "an integer from 1 to 65535")];
        let invalid = ImageError::Invalid("registrypath is empty".into());
        let s = decide(StatusInput {
            config_errors: &errors,
            image_error: Some(&invalid),
            ..input(true)
        });
        assert_eq!(
            s.unit.message,
            "invalid config: port=0: expected an integer from 1 to 65535; \
             resource prometheus-image is invalid: registrypath is empty"
        );
    }

    #[test]
    fn refused_relation_data_is_mentioned_but_stays_active() {
        let warning = |source: &str| RelationWarning {
            relation: Some(RelationId::new("metrics-endpoint", 3)),
            source: source.into(),
            message: "bad".into(),
        };
        let warnings = [
            warning("zinc/1"),
            warning("zinc/0"),
            warning("zinc/0"),
            warning("alertmanager"),
            warning("grafana/0"),
        ];
        let render = ["scrape job \"x\" left out".to_string()];
        let s = decide(StatusInput {
            relation_warnings: &warnings,
            render_warnings: &render,
            ..input(true)
        });
        assert_eq!(s.unit.kind, StatusKind::Active);
        assert_eq!(
            s.unit.message,
            "ignoring invalid relation data from alertmanager, grafana/0, zinc/0 and 1 more; \
             left out 1 clashing relation contribution(s) (see juju debug-log)"
        );
    }

    /// In a hook that set no new spec.
    fn with(statuses: Statuses, workload: &WorkloadState) -> Statuses {
        with_workload(statuses, workload, false)
    }

    fn target() -> Target {
        Target::new("127.0.0.1", 9090)
    }

    #[test]
    fn a_serving_prometheus_keeps_the_unit_active() {
        let s = with(
            decide(input(true)),
            &WorkloadState::Current { target: target() },
        );
        assert_eq!(s.unit, Status::active(""));
        assert_eq!(s.application, Some(Status::active("")));
    }

    #[test]
    fn an_unreachable_prometheus_makes_both_wait_with_the_reason() {
        let s = with(
            decide(input(true)),
            &WorkloadState::Unreachable {
                target: target(),
                reason: "Connection refused (os error 111)".into(),
            },
        );
        assert_eq!(
            s.unit,
            Status::waiting(
                "waiting for Prometheus at 127.0.0.1:9090: Connection refused (os error 111)"
            )
        );
        assert_eq!(s.application, Some(s.unit.clone()));
        let follower = with(decide(input(false)), &WorkloadState::NoAddress);
        assert_eq!(
            follower.unit,
            Status::waiting("waiting for the pod's address")
        );
        assert_eq!(follower.application, None);
    }

    #[test]
    fn waiting_keeps_the_notes_of_active() {
        let render = ["scrape job \"x\" left out".to_string()];
        let s = with(
            decide(StatusInput {
                render_warnings: &render,
                ..input(false)
            }),
            &WorkloadState::Behind {
                target: target(),
                difference: Difference {
                    path: "global.scrape_interval".into(),
                    rendered: "30s".into(),
                    served: "1m".into(),
                },
            },
        );
        assert_eq!(
            s.unit,
            Status::waiting(
                "waiting for Prometheus at 127.0.0.1:9090 to load the new configuration \
                 (global.scrape_interval: rendered 30s, served 1m); \
                 left out 1 clashing relation contribution(s) (see juju debug-log)"
            )
        );
        let s = with(
            decide(input(false)),
            &WorkloadState::NotReady { target: target() },
        );
        assert_eq!(
            s.unit,
            Status::waiting("waiting for Prometheus at 127.0.0.1:9090 to become ready")
        );
    }

    #[test]
    fn a_refused_configuration_blocks() {
        let s = with(
            decide(input(true)),
            &WorkloadState::Refused {
                target: target(),
                message: "failed to reload config: bad".into(),
            },
        );
        assert_eq!(
            s.unit,
            Status::blocked(
                "Prometheus at 127.0.0.1:9090 refused the configuration: \
                 failed to reload config: bad"
            )
        );
    }

    #[test]
    fn invalid_config_still_wins() {
        let errors = [config_error("port", "0", "an integer from 1 to 65535")];
        let blocked = decide(StatusInput {
            config_errors: &errors,
            ..input(true)
        });
        let s = with(blocked.clone(), &WorkloadState::NoAddress);
        assert_eq!(s, blocked);
    }

    #[test]
    fn a_refusal_in_the_hook_that_set_a_new_spec_waits_for_it() {
        let refused = WorkloadState::Refused {
            target: target(),
            message: "failed to reload config: bad".into(),
        };
        let s = with_workload(decide(input(true)), &refused, true);
        assert_eq!(
            s.unit,
            Status::waiting(
                "waiting for Prometheus at 127.0.0.1:9090 to load the new configuration \
                 (it refused the one it has: failed to reload config: bad)"
            )
        );
    }
}
