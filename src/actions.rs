//! The charm's actions (actions.yaml). Each observes and plans like a hook, so it works on
//! exactly what the hooks render, then reports through `action-set`; what goes wrong for the
//! operator is an `action-fail` with a clear message, never a failing process.
//!
//! - `show-config`: the rendered prometheus.yml and rule files.
//! - `validate-configuration`: `promtool check config` on them, where the action runs (in the
//!   workload pod on Kubernetes, so the promtool that ships with the running Prometheus).
//! - `reload`: `POST /-/reload` on every unit, then what each one serves.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use juju::{Hook, HookContext, HookTools};
use thiserror::Error;

use crate::charm::{self, Observed, Plan};
use crate::error::CharmError;
use crate::pod_spec::ConfigFiles;
use crate::prometheus::api::{PrometheusApi, Target};
use crate::prometheus::render::{Rendered, CONFIG_FILE};
use crate::prometheus::served;
use crate::workload;

pub const SHOW_CONFIG: &str = "show-config";
pub const VALIDATE_CONFIGURATION: &str = "validate-configuration";
pub const RELOAD: &str = "reload";

/// The peer endpoint: every other unit of the application is in it.
const PEERS: &str = "prometheus-peers";
/// Juju's own key for a unit's address in every unit databag.
const PRIVATE_ADDRESS: &str = "private-address";

/// Runs the action `name`.
pub fn run<T: HookTools + ?Sized, A: PrometheusApi + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    name: &str,
    api: &A,
) -> Result<(), CharmError> {
    match name {
        SHOW_CONFIG => show_config(tools, ctx, name),
        VALIDATE_CONFIGURATION => validate_configuration(tools, ctx, name, &Promtool::default()),
        RELOAD => reload(tools, ctx, name, api),
        other => Ok(tools.action_fail(&format!("the charm has no action {other:?}"))?),
    }
}

/// What the hooks would render now, or `None` after failing the action on invalid options.
fn rendered<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    name: &str,
) -> Result<Option<(Observed, Plan, Rendered)>, CharmError> {
    let hook = Hook::Action(name.to_string());
    let observed = charm::observe(tools, ctx, Some(&hook))?;
    let plan = charm::plan(&observed)?;
    if let Some(message) = config_failure(&plan) {
        tools.action_fail(&message)?;
        return Ok(None);
    }
    match plan.rendered.clone() {
        Some(rendered) => Ok(Some((observed, plan, rendered))),
        None => {
            tools.action_fail("the configuration cannot be rendered")?;
            Ok(None)
        }
    }
}

/// The action-fail message for invalid options, naming each.
pub fn config_failure(plan: &Plan) -> Option<String> {
    if plan.config_errors.is_empty() {
        return None;
    }
    let all: Vec<String> = plan.config_errors.iter().map(|e| e.to_string()).collect();
    Some(format!(
        "invalid config: {} (fix it with `juju config`)",
        all.join("; ")
    ))
}

/// `show-config` results: `prometheus-yml`, and per rule file `rule-files.<n>.name` and
/// `.content` (file names are no action-set keys: they hold underscores and dots).
pub fn show_config_results(files: &ConfigFiles) -> BTreeMap<String, String> {
    let mut results =
        BTreeMap::from([("prometheus-yml".to_string(), files.prometheus_yml.clone())]);
    for (n, (name, content)) in files.rule_files.iter().enumerate() {
        results.insert(format!("rule-files.{n}.name"), name.clone());
        results.insert(format!("rule-files.{n}.content"), content.clone());
    }
    results
}

fn show_config<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    name: &str,
) -> Result<(), CharmError> {
    let Some((_, _, rendered)) = rendered(tools, ctx, name)? else {
        return Ok(());
    };
    let files = charm::config_files(&rendered)?;
    tools.action_set(&show_config_results(&files))?;
    Ok(())
}

