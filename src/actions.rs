//! The charm's actions (actions.yaml). Each observes and plans like a hook, so it works on
//! exactly what the hooks render, then reports through `action-set`; what goes wrong for the
//! operator is an `action-fail` with a clear message, never a failing process. Only a hook
//! tool failing also ends the process in error (after an `action-fail` naming it).
//!
//! - `show-config`: the rendered prometheus.yml and rule files.
//! - `validate-configuration`: `promtool check config` on them, where the action runs (in the
//!   workload pod on Kubernetes, so the promtool that ships with the running Prometheus).
//! - `reload`: `POST /-/reload` on every unit, each at its pod's DNS name, then what each
//!   one serves.
//!
//! Results go through [`publish`]: a value too big for one `action-set` argument is set in
//! parts (see [`results`]), and an error from a hook tool still ends in an `action-fail`
//! naming what failed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use juju::{Hook, HookContext, HookTools, ToolError};
use thiserror::Error;

use crate::charm::{self, CharmKind, Observed, Plan, Workload, PEERS};
use crate::config::{CharmConfig, ConfigError};
use crate::error::CharmError;
use crate::pebble_layer;
use crate::pod_spec::{ConfigFiles, FILE_MODE};
use crate::prometheus::api::{ApiError, PrometheusApi, Target};
use crate::prometheus::render::{Rendered, CONFIG_DIR, CONFIG_FILE};
use crate::prometheus::served;
use crate::sidecar::{self, PebbleError};

pub const SHOW_CONFIG: &str = "show-config";
pub const VALIDATE_CONFIGURATION: &str = "validate-configuration";
pub const RELOAD: &str = "reload";

/// Runs the action `name`. An error that stops it (a hook tool failing) is reported through
/// `action-fail`, whose message is what the operator reads, and the action exits 0 as Juju
/// asks; only when `action-fail` itself fails is the error returned (non-zero exit).
pub fn run<T: HookTools + ?Sized, A: PrometheusApi + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    name: &str,
    api: &A,
    workload: Workload<'_>,
) -> Result<(), CharmError> {
    let kind = workload.kind();
    let outcome = match (name, workload) {
        (SHOW_CONFIG, _) => show_config(tools, ctx, name, kind),
        (VALIDATE_CONFIGURATION, Workload::PodSpec) => {
            validate_configuration(tools, ctx, name, &Promtool::default(), kind)
        }
        (VALIDATE_CONFIGURATION, Workload::Sidecar(container)) => {
            validate_configuration(tools, ctx, name, &ContainerPromtool { container }, kind)
        }
        (RELOAD, _) => reload(tools, ctx, name, api, kind),
        (other, _) => Ok(tools.action_fail(&format!("the charm has no action {other:?}"))?),
    };
    let Err(error) = outcome else {
        return Ok(());
    };
    // Once action-fail carries the message, the handler exits 0 as Juju asks: a non-zero exit
    // would make Juju report `exit status N` instead of what went wrong.
    match tools.action_fail(&error_message(&error)) {
        Ok(()) => {
            tracing::error!("{error}");
            Ok(())
        }
        Err(also) => {
            tracing::warn!(
                "cannot report the failure through action-fail either: {}",
                tool_failure(&also)
            );
            Err(error)
        }
    }
}

/// Longest error text repeated in an action-fail message (itself one argument).
const ERROR_QUOTED: usize = 1000;

/// The action-fail message for an error that stopped the action.
pub fn error_message(error: &CharmError) -> String {
    let what = match error {
        CharmError::Tool(tool) => tool_failure(tool),
        other => other.to_string(),
    };
    format!(
        "the action could not complete: {}",
        clipped(what, ERROR_QUOTED)
    )
}

/// `text`, cut after `max` characters with an ellipsis when longer.
fn clipped(text: String, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text
    }
}

/// A hook tool's failure in few words: the tool and what it said, without its arguments
/// (which `ToolError`'s Display carries, and which for action-set are the results).
fn tool_failure(error: &ToolError) -> String {
    match error {
        ToolError::Failed { tool, code, .. } => {
            let status = match code {
                Some(code) => format!("exit code {code}"),
                None => "killed by a signal".to_string(),
            };
            match error.message() {
                Some(said) if !said.is_empty() => format!("{tool} failed ({status}): {said}"),
                _ => format!("{tool} failed ({status}) without saying why"),
            }
        }
        ToolError::Output { tool, source, .. } => {
            format!("{tool} printed output that is not the expected JSON: {source}")
        }
        other => other.to_string(),
    }
}

