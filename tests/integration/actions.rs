//! Issue 5: the actions through `juju-sim run-action`, on models without live workloads
//! (live ones are in live.rs): show-config, validate-configuration (accepted, rejected by
//! promtool, invalid options) and reload reporting the units it could not reach; a
//! prometheus.yml too big for one action-set argument, returned in parts. Every test runs
//! against both charms (`both_charms!`); the sidecar charm runs promtool in the workload
//! container through Pebble.

use serde_json::{json, Value};

use crate::harness::{free_port, Flavour, Sim};

both_charms!(
    show_config_returns_the_files_the_pod_mounts,
    show_config_returns_a_large_config_in_parts,
    validate_configuration_runs_promtool_on_the_rendered_files,
    validate_configuration_fails_when_promtool_rejects,
    every_action_fails_on_invalid_options_naming_them,
    reload_reports_every_unit_it_cannot_reach,
);

fn results(report: &Value) -> &Value {
    &report["results"]
}

fn show_config_returns_the_files_the_pod_mounts(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 2);
    sim.ok(&["relate", "scrape-target", "prometheus"]);
    let rules = sim.rules_yml();
    assert!(rules.contains("alert:"), "{rules}");
    let applied = sim.applied();
    for unit in ["prometheus/0", "prometheus/1"] {
        let report = sim.run_action(unit, "show-config", &[]);
        assert_eq!(report["status"], "completed", "{report}");
        let r = results(&report);
        assert_eq!(r["prometheus-yml"], sim.prometheus_yml().as_str(), "{unit}");
        assert_eq!(r["rules-yml"], rules.as_str(), "{unit}");
    }
    // Actions change nothing: no spec, plan, file, relation data or status from them.
    sim.assert_applied_nothing(&applied, "show-config");
    let from_action: Vec<String> = sim
        .calls(None)
        .iter()
        .filter(|c| c["hook"] == "show-config")
        .filter_map(|c| c["tool"].as_str().map(str::to_string))
        .collect();
    assert!(
        from_action.iter().any(|t| t == "action-set"),
        "{from_action:?}"
    );
    for tool in ["pod-spec-set", "relation-set", "status-set", "state-set"] {
        assert!(
            !from_action.iter().any(|t| t == tool),
            "{tool} in {from_action:?}"
        );
    }
}

/// Linux refuses an argument over 128 KiB: 1500 alert rules make a rules.yml of about
/// 500 KB, which show-config returns as `rules-yml.part-NNN` and a count. (Scrape targets no
/// longer make prometheus.yml large: they live in the file_sd files.)
fn show_config_returns_a_large_config_in_parts(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    let id = sim.relate(&["farm", "prometheus", "--profile", "scrape-target"]);
    let rules: Vec<Value> = (0..1500)
        .map(|i| {
            json!({"alert": format!("NodeDown{i:04}"),
                "expr": format!("up{{instance=\"node-{i:04}.rack.farm.example.internal:9100\"}} < 1"),
                "annotations": {"summary": format!("node {i:04} of the farm is down")}})
        })
        .collect();
    let file = sim.dir.path().join("farm.json");
    let alert_rules = json!({"groups": [{"name": "farm", "rules": rules}]});
    let data = json!({"alert_rules": alert_rules.to_string()});
    std::fs::write(&file, data.to_string()).unwrap();
    let file = file.display().to_string();
    sim.ok(&[
        "set-relation-data",
        &id.to_string(),
        "farm",
        "--file",
        &file,
    ]);
    let mounted = sim.rules_yml();
    assert!(mounted.len() > 256 * 1024, "{}", mounted.len());
    assert!(mounted.contains("node-1499.rack.farm.example.internal:9100"));

    let report = sim.run_action("prometheus/0", "show-config", &[]);
    assert_eq!(report["status"], "completed", "{}", report["message"]);
    let yml = results(&report)["rules-yml"].as_object().unwrap();
    let count: usize = yml["parts"].as_str().unwrap().parse().unwrap();
    assert!(count >= 5, "{count}");
    let parts: Vec<&str> = (1..=count)
        .map(|n| yml[&format!("part-{n:03}")].as_str().unwrap())
        .collect();
    assert_eq!(yml.len(), count + 1, "{:?}", yml.keys());
    for part in &parts {
        assert!(
            part.len() <= 64 * 1024 && part.ends_with('\n'),
            "{}",
            part.len()
        );
    }
    assert!(
        parts.concat() == mounted,
        "the parts do not make the mounted rules.yml"
    );
}

