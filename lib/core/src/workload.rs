//! The unit's own Prometheus, as each hook finds it: is it ready, which version runs, does it
//! take the configuration (`POST /-/reload`) and serve what the charm rendered? The calls go
//! through [`PrometheusApi`], so tests use an in-memory Prometheus; what is found is plain
//! data that `status` turns into the unit's status.

use std::fmt;

use crate::prometheus::api::{ApiError, PrometheusApi, Readiness, Target};
use crate::prometheus::render::{Rendered, RULES_FILE, RULES_MARKER_PREFIX};
use crate::prometheus::served::{self, Difference};

#[cfg(any(test, feature = "test-support"))]
pub mod fake;

/// What stands between the unit and `active`, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadState {
    /// Juju has no address for the pod yet.
    NoAddress,
    /// Sidecar charm: the workload container's Pebble does not answer yet.
    NoPebble { container: String, reason: String },
    /// No usable answer: connection refused, timeout, an HTTP error.
    Unreachable { target: Target, reason: String },
    /// Up, but `/-/ready` says not yet (TSDB opening, WAL replay).
    NotReady { target: Target },
    /// The reload failed: the configuration on disk does not load.
    Refused { target: Target, message: String },
    /// Reloaded, but the files it read are older than the rendered ones (Kubernetes updates
    /// a mounted ConfigMap a while after the spec changes): a later hook reloads again.
    Behind {
        target: Target,
        difference: Difference,
    },
    /// The served configuration could not be read.
    Unreadable { target: Target, reason: String },
    /// Serving what was rendered.
    Current { target: Target },
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadReport {
    /// The running version, from build information.
    pub version: Option<String>,
    pub state: WorkloadState,
}

/// Ready? → version → served configuration and rules; only when they differ from the
/// rendered ones: reload → served again. Stops at the first thing missing.
pub fn check<A: PrometheusApi + ?Sized>(
    api: &A,
    target: Option<&Target>,
    rendered: &Rendered,
) -> WorkloadReport {
    let without_version = |state| WorkloadReport {
        version: None,
        state,
    };
    let Some(target) = target else {
        return without_version(WorkloadState::NoAddress);
    };
    match api.ready(target) {
        Ok(Readiness::Ready) => {}
        Ok(Readiness::NotReady(_)) => {
            return without_version(WorkloadState::NotReady {
                target: target.clone(),
            })
        }
        Err(e) => return without_version(unreachable(target, &e)),
    }
    match api.build_info(target) {
        Ok(info) => WorkloadReport {
            version: Some(info.version),
            state: configuration_state(api, target, rendered),
        },
        Err(e) => without_version(unreachable(target, &e)),
    }
}

/// Whether a ready server serves the rendered configuration, reloading it if not.
fn configuration_state<A: PrometheusApi + ?Sized>(
    api: &A,
    target: &Target,
    rendered: &Rendered,
) -> WorkloadState {
    // Compare first: serving what was rendered means nothing to do (a reload restarts
    // service discovery).
    match served_state(api, target, rendered) {
        WorkloadState::Behind { .. } | WorkloadState::Unreadable { .. } => {}
        settled => return settled,
    }
    match api.reload(target) {
        Ok(()) => served_state(api, target, rendered),
        Err(ApiError::ReloadRefused { message, .. }) => WorkloadState::Refused {
            target: target.clone(),
            message,
        },
        Err(e) => unreachable(target, &e),
    }
}

/// What the served configuration and rules say: current, behind, or unreadable.
fn served_state<A: PrometheusApi + ?Sized>(
    api: &A,
    target: &Target,
    rendered: &Rendered,
) -> WorkloadState {
    let text = match api.served_config(target) {
        Ok(text) => text,
        Err(e) => return unreachable(target, &e),
    };
    match served::difference(&rendered.config, &text) {
        Ok(None) => rules_state(api, target, &rendered.rules_marker),
        Ok(Some(difference)) => WorkloadState::Behind {
            target: target.clone(),
            difference,
        },
        Err(e) => WorkloadState::Unreadable {
            target: target.clone(),
            reason: e.to_string(),
        },
    }
}