/// Sets `results` as the action's results, each value that may be too big for one argument
/// in parts, over as many `action-set` calls as the argument list needs.
pub fn publish<T: HookTools + ?Sized>(
    tools: &T,
    results: BTreeMap<String, String>,
) -> Result<(), ToolError> {
    let all = results::in_parts(results, results::PART_BYTES);
    for call in results::batches(all, results::CALL_BYTES) {
        tools.action_set(&call)?;
    }
    Ok(())
}

/// Action results are `action-set key=value` arguments, and Linux refuses one argument over
/// 128 KiB (MAX_ARG_STRLEN) and an argument list over about 2 MiB (ARG_MAX, with the
/// environment): a rendered prometheus.yml with a few thousand targets is bigger than that.
/// So a value over [`PART_BYTES`] is set as `<key>.part-001`, `<key>.part-002`, … (in order,
/// each a whole number of characters and, where it can be, of lines) and `<key>.parts` (how
/// many); the parts joined give the value. Smaller values keep their key. The pairs are then
/// shared out over `action-set` calls of at most [`CALL_BYTES`] each; Juju merges them.
pub mod results {
    use std::collections::BTreeMap;

    /// Largest value set under its key; the largest part of a bigger one.
    pub const PART_BYTES: usize = 64 * 1024;
    /// Most argument bytes given to one `action-set` call.
    pub const CALL_BYTES: usize = 512 * 1024;
    /// The key segment under which a value in parts gives their count.
    pub const PARTS: &str = "parts";

    /// `value` cut into parts of at most `limit` bytes (4 at least, so that every part holds
    /// a character): at a line end when one is in the second half of the part, else at a
    /// character boundary. Joined, they are `value`.
    pub fn split(value: &str, limit: usize) -> Vec<&str> {
        let limit = limit.max(4);
        let mut parts = Vec::new();
        let mut rest = value;
        while rest.len() > limit {
            let mut cut = limit;
            while cut > 1 && !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if let Some(line_end) = rest.get(..cut).and_then(|head| head.rfind('\n')) {
                if line_end + 1 >= cut / 2 {
                    cut = line_end + 1;
                }
            }
            let Some((part, tail)) = rest.split_at_checked(cut) else {
                break;
            };
            parts.push(part);
            rest = tail;
        }
        if !rest.is_empty() || parts.is_empty() {
            parts.push(rest);
        }
        parts
    }

    /// The key of part `n` (from 1) of `count`: zero-padded so that keys sort as parts do.
    pub fn part_key(key: &str, n: usize, count: usize) -> String {
        let width = count.to_string().len().max(3);
        format!("{key}.part-{n:0width$}")
    }

    /// `results` with every value over `limit` bytes replaced by its parts and their count.
    pub fn in_parts(results: BTreeMap<String, String>, limit: usize) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (key, value) in results {
            if value.len() <= limit {
                out.insert(key, value);
                continue;
            }
            let parts = split(&value, limit);
            for (n, part) in parts.iter().enumerate() {
                out.insert(part_key(&key, n + 1, parts.len()), part.to_string());
            }
            out.insert(format!("{key}.{PARTS}"), parts.len().to_string());
        }
        out
    }

    /// What `key=value` takes of the argument space: its bytes, the NUL ending it and its
    /// pointer in argv.
    pub fn argument_bytes(key: &str, value: &str) -> usize {
        key.len() + 1 + value.len() + 1 + std::mem::size_of::<usize>()
    }

    /// `results` shared out, in key order, over calls of at most `budget` argument bytes
    /// each (a pair bigger than that alone in its call).
    pub fn batches(
        results: BTreeMap<String, String>,
        budget: usize,
    ) -> Vec<BTreeMap<String, String>> {
        let mut calls = Vec::new();
        let mut call = BTreeMap::new();
        let mut used = 0;
        for (key, value) in results {
            let bytes = argument_bytes(&key, &value);
            if !call.is_empty() && used + bytes > budget {
                calls.push(std::mem::take(&mut call));
                used = 0;
            }
            used += bytes;
            call.insert(key, value);
        }
        if !call.is_empty() {
            calls.push(call);
        }
        calls
    }
}

