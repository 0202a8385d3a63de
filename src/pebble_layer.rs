//! The sidecar charm's Pebble layer: the `prometheus` service and its readiness check, typed
//! after Pebble's layer format (`internals/plan/plan.go`). It is the sidecar's counterpart of
//! the pod spec's container: the same command line (`pod_spec::args`), the same probe, the
//! same files at the same paths; only the way it reaches the workload differs.
//!
//! Pebble splits `command` as a shell would (`shlex.Split`), so every argument is quoted
//! here and an option's text (a page title with spaces or quotes) reaches Prometheus as
//! one argument, exactly.

use std::collections::BTreeMap;

use pebble::{CheckLevel, GoDuration, HttpCheck, Layer, Override, Plan, Service, Startup};

use crate::config::CharmConfig;
use crate::pod_spec::{self, CONTAINER};
use crate::prometheus::render::POD_NAME_ENV;

/// The label of the layer the charm adds (and replaces: `combine`).
pub const LABEL: &str = "prometheus";
/// The service's name in the plan.
pub const SERVICE: &str = "prometheus";
/// The readiness check's name.
pub const READY_CHECK: &str = "prometheus-ready";
/// Prometheus in the `ubuntu/prometheus` image (`/bin` is `/usr/bin` on Ubuntu).
pub const PROMETHEUS_BINARY: &str = "/bin/prometheus";
/// promtool beside it, for `validate-configuration` (Pebble exec).
pub const PROMTOOL_BINARY: &str = "/bin/promtool";

/// The layer for this unit: `pod_name` (`<app>-<n>`) is what Kubernetes' downward API gives
/// the pod-spec container as `POD_NAME`, which the replica label expands.
pub fn build(config: &CharmConfig, remote_write_receiver: bool, pod_name: &str) -> Layer {
    let command = std::iter::once(PROMETHEUS_BINARY.to_string())
        .chain(pod_spec::args(config, remote_write_receiver))
        .map(|word| shell_quoted(&word))
        .collect::<Vec<_>>()
        .join(" ");
    let service = Service {
        r#override: Some(Override::Replace),
        summary: "Prometheus".to_string(),
        command,
        startup: Some(Startup::Enabled),
        environment: BTreeMap::from([(POD_NAME_ENV.to_string(), pod_name.to_string())]),
        ..Service::default()
    };
    // The pod spec's readiness probe, as a Pebble check (the route prefix is always `/`).
    let check = pebble::Check {
        r#override: Some(Override::Replace),
        level: Some(CheckLevel::Ready),
        period: Some(GoDuration::from_secs(10)),
        threshold: Some(3),
        http: Some(HttpCheck {
            url: format!("http://localhost:{}/-/ready", config.port),
            ..HttpCheck::default()
        }),
        ..pebble::Check::default()
    };
    Layer {
        summary: format!("Prometheus in the {CONTAINER} container"),
        description: "Written by the prometheus-k8s charm; its options shape the command."
            .to_string(),
        services: BTreeMap::from([(SERVICE.to_string(), service)]),
        checks: BTreeMap::from([(READY_CHECK.to_string(), check)]),
    }
}

/// Whether Pebble's plan lacks our service or check as `layer` defines them (then the layer
/// is added and the services replanned; otherwise Prometheus keeps running).
pub fn differs(plan: &Plan, layer: &Layer) -> bool {
    pebble::layer_differs(plan, layer, &[SERVICE])
}

/// A word as a POSIX shell (and Go's shlex, which Pebble uses) reads it back unchanged.
pub fn shell_quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A command line split into words as a POSIX shell (and Go's shlex, which Pebble uses)
/// splits it — how Pebble reads [`shell_quoted`]'s words back (the tests hold the two to
/// each other): single quotes keep everything, double quotes all but `\`-escapes, a
/// backslash outside quotes escapes the next character.
pub fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        q => w.push(q),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_config as config;

    #[test]
    fn the_command_is_the_pod_specs_args_word_for_word() {
        let mut options = config(&[]);
        options.web_page_title = "it's \"ours\" $(POD_NAME) \n twice".to_string();
        let layer = build(&options, true, "prometheus-0");
        let service = &layer.services[SERVICE];
        let mut expected = vec![PROMETHEUS_BINARY.to_string()];
        expected.extend(pod_spec::args(&options, true));
        assert_eq!(shell_words(&service.command), expected);
        assert_eq!(service.environment[POD_NAME_ENV], "prometheus-0");
    }

    #[test]
    fn a_plan_with_our_service_holds_the_layer_and_a_changed_one_does_not() {
        let layer = build(&config(&[]), false, "prometheus-0");
        let text = crate::yaml::to_string(&layer).unwrap();
        let mut plan: Plan = crate::yaml::from_str(&text).unwrap();
        assert!(!differs(&plan, &layer));
        plan.services
            .get_mut(SERVICE)
            .unwrap()
            .command
            .push_str(" --x");
        assert!(differs(&plan, &layer));
        assert!(differs(&Plan::default(), &layer));
    }

    #[test]
    fn a_plan_with_more_fields_than_ours_still_reads() {
        let plan: Plan = crate::yaml::from_str(
            "services:\n  prometheus:\n    override: replace\n    command: /bin/prometheus\n    \
             startup: enabled\n    user: nobody\n    backoff-delay: 1s\n",
        )
        .unwrap();
        assert_eq!(plan.services[SERVICE].command, "/bin/prometheus");
    }

    #[test]
    fn quoting_leaves_plain_words_alone() {
        assert_eq!(
            shell_quoted("--web.listen-address=0.0.0.0:9090"),
            "--web.listen-address=0.0.0.0:9090"
        );
        assert_eq!(shell_quoted(""), "''");
        assert_eq!(shell_quoted("a b"), "'a b'");
        assert_eq!(shell_words(&shell_quoted("it's")), vec!["it's"]);
    }
}
