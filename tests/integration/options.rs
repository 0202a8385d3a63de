//! Issue 3: every option's effect on the workload (flags, ports, the ready probe or check,
//! prometheus.yml, the pod's name for the replica label, RBAC or trust), byte-identical
//! output for identical options, and invalid values refused with `blocked`, a message
//! naming the option, the value and what is expected, and nothing applied. Every test runs
//! against both charms (`both_charms!`): what only the pod spec has (pod-spec-set counts,
//! envConfig, probes, RBAC, `$$` escaping) is asserted for it, and the sidecar's
//! counterpart (the Pebble plan and files, its environment, its ready check, trust) for the
//! sidecar charm.

use serde_json::{json, Value};

use crate::harness::{Flavour, Sim};

const UNIT: &str = "prometheus/0";

both_charms!(
    each_option_changes_exactly_its_flag_or_its_part_of_prometheus_yml,
    port_moves_the_container_port_probes_self_scrape_and_published_addresses,
    monitor_k8s_adds_discovery_jobs_and_exactly_their_rbac_and_false_removes_both,
    identical_options_give_a_byte_identical_spec_and_no_new_pod_spec_set,
    invalid_values_block_with_a_clear_message_and_keep_the_last_good_spec,
);

/// What the workload gets, in either charm.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// Prometheus's flags.
    args: Vec<String>,
    /// prometheus.yml, parsed.
    yml: Value,
    /// What restarts Prometheus when it changes.
    template: Value,
}

fn seen(sim: &Sim) -> Seen {
    Seen {
        args: sim.workload_args(),
        yml: sim.raw_prometheus_config(),
        template: sim.pod_template(),
    }
}

/// The stored pod spec, parsed (the pod-spec charm only).
fn spec(sim: &Sim) -> Value {
    assert_eq!(sim.flavour, Flavour::PodSpec);
    prometheus_charm::yaml::from_str(&sim.pod_spec()).unwrap()
}

fn container(spec: &Value) -> &Value {
    &spec["containers"][0]
}

fn job_names(config: &Value) -> Vec<String> {
    config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap().to_string())
        .collect()
}

fn config(sim: &Sim, pairs: &[&str]) {
    let mut all = vec!["config", "prometheus"];
    all.extend(pairs);
    sim.ok(&all);
}

/// Sets options that are valid: something new applied (exactly one new `pod-spec-set`, or a
/// new plan or files), not blocked, promtool happy. Returns what the workload now gets.
fn set(sim: &Sim, pairs: &[&str]) -> Seen {
    let before = sim.applied();
    config(sim, pairs);
    sim.assert_applied_anew(&before, &format!("{pairs:?}"));
    sim.assert_not_blocked(UNIT);
    sim.assert_promtool_accepts();
    seen(sim)
}

/// Asserts that going from `before` to `after` removed exactly `removed` flags and added
/// exactly `added` (option text, as [`Flavour::arg`] puts it in this charm's arguments),
/// the rest unchanged and in order.
fn assert_args_changed(
    flavour: Flavour,
    before: &Seen,
    after: &Seen,
    removed: &[&str],
    added: &[&str],
) {
    let (b, a) = (&before.args, &after.args);
    let gone: Vec<&str> = b
        .iter()
        .filter(|x| !a.contains(x))
        .map(String::as_str)
        .collect();
    let new: Vec<&str> = a
        .iter()
        .filter(|x| !b.contains(x))
        .map(String::as_str)
        .collect();
    let removed: Vec<String> = removed.iter().map(|r| flavour.arg(r)).collect();
    let added: Vec<String> = added.iter().map(|r| flavour.arg(r)).collect();
    assert_eq!(
        gone, removed,
        "flags removed\nbefore: {b:#?}\nafter: {a:#?}"
    );
    assert_eq!(new, added, "flags added\nbefore: {b:#?}\nafter: {a:#?}");
}

