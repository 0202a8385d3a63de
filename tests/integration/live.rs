//! Issue 5, end to end: juju-sim runs the pod spec with Debian's real `prometheus` (and real
//! `prometheus-alertmanager` peers), and the charm talks to it over HTTP. Each test has its
//! own model on a free port; the model (and every process) goes when the test ends.
//!
//! Scrapes every 5s so that the first scrape comes quickly; every wait has a deadline.
//!
//! These tests run the pod-spec charm: they read juju-sim's pod workload (its PID, restarts,
//! the StatefulSet's rolls), which a sidecar unit does not have. The sidecar charm's live
//! test (last) finds its Prometheus in the process table instead.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{api_get, free_port, Flavour, Sim};

const FAST_SCRAPES: [&str; 2] = ["scrape-interval=5s", "scrape-timeout=5s"];
/// Starting Prometheus (TSDB, WAL) and the first hooks.
const START: Duration = Duration::from_secs(60);
/// A scrape, discovery or notifier update (Prometheus applies those every few seconds).
const SETTLE: Duration = Duration::from_secs(45);

fn live(units: u32) -> (Sim, String) {
    let port = free_port();
    let sim = Sim::deployed_live(units, port, &FAST_SCRAPES);
    (sim, format!("127.0.0.1:{port}"))
}