#[derive(Debug, Error)]
pub enum PromtoolError {
    #[error("cannot run {program} where the action runs: {source}")]
    Missing {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the configuration to check: {0}")]
    Write(#[source] std::io::Error),
}

/// What `promtool check config` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub valid: bool,
    /// stdout then stderr, as promtool printed them.
    pub output: String,
}

/// `promtool`, found on PATH unless a test names another program.
#[derive(Debug, Clone)]
pub struct Promtool {
    pub program: PathBuf,
}

impl Default for Promtool {
    fn default() -> Self {
        Promtool {
            program: PathBuf::from("promtool"),
        }
    }
}

impl Promtool {
    /// Writes prometheus.yml and the rule files side by side in a fresh directory (as they
    /// are mounted, so relative rule file paths resolve) and checks them from there, so the
    /// output names the files and not a temporary path.
    pub fn check_config(&self, files: &ConfigFiles) -> Result<Verdict, PromtoolError> {
        let dir = tempfile::tempdir().map_err(PromtoolError::Write)?;
        std::fs::write(dir.path().join(CONFIG_FILE), &files.prometheus_yml)
            .map_err(PromtoolError::Write)?;
        for (name, content) in &files.rule_files {
            std::fs::write(dir.path().join(name), content).map_err(PromtoolError::Write)?;
        }
        let out = Command::new(&self.program)
            .args(["check", "config", CONFIG_FILE])
            .current_dir(dir.path())
            .output()
            .map_err(|source| PromtoolError::Missing {
                program: self.program.display().to_string(),
                source,
            })?;
        Ok(Verdict {
            valid: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

/// Longest part of promtool's output repeated in the failure message.
const FAILURE_QUOTED: usize = 500;

/// The failure message for a rejected configuration: promtool's findings, without the
/// `Checking <file>` lines.
pub fn rejection_message(output: &str) -> String {
    let findings: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Checking "))
        .collect();
    let mut text = findings.join(" ");
    if text.chars().count() > FAILURE_QUOTED {
        text = format!("{}…", text.chars().take(FAILURE_QUOTED).collect::<String>());
    }
    if text.is_empty() {
        "promtool rejected the configuration (no output)".to_string()
    } else {
        format!("promtool rejected the configuration: {text}")
    }
}

fn validate_configuration<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    name: &str,
    promtool: &Promtool,
) -> Result<(), CharmError> {
    let Some((_, _, rendered)) = rendered(tools, ctx, name)? else {
        return Ok(());
    };
    let files = charm::config_files(&rendered)?;
    match promtool.check_config(&files) {
        Ok(verdict) => {
            tools.action_set(&BTreeMap::from([
                ("valid".to_string(), verdict.valid.to_string()),
                ("output".to_string(), verdict.output.clone()),
            ]))?;
            if !verdict.valid {
                tools.action_fail(&rejection_message(&verdict.output))?;
            }
        }
        Err(e) => tools.action_fail(&e.to_string())?,
    }
    Ok(())
}

/// `prometheus/1` → `prometheus-1`: an action-set key (no `/`), and the pod's name.
pub fn unit_key(unit: &str) -> String {
    unit.replace('/', "-")
}

/// Every unit to reload, ours first, with its Prometheus when its address is known: ours
/// from network-get, the peers' from their `private-address`.
pub fn reload_targets(observed: &Observed, plan: &Plan) -> Vec<(String, Option<Target>)> {
    let mut units = vec![(observed.unit.clone(), plan.target.clone())];
    let port = plan.target.as_ref().map(|t| t.port);
    let mut peers: BTreeMap<String, Option<Target>> = BTreeMap::new();
    for snapshot in observed.relations.get(PEERS).into_iter().flatten() {
        for (unit, data) in &snapshot.remote_units {
            let target = match (data.get(PRIVATE_ADDRESS), port) {
                (Some(address), Some(port)) if !address.is_empty() => {
                    Some(Target::new(address.clone(), port))
                }
                _ => None,
            };
            peers.insert(unit.clone(), target);
        }
    }
    units.extend(peers);
    units
}

/// How one unit's reload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    pub unit: String,
    pub target: Option<Target>,
    pub result: Result<Served, String>,
}

/// What a unit served after its reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub yaml: String,
    /// Where it differs from what this unit rendered, if it does.
    pub difference: Option<String>,
}

fn reload_one<A: PrometheusApi + ?Sized>(
    api: &A,
    target: &Target,
    rendered: &Rendered,
) -> Result<Served, String> {
    api.reload(target).map_err(|e| workload::reason(&e))?;
    let yaml = api
        .served_config(target)
        .map_err(|e| format!("reloaded, but then {}", workload::reason(&e)))?;
    let difference = match served::difference(&rendered.config, &yaml) {
        Ok(d) => d.map(|d| d.to_string()),
        Err(e) => Some(e.to_string()),
    };
    Ok(Served { yaml, difference })
}

/// The results for every unit under `units.<unit-key>.`, and the failure message if any unit
/// could not be reloaded.
pub fn reload_results(outcomes: &[ReloadOutcome]) -> (BTreeMap<String, String>, Option<String>) {
    let mut results = BTreeMap::new();
    let mut failed = Vec::new();
    for outcome in outcomes {
        let key = format!("units.{}", unit_key(&outcome.unit));
        let mut put = |k: &str, v: String| {
            results.insert(format!("{key}.{k}"), v);
        };
        if let Some(target) = &outcome.target {
            put("address", target.to_string());
        }
        match &outcome.result {
            Ok(served) => {
                put("reloaded", "true".into());
                put("config-current", served.difference.is_none().to_string());
                if let Some(d) = &served.difference {
                    put("difference", d.clone());
                }
                put("served-config", served.yaml.clone());
            }
            Err(error) => {
                put("reloaded", "false".into());
                put("error", error.clone());
                match &outcome.target {
                    Some(target) => failed.push(format!("{} at {target}: {error}", outcome.unit)),
                    None => failed.push(format!("{}: {error}", outcome.unit)),
                }
            }
        }
    }
    let failure = (!failed.is_empty()).then(|| {
        format!(
            "reload failed on {} of {} unit(s): {}",
            failed.len(),
            outcomes.len(),
            failed.join("; ")
        )
    });
    (results, failure)
}

fn reload<T: HookTools + ?Sized, A: PrometheusApi + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    name: &str,
    api: &A,
) -> Result<(), CharmError> {
    let Some((observed, plan, rendered)) = rendered(tools, ctx, name)? else {
        return Ok(());
    };
    let outcomes: Vec<ReloadOutcome> = reload_targets(&observed, &plan)
        .into_iter()
        .map(|(unit, target)| {
            let result = match &target {
                Some(t) => reload_one(api, t, &rendered),
                None => Err("Juju gives no address for it".to_string()),
            };
            ReloadOutcome {
                unit,
                target,
                result,
            }
        })
        .collect();
    let (results, failure) = reload_results(&outcomes);
    tools.action_set(&results)?;
    if let Some(message) = failure {
        tools.action_fail(&message)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charm::fake::{FakeRelation, FakeTools};
    use crate::relations::test_support;
    use crate::workload::fake::{FakePrometheus, FakeServer};
    use juju::RelationId;
    use serde_json::json;

    const IMAGE: &str = "registrypath: ubuntu/prometheus:latest\nusername: ''\npassword: ''\n";

    fn ctx(unit: &str, action: &str) -> HookContext {
        HookContext::from_lookup(|k| match k {
            "JUJU_UNIT_NAME" => Some(unit.to_string()),
            "JUJU_CHARM_DIR" => Some("/charm".to_string()),
            "JUJU_MODEL_NAME" => Some("cos".to_string()),
            "JUJU_MODEL_UUID" => Some("f4d59020-c8e7-4053-8044-a2c1e5591c7f".to_string()),
            "JUJU_ACTION_NAME" => Some(action.to_string()),
            _ => None,
        })
        .unwrap()
    }

    fn unit(name: &str, leader: bool) -> FakeTools {
        let tools = FakeTools::new(name, leader);
        tools.model().resource = Some(IMAGE.to_string());
        tools
    }

    /// The zinc example of interfaces.md: one scrape job and alert rules.
    fn with_rules(tools: &FakeTools) {
        let zinc = test_support::zinc_relation(7, 1);
        let mut relation = FakeRelation::new("zinc");
        relation.app_data = zinc.remote_app_data;
        relation.units = zinc.remote_units;
        tools
            .model()
            .relations
            .insert(RelationId::new("metrics-endpoint", 7), relation);
    }

    fn nothing() -> FakePrometheus<'static> {
        FakePrometheus::new(|| Ok(String::new()))
    }

    #[test]
    fn show_config_returns_what_the_pod_mounts() {
        let tools = unit("prometheus/0", true);
        with_rules(&tools);
        run(
            &tools,
            &ctx("prometheus/0", SHOW_CONFIG),
            SHOW_CONFIG,
            &nothing(),
        )
        .unwrap();
        let m = tools.model();
        assert_eq!(m.action_failure, None);
        let yml = &m.action_results["prometheus-yml"];
        assert!(yml.contains("job_name: prometheus\n"), "{yml}");
        let name = &m.action_results["rule-files.0.name"];
        assert!(
            name.starts_with("juju_cos_f4d59020_zinc.") && name.ends_with(".rules"),
            "{name}"
        );
        assert!(yml.contains(&format!("- {name}\n")), "{yml}");
        assert!(m.action_results["rule-files.0.content"].contains("alert: ZincDown"));
        // An action sets no spec, relation data or status.
        assert!(!m.calls.iter().any(|c| c.starts_with("pod-spec-set")
            || c.starts_with("relation-set")
            || c.starts_with("status-set")));
    }

    #[test]
    fn invalid_options_fail_every_action_naming_them() {
        for action in [SHOW_CONFIG, VALIDATE_CONFIGURATION, RELOAD] {
            let tools = unit("prometheus/0", true);
            tools
                .model()
                .config
                .insert("scrape-timeout".into(), json!("never"));
            run(&tools, &ctx("prometheus/0", action), action, &nothing()).unwrap();
            let m = tools.model();
            let failure = m.action_failure.clone().unwrap();
            assert!(
                failure.starts_with("invalid config: scrape-timeout=\"never\": expected"),
                "{action}: {failure}"
            );
            assert!(
                failure.ends_with("(fix it with `juju config`)"),
                "{failure}"
            );
            assert!(m.action_results.is_empty());
        }
    }

    #[test]
    fn promtool_accepts_what_the_charm_renders() {
        let tools = unit("prometheus/0", true);
        with_rules(&tools);
        run(
            &tools,
            &ctx("prometheus/0", VALIDATE_CONFIGURATION),
            VALIDATE_CONFIGURATION,
            &nothing(),
        )
        .unwrap();
        let m = tools.model();
        assert_eq!(m.action_failure, None, "{:?}", m.action_results);
        assert_eq!(m.action_results["valid"], "true");
        let output = &m.action_results["output"];
        assert!(output.contains("SUCCESS: 1 rule files found"), "{output}");
        assert!(
            output.contains("Checking juju_cos_f4d59020_zinc."),
            "{output}"
        );
    }

    fn files(yml: &str) -> ConfigFiles {
        ConfigFiles {
            prometheus_yml: yml.to_string(),
            rule_files: BTreeMap::new(),
        }
    }

    #[test]
    fn promtool_verdicts() {
        let promtool = Promtool::default();
        let good = promtool
            .check_config(&files("scrape_configs:\n- job_name: x\n"))
            .unwrap();
        assert!(good.valid, "{}", good.output);
        let bad = promtool
            .check_config(&files(
                "global:\n  scrape_interval: 10s\n  scrape_timeout: 1m\n",
            ))
            .unwrap();
        assert!(!bad.valid);
        let message = rejection_message(&bad.output);
        assert!(
            message.starts_with("promtool rejected the configuration: FAILED: parsing YAML file prometheus.yml: global scrape timeout greater than scrape interval"),
            "{message}"
        );
        let missing = Promtool {
            program: "/nonexistent/promtool".into(),
        }
        .check_config(&files(""))
        .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "cannot run /nonexistent/promtool where the action runs: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_rejected_or_unchecked_configuration_fails_the_action() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("promtool");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho \"Checking $3\"\necho '  FAILED: no good' >&2\nexit 1\n",
        )
        .unwrap();
        let mut perms = std::fs::metadata(&fake).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&fake, perms).unwrap();
        let tools = unit("prometheus/0", true);
        let c = ctx("prometheus/0", VALIDATE_CONFIGURATION);
        validate_configuration(
            &tools,
            &c,
            VALIDATE_CONFIGURATION,
            &Promtool { program: fake },
        )
        .unwrap();
        {
            let m = tools.model();
            assert_eq!(m.action_results["valid"], "false");
            assert_eq!(
                m.action_results["output"],
                "Checking prometheus.yml\n  FAILED: no good\n"
            );
            assert_eq!(
                m.action_failure.as_deref(),
                Some("promtool rejected the configuration: FAILED: no good")
            );
        }
        let tools = unit("prometheus/0", true);
        let missing = Promtool {
            program: dir.path().join("absent"),
        };
        validate_configuration(&tools, &c, VALIDATE_CONFIGURATION, &missing).unwrap();
        let m = tools.model();
        assert!(m.action_results.is_empty());
        assert!(
            m.action_failure
                .as_deref()
                .unwrap()
                .starts_with("cannot run "),
            "{:?}",
            m.action_failure
        );
    }

    fn with_peers(tools: &FakeTools) {
        tools.model().relations.insert(
            RelationId::new(PEERS, 0),
            FakeRelation::new("prometheus")
                .unit("prometheus/1", &[(PRIVATE_ADDRESS, "10.1.36.81")])
                .unit("prometheus/2", &[(PRIVATE_ADDRESS, "10.1.36.82")]),
        );
    }

    #[test]
    fn reload_reaches_every_unit_and_reports_what_each_serves() {
        let tools = unit("prometheus/0", true);
        with_peers(&tools);
        // What this unit renders: the leader's show-config.
        run(
            &tools,
            &ctx("prometheus/0", SHOW_CONFIG),
            SHOW_CONFIG,
            &nothing(),
        )
        .unwrap();
        let current = tools.model().action_results["prometheus-yml"].clone();
        tools.model().action_results.clear();
        let api = FakePrometheus::new(|| Ok(current.clone()))
            .with(Target::new("10.1.36.80", 9090), FakeServer::up())
            .with(Target::new("10.1.36.81", 9090), FakeServer::up())
            .with(Target::new("10.1.36.82", 9090), FakeServer::up());
        run(&tools, &ctx("prometheus/0", RELOAD), RELOAD, &api).unwrap();
        let m = tools.model();
        assert_eq!(m.action_failure, None);
        for (n, address) in [(0, "10.1.36.80"), (1, "10.1.36.81"), (2, "10.1.36.82")] {
            let key = |k: &str| format!("units.prometheus-{n}.{k}");
            assert_eq!(m.action_results[&key("address")], format!("{address}:9090"));
            assert_eq!(m.action_results[&key("reloaded")], "true");
            assert_eq!(m.action_results[&key("config-current")], "true");
            assert_eq!(m.action_results[&key("served-config")], current);
        }
        assert_eq!(
            api.calls(),
            vec![
                "reload 10.1.36.80:9090",
                "served_config 10.1.36.80:9090",
                "reload 10.1.36.81:9090",
                "served_config 10.1.36.81:9090",
                "reload 10.1.36.82:9090",
                "served_config 10.1.36.82:9090",
            ]
        );
    }

    #[test]
    fn reload_fails_naming_the_units_it_could_not_reach() {
        let tools = unit("prometheus/1", false);
        with_peers(&tools);
        tools.model().relations.insert(
            RelationId::new(PEERS, 0),
            FakeRelation::new("prometheus")
                .unit("prometheus/0", &[(PRIVATE_ADDRESS, "10.1.36.79")])
                .unit("prometheus/2", &[]),
        );
        tools.model().config.insert("port".into(), json!(9091));
        let old = "global:\n  scrape_interval: 5m\n  scrape_timeout: 10s\n  \
                   evaluation_interval: 1m\n  external_labels:\n    replica: prometheus-1\n"
            .to_string();
        let api = FakePrometheus::new(|| Ok(old.clone()))
            .with(Target::new("10.1.36.80", 9091), FakeServer::up());
        run(&tools, &ctx("prometheus/1", RELOAD), RELOAD, &api).unwrap();
        let m = tools.model();
        let r = &m.action_results;
        assert_eq!(r["units.prometheus-1.reloaded"], "true");
        assert_eq!(r["units.prometheus-1.config-current"], "false");
        assert_eq!(
            r["units.prometheus-1.difference"],
            "global.scrape_interval: rendered 1m, served 5m"
        );
        assert_eq!(r["units.prometheus-0.address"], "10.1.36.79:9091");
        assert_eq!(r["units.prometheus-0.reloaded"], "false");
        assert_eq!(
            r["units.prometheus-0.error"],
            "Connection refused (os error 111)"
        );
        assert!(!r.contains_key("units.prometheus-2.address"));
        assert_eq!(
            m.action_failure.as_deref(),
            Some(
                "reload failed on 2 of 3 unit(s): \
                 prometheus/0 at 10.1.36.79:9091: Connection refused (os error 111); \
                 prometheus/2: Juju gives no address for it"
            )
        );
    }

    #[test]
    fn unknown_actions_fail_plainly() {
        let tools = unit("prometheus/0", true);
        run(
            &tools,
            &ctx("prometheus/0", "frobnicate"),
            "frobnicate",
            &nothing(),
        )
        .unwrap();
        assert_eq!(
            tools.model().action_failure.as_deref(),
            Some("the charm has no action \"frobnicate\"")
        );
    }

    #[test]
    fn unit_keys_are_action_keys() {
        assert_eq!(unit_key("prometheus/12"), "prometheus-12");
    }
}
