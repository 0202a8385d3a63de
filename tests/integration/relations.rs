//! Issue 4: every endpoint in every dialect, played by juju-sim's peer profiles: relate,
//! change (`set-relation-data`), depart (`remove-unit` of a remote unit) and break
//! (`remove-relation`), asserting the rendered prometheus.yml, the rule files and what we
//! publish; promtool checks every rendered config and rule file along the way. Every test
//! runs against both charms (`both_charms!`): the files are read from the pod spec's
//! volumes or pulled through Pebble, the flags from the spec's args or the Pebble command.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::harness::{Flavour, Sim};

both_charms!(
    metrics_endpoint_current_library_relate_change_depart_break,
    refused_scrape_metadata_reports_the_lost_rules_as_well_as_the_jobs,
    metrics_endpoint_legacy_scrape_host_relate_change_depart_break,
    nine_good_targets_are_scraped_and_a_malformed_app_is_reported_and_skipped,
    monitoring_one_job_per_relation_relate_change_depart_break,
    alertmanager_in_its_four_dialects_relate_change_depart_break,
    grafana_source_publishes_for_every_generation,
    self_metrics_endpoint_publishes_our_scrape_job_in_the_current_format,
    send_remote_write_entries_merged_with_the_option_relate_change_depart_break,
    receive_remote_write_enables_the_receiver_and_publishes_each_units_url,
    older_peers_relate_over_their_own_interface_names,
);

const UNIT: &str = "prometheus/0";
const MODEL: &str = "lma";

fn fqdn(app: &str, n: u32) -> String {
    format!("{app}-{n}.{app}-endpoints.{MODEL}.svc.cluster.local")
}

/// After every step: promtool accepts the config and each rule file, nobody is blocked.
fn checked(sim: &Sim) -> Value {
    sim.assert_promtool_accepts();
    sim.assert_not_blocked(UNIT);
    sim.prometheus_config()
}