/// The version `prometheus --version` prints: `prometheus, version 2.42.0+ds (branch: ...`.
fn binary_version() -> String {
    let out = Command::new("prometheus")
        .arg("--version")
        .output()
        .expect("prometheus is installed (make deps)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .unwrap_or_else(|| panic!("no version in {text:?}"))
        .to_string()
}

/// The value of an instant query with one series.
fn query_one(address: &str, query: &str) -> Result<String, String> {
    let data = api_get(address, &format!("/api/v1/query?query={query}"))?;
    match data["result"].as_array().map(Vec::as_slice) {
        Some([one]) => one["value"][1]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{data}")),
        _ => Err(format!("not one series: {data}")),
    }
}

fn served_config(address: &str) -> Result<Value, String> {
    let data = api_get(address, "/api/v1/status/config")?;
    let yaml = data["yaml"].as_str().ok_or("no yaml")?;
    prometheus_charm::yaml::from_str(yaml).map_err(|e| e.to_string())
}

#[test]
fn deployed_prometheus_is_ready_scrapes_itself_and_reports_its_version() {
    let (sim, address) = live(1);
    assert_eq!(sim.workload("prometheus/0")["address"], address.as_str());
    let message = sim.wait_active("prometheus/0", START);
    assert_eq!(message, "");
    assert_eq!(sim.workload("prometheus/0")["ready"], true);
    let status = sim.status();
    let app = &status["applications"]["prometheus"];
    assert_eq!(app["version"], binary_version().as_str(), "{app}");
    assert_eq!(app["application-status"]["current"], "active", "{app}");
    let up = sim.wait_for(
        "the self-scrape: up == 1",
        SETTLE,
        false,
        |_| match query_one(&address, "up{job=\"prometheus\"}")? {
            v if v == "1" => Ok(v),
            v => Err(format!("up is {v}")),
        },
    );
    assert_eq!(up, "1");
    // It serves what the charm rendered, as the unit's status says.
    let served = served_config(&address).unwrap();
    assert_eq!(served["global"]["scrape_interval"], "5s");
    assert_eq!(
        served["global"]["external_labels"]["replica"],
        "prometheus-0"
    );
}

#[test]
fn relations_and_option_changes_reach_the_running_process() {
    let (sim, address) = live(1);
    sim.wait_active("prometheus/0", START);
    let pid = sim.workload_pid("prometheus/0");

    sim.ok(&["relate", "alertmanager", "prometheus", "--live"]);
    sim.ok(&["relate", "scrape-target", "prometheus", "--live"]);
    let alertmanager = sim.workload("alertmanager/0")["address"]
        .as_str()
        .unwrap()
        .to_string();
    let exporter = sim.workload("scrape-target/0")["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(alertmanager, exporter);
    sim.wait_active("prometheus/0", SETTLE);

    sim.wait_for(
        "the Alertmanager in /api/v1/alertmanagers",
        SETTLE,
        false,
        |_| {
            let data = api_get(&address, "/api/v1/alertmanagers")?;
            let urls: Vec<&str> = data["activeAlertmanagers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["url"].as_str())
                .collect();
            if urls
                .iter()
                .any(|u| u.starts_with(&format!("http://{alertmanager}/")))
            {
                Ok(())
            } else {
                Err(format!("{urls:?}"))
            }
        },
    );
    sim.wait_for(
        "the scrape target up in /api/v1/targets",
        SETTLE,
        false,
        |_| {
            let data = api_get(&address, "/api/v1/targets")?;
            let targets = data["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let found = targets
                .iter()
                .find(|t| t["scrapeUrl"] == format!("http://{exporter}/metrics").as_str());
            match found {
                Some(t) if t["health"] == "up" => Ok(()),
                Some(t) => Err(format!("{t}")),
                None => Err(format!("{targets:?}")),
            }
        },
    );
    assert_eq!(
        sim.workload_pid("prometheus/0"),
        pid,
        "relating restarted Prometheus"
    );

    sim.ok(&["config", "prometheus", "scrape-interval=7s"]);
    sim.wait_active("prometheus/0", SETTLE);
    let served = served_config(&address).unwrap();
    assert_eq!(served["global"]["scrape_interval"], "7s");
    assert_eq!(
        sim.workload_pid("prometheus/0"),
        pid,
        "an option change restarted Prometheus"
    );
    assert_eq!(sim.workload("prometheus/0")["restarts"], 0);
}

/// The reload action reaches each unit at its own pod's DNS name (juju-sim gives the hooks a
/// pod's /etc/hosts and resolv.conf), and each answers for itself: its replica label is its
/// own pod's name. A unit whose Prometheus is gone is reported down; the others are fine.
#[test]
fn reload_action_reaches_every_live_unit_at_its_pod_and_reports_one_that_is_down() {
    let (sim, _) = live(3);
    for n in 0..3 {
        sim.wait_active(&format!("prometheus/{n}"), START);
    }
    let model = sim.status()["model"]["name"].as_str().unwrap().to_string();
    let port = sim.workload("prometheus/0")["address"]
        .as_str()
        .and_then(|a| a.rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .unwrap();
    let pod =
        |n: u32| format!("prometheus-{n}.prometheus-endpoints.{model}.svc.cluster.local:{port}");
    let report = sim.run_action("prometheus/1", "reload", &[]);
    assert_eq!(report["status"], "completed", "{report}");
    for n in 0..3 {
        let r = &report["results"]["units"][format!("prometheus-{n}")];
        assert_eq!(r["address"], pod(n).as_str(), "{report}");
        assert_eq!(r["up"], "true", "{r}");
        assert_eq!(r["reloaded"], "true", "{r}");
        assert_eq!(r["config-current"], "true", "{r}");
        let served = r["served-config"].as_str().unwrap();
        assert!(
            served.contains(&format!("replica: prometheus-{n}\n")),
            "prometheus-{n} answered for another pod: {served}"
        );
    }

    // Stop prometheus/2's Prometheus behind juju-sim's back.
    let pid = sim.workload_pid("prometheus/2").to_string();
    let killed = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(killed.success());
    let address = sim.workload("prometheus/2")["address"]
        .as_str()
        .unwrap()
        .to_string();
    sim.wait_for("prometheus/2 to stop answering", SETTLE, false, |_| {
        match std::net::TcpStream::connect(&address) {
            Ok(_) => Err(format!("{address} still accepts connections")),
            Err(_) => Ok(()),
        }
    });
    let report = sim.run_action("prometheus/0", "reload", &[]);
    assert_eq!(report["status"], "failed", "{report}");
    let down = &report["results"]["units"]["prometheus-2"];
    assert_eq!(down["address"], pod(2).as_str(), "{report}");
    assert_eq!(down["up"], "false", "{down}");
    assert_eq!(down["reloaded"], "false", "{down}");
    let error = down["error"].as_str().unwrap();
    assert!(error.starts_with("Prometheus is down: "), "{error}");
    assert_eq!(
        report["message"],
        format!(
            "reload failed on 1 of 3 unit(s): prometheus/2 at {}: {error}",
            pod(2)
        )
        .as_str()
    );
    for n in 0..2 {
        let r = &report["results"]["units"][format!("prometheus-{n}")];
        assert_eq!(r["up"], "true", "{r}");
        assert_eq!(r["reloaded"], "true", "{r}");
        assert_eq!(r["config-current"], "true", "{r}");
    }
    // The show-config and validate-configuration actions work on a live unit too.
    let report = sim.run_action("prometheus/0", "validate-configuration", &[]);
    assert_eq!(report["results"]["valid"], "true", "{report}");
}

/// Debian's Prometheus has no Kubernetes service discovery, so the `monitor-k8s` jobs are a
/// configuration it refuses. The option also adds a service account, which changes the pod
/// template, so the pod rolls (as on Juju 2.9.30+) and the new Prometheus will not start: the
/// unit waits for it, naming the address, and undoing the option (another roll) recovers.
/// (A refused *reload* of a running Prometheus blocks the unit with its words: charm tests.)
#[test]
fn a_configuration_prometheus_refuses_to_start_with_waits_until_undone() {
    let (sim, address) = live(1);
    sim.wait_active("prometheus/0", START);
    let rolls = sim.pod_rolls();
    // monitor-k8s adds a service account: a new pod template, so the pod rolls, and the new
    // Prometheus (Debian's, without Kubernetes discovery) refuses the file and exits.
    sim.ok(&["config", "prometheus", "monitor-k8s=true"]);
    assert_eq!(sim.pod_rolls(), rolls + 1);
    let message = sim.wait_for(
        "the unit to wait for its Prometheus",
        SETTLE,
        true,
        |sim| match sim.unit_status("prometheus/0") {
            (status, message) if status == "waiting" && message.contains(&address) => Ok(message),
            (status, message) => Err(format!("{status}: {message}")),
        },
    );
    assert!(message.contains("Connection refused"), "{message}");

    sim.ok(&["config", "prometheus", "monitor-k8s=false"]);
    assert_eq!(sim.pod_rolls(), rolls + 2);
    assert_eq!(sim.wait_active("prometheus/0", START), "");
    let served = served_config(&address).unwrap();
    assert_eq!(served["scrape_configs"].as_array().map(Vec::len), Some(1));
}

/// An invalid option blocks at once, naming it; the running Prometheus keeps its spec and
/// configuration (same process, same served config); the fixed value brings the unit back
/// to active through the usual reload.
#[test]
fn an_invalid_option_blocks_and_the_fix_brings_the_unit_back_to_active() {
    let (sim, address) = live(1);
    sim.wait_active("prometheus/0", START);
    let pid = sim.workload_pid("prometheus/0");
    let sets = sim.pod_spec_sets();

    sim.ok(&["config", "prometheus", "scrape-timeout=2m"]);
    let (status, message) = sim.unit_status("prometheus/0");
    assert_eq!(status, "blocked");
    assert_eq!(
        message,
        "invalid config: scrape-timeout=\"2m\": expected at most scrape-interval (5s)"
    );
    assert_eq!(sim.pod_spec_sets(), sets);
    assert_eq!(
        served_config(&address).unwrap()["global"]["scrape_timeout"],
        "5s"
    );

    sim.ok(&["config", "prometheus", "scrape-timeout=3s"]);
    assert_eq!(sim.wait_active("prometheus/0", SETTLE), "");
    assert_eq!(sim.pod_spec_sets(), sets + 1);
    assert_eq!(
        served_config(&address).unwrap()["global"]["scrape_timeout"],
        "3s"
    );
    assert_eq!(sim.workload_pid("prometheus/0"), pid);
}

/// The alert rule names Prometheus has loaded, with the charm's marker left out.
fn loaded_alerts(address: &str) -> Result<Vec<String>, String> {
    let data = api_get(address, "/api/v1/rules")?;
    let mut names: Vec<String> = data["groups"]
        .as_array()
        .ok_or_else(|| format!("{data}"))?
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .filter(|name| name != "JujuCharmRulesLoaded")
        .collect();
    names.sort();
    Ok(names)
}

/// Waits (firing update-status, as Juju does) until Prometheus has loaded exactly `wanted`.
fn wait_for_alerts(sim: &Sim, address: &str, wanted: &[&str]) {
    sim.wait_for(
        &format!("alerts {wanted:?}"),
        SETTLE,
        true,
        |_| match loaded_alerts(address)? {
            names if names == wanted => Ok(()),
            names => Err(format!("loaded {names:?}")),
        },
    );
}

fn rules_data(group: &str, alert: &str, expr: &str) -> Value {
    let rules = serde_json::json!({"groups": [{"name": group, "rules": [
        {"alert": alert, "expr": expr, "for": "1m"}
    ]}]});
    serde_json::json!({ "alert_rules": rules.to_string() })
}

/// Rules come, change, are joined by another application's and go with their relation:
/// each time Prometheus loads exactly the current rules, and the pod is never restarted
/// (the mounted file set never changes, only the rule file's content).
#[test]
fn alert_rule_changes_are_loaded_without_restarting_prometheus() {
    let (sim, address) = live(1);
    sim.wait_active("prometheus/0", START);
    let pid = sim.workload_pid("prometheus/0");
    let rolls = sim.pod_rolls();

    let zinc = sim.relate(&["zinc", "prometheus", "--profile", "scrape-target", "--live"]);
    wait_for_alerts(&sim, &address, &["ZincDown"]);

    let file = sim.dir.path().join("zinc-rules.json");
    let data = rules_data("zinc_alerts", "ZincSlow", "up{job=\"zinc\"} < 0.5");
    std::fs::write(&file, data.to_string()).unwrap();
    let file = file.display().to_string();
    sim.ok(&[
        "set-relation-data",
        &zinc.to_string(),
        "zinc",
        "--file",
        &file,
    ]);
    wait_for_alerts(&sim, &address, &["ZincSlow"]);

    let tin = sim.relate(&["tin", "prometheus", "--profile", "scrape-target", "--live"]);
    assert_ne!(tin, zinc);
    wait_for_alerts(&sim, &address, &["ZincDown", "ZincSlow"]);

    sim.ok(&["remove-relation", &zinc.to_string()]);
    wait_for_alerts(&sim, &address, &["ZincDown"]);
    sim.wait_active("prometheus/0", SETTLE);
    assert_eq!(sim.workload_pid("prometheus/0"), pid, "never restarted");
    assert_eq!(sim.pod_rolls(), rolls, "the StatefulSet never rolled");
}

/// When Prometheus last loaded its configuration (a reload or the start).
fn last_reload(address: &str) -> Result<String, String> {
    query_one(
        address,
        "prometheus_config_last_reload_success_timestamp_seconds",
    )
}

/// Targets leave prometheus.yml for the file_sd files, which Prometheus (Debian's 2.42 here)
/// re-reads by itself: a target change (here a unit moving behind a path) reaches the running
/// Prometheus without a reload or a restart.
#[test]
fn a_target_change_is_picked_up_from_the_target_files_without_a_reload() {
    let (sim, address) = live(1);
    sim.wait_active("prometheus/0", START);
    let id = sim.relate(&["scrape-target", "prometheus", "--live"]);
    sim.wait_active("prometheus/0", SETTLE);
    let exporter = sim.workload("scrape-target/0")["address"]
        .as_str()
        .unwrap()
        .to_string();
    let scrape_urls = |address: &str| -> Result<Vec<String>, String> {
        let data = api_get(address, "/api/v1/targets")?;
        Ok(data["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["labels"]["juju_unit"] == "scrape-target/0")
            .filter_map(|t| t["scrapeUrl"].as_str().map(str::to_string))
            .collect())
    };
    let wait_for_url = |url: String| {
        sim.wait_for(&format!("{url} scraped"), SETTLE, false, |_| {
            let urls = scrape_urls(&address)?;
            if urls == [url.clone()] {
                Ok(())
            } else {
                Err(format!("{urls:?}"))
            }
        });
    };
    wait_for_url(format!("http://{exporter}/metrics"));
    sim.wait_for("the self-scrape", SETTLE, false, |_| last_reload(&address));
    let yml = sim.prometheus_yml();
    let rules = sim.rules_yml();
    let reloaded = last_reload(&address).unwrap();
    let pid = sim.workload_pid("prometheus/0");

    sim.ok(&[
        "set-relation-data",
        &id.to_string(),
        "scrape-target/0",
        "prometheus_scrape_unit_path=/behind-ingress",
    ]);
    wait_for_url(format!("http://{exporter}/behind-ingress/metrics"));
    assert_eq!(
        sim.prometheus_yml(),
        yml,
        "a target change changed prometheus.yml"
    );
    assert_eq!(sim.rules_yml(), rules);
    sim.wait_active("prometheus/0", SETTLE);
    // One more self-scrape, so that a reload would show.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        last_reload(&address).unwrap(),
        reloaded,
        "Prometheus was reloaded"
    );
    assert_eq!(
        sim.workload_pid("prometheus/0"),
        pid,
        "Prometheus was restarted"
    );
}

/// The PID of the Prometheus a sidecar unit's Pebble runs: the one process of the process
/// table running `prometheus` with paths under the unit's pod root (juju-sim maps the
/// container's paths there); `None` when there is none.
fn sidecar_prometheus_pid(sim: &Sim, unit: &str) -> Option<u32> {
    let root = sim
        .model_dir()
        .join("workloads")
        .join(unit.replace('/', "-"))
        .join("root");
    let root = root.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A process may be gone between the listing and the read.
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_prometheus = args
            .first()
            .is_some_and(|a| std::path::Path::new(a).file_name() == Some("prometheus".as_ref()));
        if is_prometheus && args.iter().any(|a| a.contains(&root)) {
            found.push(pid);
        }
    }
    assert!(
        found.len() <= 1,
        "more than one Prometheus for {unit}: {found:?}"
    );
    found.first().copied()
}

/// The sidecar charm, live: Pebble runs the real Prometheus. A change of prometheus.yml only
/// (`scrape-interval`) is pushed and reloaded, and the same process serves it; a change of
/// flags (`log-level`) changes the layer, and the replan restarts Prometheus.
#[test]
fn sidecar_a_config_change_reloads_the_same_process_and_a_flag_change_restarts_it() {
    let port = free_port();
    let sim = Sim::deployed_live_as(Flavour::Sidecar, 1, port, &FAST_SCRAPES);
    let unit = "prometheus/0";
    let pod = sim.status()["applications"]["prometheus"]["units"][unit]["address"]
        .as_str()
        .unwrap()
        .to_string();
    let address = format!("{pod}:{port}");
    assert_eq!(sim.wait_active(unit, START), "");
    let pid = sidecar_prometheus_pid(&sim, unit).expect("Pebble runs Prometheus");
    let served = served_config(&address).unwrap();
    assert_eq!(served["global"]["scrape_interval"], "5s");
    assert_eq!(
        served["global"]["external_labels"]["replica"],
        "prometheus-0"
    );

    sim.ok(&["config", "prometheus", "scrape-interval=7s"]);
    sim.wait_for("scrape_interval 7s served", SETTLE, true, |_| {
        let served = served_config(&address)?;
        match served["global"]["scrape_interval"].as_str() {
            Some("7s") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    sim.wait_active(unit, SETTLE);
    assert_eq!(
        sidecar_prometheus_pid(&sim, unit),
        Some(pid),
        "a prometheus.yml change restarted Prometheus"
    );

    sim.ok(&["config", "prometheus", "log-level=debug"]);
    let restarted =
        sim.wait_for(
            "a new Prometheus",
            SETTLE,
            true,
            |sim| match sidecar_prometheus_pid(sim, unit) {
                Some(new) if new != pid => Ok(new),
                other => Err(format!("{other:?}")),
            },
        );
    assert_eq!(sim.wait_active(unit, START), "");
    assert_eq!(sidecar_prometheus_pid(&sim, unit), Some(restarted));
    let args = std::fs::read(format!("/proc/{restarted}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&args).contains("--log.level=debug"),
        "{}",
        String::from_utf8_lossy(&args)
    );
    let served = served_config(&address).unwrap();
    assert_eq!(served["global"]["scrape_interval"], "7s");
}
