//! Pebble's layer and plan format (internals/plan/plan.go), typed. Zero values follow Go's
//! `omitempty`: an empty string, list or map is "not set" and is neither written nor
//! expected back, so a layer compares equal to what Pebble reports for it.
//!
//! Unknown fields in a plan are ignored (newer Pebbles add sections such as
//! `log-targets`); the layers we write have only the fields below.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;

fn is_zero_u32(n: &Option<u32>) -> bool {
    matches!(n, None | Some(0))
}

/// One configuration layer, as `add_layer` sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Layer {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
}

/// The combined plan (`GET /v1/plan?format=yaml`): every layer merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Override {
    Merge,
    Replace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Startup {
    Enabled,
    Disabled,
}

/// What Pebble does when a service exits (`on-success`, `on-failure`, `on-check-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceAction {
    Restart,
    Shutdown,
    Ignore,
    FailureShutdown,
    SuccessShutdown,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Service {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<Override>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<ServiceAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<ServiceAction>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_check_failure: BTreeMap<String, ServiceAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_delay: Option<GoDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckLevel {
    Alive,
    Ready,
}

impl CheckLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckLevel::Alive => "alive",
            CheckLevel::Ready => "ready",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Check {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<Override>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<CheckLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Failures in a row before the check is down; Pebble's default (and what the plan
    /// shows when unset) is 3.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HttpCheck {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TcpCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecCheck {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_context: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
}

/// Pebble's default check threshold (plan.go `defaultCheckThreshold`), which the combined
/// plan shows for a check whose layers leave it unset.
const DEFAULT_CHECK_THRESHOLD: u32 = 3;

/// Does `layer` say anything about the named services, or about its checks, that the
/// plan does not already hold? True means: add the layer and replan.
///
/// A service the layer *replaces* must be in the plan exactly as the layer has it; one it
/// *merges* must have every field the layer sets (list entries and map keys included),
/// since other layers may add to it. A named service the layer does not define is
/// ignored. Checks are compared the same way, each with Pebble's default threshold
/// filled in as the plan shows it.
pub fn layer_differs(plan: &Plan, layer: &Layer, services: &[&str]) -> bool {
    let service_differs = |name: &&str| match layer.services.get(*name) {
        None => false,
        Some(ours) => match plan.services.get(*name) {
            None => true,
            Some(theirs) => differs(ours.r#override, ours, theirs),
        },
    };
    let check_differs = |(name, ours): (&String, &Check)| match plan.checks.get(name) {
        None => true,
        Some(theirs) => {
            let mut ours = ours.clone();
            if is_zero_u32(&ours.threshold) {
                ours.threshold = Some(DEFAULT_CHECK_THRESHOLD);
            }
            differs(ours.r#override, &ours, theirs)
        }
    };
    services.iter().any(service_differs) || layer.checks.iter().any(check_differs)
}

/// Compares through JSON values, where "every field the layer sets" is a plain walk.
fn differs<T: Serialize + PartialEq>(how: Option<Override>, ours: &T, theirs: &T) -> bool {
    match how {
        Some(Override::Merge) => match (serde_json::to_value(ours), serde_json::to_value(theirs)) {
            (Ok(mut ours), Ok(theirs)) => {
                // The plan keeps the override of the layer that first defined the entry.
                if let Some(fields) = ours.as_object_mut() {
                    fields.remove("override");
                }
                !contained(&ours, &theirs)
            }
            // Our own types always serialize; if they did not, replanning is the safe side.
            _ => true,
        },
        _ => ours != theirs,
    }
}

/// Is every key of `ours` in `theirs` with a value that contains it, every list entry of
/// `ours` in `theirs`, every scalar equal?
fn contained(ours: &serde_json::Value, theirs: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Object(ours), Value::Object(theirs)) => ours
            .iter()
            .all(|(k, v)| theirs.get(k).is_some_and(|t| contained(v, t))),
        (Value::Array(ours), Value::Array(theirs)) => ours.iter().all(|v| theirs.contains(v)),
        _ => ours == theirs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prometheus_layer() -> Layer {
        let mut layer = Layer {
            summary: "prometheus layer".into(),
            ..Layer::default()
        };
        layer.services.insert(
            "prometheus".into(),
            Service {
                r#override: Some(Override::Replace),
                summary: "prometheus daemon".into(),
                command: "/bin/prometheus --config.file=/etc/prometheus/prometheus.yml".into(),
                startup: Some(Startup::Enabled),
                environment: [("GOMAXPROCS".to_string(), "2".to_string())].into(),
                on_failure: Some(ServiceAction::Restart),
                backoff_limit: Some(GoDuration::from_secs(60)),
                ..Service::default()
            },
        );
        layer.checks.insert(
            "ready".into(),
            Check {
                r#override: Some(Override::Replace),
                level: Some(CheckLevel::Ready),
                period: Some(GoDuration::from_secs(10)),
                http: Some(HttpCheck {
                    url: "http://localhost:9090/-/ready".into(),
                    ..HttpCheck::default()
                }),
                ..Check::default()
            },
        );
        layer
    }

    // The plan Pebble reports for that layer, as `yaml.Marshal(plan)` writes it
    // (api_plan.go): Go's field order, durations by Duration.String ("1m0s"), the check's
    // unset threshold filled in as 3 by CombineLayers, unset fields omitted.
    const PLAN: &str = "services:
    prometheus:
        summary: prometheus daemon
        startup: enabled
        override: replace
        command: /bin/prometheus --config.file=/etc/prometheus/prometheus.yml
        environment:
            GOMAXPROCS: \"2\"
        on-failure: restart
        backoff-limit: 1m0s
checks:
    ready:
        override: replace
        level: ready
        period: 10s
        threshold: 3
        http:
            url: http://localhost:9090/-/ready
log-targets:
    loki:
        type: loki
        location: http://loki:3100/loki/api/v1/push
        services:
            - all
";

    fn plan() -> Plan {
        serde_saphyr::from_str(PLAN).unwrap()
    }

    #[test]
    fn a_layer_pebble_holds_does_not_differ() {
        assert!(!layer_differs(
            &plan(),
            &prometheus_layer(),
            &["prometheus"]
        ));
    }

    #[test]
    fn any_change_of_a_replaced_service_or_check_differs() {
        let mut layer = prometheus_layer();
        layer.services.get_mut("prometheus").unwrap().command += " --web.enable-lifecycle";
        assert!(layer_differs(&plan(), &layer, &["prometheus"]));

        let mut layer = prometheus_layer();
        layer
            .services
            .get_mut("prometheus")
            .unwrap()
            .environment
            .clear();
        assert!(layer_differs(&plan(), &layer, &["prometheus"]));

        let mut layer = prometheus_layer();
        layer.checks.get_mut("ready").unwrap().threshold = Some(5);
        assert!(layer_differs(&plan(), &layer, &[]));

        let mut layer = prometheus_layer();
        layer.services.get_mut("prometheus").unwrap().backoff_limit =
            Some(GoDuration::from_secs(61));
        assert!(layer_differs(&plan(), &layer, &["prometheus"]));

        assert!(layer_differs(
            &Plan::default(),
            &prometheus_layer(),
            &["prometheus"]
        ));
    }

    #[test]
    fn services_not_asked_about_are_not_compared() {
        let mut layer = prometheus_layer();
        layer.services.get_mut("prometheus").unwrap().command = "other".into();
        assert!(!layer_differs(&plan(), &Layer::default(), &["prometheus"]));
        assert!(!layer_differs(&plan(), &layer, &["not-ours"]));
    }

    #[test]
    fn a_merged_service_needs_only_its_own_fields_in_the_plan() {
        let mut layer = Layer::default();
        layer.services.insert(
            "prometheus".into(),
            Service {
                r#override: Some(Override::Merge),
                environment: [("GOMAXPROCS".to_string(), "2".to_string())].into(),
                ..Service::default()
            },
        );
        let plan = plan();
        assert!(!layer_differs(&plan, &layer, &["prometheus"]));
        layer
            .services
            .get_mut("prometheus")
            .unwrap()
            .environment
            .insert("OTHER".into(), "1".into());
        assert!(layer_differs(&plan, &layer, &["prometheus"]));
    }

    // internals/plan/plan_test.go TestSectionOrder: the exact `yaml.Marshal(plan)` of a
    // combined layer (after `reindent`, which turns tabs into four spaces).
    const GO_PLAN: &str = "services:
    srv1:
        override: replace
        command: cmd
checks:
    chk1:
        override: replace
        threshold: 3
        exec:
            command: ping 8.8.8.8
log-targets:
    lt1:
        type: loki
        location: http://192.168.1.2:3100/loki/api/v1/push
        services: []
        override: replace
";

    #[test]
    fn reads_pebbles_marshalled_plan_and_knows_its_own_layer_in_it() {
        let plan: Plan = serde_saphyr::from_str(GO_PLAN).unwrap();
        assert_eq!(plan.services["srv1"].command, "cmd");
        assert_eq!(plan.checks["chk1"].threshold, Some(3));
        // The layer TestSectionOrder parsed (its log target aside).
        let layer: Layer = serde_saphyr::from_str(
            "checks:
    chk1:
        override: replace
        exec:
            command: ping 8.8.8.8
services:
    srv1:
        override: replace
        command: cmd
",
        )
        .unwrap();
        assert!(!layer_differs(&plan, &layer, &["srv1"]));
    }

    #[test]
    fn reads_pebbles_test_layers() {
        // plan_test.go planTests "Relatively simple layer with override on top", first
        // input, reindented.
        let layer: Layer = serde_saphyr::from_str(
            "summary: Simple layer
description: A simple layer.
services:
    srv1:
        override: replace
        summary: Service summary
        command: cmd arg1 \"arg2 arg3\"
        kill-delay: 10s
        startup: enabled
        after:
            - srv2
        before:
            - srv3
        requires:
            - srv2
            - srv3
        environment:
            var1: val1
            var0: val0
            var2: val2
        backoff-delay: 1s
        backoff-factor: 1.5
        backoff-limit: 10s
        working-dir: /workdir/srv1
",
        )
        .unwrap();
        let srv1 = &layer.services["srv1"];
        assert_eq!(srv1.command, "cmd arg1 \"arg2 arg3\"");
        assert_eq!(srv1.kill_delay, Some(GoDuration::from_secs(10)));
        assert_eq!(srv1.backoff_factor, Some(1.5));
        assert_eq!(srv1.requires, ["srv2", "srv3"]);
        assert_eq!(srv1.environment.len(), 3);
        assert_eq!(srv1.working_dir, "/workdir/srv1");

        // planTests "Checks fields parse correctly and defaults are correct".
        let layer: Layer = serde_saphyr::from_str(
            "checks:
    chk-http:
        override: replace
        level: alive
        period: 20s
        timeout: 500ms
        threshold: 7
        http:
            url: https://example.com/foo
            headers:
                Foo: bar
                Authorization: Basic password

    chk-tcp:
        override: merge
        level: ready
        startup: enabled
        tcp:
            port: 7777
            host: somehost

    chk-exec:
        override: replace
        startup: disabled
        exec:
            command: sleep 1
            environment:
                FOO: bar
                BAZ: buzz
            working-dir: /root
",
        )
        .unwrap();
        let http = &layer.checks["chk-http"];
        assert_eq!(http.level, Some(CheckLevel::Alive));
        assert_eq!(http.period, Some(GoDuration::from_secs(20)));
        assert_eq!(http.timeout, Some(GoDuration::from_millis(500)));
        assert_eq!(http.threshold, Some(7));
        assert_eq!(
            http.http.as_ref().unwrap().headers["Authorization"],
            "Basic password"
        );
        let tcp = layer.checks["chk-tcp"].tcp.as_ref().unwrap();
        assert_eq!((tcp.port, tcp.host.as_str()), (Some(7777), "somehost"));
        let exec = &layer.checks["chk-exec"];
        assert_eq!(exec.startup, Some(Startup::Disabled));
        assert_eq!(exec.exec.as_ref().unwrap().working_dir, "/root");
    }

    #[test]
    fn layers_are_written_without_unset_fields_and_read_back() {
        let text = serde_saphyr::to_string(&prometheus_layer()).unwrap();
        assert!(!text.contains("description"), "{text}");
        assert!(!text.contains("threshold"), "{text}");
        assert!(text.contains("backoff-limit: 1m0s"), "{text}");
        let back: Layer = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, prometheus_layer());
    }
}