fn jobs(config: &Value) -> Vec<Value> {
    config["scrape_configs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn job_names(config: &Value) -> Vec<String> {
    jobs(config)
        .iter()
        .map(|j| j["job_name"].as_str().unwrap().to_string())
        .collect()
}

fn job(config: &Value, name: &str) -> Value {
    jobs(config)
        .into_iter()
        .find(|j| j["job_name"] == name)
        .unwrap_or_else(|| panic!("no job {name} in {:?}", job_names(config)))
}

/// Every static target of the jobs whose name starts with `prefix`.
fn targets(config: &Value, prefix: &str) -> BTreeSet<String> {
    jobs(config)
        .iter()
        .filter(|j| j["job_name"].as_str().unwrap().starts_with(prefix))
        .flat_map(|j| j["static_configs"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

fn set_data(sim: &Sim, id: u32, who: &str, pairs: &[&str]) {
    let id = id.to_string();
    let mut all = vec!["set-relation-data", &id, who];
    all.extend(pairs);
    sim.ok(&all);
}

/// Sets values that may hold anything, through `--file`.
fn set_data_file(sim: &Sim, id: u32, who: &str, data: Value) {
    let file = sim
        .dir
        .path()
        .join(format!("data-{id}-{}.json", who.replace('/', "-")));
    std::fs::write(&file, data.to_string()).unwrap();
    let file = file.display().to_string();
    sim.ok(&["set-relation-data", &id.to_string(), who, "--file", &file]);
}

fn remote_unit(sim: &Sim, id: u32, unit: &str) -> Value {
    sim.relation_data(id)["remote"]["units"][unit].clone()
}

fn local_app(sim: &Sim, id: u32) -> Value {
    sim.relation_data(id)["local"]["application-data"].clone()
}

fn local_unit(sim: &Sim, id: u32, unit: &str) -> Value {
    sim.relation_data(id)["local"]["units"][unit].clone()
}

/// A JSON value published as text in a databag.
fn parsed(text: &Value) -> Value {
    serde_json::from_str(text.as_str().unwrap_or_else(|| panic!("not text: {text}"))).unwrap()
}

fn model_uuid(sim: &Sim, scrape_relation: u32) -> String {
    let metadata = parsed(
        &sim.relation_data(scrape_relation)["remote"]["application-data"]["scrape_metadata"],
    );
    metadata["model_uuid"].as_str().unwrap().to_string()
}

/// `relate <app> prometheus --profile <profile> --units <units>`: the relation id.
fn relate_units(sim: &Sim, app: &str, profile: &str, units: u32) -> u32 {
    let units = units.to_string();
    sim.relate(&[app, "prometheus", "--profile", profile, "--units", &units])
}

/// The model's UUID as scrape relation `id` tells it, and the prefix of the job names the
/// current library's consumer renders for `app`.
fn scrape_prefix(sim: &Sim, id: u32, app: &str) -> (String, String) {
    let uuid = model_uuid(sim, id);
    let prefix = format!("juju_{MODEL}_{}_{app}_prometheus_scrape_", &uuid[..8]);
    (uuid, prefix)
}

/// A text value in a remote unit's databag.
fn remote_text(sim: &Sim, id: u32, unit: &str, key: &str) -> String {
    remote_unit(sim, id, unit)[key]
        .as_str()
        .unwrap_or_else(|| panic!("{unit} has no text {key}"))
        .to_string()
}

/// The job the current library's consumer renders for one unit of a `*` target.
fn unit_job(uuid: &str, app: &str, job: &str, unit: u32, target: &str, path: &str) -> Value {
    json!({
        "job_name": format!("juju_{MODEL}_{}_{app}_prometheus_scrape_{job}-{unit}", &uuid[..8]),
        "metrics_path": path,
        "static_configs": [{
            "targets": [target],
            "labels": {
                "juju_application": app,
                "juju_charm": "zinc-k8s",
                "juju_model": MODEL,
                "juju_model_uuid": uuid,
                "juju_unit": format!("{app}/{unit}"),
            },
        }],
        "relabel_configs": [{
            "source_labels": ["juju_model", "juju_model_uuid", "juju_application", "juju_unit"],
            "separator": "_",
            "regex": "(.*)",
            "target_label": "instance",
        }],
    })
}

fn metrics_endpoint_current_library_relate_change_depart_break(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let id = relate_units(&sim, "zinc", "scrape-target", 2);
    let (uuid, prefix) = scrape_prefix(&sim, id, "zinc");
    let address = |n: u32| {
        remote_text(
            &sim,
            id,
            &format!("zinc/{n}"),
            "prometheus_scrape_unit_address",
        )
    };

    // Relate: one job per unit of the `*` target, labelled with the topology.
    let config = checked(&sim);
    assert_eq!(
        job_names(&config),
        [
            "prometheus".to_string(),
            format!("{prefix}zinc-0"),
            format!("{prefix}zinc-1")
        ]
    );
    for n in 0..2 {
        assert_eq!(
            job(&config, &format!("{prefix}zinc-{n}")),
            unit_job(
                &uuid,
                "zinc",
                "zinc",
                n,
                &format!("{}:4080", address(n)),
                "/metrics"
            )
        );
    }
    // The alert rules: one file, listed in rule_files, topology matchers in every expr.
    assert_eq!(config["rule_files"], json!(["rules.yml"]));
    let file_set = sim.file_set();
    let groups = sim.rule_groups();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let rule = &groups[0]["rules"][0];
    assert_eq!(rule["alert"], "ZincDown");
    let expr = rule["expr"].as_str().unwrap();
    for matcher in [
        r#"juju_application="zinc""#.to_string(),
        format!(r#"juju_model="{MODEL}""#),
        format!(r#"juju_model_uuid="{uuid}""#),
    ] {
        assert!(expr.contains(&matcher), "{expr} lacks {matcher}");
    }
    assert_eq!(rule["labels"]["juju_charm"], "zinc-k8s");
    assert_eq!(
        parsed(&local_app(&sim, id)["event"]),
        json!({"valid": true, "errors": "", "scrape_job_errors": null})
    );

    // Change the application's jobs: a new path and port; keys the library does not allow
    // (service discovery reading our files, honor_labels) never reach prometheus.yml; a
    // fixed target that is no unit's address stays one application-level job.
    set_data_file(
        &sim,
        id,
        "zinc",
        json!({"scrape_jobs": json!([{
            "job_name": "zinc",
            "metrics_path": "/stats",
            "honor_labels": true,
            "file_sd_configs": [{"files": ["/etc/passwd"]}],
            "static_configs": [{"targets": ["*:9000", "10.0.0.5:9100"]}],
        }]).to_string()}),
    );
    let config = checked(&sim);
    assert_eq!(
        job(&config, &format!("{prefix}zinc-1")),
        unit_job(
            &uuid,
            "zinc",
            "zinc",
            1,
            &format!("{}:9000", address(1)),
            "/stats"
        )
    );
    let app_job = job(&config, &format!("{prefix}zinc"));
    assert_eq!(
        app_job["static_configs"][0]["targets"],
        json!(["10.0.0.5:9100"])
    );
    assert_eq!(
        app_job["static_configs"][0]["labels"].get("juju_unit"),
        None
    );
    let text = sim.prometheus_yml();
    for injected in ["honor_labels", "/etc/passwd"] {
        assert!(!text.contains(injected), "{injected} leaked into\n{text}");
    }
    // The only files Prometheus reads targets from are the charm's own.
    let raw = sim.raw_prometheus_config();
    for job in raw["scrape_configs"].as_array().unwrap() {
        for sd in job["file_sd_configs"].as_array().into_iter().flatten() {
            for file in sd["files"].as_array().unwrap() {
                let file = file.as_str().unwrap();
                assert!(
                    file.starts_with("../prometheus-targets/t"),
                    "{file} in\n{text}"
                );
            }
        }
    }

    // Change a unit: its new address is scraped.
    set_data(
        &sim,
        id,
        "zinc/1",
        &["prometheus_scrape_unit_address=10.1.99.7"],
    );
    let config = checked(&sim);
    assert_eq!(
        targets(&config, &format!("{prefix}zinc-")),
        BTreeSet::from([format!("{}:9000", address(0)), "10.1.99.7:9000".to_string()])
    );

    // A unit behind an ingress path gets it in front of metrics_path; a job name trying to
    // smuggle YAML in stays one (sanitized) job name, and nothing else appears.
    set_data(&sim, id, "zinc/0", &["prometheus_scrape_unit_path=/zinc-0"]);
    set_data_file(
        &sim,
        id,
        "zinc",
        json!({"scrape_jobs": json!([{
            "job_name": "x\n- job_name: prometheus\n  static_configs: [{targets: ['evil:1']}]",
            "metrics_path": "/stats",
            "static_configs": [{"targets": ["*:9000"]}],
        }]).to_string()}),
    );
    let config = checked(&sim);
    let names = job_names(&config);
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "prometheus");
    for (name, path) in names[1..].iter().zip(["/zinc-0/stats", "/stats"]) {
        assert!(
            name.starts_with(&prefix) && !name.contains('\n'),
            "{name:?}"
        );
        assert_eq!(job(&config, name)["metrics_path"], path, "{name}");
    }
    assert!(!targets(&config, "").contains("evil:1"));
    set_data_file(
        &sim,
        id,
        "zinc",
        json!({"scrape_jobs": json!([{
            "job_name": "zinc",
            "metrics_path": "/stats",
            "static_configs": [{"targets": ["*:9000", "10.0.0.5:9100"]}],
        }]).to_string()}),
    );

    // Depart: the unit's job goes, the rest stays.
    sim.ok(&["remove-unit", "zinc/1"]);
    let config = checked(&sim);
    assert_eq!(
        job_names(&config),
        [
            "prometheus".to_string(),
            format!("{prefix}zinc"),
            format!("{prefix}zinc-0")
        ]
    );
    assert_eq!(sim.rule_groups().len(), 1);

    // Break: the jobs and the rules go; the file set stays as it was.
    sim.ok(&["remove-relation", &id.to_string()]);
    let config = checked(&sim);
    assert_eq!(job_names(&config), ["prometheus"]);
    assert_eq!(config["rule_files"], json!(["rules.yml"]), "{config}");
    assert!(sim.rule_groups().is_empty());
    assert_eq!(sim.file_set(), file_set);
}

/// A `scrape_metadata` we refuse takes the application's jobs and its alert rules: the
/// library's `event` says so for both (`valid` false), never that the rules are valid.
fn refused_scrape_metadata_reports_the_lost_rules_as_well_as_the_jobs(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let id = relate_units(&sim, "zinc", "scrape-target", 1);
    let before = parsed(&local_app(&sim, id)["event"]);
    assert_eq!(before["valid"], true, "{before}");
    // The library's shape, with a model name that is no Juju model name.
    let metadata = json!({
        "model": "cos\"}", "model_uuid": "f4d59020-c8e7-4053-8044-a2c1e5591c7f",
        "application": "zinc", "unit": "zinc/0", "charm_name": "zinc-k8s"
    });
    set_data_file(
        &sim,
        id,
        "zinc",
        json!({"scrape_metadata": metadata.to_string()}),
    );
    let config = checked(&sim);
    assert_eq!(job_names(&config), ["prometheus"]);
    assert!(sim.rule_groups().is_empty(), "{config}");
    let event = parsed(&local_app(&sim, id)["event"]);
    assert_eq!(event["valid"], false, "{event}");
    let errors = event["errors"].as_str().unwrap();
    assert!(
        errors.starts_with(
            "scrape_metadata refused, skipping this application's scrape jobs and alert rules"
        ),
        "{errors}"
    );
    assert_eq!(event["scrape_job_errors"], event["errors"]);
}

fn metrics_endpoint_legacy_scrape_host_relate_change_depart_break(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let id = relate_units(&sim, "zinc", "scrape-target-legacy", 2);
    let (_, prefix) = scrape_prefix(&sim, id, "zinc");
    let host = |n: u32| remote_text(&sim, id, &format!("zinc/{n}"), "prometheus_scrape_host");

    let config = checked(&sim);
    let all = targets(&config, &prefix);
    assert_eq!(
        all,
        BTreeSet::from([format!("{}:4080", host(0)), format!("{}:4080", host(1))])
    );
    let zinc0 = job(&config, &format!("{prefix}zinc-0"));
    assert_eq!(zinc0["static_configs"][0]["labels"]["juju_unit"], "zinc/0");
    assert_eq!(
        zinc0["metrics_path"], "/metrics",
        "the library's default path"
    );
    assert!(sim.rule_groups().is_empty(), "no alert_rules, no rules");

    set_data(&sim, id, "zinc/0", &["prometheus_scrape_host=10.1.77.3"]);
    let config = checked(&sim);
    assert_eq!(
        targets(&config, &prefix),
        BTreeSet::from(["10.1.77.3:4080".to_string(), format!("{}:4080", host(1))])
    );

    sim.ok(&["remove-unit", "zinc/0"]);
    let config = checked(&sim);
    assert_eq!(
        job_names(&config),
        ["prometheus".to_string(), format!("{prefix}zinc-1")]
    );

    sim.ok(&["remove-relation", "zinc", "prometheus"]);
    assert_eq!(job_names(&checked(&sim)), ["prometheus"]);
}

fn nine_good_targets_are_scraped_and_a_malformed_app_is_reported_and_skipped(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let mut prefixes = Vec::new();
    let mut ids = Vec::new();
    let mut expected = BTreeSet::new();
    for app in ["web", "api", "db"] {
        let id = relate_units(&sim, app, "scrape-target", 3);
        ids.push(id);
        prefixes.push(format!("{}{app}-", scrape_prefix(&sim, id, app).1));
        for n in 0..3 {
            let address = remote_text(
                &sim,
                id,
                &format!("{app}/{n}"),
                "prometheus_scrape_unit_address",
            );
            expected.insert(format!("{address}:4080"));
        }
    }
    let bad = relate_units(&sim, "broken", "scrape-target", 3);
    set_data_file(
        &sim,
        bad,
        "broken",
        json!({"scrape_jobs": r#"[{"job_name": "broken", "static_configs": [{"targets": ["*:4080"]"#}),
    );

    let config = checked(&sim);
    let mut rendered = BTreeSet::new();
    for prefix in &prefixes {
        let of_app = targets(&config, prefix);
        assert_eq!(of_app.len(), 3, "{prefix}: {of_app:?}");
        rendered.extend(of_app);
    }
    assert_eq!(rendered.len(), 9);
    assert_eq!(rendered, expected);
    assert_eq!(
        job_names(&config).len(),
        1 + 9,
        "ourselves and the 9 good units, nothing of broken: {:?}",
        job_names(&config)
    );
    assert!(!job_names(&config).iter().any(|j| j.contains("broken")));

    // Reported to the broken app in our app data, the good ones hear all is well.
    let event = parsed(&local_app(&sim, bad)["event"]);
    let errors = event["scrape_job_errors"]
        .as_str()
        .unwrap_or_else(|| panic!("{event}"));
    assert!(
        errors.starts_with("scrape_jobs refused: scrape_jobs is not valid"),
        "{errors}"
    );
    for &good in &ids {
        let event = parsed(&local_app(&sim, good)["event"]);
        assert_eq!(
            event["scrape_job_errors"],
            Value::Null,
            "relation {good}: {event}"
        );
    }
    // And logged as a WARNING naming the relation and the application.
    let log = sim.debug_log();
    let warning = format!("metrics-endpoint:{bad}: broken: scrape_jobs refused");
    assert!(
        log.lines()
            .any(|l| l.contains("WARNING") && l.contains("juju-log") && l.contains(&warning)),
        "no WARNING with {warning:?} in\n{log}"
    );

    // A bad unit in a good application is named too, and only that unit is skipped.
    let web = ids[0];
    set_data(
        &sim,
        web,
        "web/2",
        &["prometheus_scrape_unit_address=10.1.2.12:4080"],
    );
    let config = checked(&sim);
    assert_eq!(targets(&config, &prefixes[0]).len(), 2);
    let event = parsed(&local_app(&sim, web)["event"]);
    let errors = event["scrape_job_errors"]
        .as_str()
        .unwrap_or_else(|| panic!("{event}"));
    assert!(errors.contains("web/2"), "{errors}");
    let warning = format!("metrics-endpoint:{web}: web/2: unit data refused");
    assert!(sim
        .debug_log()
        .lines()
        .any(|l| l.contains("WARNING") && l.contains(&warning)));

    // The broken app fixes its data: it is scraped, the report clears.
    set_data_file(
        &sim,
        bad,
        "broken",
        json!({"scrape_jobs": r#"[{"job_name": "broken", "static_configs": [{"targets": ["*:4080"]}]}]"#}),
    );
    let config = checked(&sim);
    assert_eq!(
        job_names(&config)
            .iter()
            .filter(|j| j.contains("broken"))
            .count(),
        3
    );
    assert_eq!(
        parsed(&local_app(&sim, bad)["event"])["scrape_job_errors"],
        Value::Null
    );
}

fn monitoring_one_job_per_relation_relate_change_depart_break(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let ksm = relate_units(&sim, "ksm", "monitoring-target", 2);
    let node = sim.relate(&["node", "prometheus", "--profile", "monitoring-target"]);
    // The targets are the units' own (pod) addresses; their private-address is their
    // application's Service address, as on Kubernetes.
    let status = sim.status();
    let addresses = |_id: u32, app: &str, units: u32| -> BTreeSet<String> {
        (0..units)
            .map(|n| {
                let address = status["applications"][app]["units"][format!("{app}/{n}")]["address"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{app}/{n} has no address"))
                    .to_string();
                format!("{address}:8080")
            })
            .collect()
    };

    // Two applications with the same job_name: two jobs, keyed by relation id.
    let config = checked(&sim);
    let ksm_job = format!("kube-state-metrics_relation_{ksm}");
    let node_job = format!("kube-state-metrics_relation_{node}");
    assert_eq!(
        job_names(&config),
        ["prometheus", ksm_job.as_str(), node_job.as_str()]
    );
    assert_eq!(targets(&config, &ksm_job), addresses(ksm, "ksm", 2));
    assert_eq!(targets(&config, &node_job), addresses(node, "node", 1));

    set_data(
        &sim,
        node,
        "node",
        &[
            r#"targets=["10.1.50.1:9100", "10.1.50.2:9100"]"#,
            "job_name=node-exporter",
        ],
    );
    let config = checked(&sim);
    let renamed = format!("node-exporter_relation_{node}");
    assert_eq!(
        job_names(&config),
        ["prometheus", ksm_job.as_str(), renamed.as_str()]
    );
    assert_eq!(
        job(&config, &renamed)["static_configs"][0]["targets"],
        json!(["10.1.50.1:9100", "10.1.50.2:9100"])
    );

    // Untrusted input: unreadable targets skip that relation only, and say so.
    set_data(&sim, ksm, "ksm", &["targets=10.1.9.9:8080"]);
    let config = checked(&sim);
    assert_eq!(job_names(&config), ["prometheus", renamed.as_str()]);
    let warning = format!("monitoring:{ksm}: ksm: targets refused");
    assert!(sim
        .debug_log()
        .lines()
        .any(|l| l.contains("WARNING") && l.contains(&warning)));
    set_data(
        &sim,
        ksm,
        "ksm",
        &[&format!("targets={}", json!(addresses(ksm, "ksm", 2)))],
    );
    assert_eq!(targets(&checked(&sim), &ksm_job), addresses(ksm, "ksm", 2));

    // Targets live in the app bag: one departed unit changes nothing, the last one ends it.
    sim.ok(&["remove-unit", "ksm/1"]);
    assert_eq!(targets(&checked(&sim), &ksm_job), addresses(ksm, "ksm", 2));
    sim.ok(&["remove-unit", "ksm/0"]);
    assert_eq!(job_names(&checked(&sim)), ["prometheus", renamed.as_str()]);

    sim.ok(&["remove-relation", &node.to_string()]);
    assert_eq!(job_names(&checked(&sim)), ["prometheus"]);
}

/// Static Alertmanager targets by (scheme, path_prefix).
type Groups = BTreeMap<(String, String), BTreeSet<String>>;

/// `alerting.alertmanagers`, as static groups and the discovered entries.
fn alertmanagers(config: &Value) -> (Groups, Vec<Value>) {
    let mut groups = BTreeMap::new();
    let mut discovered = Vec::new();
    let entries = config["alerting"]["alertmanagers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for am in entries {
        assert_eq!(am["timeout"], "10s", "alertmanager-timeout applies to {am}");
        if am.get("kubernetes_sd_configs").is_some() {
            discovered.push(am);
            continue;
        }
        let key = (
            am["scheme"].as_str().unwrap().to_string(),
            am["path_prefix"].as_str().unwrap().to_string(),
        );
        let targets: BTreeSet<String> = am["static_configs"][0]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert!(
            groups.insert(key, targets).is_none(),
            "one entry per scheme and path"
        );
    }
    (groups, discovered)
}

fn group(scheme: &str, path: &str, targets: &[String]) -> ((String, String), BTreeSet<String>) {
    (
        (scheme.to_string(), path.to_string()),
        targets.iter().cloned().collect(),
    )
}

fn alertmanager_in_its_four_dialects_relate_change_depart_break(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    // v1: unit `url`; v0: unit `public_address`; pod-spec era: app `addrs` + `port`;
    // charmed-lma: unit `alerting_config`.
    let v1 = relate_units(&sim, "am", "alertmanager", 2);
    let v0 = sim.relate(&["am-v0", "prometheus", "--profile", "alertmanager-v0"]);
    let podspec = relate_units(&sim, "am-pod", "alertmanager-podspec", 2);
    let lma = sim.relate(&["am-lma", "prometheus", "--profile", "alertmanager-lma"]);
    let v0_address = remote_text(&sim, v0, "am-v0/0", "public_address");

    let config = checked(&sim);
    let (groups, discovered) = alertmanagers(&config);
    let http_root = [
        format!("{}:9093", fqdn("am", 0)),
        format!("{}:9093", fqdn("am", 1)),
        v0_address.clone(),
        format!("{}:9093", fqdn("am-pod", 0)),
        format!("{}:9093", fqdn("am-pod", 1)),
    ];
    assert_eq!(groups, BTreeMap::from([group("http", "/", &http_root)]));
    assert_eq!(discovered.len(), 1);
    assert_eq!(
        discovered[0]["kubernetes_sd_configs"],
        json!([{"role": "pod", "namespaces": {"names": [MODEL]}, "selectors": [{"role": "pod", "label": "juju-app=am-lma"}]}])
    );

    // Change: v0 says https behind a path; a v1 unit moves behind an ingress path; the pod-spec era app
    // publishes a new port; the lma unit narrows its selector.
    set_data(
        &sim,
        v0,
        "am-v0/0",
        &["scheme=https", &format!("public_address={v0_address}/v0")],
    );
    set_data(
        &sim,
        v1,
        "am/1",
        &["url=http://ingress.example.com:80/lma-am"],
    );
    set_data(&sim, podspec, "am-pod", &["port=9094"]);
    set_data_file(
        &sim,
        lma,
        "am-lma/0",
        json!({"alerting_config": json!({"alertmanagers": [{"kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [MODEL]}, "selectors": [{"role": "pod", "label": "app=am"}]}]}]}).to_string()}),
    );
    let config = checked(&sim);
    let (groups, discovered) = alertmanagers(&config);
    assert_eq!(
        groups,
        BTreeMap::from([
            group(
                "http",
                "/",
                &[
                    format!("{}:9093", fqdn("am", 0)),
                    format!("{}:9094", fqdn("am-pod", 0)),
                    format!("{}:9094", fqdn("am-pod", 1)),
                ]
            ),
            group("http", "/lma-am", &["ingress.example.com:80".to_string()]),
            group("https", "/v0", std::slice::from_ref(&v0_address)),
        ])
    );
    assert_eq!(
        discovered[0]["kubernetes_sd_configs"][0]["selectors"][0]["label"],
        "app=am"
    );

    // Untrusted input: a unit naming a scheme Prometheus cannot use is skipped and named;
    // every other Alertmanager keeps receiving alerts.
    set_data(&sim, v0, "am-v0/0", &["scheme=gopher"]);
    let (groups, discovered) = alertmanagers(&checked(&sim));
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(
        !groups.keys().any(|(scheme, _)| scheme == "https"),
        "{groups:?}"
    );
    assert_eq!(discovered.len(), 1);
    let warning = format!("alertmanager:{v0}: am-v0/0: alertmanager address refused");
    assert!(sim
        .debug_log()
        .lines()
        .any(|l| l.contains("WARNING") && l.contains(&warning)));

    // Depart: a departed unit's target goes.
    sim.ok(&["remove-unit", "am/1"]);
    sim.ok(&["remove-unit", "am-v0/0"]);
    let (groups, _) = alertmanagers(&checked(&sim));
    assert_eq!(
        groups,
        BTreeMap::from([group(
            "http",
            "/",
            &[
                format!("{}:9093", fqdn("am", 0)),
                format!("{}:9094", fqdn("am-pod", 0)),
                format!("{}:9094", fqdn("am-pod", 1)),
            ]
        )])
    );

    // Break: each relation takes its targets with it; with none left, no alerting section.
    sim.ok(&["remove-relation", &podspec.to_string()]);
    let (groups, discovered) = alertmanagers(&checked(&sim));
    assert_eq!(
        groups,
        BTreeMap::from([group("http", "/", &[format!("{}:9093", fqdn("am", 0))])])
    );
    assert_eq!(discovered.len(), 1);
    sim.ok(&["remove-relation", &lma.to_string()]);
    sim.ok(&["remove-relation", &v1.to_string()]);
    sim.ok(&["remove-relation", &v0.to_string()]);
    let config = checked(&sim);
    assert_eq!(config.get("alerting"), None, "{config}");
}

fn grafana_source_publishes_for_every_generation(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 2);
    let current = sim.relate(&["grafana", "prometheus"]);
    // grafana-k8s of July to September 2021 *provides* grafana_datasource: it lands on our
    // grafana-source-provider (see older_peers_relate_over_their_own_interface_names).
    let mid_2021 = sim.relate(&["grafana-mid2021", "prometheus", "--profile", "grafana-2021"]);
    let legacy = sim.relate(&["grafana-old", "prometheus", "--profile", "grafana-legacy"]);
    let uuid = {
        // Our model's uuid, as the current library publishes it.
        let data = parsed(&local_app(&sim, current)["grafana_source_data"]);
        data["model_uuid"].as_str().unwrap().to_string()
    };
    assert_eq!(uuid.len(), 36, "{uuid}");

    let units = |id: u32| {
        for n in 0..2 {
            let bag = local_unit(&sim, id, &format!("prometheus/{n}"));
            assert_eq!(
                bag["grafana_source_host"],
                format!("{}:9090", fqdn("prometheus", n))
            );
            assert_eq!(bag["port"], "9090");
            assert_eq!(bag["source-type"], "prometheus");
            assert_eq!(bag["source-name"], "prometheus");
            // Juju's own key, which the pod-spec era Grafana pairs with `port`.
            assert!(bag["private-address"].is_string(), "{bag}");
        }
    };
    let expect = |id: u32, interval: &str| {
        let app = local_app(&sim, id);
        assert_eq!(
            parsed(&app["grafana_source_data"]),
            json!({
                "model": MODEL,
                "model_uuid": uuid,
                "application": "prometheus",
                "type": "prometheus",
                "extra_fields": {"timeInterval": interval},
                "secure_extra_fields": null,
            })
        );
        // grafana_source v1: one data source for the application, at our Service.
        assert_eq!(
            app["grafana_source_app_host"],
            format!("http://prometheus.{MODEL}.svc.cluster.local:9090").as_str()
        );
        units(id);
    };
    // The 2020 pod-spec Grafana never reads an application bag and warns whenever ours
    // changes there: we publish none.
    let no_app_bag = || {
        let app = local_app(&sim, legacy);
        assert!(
            app.as_object().is_none_or(serde_json::Map::is_empty),
            "{app}"
        );
        units(legacy);
    };
    expect(current, "1m");
    expect(mid_2021, "1m");
    no_app_bag();
    let config = checked(&sim);
    sim.assert_not_blocked("prometheus/1");
    assert_eq!(
        job_names(&config),
        ["prometheus"],
        "Grafana adds nothing to scrape"
    );

    // Change: Grafana answers with new uids; what we publish follows our own options only.
    set_data(
        &sim,
        current,
        "grafana",
        &[
            "grafana_uid=changed",
            r#"datasource_uids={"prometheus/0": "x"}"#,
        ],
    );
    expect(current, "1m");
    sim.ok(&["config", "prometheus", "scrape-interval=30s"]);
    expect(current, "30s");
    expect(mid_2021, "30s");
    no_app_bag();
    checked(&sim);

    // Depart and break: the other relations keep their data, nothing blocks.
    sim.ok(&["add-unit", "grafana"]);
    sim.ok(&["remove-unit", "grafana/0"]);
    checked(&sim);
    sim.ok(&["remove-relation", &current.to_string()]);
    checked(&sim);
    expect(mid_2021, "30s");
    no_app_bag();
    sim.ok(&["remove-relation", "grafana-old", "prometheus"]);
    sim.ok(&["remove-relation", &mid_2021.to_string()]);
    checked(&sim);
}

fn self_metrics_endpoint_publishes_our_scrape_job_in_the_current_format(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 2);
    let before = sim.prometheus_yml();
    let id = sim.relate(&[
        "cos-prometheus",
        "prometheus",
        "--profile",
        "prometheus-scraper",
    ]);
    let app = local_app(&sim, id);
    let metadata = parsed(&app["scrape_metadata"]);
    assert_eq!(metadata["model"], MODEL);
    assert_eq!(metadata["application"], "prometheus");
    assert_eq!(metadata["unit"], "prometheus/0");
    assert_eq!(metadata["charm_name"], "prometheus-k8s");
    assert_eq!(metadata["model_uuid"].as_str().unwrap().len(), 36);
    assert_eq!(
        parsed(&app["scrape_jobs"]),
        json!([{"job_name": "prometheus", "metrics_path": "/metrics", "static_configs": [{"targets": ["*:9090"]}]}])
    );
    for n in 0..2 {
        let unit = format!("prometheus/{n}");
        let bag = local_unit(&sim, id, &unit);
        assert_eq!(bag["prometheus_scrape_unit_name"], unit);
        assert_eq!(bag["prometheus_scrape_unit_address"], fqdn("prometheus", n));
        assert_eq!(bag["prometheus_scrape_unit_fqdn"], fqdn("prometheus", n));
        // The 2021 library's key: the pod's (bind) address. Juju's private-address is
        // the Service's on Kubernetes, so the two differ.
        let pod = sim.status()["applications"]["prometheus"]["units"][&unit]["address"].clone();
        assert_eq!(bag["prometheus_scrape_host"], pod, "{bag}");
        assert_ne!(
            bag["prometheus_scrape_host"], bag["private-address"],
            "{bag}"
        );
        assert!(
            bag.get("prometheus_scrape_unit_path")
                .is_none_or(|p| p == ""),
            "{bag}"
        );
    }
    assert_eq!(
        sim.prometheus_yml(),
        before,
        "being scraped adds nothing to our config"
    );
    checked(&sim);

    // The scraper adds a unit, loses one, then leaves: we are never blocked by it.
    sim.ok(&["add-unit", "cos-prometheus"]);
    sim.ok(&["remove-unit", "cos-prometheus/0"]);
    checked(&sim);
    sim.ok(&["remove-relation", &id.to_string()]);
    checked(&sim);
    assert_eq!(sim.prometheus_yml(), before);
}

fn remote_write_urls(config: &Value) -> Vec<String> {
    config["remote_write"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect()
}

fn send_remote_write_entries_merged_with_the_option_relate_change_depart_break(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let push = |n: u32| format!("http://{}:9009/api/v1/push", fqdn("mimir", n));
    // The operator's own URL, one of them the same as a related unit's.
    sim.ok(&[
        "config",
        "prometheus",
        &format!(
            "remote-write-urls=https://thanos.example.com/api/v1/receive,{}",
            push(1)
        ),
    ]);
    let id = relate_units(&sim, "mimir", "remote-write-receiver", 2);
    let config = checked(&sim);
    assert_eq!(
        remote_write_urls(&config),
        [
            "https://thanos.example.com/api/v1/receive".to_string(),
            push(1),
            push(0)
        ],
        "the option's URLs first, each URL once"
    );

    set_data(
        &sim,
        id,
        "mimir/0",
        &[r#"remote_write={"url": "http://mimir-nginx.mimir.svc:8080/api/v1/push"}"#],
    );
    let config = checked(&sim);
    assert_eq!(
        remote_write_urls(&config),
        [
            "https://thanos.example.com/api/v1/receive".to_string(),
            push(1),
            "http://mimir-nginx.mimir.svc:8080/api/v1/push".to_string(),
        ]
    );
    // A malformed one is skipped (and named), the rest kept.
    set_data(
        &sim,
        id,
        "mimir/0",
        &[r#"remote_write={"url": "file:///etc/passwd"}"#],
    );
    let config = checked(&sim);
    assert_eq!(
        remote_write_urls(&config),
        [
            "https://thanos.example.com/api/v1/receive".to_string(),
            push(1)
        ]
    );
    assert!(sim.debug_log().contains(&format!(
        "send-remote-write:{id}: mimir/0: remote_write refused"
    )));

    sim.ok(&["config", "prometheus", "remote-write-urls="]);
    sim.ok(&["remove-unit", "mimir/1"]);
    let config = checked(&sim);
    assert_eq!(config.get("remote_write"), None, "{config}");
    set_data(
        &sim,
        id,
        "mimir/0",
        &[&format!(r#"remote_write={{"url": "{}"}}"#, push(0))],
    );
    assert_eq!(remote_write_urls(&checked(&sim)), [push(0)]);

    sim.ok(&["remove-relation", &id.to_string()]);
    assert_eq!(checked(&sim).get("remote_write"), None);
}

fn receive_remote_write_enables_the_receiver_and_publishes_each_units_url(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 2);
    let receiver = "--web.enable-remote-write-receiver";
    let receiving = || sim.workload_args().iter().any(|a| a == receiver);
    assert!(!receiving());
    let id = relate_units(&sim, "agent", "remote-write-sender", 2);
    assert!(receiving(), "{:?}", sim.workload_args());
    for n in 0..2 {
        let bag = local_unit(&sim, id, &format!("prometheus/{n}"));
        assert_eq!(
            parsed(&bag["remote_write"]),
            json!({"url": format!("http://{}:9090/api/v1/write", fqdn("prometheus", n))})
        );
    }
    // The agent's alert rules become a rule file (promtool checks it).
    let config = checked(&sim);
    assert_eq!(config["rule_files"], json!(["rules.yml"]));
    let file_set = sim.file_set();
    assert_eq!(sim.rule_groups()[0]["rules"][0]["alert"], "AgentDown");
    // prometheus_remote_write v1: nothing refused, an empty `event`.
    assert_eq!(parsed(&local_app(&sim, id)["event"]), json!({}));

    // Rules we refuse: the sender is told in our app `event` (`{"errors": ...}`, read by its
    // library), the good rules still apply; fixed rules clear the errors.
    let with_a_bad_rule = json!({"groups": [{"name": "agent_alerts", "rules": [
        {"alert": "AgentDown", "expr": "up < 1", "for": "5m"},
        {"alert": "AgentBroken", "expr": "rate(up[5m]"},
    ]}]});
    set_data_file(
        &sim,
        id,
        "agent",
        json!({"alert_rules": with_a_bad_rule.to_string()}),
    );
    let event = parsed(&local_app(&sim, id)["event"]);
    let errors = event["errors"]
        .as_str()
        .unwrap_or_else(|| panic!("{event}"));
    assert!(
        errors.starts_with("alert rule refused: ") && errors.contains("rate(up[5m]"),
        "{errors}"
    );
    assert_eq!(
        event.as_object().map(serde_json::Map::len),
        Some(1),
        "{event}"
    );
    checked(&sim);
    let kept = sim.rule_groups();
    assert_eq!(kept[0]["rules"].as_array().map(Vec::len), Some(1));

    // Change the rules: the file follows.
    let new_rules = json!({"groups": [{"name": "agent_alerts", "rules": [
        {"alert": "AgentSlow", "expr": "rate(agent_errors_total[5m]) > 1", "for": "10m", "labels": {"severity": "warning"}},
        {"record": "job:agent_errors:rate5m", "expr": "sum by (job) (rate(agent_errors_total[5m]))"},
    ]}]});
    set_data_file(
        &sim,
        id,
        "agent",
        json!({"alert_rules": new_rules.to_string()}),
    );
    checked(&sim);
    assert_eq!(sim.file_set(), file_set, "new rules, same files");
    let groups = sim.rule_groups();
    let rules = &groups[0]["rules"];
    assert_eq!(rules[0]["alert"], "AgentSlow");
    assert_eq!(rules[1]["record"], "job:agent_errors:rate5m");
    assert_eq!(parsed(&local_app(&sim, id)["event"]), json!({}));

    // Depart: the last unit leaving takes the rules; the receiver stays while related.
    sim.ok(&["remove-unit", "agent/0"]);
    checked(&sim);
    assert_eq!(sim.rule_groups().len(), 1);
    sim.ok(&["remove-unit", "agent/1"]);
    checked(&sim);
    assert!(sim.rule_groups().is_empty());
    assert!(receiving());

    // Break: the receiver is switched off again.
    sim.ok(&["remove-relation", &id.to_string()]);
    checked(&sim);
    assert!(!receiving());
}

/// Juju relates two charms only over one interface name: each older generation of peer
/// lands on the endpoint that speaks its interface, and `juju relate <app> prometheus` picks
/// it without being told.
fn older_peers_relate_over_their_own_interface_names(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    for (app, profile, endpoint) in [
        ("am-podspec", "alertmanager-podspec", "alertmanager-podspec"),
        ("am-lma", "alertmanager-lma", "alerting-config"),
        ("grafana-old", "grafana-legacy", "grafana-datasource"),
        ("grafana-lma", "grafana-lma", "prometheus-api"),
        ("am-current", "alertmanager", "alertmanager"),
        ("grafana-current", "grafana", "grafana-source"),
        ("grafana-mid2021", "grafana-2021", "grafana-source-provider"),
    ] {
        let out = sim.ok(&["relate", app, "prometheus", "--profile", profile]);
        assert!(
            out.trim().starts_with(&format!("{endpoint}:")),
            "{profile} related over {out:?}, not {endpoint}"
        );
    }
    // Three generations of Alertmanager at once, one alerting section between them.
    let config = checked(&sim);
    let alertmanagers = config["alerting"]["alertmanagers"].as_array().unwrap();
    // The current and pod-spec ones share (http, /); the charmed-lma one is discovered.
    assert_eq!(alertmanagers.len(), 2, "{alertmanagers:?}");
    assert!(alertmanagers
        .iter()
        .any(|am| am["kubernetes_sd_configs"].is_array()));
    let static_targets: Vec<&Value> = alertmanagers
        .iter()
        .flat_map(|am| am["static_configs"].as_array().into_iter().flatten())
        .flat_map(|sc| sc["targets"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(static_targets.len(), 2, "{static_targets:?}");
    sim.assert_not_blocked("prometheus/0");
}