/// What the hooks would render now, and the files as the pod mounts them (moved out of the
/// plan), or `None` after failing the action on invalid options: the only reason `plan`
/// renders nothing.
fn rendered<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    name: &str,
    kind: CharmKind,
) -> Result<Option<(Observed, Plan, Rendered, ConfigFiles)>, CharmError> {
    let hook = Hook::Action(name.to_string());
    let observed = charm::observe(tools, ctx, Some(&hook), kind)?;
    let mut plan = charm::plan(&observed)?;
    let Some(charm::Rendering { rendered, files }) = plan.rendering.take() else {
        tools.action_fail(&config_failure(&plan.config_errors))?;
        return Ok(None);
    };
    Ok(Some((observed, plan, rendered, files)))
}

/// The action-fail message for invalid options, naming each.
fn config_failure(errors: &[ConfigError]) -> String {
    let all: Vec<String> = errors
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    format!(
        "invalid config: {} (fix it with `juju config`)",
        all.join("; ")
    )
}

/// `show-config` results: `prometheus-yml` and `rules-yml`, the two files as mounted.
pub fn show_config_results(files: &ConfigFiles) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("prometheus-yml".to_string(), files.prometheus_yml.clone()),
        ("rules-yml".to_string(), files.rules_yml.clone()),
    ])
}

fn show_config<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    name: &str,
    kind: CharmKind,
) -> Result<(), CharmError> {
    let Some((_, plan, _, files)) = rendered(tools, ctx, name, kind)? else {
        return Ok(());
    };
    let mut results = show_config_results(&files);
    // What the spec from these files would be, to compare with the one Juju holds.
    if let Some(spec) = &plan.pod_spec {
        results.insert("pod-spec-fingerprint".to_string(), spec.fingerprint.clone());
    }
    publish(tools, results)?;
    Ok(())
}