/// The rule file keeps its name whatever it holds, so prometheus.yml cannot tell which rules
/// were loaded; the marker group, named after every other group's content, does.
fn rules_state<A: PrometheusApi + ?Sized>(api: &A, target: &Target, marker: &str) -> WorkloadState {
    let groups = match api.rule_groups(target) {
        Ok(groups) => groups,
        Err(e) => return unreachable(target, &e),
    };
    if groups.iter().any(|g| g == marker) {
        return WorkloadState::Current {
            target: target.clone(),
        };
    }
    let fingerprint = |name: &str| name.strip_prefix(RULES_MARKER_PREFIX).map(str::to_string);
    WorkloadState::Behind {
        target: target.clone(),
        difference: Difference {
            path: format!("{RULES_FILE} fingerprint"),
            rendered: fingerprint(marker).unwrap_or_default(),
            served: groups
                .iter()
                .find_map(|g| fingerprint(g))
                .unwrap_or_else(|| "none".to_string()),
        },
    }
}

fn unreachable(target: &Target, error: &ApiError) -> WorkloadState {
    WorkloadState::Unreachable {
        target: target.clone(),
        reason: error.reason(),
    }
}

/// Whether Kubernetes lets Prometheus's service discovery read the cluster, as far as the
/// API server's answers so far tell (`monitor-k8s` in the sidecar charm, whose access comes
/// from `juju trust`, which a charm cannot ask Juju about: `credential-get` is refused on
/// every Kubernetes model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubernetesAccess {
    /// No answer yet (or Prometheus could not say).
    Unknown,
    /// At least one request succeeded.
    Granted,
    /// Every answer so far is a refusal (401 or 403).
    Refused { status_code: String },
}

pub fn kubernetes_access<A: PrometheusApi + ?Sized>(api: &A, target: &Target) -> KubernetesAccess {
    let Ok(answers) = api.kubernetes_answers(target) else {
        return KubernetesAccess::Unknown;
    };
    let seen = |code: &&String| answers.get(*code).is_some_and(|n| *n > 0.0);
    if answers
        .keys()
        .filter(seen)
        .any(|code| code.starts_with('2'))
    {
        return KubernetesAccess::Granted;
    }
    match answers
        .keys()
        .filter(seen)
        .find(|c| *c == "401" || *c == "403")
    {
        Some(code) => KubernetesAccess::Refused {
            status_code: code.clone(),
        },
        None => KubernetesAccess::Unknown,
    }
}