const DEFAULT_ARGS: [&str; 11] = [
    "--config.file=/etc/prometheus/prometheus.yml",
    "--storage.tsdb.path=/var/lib/prometheus",
    "--web.enable-lifecycle",
    "--web.listen-address=0.0.0.0:9090",
    "--log.level=info",
    "--storage.tsdb.retention.time=15d",
    "--no-storage.tsdb.wal-compression",
    "--web.page-title=Prometheus Time Series Collection and Processing Server",
    "--web.max-connections=512",
    "--alertmanager.notification-queue-capacity=10000",
    "--enable-feature=expand-external-labels",
];

fn each_option_changes_exactly_its_flag_or_its_part_of_prometheus_yml(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    // An Alertmanager, so that alertmanager-timeout has something to apply to.
    sim.relate(&["alertmanager", "prometheus"]);
    sim.assert_promtool_accepts();
    let mut s = seen(&sim);
    assert_eq!(s.args, DEFAULT_ARGS);
    let yml = s.yml.clone();
    assert_eq!(
        yml["global"],
        json!({
            "scrape_interval": "1m",
            "scrape_timeout": "10s",
            "evaluation_interval": "1m",
            "external_labels": {"replica": "${POD_NAME}"},
        })
    );
    assert_eq!(yml["alerting"]["alertmanagers"][0]["timeout"], "10s");
    assert_eq!(yml.get("remote_write"), None, "{yml}");

    // Command-line flags: each option moves its own flag and nothing else.
    let flag_cases: [(&[&str], &[&str], &[&str]); 12] = [
        (
            &["log-level=debug"],
            &["--log.level=info"],
            &["--log.level=debug"],
        ),
        (
            &["metrics-retention-time=8w"],
            &["--storage.tsdb.retention.time=15d"],
            &["--storage.tsdb.retention.time=8w"],
        ),
        (
            &["maximum-retention-size=50GB"],
            &[],
            &["--storage.tsdb.retention.size=50GB"],
        ),
        (
            &["maximum-retention-size="],
            &["--storage.tsdb.retention.size=50GB"],
            &[],
        ),
        (
            &["metrics-wal-compression=true"],
            &["--no-storage.tsdb.wal-compression"],
            &["--storage.tsdb.wal-compression"],
        ),
        (
            &["web-enable-admin-api=true"],
            &[],
            &["--web.enable-admin-api"],
        ),
        (
            &["web-enable-admin-api=false"],
            &["--web.enable-admin-api"],
            &[],
        ),
        (
            // Kubernetes would expand `$(POD_NAME)` in args: the pod spec has it as
            // `$$(POD_NAME)`, Pebble's command as it is (`Flavour::arg`).
            &["web-page-title=Fleet metrics: $(POD_NAME)"],
            &["--web.page-title=Prometheus Time Series Collection and Processing Server"],
            &["--web.page-title=Fleet metrics: $(POD_NAME)"],
        ),
        (
            &["web-max-connections=2048"],
            &["--web.max-connections=512"],
            &["--web.max-connections=2048"],
        ),
        (
            &["web-external-url=https://metrics.example.com/prometheus"],
            &[],
            &[
                "--web.external-url=https://metrics.example.com/prometheus",
                "--web.route-prefix=/",
            ],
        ),
        (
            &["alertmanager-notification-queue-capacity=500"],
            &["--alertmanager.notification-queue-capacity=10000"],
            &["--alertmanager.notification-queue-capacity=500"],
        ),
        (
            &["replica-label="],
            &["--enable-feature=expand-external-labels"],
            &[],
        ),
    ];
    for (pairs, removed, added) in flag_cases {
        let after = set(&sim, pairs);
        assert_args_changed(flavour, &s, &after, removed, added);
        // Flag options leave prometheus.yml alone; the replica label is in both.
        if pairs != ["replica-label="] {
            assert_eq!(after.yml, s.yml, "{pairs:?}");
        }
        s = after;
    }
    // An external URL with a path must not move the probes (or the ready check): routes
    // stay at /.
    assert_eq!(sim.ready_check(), (9090, "/-/ready".to_string()));
    match flavour {
        Flavour::PodSpec => {
            let spec = spec(&sim);
            let liveness = &container(&spec)["kubernetes"]["livenessProbe"];
            assert_eq!(liveness["httpGet"]["path"], "/-/healthy");
        }
        Flavour::Sidecar => {
            // Pebble restarts a service that exits: the ready check is the only check.
            let checks: Vec<String> = sim.plan(UNIT).checks.into_keys().collect();
            assert_eq!(checks, [prometheus_charm::pebble_layer::READY_CHECK]);
        }
    }
    // Without a replica label, no external label carries the pod's name.
    assert_eq!(s.yml["global"].get("external_labels"), None);

    // prometheus.yml options: the file changes, the pod template does not (no roll; the
    // charm reloads Prometheus instead).
    let file_cases: [(&[&str], &str, Value); 6] = [
        (
            &["scrape-interval=30s", "scrape-timeout=15s"],
            "/global",
            json!({"scrape_interval": "30s", "scrape_timeout": "15s", "evaluation_interval": "1m"}),
        ),
        (
            &["evaluation-interval=1h30m"],
            "/global/evaluation_interval",
            json!("1h30m"),
        ),
        (
            &[r#"external-labels={"cluster": "eu-1", "env": "prod", "cost": "$1"}"#],
            "/global/external_labels",
            json!({"cluster": "eu-1", "env": "prod", "cost": "$1"}),
        ),
        (
            &["alertmanager-timeout=45s"],
            "/alerting/alertmanagers/0/timeout",
            json!("45s"),
        ),
        (
            &["remote-write-urls=http://mimir-nginx.mimir.svc:80/api/v1/push, https://thanos.example.com/api/v1/receive,http://mimir-nginx.mimir.svc:80/api/v1/push"],
            "/remote_write",
            json!([
                {"url": "http://mimir-nginx.mimir.svc:80/api/v1/push"},
                {"url": "https://thanos.example.com/api/v1/receive"},
            ]),
        ),
        (&["remote-write-urls="], "/remote_write", Value::Null),
    ];
    for (pairs, pointer, expected) in file_cases {
        let after = set(&sim, pairs);
        assert_eq!(after.template, s.template, "{pairs:?} moved the pod");
        let yml = after.yml.clone();
        assert_eq!(
            yml.pointer(pointer).cloned().unwrap_or(Value::Null),
            expected,
            "{pairs:?}\n{yml:#}"
        );
        s = after;
    }

    // The replica label: its own external label, set per pod from the pod's name through
    // envConfig or the service's environment (and an operator's literal `$` escaped once
    // expansion is on).
    let after = set(&sim, &["replica-label=prom_replica"]);
    assert_args_changed(
        flavour,
        &s,
        &after,
        &[],
        &["--enable-feature=expand-external-labels"],
    );
    assert_eq!(
        after.yml["global"]["external_labels"],
        json!({"cluster": "eu-1", "env": "prod", "cost": "$$1", "prom_replica": "${POD_NAME}"})
    );
    assert_pod_name(&sim);
}

/// Each unit's Prometheus gets its pod's name as `POD_NAME`: from the downward API
/// (`envConfig`) in the pod spec, written into each unit's layer by the sidecar charm.
fn assert_pod_name(sim: &Sim) {
    match sim.flavour {
        Flavour::PodSpec => assert_eq!(
            container(&spec(sim))["envConfig"],
            json!({"POD_NAME": {"field": {"path": "metadata.name", "api-version": "v1"}}})
        ),
        Flavour::Sidecar => {
            for unit in sim.units() {
                let plan = sim.plan(&unit);
                let service = &plan.services[prometheus_charm::pebble_layer::SERVICE];
                let pod = unit.replace('/', "-");
                assert_eq!(
                    service.environment,
                    std::collections::BTreeMap::from([("POD_NAME".to_string(), pod)]),
                    "{unit}"
                );
            }
        }
    }
}

fn port_moves_the_container_port_probes_self_scrape_and_published_addresses(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let grafana = sim.relate(&["grafana", "prometheus", "--profile", "grafana-legacy"]);
    let agent = sim.relate(&["agent", "prometheus", "--profile", "remote-write-sender"]);
    let scraper = sim.relate(&["scraper", "prometheus", "--profile", "prometheus-scraper"]);
    let before = seen(&sim);

    let after = set(&sim, &["port=9095"]);
    assert_args_changed(
        flavour,
        &before,
        &after,
        &["--web.listen-address=0.0.0.0:9090"],
        &["--web.listen-address=0.0.0.0:9095"],
    );
    assert_eq!(sim.ready_check(), (9095, "/-/ready".to_string()));
    if flavour == Flavour::PodSpec {
        // The container port and the liveness probe are the pod spec's alone; a sidecar
        // container's ports are the image's, and its only check is the ready one.
        let spec = spec(&sim);
        let c = container(&spec);
        assert_eq!(
            c["ports"],
            json!([{"name": "http", "containerPort": 9095, "protocol": "TCP"}])
        );
        assert_eq!(c["kubernetes"]["livenessProbe"]["httpGet"]["port"], 9095);
    }
    let yml = after.yml;
    assert_eq!(
        yml["scrape_configs"][0]["static_configs"][0]["targets"],
        json!(["localhost:9095"])
    );

    let fqdn = "prometheus-0.prometheus-endpoints.lma.svc.cluster.local";
    let ours = |id: u32| sim.relation_data(id)["local"]["units"][UNIT].clone();
    let g = ours(grafana);
    assert_eq!(g["port"], "9095");
    assert_eq!(g["grafana_source_host"], format!("{fqdn}:9095"));
    let rw: Value = serde_json::from_str(ours(agent)["remote_write"].as_str().unwrap()).unwrap();
    assert_eq!(
        rw,
        json!({"url": format!("http://{fqdn}:9095/api/v1/write")})
    );
    let jobs = &sim.relation_data(scraper)["local"]["application-data"]["scrape_jobs"];
    let jobs: Value = serde_json::from_str(jobs.as_str().unwrap()).unwrap();
    assert_eq!(jobs[0]["static_configs"][0]["targets"], json!(["*:9095"]));
}

fn monitor_k8s_adds_discovery_jobs_and_exactly_their_rbac_and_false_removes_both(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let plain = sim.applied();
    assert!(!plain.text.contains("serviceAccount"), "{}", plain.text);
    assert!(
        !plain.text.contains("kubernetes_sd_configs"),
        "{}",
        plain.text
    );

    let before = seen(&sim);
    let on = set(&sim, &["monitor-k8s=true"]);
    if flavour == Flavour::Sidecar {
        // No pod spec carries RBAC: the sidecar's access is `juju trust`, which the charm
        // cannot ask Juju about (credential-get is refused on Kubernetes models). It learns
        // it from how the Kubernetes API answers Prometheus's discovery, and blocks on
        // refusals; juju-sim has no Kubernetes API (and Debian's Prometheus no Kubernetes
        // discovery), so that path is the charm's unit tests' (charm.rs). Here: trusting
        // changes nothing that was applied.
        let applied = sim.applied();
        sim.trust();
        sim.assert_applied_nothing(&applied, "juju trust");
        sim.assert_not_blocked(UNIT);
    }
    // The Kubernetes jobs live in prometheus.yml; the flags stay as they were.
    assert_args_changed(flavour, &before, &on, &[], &[]);
    assert_eq!(on.template, before.template, "monitor-k8s moved the pod");
    let text = sim.applied().text;
    assert!(text.contains("kubernetes_sd_configs"), "{text}");
    let yml = on.yml.clone();
    assert_eq!(
        job_names(&yml),
        [
            "prometheus",
            "kubernetes-apiservers",
            "kubernetes-nodes",
            "kubernetes-cadvisor",
            "kubernetes-service-endpoints",
            "kubernetes-pods",
        ]
    );
    let jobs = yml["scrape_configs"].as_array().unwrap();
    let roles: Vec<&str> = jobs[1..]
        .iter()
        .map(|j| j["kubernetes_sd_configs"][0]["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["endpoints", "node", "node", "endpoints", "pod"]);
    // The annotated services and pods honour prometheus.io/scrape|scheme|path|port.
    for (job, kind) in [(&jobs[4], "service"), (&jobs[5], "pod")] {
        let sources: Vec<String> = job["relabel_configs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["source_labels"].as_array().cloned().unwrap_or_default())
            .map(|l| l.as_str().unwrap().to_string())
            .collect();
        for annotation in ["scrape", "scheme", "path", "port"] {
            let label = format!("__meta_kubernetes_{kind}_annotation_prometheus_io_{annotation}");
            assert!(sources.contains(&label), "{label} in {job}");
        }
        assert_eq!(job["relabel_configs"][0]["action"], "keep");
    }
    // The API server and the nodes (through its proxy) are reached with the pod's token.
    for job in &jobs[1..4] {
        assert_eq!(job["scheme"], "https", "{job}");
        assert_eq!(
            job["authorization"]["credentials_file"],
            "/var/run/secrets/kubernetes.io/serviceaccount/token"
        );
    }
    // Read-only, and only what those jobs need (the sidecar charm's access is the trust
    // the operator gave, checked above).
    if flavour == Flavour::Sidecar {
        set(&sim, &["monitor-k8s=false"]);
        assert_eq!(
            sim.applied().text,
            plain.text,
            "monitor-k8s=false removes them"
        );
        return;
    }
    assert!(text.contains("serviceAccount"), "{text}");
    assert_eq!(
        spec(&sim)["serviceAccount"],
        json!({
            "automountServiceAccountToken": true,
            "roles": [{
                "global": true,
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["nodes", "nodes/metrics", "nodes/proxy", "services", "endpoints", "pods"],
                        "verbs": ["get", "list", "watch"],
                    },
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "resources": ["ingresses"],
                        "verbs": ["get", "list", "watch"],
                    },
                    {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
                ],
            }],
        })
    );

    set(&sim, &["monitor-k8s=false"]);
    assert_eq!(
        sim.applied().text,
        plain.text,
        "monitor-k8s=false removes both"
    );
}

fn identical_options_give_a_byte_identical_spec_and_no_new_pod_spec_set(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 2);
    let first = sim.applied();
    for hook in [
        vec!["run-hook", "prometheus/0", "config-changed"],
        vec!["run-hook", "prometheus/0", "update-status"],
        vec!["run-hook", "prometheus/1", "config-changed"],
        vec!["update-status"],
        // The value it already has: Juju fires nothing, and nothing moves.
        vec!["config", "prometheus", "log-level=info"],
    ] {
        sim.ok(&hook);
        sim.assert_applied_nothing(&first, &format!("{hook:?}"));
    }
    sim.assert_not_blocked("prometheus/0");
    sim.assert_not_blocked("prometheus/1");
    if flavour == Flavour::Sidecar {
        // Trusting the application (a config-changed on every unit) changes nothing by
        // itself.
        sim.trust();
        sim.assert_applied_nothing(&first, "juju trust");
    }

    // A change and its undo: back to the very same bytes.
    let options = [
        "scrape-interval=30s",
        "log-level=warn",
        r#"external-labels={"env": "prod", "cluster": "eu-1"}"#,
        "monitor-k8s=true",
        "remote-write-urls=http://mimir:9009/api/v1/push",
    ];
    set(&sim, &options);
    let changed = sim.applied();
    sim.ok(&["run-hook", "prometheus/0", "config-changed"]);
    sim.ok(&["update-status"]);
    sim.assert_applied_nothing(&changed, "hooks after the change");
    let names: Vec<&str> = options
        .iter()
        .filter_map(|o| o.split_once('=').map(|(name, _)| name))
        .collect();
    sim.ok(&["config", "prometheus", "--reset", &names.join(",")]);
    let undone = sim.assert_applied_anew(&changed, "--reset");
    assert_eq!(
        undone.text, first.text,
        "the undo gives the first bytes back"
    );

    // Another model deployed with those options from the start renders the same bytes.
    let other = Sim::deployed_with(flavour, 2, &options);
    assert_eq!(other.applied().text, changed.text);
}

/// One refused value: `option=value` as `juju config` takes it, what the status message must
/// say about it, and a valid value that fixes it.
struct Invalid {
    bad: String,
    message: String,
    good: &'static str,
}

fn invalid(bad: impl Into<String>, message: impl Into<String>, good: &'static str) -> Invalid {
    Invalid {
        bad: bad.into(),
        message: message.into(),
        good,
    }
}

const INT_OPTIONS: [&str; 3] = [
    "port",
    "web-max-connections",
    "alertmanager-notification-queue-capacity",
];

const DURATION: &str = "expected a positive Prometheus duration such as 30s, 1m, 1h30m or 500ms (units y w d h m s ms, largest first, at most 292y24w3d23h47m16s854ms)";
const LABELS: &str =
    r#"expected a JSON object of label names to non-empty strings, such as {"cluster": "eu-1"}"#;
const SIZE: &str = "expected empty (no limit) or a positive whole number with a unit of B, KB, MB, GB, TB, PB or EB, such as 50GB";
const EXTERNAL_URL: &str = "expected empty (derived) or an absolute http:// or https:// URL such as https://prometheus.example.com/";

fn invalid_values_block_with_a_clear_message_and_keep_the_last_good_spec(flavour: Flavour) {
    let cases = [
        invalid(
            "port=0",
            "port=0: expected an integer from 1 to 65535",
            "port=9091",
        ),
        invalid(
            "port=65536",
            "port=65536: expected an integer from 1 to 65535",
            "port=9092",
        ),
        invalid(
            "port=-1",
            "port=-1: expected an integer from 1 to 65535",
            "port=9093",
        ),
        invalid(
            "log-level=loud",
            r#"log-level="loud": expected one of debug, info, warn, error"#,
            "log-level=debug",
        ),
        invalid(
            "log-level=INFO",
            r#"log-level="INFO": expected one of debug, info, warn, error"#,
            "log-level=warn",
        ),
        invalid(
            "scrape-interval=1",
            format!("{}{}", "scrape-interval=\"1\": ", DURATION),
            "scrape-interval=2m",
        ),
        invalid(
            "scrape-interval=1.5m",
            format!("{}{}", "scrape-interval=\"1.5m\": ", DURATION),
            "scrape-interval=3m",
        ),
        invalid(
            "scrape-interval=30s1m",
            format!("{}{}", "scrape-interval=\"30s1m\": ", DURATION),
            "scrape-interval=4m",
        ),
        invalid(
            "scrape-interval=0",
            format!("{}{}", "scrape-interval=\"0\": ", DURATION),
            "scrape-interval=5m",
        ),
        invalid(
            "scrape-timeout=6m",
            r#"scrape-timeout="6m": expected at most scrape-interval (5m)"#,
            "scrape-timeout=20s",
        ),
        invalid(
            "evaluation-interval=",
            format!("{}{}", "evaluation-interval=\"\": ", DURATION),
            "evaluation-interval=2m",
        ),
        invalid(
            "evaluation-interval=-1m",
            format!("{}{}", "evaluation-interval=\"-1m\": ", DURATION),
            "evaluation-interval=3m",
        ),
        invalid(
            "external-labels=cluster=eu-1",
            format!("{}{}", "external-labels=\"cluster=eu-1\": ", LABELS),
            r#"external-labels={"cluster": "eu-1"}"#,
        ),
        invalid(
            r#"external-labels=["eu-1"]"#,
            format!("{}{}", r#"external-labels="[\"eu-1\"]": "#, LABELS),
            r#"external-labels={"cluster": "eu-2"}"#,
        ),
        invalid(
            r#"external-labels={"1cluster": "x"}"#,
            r#"external-labels="{\"1cluster\": \"x\"}": expected a JSON object of label names to non-empty strings, such as {"cluster": "eu-1"}; "1cluster" is not a label name"#,
            r#"external-labels={"cluster": "eu-3"}"#,
        ),
        invalid(
            r#"external-labels={"my-cluster": "x"}"#,
            r#""my-cluster" is not a label name (a letter or _ then letters, digits or _, not starting with __)"#,
            r#"external-labels={"cluster": "eu-4"}"#,
        ),
        invalid(
            r#"external-labels={"__name__": "x"}"#,
            r#""__name__" is not a label name"#,
            r#"external-labels={"cluster": "eu-5"}"#,
        ),
        invalid(
            r#"external-labels={"cluster": 1}"#,
            r#"external-labels="{\"cluster\": 1}": expected a JSON object of label names to non-empty strings, such as {"cluster": "eu-1"}; the value of "cluster" is not a non-empty string"#,
            r#"external-labels={"cluster": "eu-6"}"#,
        ),
        invalid(
            r#"external-labels={"cluster": ""}"#,
            r#"the value of "cluster" is not a non-empty string"#,
            r#"external-labels={"cluster": "eu-7"}"#,
        ),
        invalid(
            r#"external-labels={"replica": "a"}"#,
            r#"external-labels="{\"replica\": \"a\"}": expected no label named "replica": replica-label sets it to each pod's name"#,
            r#"external-labels={"cluster": "eu-8"}"#,
        ),
        invalid(
            "replica-label=replica-id",
            r#"replica-label="replica-id": expected empty (disabled) or a label name: a letter or _ then letters, digits or _, not starting with __"#,
            "replica-label=replica_id",
        ),
        invalid(
            "replica-label=__replica__",
            r#"replica-label="__replica__": expected empty (disabled) or a label name"#,
            "replica-label=pod",
        ),
        invalid(
            "metrics-retention-time=15 days",
            format!("{}{}", "metrics-retention-time=\"15 days\": ", DURATION),
            "metrics-retention-time=30d",
        ),
        invalid(
            "metrics-retention-time=0",
            format!("{}{}", "metrics-retention-time=\"0\": ", DURATION),
            "metrics-retention-time=60d",
        ),
        invalid(
            "maximum-retention-size=50G",
            format!("{}{}", "maximum-retention-size=\"50G\": ", SIZE),
            "maximum-retention-size=50GB",
        ),
        invalid(
            "maximum-retention-size=0GB",
            format!("{}{}", "maximum-retention-size=\"0GB\": ", SIZE),
            "maximum-retention-size=60GB",
        ),
        invalid(
            "maximum-retention-size=1.5TB",
            format!("{}{}", "maximum-retention-size=\"1.5TB\": ", SIZE),
            "maximum-retention-size=1TB",
        ),
        invalid(
            "web-page-title=",
            r#"web-page-title="": expected a non-empty single line of text of at most 200 characters"#,
            "web-page-title=One",
        ),
        invalid(
            "web-page-title=two\nlines",
            r#"web-page-title="two\nlines": expected a non-empty single line of text of at most 200 characters"#,
            "web-page-title=Two",
        ),
        invalid(
            format!("web-page-title={}", "t".repeat(201)),
            r#"web-page-title="ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt…: expected a non-empty single line of text of at most 200 characters"#,
            "web-page-title=Three",
        ),
        invalid(
            "web-max-connections=0",
            "web-max-connections=0: expected an integer from 1 to 1000000",
            "web-max-connections=100",
        ),
        invalid(
            "web-max-connections=1000001",
            "web-max-connections=1000001: expected an integer from 1 to 1000000",
            "web-max-connections=200",
        ),
        invalid(
            "web-external-url=prometheus.example.com",
            format!(
                "{}{}",
                "web-external-url=\"prometheus.example.com\": ", EXTERNAL_URL,
            ),
            "web-external-url=https://prometheus.example.com/",
        ),
        invalid(
            "web-external-url=ftp://prometheus.example.com/",
            format!(
                "{}{}",
                "web-external-url=\"ftp://prometheus.example.com/\": ", EXTERNAL_URL,
            ),
            "web-external-url=http://prometheus.example.com:8080/",
        ),
        invalid(
            "web-external-url=http://prometheus example.com/",
            format!(
                "{}{}",
                "web-external-url=\"http://prometheus example.com/\": ", EXTERNAL_URL,
            ),
            "web-external-url=",
        ),
        invalid(
            "alertmanager-timeout=10",
            format!("{}{}", "alertmanager-timeout=\"10\": ", DURATION),
            "alertmanager-timeout=20s",
        ),
        invalid(
            "alertmanager-notification-queue-capacity=0",
            "alertmanager-notification-queue-capacity=0: expected an integer from 1 to 10000000",
            "alertmanager-notification-queue-capacity=100",
        ),
        invalid(
            "remote-write-urls=mimir:9009/api/v1/push",
            r#"remote-write-urls="mimir:9009/api/v1/push": expected comma-separated http:// or https:// URLs such as http://mimir:9009/api/v1/push; "mimir:9009/api/v1/push" is not one"#,
            "remote-write-urls=http://mimir:9009/api/v1/push",
        ),
        invalid(
            "remote-write-urls=http://a/ http://b/",
            r#"remote-write-urls="http://a/ http://b/": expected comma-separated http:// or https:// URLs such as http://mimir:9009/api/v1/push; "http://a/ http://b/" is not one"#,
            "remote-write-urls=http://a/,http://b/",
        ),
        invalid(
            "remote-write-urls=http://ok/,ftp://bad/",
            r#"remote-write-urls="http://ok/,ftp://bad/": expected comma-separated http:// or https:// URLs such as http://mimir:9009/api/v1/push; "ftp://bad/" is not one"#,
            "remote-write-urls=http://ok/",
        ),
    ];
    assert!(cases.len() >= 25, "{}", cases.len());

    // One unit keeps the 40 round trips quick; a follower joins at the end.
    let sim = Sim::deployed_as(flavour, 1);
    // So that every fix, alertmanager-timeout's too, shows in the spec.
    sim.relate(&["alertmanager", "prometheus"]);
    for Invalid { bad, message, good } in &cases {
        let (option, value) = bad.split_once('=').unwrap();
        let last_good = sim.applied();

        config(&sim, &[bad.as_str()]);
        let (status, text) = sim.unit_status(UNIT);
        assert_eq!(status, "blocked", "{bad:?}: {text}");
        assert!(
            text.starts_with("invalid config: ") && text.contains(message),
            "{bad:?}: {text:?} does not say {message:?}"
        );
        // Names the option and shows the value (JSON-quoted, long ones shortened).
        assert!(text.contains(&format!("{option}=")), "{text}");
        let shown: String = if INT_OPTIONS.contains(&option) {
            value.to_string()
        } else {
            serde_json::to_string(value)
                .unwrap()
                .chars()
                .take(40)
                .collect()
        };
        assert!(text.contains(&shown), "{text} shows {shown}");
        // The last good spec (or plan and files) stays.
        sim.assert_applied_nothing(&last_good, bad);

        config(&sim, &[good]);
        sim.assert_not_blocked(UNIT);
        sim.assert_applied_anew(&last_good, good);
        sim.assert_promtool_accepts();
    }

    // A follower refuses the same values with the same words, and comes back the same way.
    sim.ok(&["add-unit", "prometheus"]);
    let last_good = sim.applied();
    config(&sim, &["port=0", "log-level=loud"]);
    let both = "invalid config: port=0: expected an integer from 1 to 65535; \
                log-level=\"loud\": expected one of debug, info, warn, error";
    for unit in [UNIT, "prometheus/1"] {
        assert_eq!(
            sim.unit_status(unit),
            ("blocked".to_string(), both.to_string())
        );
    }
    sim.assert_applied_nothing(&last_good, "port=0 log-level=loud");
    config(&sim, &["port=9090", "log-level=info"]);
    sim.assert_not_blocked(UNIT);
    sim.assert_not_blocked("prometheus/1");
    sim.assert_applied_anew(&last_good, "port=9090 log-level=info");

    assert!(
        sim.debug_log()
            .contains("WARNING unit.prometheus/0.juju-log invalid config: port=0"),
        "the refusal is logged"
    );
}