#[derive(Debug, Error)]
pub enum PromtoolError {
    /// Sidecar charm: Pebble could not take the files or run promtool.
    #[error("cannot run promtool in the workload container: {0}")]
    Container(#[from] PebbleError),
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

/// Writes every file of `files` under `root` at its mount path (`root/etc/prometheus/…`),
/// as the pod sees them, so relative paths between them resolve as in the pod.
pub fn write_mounted(files: &ConfigFiles, root: &std::path::Path) -> std::io::Result<()> {
    for set in files.file_sets() {
        let dir = root.join(set.mount_path.trim_start_matches('/'));
        std::fs::create_dir_all(&dir)?;
        for (name, content) in set.files {
            std::fs::write(dir.join(name), content)?;
        }
    }
    Ok(())
}

/// `promtool check config` on rendered files, wherever promtool is.
pub trait CheckConfig {
    fn check_config(&self, files: &ConfigFiles) -> Result<Verdict, PromtoolError>;
}

impl CheckConfig for Promtool {
    /// Writes every mounted file under a fresh directory at its mount path (so relative rule
    /// and target file paths resolve as in the pod) and checks them from prometheus.yml's
    /// directory, so the output names the files and not a temporary path.
    fn check_config(&self, files: &ConfigFiles) -> Result<Verdict, PromtoolError> {
        let dir = tempfile::tempdir().map_err(PromtoolError::Write)?;
        write_mounted(files, dir.path()).map_err(PromtoolError::Write)?;
        let config_dir = dir.path().join(CONFIG_DIR.trim_start_matches('/'));
        let out = Command::new(&self.program)
            .args(["check", "config", CONFIG_FILE])
            .current_dir(config_dir)
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

/// The sidecar charm's promtool: the one in the workload container, beside the Prometheus
/// that will read the files. They are pushed under [`SCRATCH`] at their paths (never over the
/// files Prometheus reads) and checked from prometheus.yml's directory there.
pub struct ContainerPromtool<'a> {
    pub container: &'a dyn sidecar::Container,
}

/// Where `validate-configuration` puts the files it checks in the workload container. Juju
/// runs one action or hook of a unit at a time, and every run writes every file.
pub const SCRATCH: &str = "/tmp/prometheus-k8s-validate";

impl CheckConfig for ContainerPromtool<'_> {
    fn check_config(&self, files: &ConfigFiles) -> Result<Verdict, PromtoolError> {
        for (path, content) in sidecar::file_paths(files) {
            self.container
                .push(&format!("{SCRATCH}{path}"), content, FILE_MODE)?;
        }
        let command = [
            pebble_layer::PROMTOOL_BINARY,
            "check",
            "config",
            CONFIG_FILE,
        ];
        let out = self.container.exec(
            &command.map(str::to_string),
            Some(&format!("{SCRATCH}{CONFIG_DIR}")),
        )?;
        Ok(Verdict {
            valid: out.exit_code == 0,
            output: format!("{}{}", out.stdout, out.stderr),
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
    let text = clipped(findings.join(" "), FAILURE_QUOTED);
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
    promtool: &dyn CheckConfig,
    kind: CharmKind,
) -> Result<(), CharmError> {
    let Some((_, _, _, files)) = rendered(tools, ctx, name, kind)? else {
        return Ok(());
    };
    match promtool.check_config(&files) {
        Ok(verdict) => {
            publish(
                tools,
                BTreeMap::from([
                    ("valid".to_string(), verdict.valid.to_string()),
                    ("output".to_string(), verdict.output.clone()),
                ]),
            )?;
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

/// Every unit to reload, ours first, each at its pod's stable DNS name
/// (`<app>-<n>.<app>-endpoints.<model>.svc.<cluster domain>`) and the `port` option. Not at
/// a `private-address`: on Kubernetes that is the application's Service, which hands each
/// request to any one of the pods.
pub fn reload_targets(observed: &Observed, port: u16) -> Vec<(String, Target)> {
    let at = |unit: &str| {
        Target::new(
            charm::unit_fqdn(unit, &observed.model, &observed.cluster_domain),
            port,
        )
    };
    let mut units = vec![(observed.unit.clone(), at(&observed.unit))];
    let peers: std::collections::BTreeSet<&String> = observed
        .relations
        .get(PEERS)
        .into_iter()
        .flatten()
        .flat_map(|snapshot| snapshot.remote_units.keys())
        .filter(|unit| **unit != observed.unit)
        .collect();
    units.extend(peers.into_iter().map(|unit| (unit.clone(), at(unit))));
    units
}

/// How one unit's reload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    pub unit: String,
    pub target: Target,
    pub result: Result<Served, Failure>,
}

/// What a unit served after its reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub yaml: String,
    /// Where it differs from what this unit rendered, if it does.
    pub difference: Option<String>,
}

/// Why a unit could not be reloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Nothing answered at the unit's address (refused, unresolvable, no answer in time):
    /// its Prometheus is down, as far as anyone can tell.
    pub down: bool,
    pub reason: String,
}

impl Failure {
    fn from_api(error: &ApiError, context: &str) -> Failure {
        let down = matches!(
            error,
            ApiError::Unreachable { .. } | ApiError::Timeout { .. }
        );
        let reason = match (down, context.is_empty()) {
            (true, _) => format!("Prometheus is down: {}", error.reason()),
            (false, true) => error.reason(),
            (false, false) => format!("{context}{}", error.reason()),
        };
        Failure { down, reason }
    }
}

fn reload_one<A: PrometheusApi + ?Sized>(
    api: &A,
    target: &Target,
    rendered: &Rendered,
) -> Result<Served, Failure> {
    api.reload(target).map_err(|e| Failure::from_api(&e, ""))?;
    let yaml = api
        .served_config(target)
        .map_err(|e| Failure::from_api(&e, "reloaded, but then "))?;
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
        put("address", outcome.target.to_string());
        match &outcome.result {
            Ok(served) => {
                put("up", "true".into());
                put("reloaded", "true".into());
                put("config-current", served.difference.is_none().to_string());
                if let Some(d) = &served.difference {
                    put("difference", d.clone());
                }
                put("served-config", served.yaml.clone());
            }
            Err(failure) => {
                put("up", (!failure.down).to_string());
                put("reloaded", "false".into());
                put("error", failure.reason.clone());
                failed.push(format!(
                    "{} at {}: {}",
                    outcome.unit, outcome.target, failure.reason
                ));
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
    kind: CharmKind,
) -> Result<(), CharmError> {
    let Some((observed, _, rendered, _)) = rendered(tools, ctx, name, kind)? else {
        return Ok(());
    };
    let port = match CharmConfig::parse(&observed.config) {
        Ok(config) => config.port,
        Err(errors) => {
            tools.action_fail(&config_failure(&errors))?;
            return Ok(());
        }
    };
    let outcomes: Vec<ReloadOutcome> = reload_targets(&observed, port)
        .into_iter()
        .map(|(unit, target)| ReloadOutcome {
            result: reload_one(api, &target, &rendered),
            unit,
            target,
        })
        .collect();
    let (results, failure) = reload_results(&outcomes);
    publish(tools, results)?;
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
            // A charm directory that cannot exist (a path under a file): no relations
            // cache marker can be written, so every hook reads every relation, whatever
            // the host has at /charm (juju-sim makes /charm/containers for sidecar units).
            "JUJU_CHARM_DIR" => Some("/dev/null/charm".to_string()),
            "JUJU_MODEL_NAME" => Some("cos".to_string()),
            "JUJU_MODEL_UUID" => Some("f4d59020-c8e7-4053-8044-a2c1e5591c7f".to_string()),
            "JUJU_ACTION_NAME" => Some(action.to_string()),
            _ => None,
        })
        .unwrap()
    }

    /// Runs `action` on `unit`, as Juju would with that unit's context.
    fn act(
        tools: &FakeTools,
        unit: &str,
        action: &str,
        api: &FakePrometheus,
    ) -> Result<(), CharmError> {
        run(tools, &ctx(unit, action), action, api, Workload::PodSpec)
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
        act(&tools, "prometheus/0", SHOW_CONFIG, &nothing()).unwrap();
        let m = tools.model();
        assert_eq!(m.action_failure, None);
        let yml = &m.action_results["prometheus-yml"];
        assert!(yml.contains("job_name: prometheus\n"), "{yml}");
        assert!(yml.contains("rule_files:\n- rules.yml\n"), "{yml}");
        assert!(m.action_results["rules-yml"].contains("alert: ZincDown"));
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
            act(&tools, "prometheus/0", action, &nothing()).unwrap();
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
        act(&tools, "prometheus/0", VALIDATE_CONFIGURATION, &nothing()).unwrap();
        let m = tools.model();
        assert_eq!(m.action_failure, None, "{:?}", m.action_results);
        assert_eq!(m.action_results["valid"], "true");
        let output = &m.action_results["output"];
        assert!(output.contains("SUCCESS: 1 rule files found"), "{output}");
        assert!(output.contains("Checking rules.yml"), "{output}");
    }

    fn files(yml: &str) -> ConfigFiles {
        ConfigFiles {
            prometheus_yml: yml.to_string(),
            rules_yml: "groups: []\n".to_string(),
            ..ConfigFiles::default()
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
            CharmKind::PodSpec,
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
        validate_configuration(
            &tools,
            &c,
            VALIDATE_CONFIGURATION,
            &missing,
            CharmKind::PodSpec,
        )
        .unwrap();
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
        // Juju's private-address on Kubernetes is the Service: no way to reach one pod.
        let service = [("private-address", "10.152.183.7")];
        tools.model().relations.insert(
            RelationId::new(PEERS, 0),
            FakeRelation::new("prometheus")
                .unit("prometheus/1", &service)
                .unit("prometheus/2", &service),
        );
    }

    /// Unit `n`'s pod by its stable DNS name.
    fn pod(n: u32, port: u16) -> Target {
        Target::new(
            format!("prometheus-{n}.prometheus-endpoints.cos.svc.cluster.local"),
            port,
        )
    }

    #[test]
    fn reload_reaches_every_unit_at_its_pod_and_reports_what_each_serves() {
        let tools = unit("prometheus/0", true);
        with_peers(&tools);
        // What this unit renders: the leader's show-config.
        act(&tools, "prometheus/0", SHOW_CONFIG, &nothing()).unwrap();
        let current = tools.model().action_results["prometheus-yml"].clone();
        tools.model().action_results.clear();
        let api = FakePrometheus::new(|| Ok(current.clone()))
            .with(pod(0, 9090), FakeServer::up())
            .with(pod(1, 9090), FakeServer::up())
            .with(pod(2, 9090), FakeServer::up());
        act(&tools, "prometheus/0", RELOAD, &api).unwrap();
        let m = tools.model();
        assert_eq!(m.action_failure, None);
        for n in 0..3 {
            let key = |k: &str| format!("units.prometheus-{n}.{k}");
            assert_eq!(m.action_results[&key("address")], pod(n, 9090).to_string());
            assert_eq!(m.action_results[&key("up")], "true");
            assert_eq!(m.action_results[&key("reloaded")], "true");
            assert_eq!(m.action_results[&key("config-current")], "true");
            assert_eq!(m.action_results[&key("served-config")], current);
        }
        let calls: Vec<String> = (0..3)
            .flat_map(|n| {
                let at = pod(n, 9090);
                [format!("reload {at}"), format!("served_config {at}")]
            })
            .collect();
        assert_eq!(api.calls(), calls);
    }

    #[test]
    fn reload_reports_a_unit_whose_prometheus_is_down_and_fails_naming_it() {
        let tools = unit("prometheus/1", false);
        tools.model().relations.insert(
            RelationId::new(PEERS, 0),
            FakeRelation::new("prometheus")
                .unit("prometheus/0", &[])
                .unit("prometheus/2", &[]),
        );
        tools.model().config.insert("port".into(), json!(9091));
        let old = "global:\n  scrape_interval: 5m\n  scrape_timeout: 10s\n  \
                   evaluation_interval: 1m\n  external_labels:\n    replica: prometheus-1\n"
            .to_string();
        // prometheus/0's pod answers nothing; prometheus/2's refuses to reload.
        let api = FakePrometheus::new(|| Ok(old.clone()))
            .with(pod(1, 9091), FakeServer::up())
            .with(pod(2, 9091), FakeServer::up());
        act(&tools, "prometheus/1", RELOAD, &api).unwrap();
        let r = tools.model().action_results.clone();
        assert_eq!(r["units.prometheus-1.up"], "true");
        assert_eq!(r["units.prometheus-1.reloaded"], "true");
        assert_eq!(r["units.prometheus-1.config-current"], "false");
        assert_eq!(
            r["units.prometheus-1.difference"],
            "global.scrape_interval: rendered 1m, served 5m"
        );
        let zero = pod(0, 9091).to_string();
        assert_eq!(r["units.prometheus-0.address"], zero);
        assert_eq!(r["units.prometheus-0.up"], "false");
        assert_eq!(r["units.prometheus-0.reloaded"], "false");
        assert_eq!(
            r["units.prometheus-0.error"],
            "Prometheus is down: Connection refused (os error 111)"
        );
        assert!(!r.contains_key("units.prometheus-0.served-config"));
        assert_eq!(r["units.prometheus-2.up"], "true");
        assert_eq!(
            tools.model().action_failure.as_deref(),
            Some(
                format!(
                    "reload failed on 1 of 3 unit(s): prometheus/0 at {zero}: \
                     Prometheus is down: Connection refused (os error 111)"
                )
                .as_str()
            )
        );

        // A Prometheus that answers but refuses the configuration is up, not reloaded.
        let refusing = FakePrometheus::new(|| Err("bad rule file".to_string()))
            .with(pod(0, 9090), FakeServer::up());
        let tools = unit("prometheus/0", true);
        act(&tools, "prometheus/0", RELOAD, &refusing).unwrap();
        let r = tools.model().action_results.clone();
        assert_eq!(r["units.prometheus-0.up"], "true");
        assert_eq!(r["units.prometheus-0.reloaded"], "false");
        assert_eq!(r["units.prometheus-0.error"], "bad rule file");
    }

    #[test]
    fn unknown_actions_fail_plainly() {
        let tools = unit("prometheus/0", true);
        act(&tools, "prometheus/0", "frobnicate", &nothing()).unwrap();
        assert_eq!(
            tools.model().action_failure.as_deref(),
            Some("the charm has no action \"frobnicate\"")
        );
    }

    /// A value as an operator gets it back from results in parts, or `None` when the parts
    /// do not add up.
    fn reassembled(results: &BTreeMap<String, String>, key: &str) -> Option<String> {
        if let Some(value) = results.get(key) {
            return Some(value.clone());
        }
        let count: usize = results.get(&format!("{key}.parts"))?.parse().ok()?;
        let prefix = format!("{key}.part-");
        let parts: Vec<&String> = results
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
            .collect();
        (parts.len() == count).then(|| parts.into_iter().cloned().collect())
    }

    /// Juju's rule for each dotted segment of an action-set key.
    fn valid_action_key(key: &str) -> bool {
        key.split('.').all(|segment| {
            let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
            segment.starts_with(ok)
                && segment.ends_with(ok)
                && segment.chars().all(|c| ok(c) || c == '-')
        })
    }

    fn lines(n: usize, width: usize) -> String {
        (0..n).map(|i| format!("{i:0width$}\n")).collect()
    }

    #[test]
    fn split_cuts_at_line_ends_and_joins_back() {
        assert_eq!(results::split("", 10), vec![""]);
        assert_eq!(results::split("short\n", 10), vec!["short\n"]);
        let text = lines(100, 9); // 100 lines of 10 bytes
        let parts = results::split(&text, 64);
        assert_eq!(parts.concat(), text);
        // 64 bytes would end mid-line: each part is the 6 whole lines that fit.
        assert_eq!(parts.len(), 17);
        assert!(parts[..16]
            .iter()
            .all(|p| p.len() == 60 && p.ends_with('\n')));
        assert_eq!(parts[16], &text[960..]);
    }

    #[test]
    fn split_keeps_characters_whole_without_line_ends() {
        // 2-byte characters with an odd limit, and a line end too early to cut at.
        let text = format!("a\n{}", "é".repeat(50));
        let parts = results::split(&text, 7);
        assert_eq!(parts.concat(), text);
        assert_eq!(parts[0], "a\néé");
        assert_eq!(parts.len(), 17, "{parts:?}");
        assert!(parts.iter().all(|p| p.len() == 6), "{parts:?}");
        // 4-byte characters with a limit below one: a character each.
        assert_eq!(results::split("🦀🦀", 1), vec!["🦀", "🦀"]);
    }

    #[test]
    fn large_values_become_numbered_parts_with_a_count() {
        let big = lines(20_000, 15); // 320 000 bytes
        let input = BTreeMap::from([
            ("prometheus-yml".to_string(), big.clone()),
            ("rule-files.0.name".to_string(), "a.rules".to_string()),
            ("rule-files.0.content".to_string(), "x".repeat(10)),
        ]);
        let out = results::in_parts(input, results::PART_BYTES);
        assert_eq!(out["prometheus-yml.parts"], "5");
        assert_eq!(out["rule-files.0.name"], "a.rules");
        assert_eq!(out["rule-files.0.content"], "xxxxxxxxxx");
        assert!(!out.contains_key("prometheus-yml"));
        let keys: Vec<&String> = out.keys().filter(|k| k.contains(".part-")).collect();
        assert_eq!(
            keys,
            (1..=5)
                .map(|n| format!("prometheus-yml.part-00{n}"))
                .collect::<Vec<_>>()
                .iter()
                .collect::<Vec<_>>()
        );
        for (key, value) in &out {
            assert!(valid_action_key(key), "{key}");
            assert!(value.len() <= results::PART_BYTES, "{key}");
        }
        assert_eq!(reassembled(&out, "prometheus-yml"), Some(big));
    }

    #[test]
    fn part_keys_sort_as_parts_do_past_999() {
        let value = "x".repeat(4 * 1001);
        let out = results::in_parts(BTreeMap::from([("v".to_string(), value.clone())]), 4);
        assert_eq!(out["v.parts"], "1001");
        assert!(out.contains_key("v.part-0001") && out.contains_key("v.part-1001"));
        assert_eq!(reassembled(&out, "v"), Some(value));
        assert_eq!(results::part_key("v", 7, 12), "v.part-007");
    }

    #[test]
    fn batches_stay_within_the_budget_and_keep_every_pair() {
        let input: BTreeMap<String, String> = (0..40)
            .map(|i| (format!("k{i:02}"), "v".repeat(1000 * (i % 7))))
            .collect();
        let calls = results::batches(input.clone(), 8000);
        assert!(calls.len() > 1);
        let mut merged = BTreeMap::new();
        for call in &calls {
            let bytes: usize = call
                .iter()
                .map(|(k, v)| results::argument_bytes(k, v))
                .sum();
            assert!(bytes <= 8000, "{bytes}");
            merged.extend(call.clone());
        }
        assert_eq!(merged, input);
        // A pair over the budget goes alone; nothing gives no call.
        let big = BTreeMap::from([("a".into(), "1".into()), ("b".into(), "x".repeat(100))]);
        assert_eq!(results::batches(big, 50).len(), 2);
        assert!(results::batches(BTreeMap::new(), 50).is_empty());
    }

    #[test]
    fn publish_sets_a_large_config_in_parts_over_several_calls() {
        let tools = unit("prometheus/0", true);
        let big = lines(150_000, 15); // 2.4 MB: more than one call's worth and ARG_MAX
        publish(
            &tools,
            BTreeMap::from([
                ("prometheus-yml".to_string(), big.clone()),
                ("valid".to_string(), "true".to_string()),
            ]),
        )
        .unwrap();
        let m = tools.model();
        // 37 parts of 64 KiB, 7 to a call of 512 KiB.
        let calls = m.calls.iter().filter(|c| *c == "action-set").count();
        assert_eq!(calls, 6, "{:?}", m.calls);
        assert_eq!(m.action_results["valid"], "true");
        assert_eq!(m.action_results["prometheus-yml.parts"], "37");
        assert_eq!(reassembled(&m.action_results, "prometheus-yml"), Some(big));
    }

    #[test]
    fn reload_reports_a_large_served_config_in_parts() {
        let tools = unit("prometheus/0", true);
        let served = format!(
            "global:\n  scrape_interval: 1m\n# {}\n",
            "x".repeat(200_000)
        );
        let api = FakePrometheus::new(|| Ok(served.clone())).with(pod(0, 9090), FakeServer::up());
        act(&tools, "prometheus/0", RELOAD, &api).unwrap();
        let m = tools.model();
        assert_eq!(m.action_failure, None);
        assert_eq!(m.action_results["units.prometheus-0.reloaded"], "true");
        assert_eq!(
            m.action_results["units.prometheus-0.served-config.parts"],
            "4"
        );
        assert_eq!(
            reassembled(&m.action_results, "units.prometheus-0.served-config"),
            Some(served.clone())
        );
    }

    #[test]
    fn a_failing_hook_tool_fails_the_action_naming_it() {
        for (action, tool) in [
            (SHOW_CONFIG, "action-set"),
            (VALIDATE_CONFIGURATION, "action-set"),
            (RELOAD, "action-set"),
            (SHOW_CONFIG, "config-get"),
        ] {
            let tools = unit("prometheus/0", true);
            tools.model().failing.insert(tool);
            // Reported through action-fail, so the handler itself succeeds (exit 0).
            act(&tools, "prometheus/0", action, &nothing()).unwrap();
            assert_eq!(
                tools.model().action_failure.as_deref(),
                Some(
                    format!(
                        "the action could not complete: {tool} failed (exit code 1): \
                         the test made this tool fail"
                    )
                    .as_str()
                ),
                "{action}"
            );
        }
        // When action-fail fails too, the error is all there is.
        let tools = unit("prometheus/0", true);
        tools.model().failing.extend(["action-set", "action-fail"]);
        let error = act(&tools, "prometheus/0", SHOW_CONFIG, &nothing()).unwrap_err();
        assert!(error.to_string().starts_with("action-set"), "{error}");
        assert_eq!(tools.model().action_failure, None);
    }

    #[test]
    fn error_messages_name_the_tool_not_its_arguments() {
        let too_long = CharmError::from(ToolError::Spawn {
            tool: "action-set".into(),
            source: std::io::Error::from_raw_os_error(7),
        });
        assert_eq!(
            error_message(&too_long),
            "the action could not complete: cannot run action-set: \
             Argument list too long (os error 7)"
        );
        let refused = CharmError::from(ToolError::Failed {
            tool: "action-set".into(),
            args: vec![format!("prometheus-yml={}", "x".repeat(100_000))],
            code: Some(2),
            stderr: "ERROR cannot set reserved action key \"stdout\"\n".into(),
        });
        assert_eq!(
            error_message(&refused),
            "the action could not complete: action-set failed (exit code 2): \
             cannot set reserved action key \"stdout\""
        );
        let silent = CharmError::from(ToolError::Failed {
            tool: "action-set".into(),
            args: vec![],
            code: None,
            stderr: String::new(),
        });
        assert_eq!(
            error_message(&silent),
            "the action could not complete: action-set failed (killed by a signal) \
             without saying why"
        );
    }

    #[test]
    fn unit_keys_are_action_keys() {
        assert_eq!(unit_key("prometheus/12"), "prometheus-12");
    }
}