impl fmt::Display for WorkloadState {
    /// For the log: what was found.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadState::NoAddress => f.write_str("no pod address yet"),
            WorkloadState::NoPebble { container, reason } => {
                write!(f, "Pebble in the {container} container: {reason}")
            }
            WorkloadState::Unreachable { target, reason } => {
                write!(f, "Prometheus at {target}: {reason}")
            }
            WorkloadState::NotReady { target } => write!(f, "Prometheus at {target} is not ready"),
            WorkloadState::Refused { target, message } => {
                write!(
                    f,
                    "Prometheus at {target} refused the configuration: {message}"
                )
            }
            WorkloadState::Behind { target, difference } => write!(
                f,
                "Prometheus at {target} serves an older configuration ({difference})"
            ),
            WorkloadState::Unreadable { target, reason } => {
                write!(f, "Prometheus at {target}: {reason}")
            }
            WorkloadState::Current { target } => {
                write!(
                    f,
                    "Prometheus at {target} serves the rendered configuration"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{FakePrometheus, FakeServer};
    use super::*;
    use crate::prometheus::config::{GlobalConfig, PrometheusConfig};

    const MARKER: &str = "juju_charm_rules_00000000000000aa";

    fn rendered(interval: &str) -> Rendered {
        Rendered {
            config: PrometheusConfig {
                global: GlobalConfig {
                    scrape_interval: Some(interval.into()),
                    ..GlobalConfig::default()
                },
                ..PrometheusConfig::default()
            },
            rules_marker: MARKER.to_string(),
            ..Rendered::default()
        }
    }

    fn yml(interval: &str) -> String {
        crate::yaml::to_string(&rendered(interval).config).unwrap()
    }

    fn marker() -> Vec<String> {
        vec!["other".to_string(), MARKER.to_string()]
    }

    fn target() -> Target {
        Target::new("10.1.36.80", 9090)
    }

    #[test]
    fn a_current_server_reports_its_version() {
        let disk = yml("1m");
        let api = FakePrometheus::new(|| Ok(disk.clone()))
            .with_rules(marker)
            .with(target(), FakeServer::up());
        let report = check(&api, Some(&target()), &rendered("60s"));
        assert_eq!(report.version.as_deref(), Some("2.42.0+ds"));
        assert_eq!(report.state, WorkloadState::Current { target: target() });
        assert_eq!(
            api.calls(),
            vec![
                "ready 10.1.36.80:9090",
                "build_info 10.1.36.80:9090",
                "served_config 10.1.36.80:9090",
                "reload 10.1.36.80:9090",
                "served_config 10.1.36.80:9090",
                "rule_groups 10.1.36.80:9090"
            ]
        );
    }

    #[test]
    fn a_server_already_serving_the_rendered_config_is_not_reloaded() {
        let disk = yml("1m");
        let api = FakePrometheus::new(|| Ok(disk.clone())).with(
            target(),
            FakeServer {
                loaded: Some(yml("1m")),
                rule_groups: marker(),
                ..FakeServer::up()
            },
        );
        let report = check(&api, Some(&target()), &rendered("1m"));
        assert_eq!(report.state, WorkloadState::Current { target: target() });
        assert!(!api.calls().iter().any(|c| c.starts_with("reload")));
    }

    #[test]
    fn changed_rules_alone_are_reloaded_and_told_apart() {
        let disk = yml("1m");
        let old_rules = || vec!["juju_charm_rules_00000000000000bb".to_string()];
        let served = FakeServer {
            loaded: Some(yml("1m")),
            rule_groups: old_rules(),
            ..FakeServer::up()
        };
        let behind = FakePrometheus::new(|| Ok(disk.clone()))
            .with_rules(old_rules)
            .with(target(), served.clone());
        let report = check(&behind, Some(&target()), &rendered("1m"));
        assert_eq!(
            report.state.to_string(),
            "Prometheus at 10.1.36.80:9090 serves an older configuration \
             (rules.yml fingerprint: rendered 00000000000000aa, served 00000000000000bb)"
        );
        assert!(behind.calls().iter().any(|c| c.starts_with("reload")));
        let synced = FakePrometheus::new(|| Ok(disk.clone()))
            .with_rules(marker)
            .with(target(), served);
        let report = check(&synced, Some(&target()), &rendered("1m"));
        assert_eq!(report.state, WorkloadState::Current { target: target() });
    }

    #[test]
    fn an_old_file_leaves_the_server_behind() {
        let disk = yml("1m");
        let api = FakePrometheus::new(|| Ok(disk.clone())).with(target(), FakeServer::up());
        let report = check(&api, Some(&target()), &rendered("30s"));
        assert_eq!(
            report.state.to_string(),
            "Prometheus at 10.1.36.80:9090 serves an older configuration \
             (global.scrape_interval: rendered 30s, served 1m)"
        );
        assert!(report.version.is_some());
    }

    #[test]
    fn nothing_listening_stops_at_the_first_call() {
        let api = FakePrometheus::new(|| Ok(String::new()));
        let report = check(&api, Some(&target()), &rendered("1m"));
        assert_eq!(
            report.state,
            WorkloadState::Unreachable {
                target: target(),
                reason: "Connection refused (os error 111)".into()
            }
        );
        assert_eq!(report.version, None);
        assert_eq!(api.calls(), vec!["ready 10.1.36.80:9090"]);
    }

    #[test]
    fn a_starting_server_is_not_ready() {
        let api = FakePrometheus::new(|| Ok(String::new())).with(
            target(),
            FakeServer {
                ready: false,
                ..FakeServer::up()
            },
        );
        let report = check(&api, Some(&target()), &rendered("1m"));
        assert_eq!(report.state, WorkloadState::NotReady { target: target() });
        assert_eq!(api.calls(), vec!["ready 10.1.36.80:9090"]);
    }

    #[test]
    fn a_refused_reload_says_why() {
        let api = FakePrometheus::new(|| Err("failed to reload config: bad".into()))
            .with(target(), FakeServer::up());
        let report = check(&api, Some(&target()), &rendered("1m"));
        assert_eq!(
            report.state,
            WorkloadState::Refused {
                target: target(),
                message: "failed to reload config: bad".into()
            }
        );
    }

    #[test]
    fn no_address_calls_nothing() {
        let api = FakePrometheus::new(|| Ok(String::new()));
        let report = check(&api, None, &rendered("1m"));
        assert_eq!(report.state, WorkloadState::NoAddress);
        assert!(api.calls().is_empty());
    }

    #[test]
    fn garbage_served_is_unreadable() {
        let api = FakePrometheus::new(|| Ok("global: [".into())).with(target(), FakeServer::up());
        let report = check(&api, Some(&target()), &rendered("1m"));
        assert!(
            matches!(report.state, WorkloadState::Unreadable { .. }),
            "{:?}",
            report.state
        );
    }
}