/// A model where validate-configuration's promtool really runs: the pod-spec charm runs it
/// where the action runs; the sidecar charm in the workload container through Pebble's
/// exec, which juju-sim's Pebble carries out only in a live model (else it records the
/// command and answers exit 0).
fn promtool_model(flavour: Flavour, units: u32) -> Sim {
    match flavour {
        Flavour::PodSpec => Sim::deployed_as(flavour, units),
        Flavour::Sidecar => Sim::deployed_live_as(flavour, units, free_port(), &[]),
    }
}

fn validate_configuration_runs_promtool_on_the_rendered_files(flavour: Flavour) {
    let sim = promtool_model(flavour, 2);
    sim.ok(&["relate", "alertmanager", "prometheus"]);
    sim.ok(&["relate", "scrape-target", "prometheus"]);
    for unit in ["prometheus/0", "prometheus/1"] {
        let report = sim.run_action(unit, "validate-configuration", &[]);
        assert_eq!(report["status"], "completed", "{report}");
        let r = results(&report);
        assert_eq!(r["valid"], "true");
        let output = r["output"].as_str().unwrap();
        assert!(
            output.contains("SUCCESS: prometheus.yml is valid prometheus config file syntax"),
            "{output}"
        );
        // The target's one alert and the charm's marker rule.
        assert!(output.contains("SUCCESS: 2 rules found"), "{output}");
    }
}

/// Debian builds Prometheus and promtool without Kubernetes service discovery, so an
/// Alertmanager found by Kubernetes discovery (the charmed-lma dialect) is a configuration
/// that promtool here rejects (as would the Prometheus that `make test` installs, were it to
/// load it): the action must say so.
fn validate_configuration_fails_when_promtool_rejects(flavour: Flavour) {
    let sim = promtool_model(flavour, 1);
    sim.ok(&[
        "relate",
        "am-lma",
        "prometheus",
        "--profile",
        "alertmanager-lma",
    ]);
    let report = sim.run_action("prometheus/0", "validate-configuration", &[]);
    assert_eq!(report["status"], "failed", "{report}");
    let message = report["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "promtool rejected the configuration: FAILED: parsing YAML file prometheus.yml"
        ) && message.contains("field kubernetes_sd_configs not found"),
        "{message}"
    );
    let r = results(&report);
    assert_eq!(r["valid"], "false");
    assert!(r["output"]
        .as_str()
        .unwrap()
        .contains("Checking prometheus.yml"));
}

fn every_action_fails_on_invalid_options_naming_them(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 1);
    sim.ok(&["config", "prometheus", "scrape-timeout=2m"]);
    for action in ["show-config", "validate-configuration", "reload"] {
        let report = sim.run_action("prometheus/0", action, &[]);
        assert_eq!(report["status"], "failed", "{report}");
        let message = report["message"].as_str().unwrap();
        assert!(
            message.starts_with("invalid config: scrape-timeout=\"2m\"")
                && message.ends_with("(fix it with `juju config`)"),
            "{action}: {message}"
        );
        assert_eq!(results(&report), &Value::Object(Default::default()));
    }
}

/// Nothing listens in a model that is not live: the action reaches each unit's pod by its
/// DNS name (which resolves, to the model's loopback block) and finds its Prometheus down.
fn reload_reports_every_unit_it_cannot_reach(flavour: Flavour) {
    let sim = Sim::deployed_as(flavour, 2);
    let model = sim.status()["model"]["name"].as_str().unwrap().to_string();
    let report = sim.run_action("prometheus/1", "reload", &[]);
    assert_eq!(report["status"], "failed", "{report}");
    let message = report["message"].as_str().unwrap();
    assert!(
        message.starts_with("reload failed on 2 of 2 unit(s): "),
        "{message}"
    );
    for (n, unit) in ["prometheus/0", "prometheus/1"].iter().enumerate() {
        let r = &results(&report)["units"][unit.replace('/', "-")];
        let at = format!("prometheus-{n}.prometheus-endpoints.{model}.svc.cluster.local:9090");
        assert_eq!(r["address"], at.as_str(), "{report}");
        assert_eq!(r["up"], "false");
        assert_eq!(r["reloaded"], "false");
        let error = r["error"].as_str().unwrap();
        assert!(
            error.starts_with("Prometheus is down: ") && error.contains("refused"),
            "{error}"
        );
        assert!(message.contains(&format!("{unit} at {at}: ")), "{message}");
    }
}
