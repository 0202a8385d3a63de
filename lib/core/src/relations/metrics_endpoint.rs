//! `metrics-endpoint` (interface `prometheus_scrape`, current library format): the remote
//! application's `scrape_metadata`, `scrape_jobs` and `alert_rules`, and each remote unit's
//! `prometheus_scrape_unit_*` (or legacy `prometheus_scrape_host`), become scrape jobs and a
//! rule file, following the consumer side of the library:
//! - only the allowed job keys are read, a job without targets gets `*:80`, a job without a
//!   path gets `/metrics`;
//! - job names become `juju_<model>_<uuid[:8]>_<app>_prometheus_scrape_<job_name>`;
//! - `*` targets (and targets naming a unit's address) become one job per unit, named
//!   `<job>-<unit number>`, with the unit's path prefix on `metrics_path`, labels
//!   `juju_model`, `juju_model_uuid`, `juju_application`, `juju_charm`, `juju_unit`, and
//!   `instance` relabelled to `<model>_<uuid>_<app>_<unit>`;
//! - other targets stay in one application-level job with the application labels.
//!
//! Where we differ, on purpose: a job whose per-unit or application-level part has several
//! targets adds `__address__` to the `instance` relabel, because the library's relabel would
//! give those targets the same `instance` and their series would collide.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::alert_rules;
use super::budget;
use super::report::{publish_event, Report};
use super::topology::{is_unit_name, unit_number, Topology};
use super::validate::{
    check_count, check_size, duration_ms, from_json_value, label_name, label_value, parse_json,
    relabel_configs, sanitize_job_name, secret_text, short_text, split_host_port,
    target_relabel_configs, url_path, HttpUrl, Refused, MAX_JOBS_PER_APP, MAX_LABELS,
    MAX_RENDERED_JOBS_PER_RELATION, MAX_RENDERED_TARGETS_PER_RELATION, MAX_STATIC_CONFIGS_PER_JOB,
    MAX_TARGETS_PER_STATIC_CONFIG, MAX_UNITS_PER_RELATION,
};
use super::{
    remote_app_name, Contributed, Contribution, LocalIdentity, MemoPart, RelationSnapshot,
};
use crate::prometheus::config::{
    Authorization, BasicAuth, RelabelConfig, ScrapeConfig, StaticConfig, TlsConfig,
};
use juju::{RelationData, RelationId};

/// One entry of `scrape_jobs`, limited to the keys the library allows; serde drops the rest.
#[derive(Deserialize)]
struct RemoteJob {
    #[serde(default)]
    job_name: Option<String>,
    #[serde(default)]
    metrics_path: Option<String>,
    #[serde(default)]
    static_configs: Option<Vec<RemoteStaticConfig>>,
    #[serde(default)]
    scrape_interval: Option<String>,
    #[serde(default)]
    scrape_timeout: Option<String>,
    #[serde(default)]
    proxy_url: Option<String>,
    #[serde(default)]
    relabel_configs: Option<Vec<RelabelConfig>>,
    #[serde(default)]
    metric_relabel_configs: Option<Vec<RelabelConfig>>,
    #[serde(default)]
    sample_limit: Option<u64>,
    #[serde(default)]
    label_limit: Option<u64>,
    #[serde(default)]
    label_name_length_limit: Option<u64>,
    #[serde(default)]
    label_value_length_limit: Option<u64>,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    basic_auth: Option<RemoteBasicAuth>,
    #[serde(default)]
    tls_config: Option<RemoteTlsConfig>,
    #[serde(default)]
    authorization: Option<RemoteAuthorization>,
    #[serde(default)]
    params: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
struct RemoteStaticConfig {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// `password_file` is dropped: it would make us read one of our own files and send it to
/// a target the remote charm chose.
#[derive(Deserialize)]
struct RemoteBasicAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Only what cannot point at our files; the Prometheus we run has no inline `ca`.
#[derive(Deserialize)]
struct RemoteTlsConfig {
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

#[derive(Deserialize)]
struct RemoteAuthorization {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    credentials: Option<String>,
}

/// A target of a static config: `*` (every unit) with an optional port, or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Wildcard(Option<u16>),
    Address { host: String, port: Option<u16> },
}

impl Target {
    fn parse(s: &str) -> Result<Self, Refused> {
        let s = s.trim();
        if s == "*" {
            return Ok(Target::Wildcard(None));
        }
        if let Some(p) = s.strip_prefix("*:") {
            return Ok(Target::Wildcard(Some(super::validate::port(p.trim())?)));
        }
        let (host, port) = split_host_port(s)?;
        Ok(Target::Address { host, port })
    }
}

/// A job after checking, before expansion per unit.
struct JobSpec {
    name: Option<String>,
    metrics_path: String,
    static_configs: Vec<(Vec<Target>, BTreeMap<String, String>)>,
    relabel_configs: Vec<RelabelConfig>,
    /// Every other allowed key, already checked.
    common: ScrapeConfig,
}

/// A remote unit we can scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UnitHost {
    name: String,
    /// As it goes into a target (IPv6 bracketed).
    address: String,
    fqdn: Option<String>,
    /// Path prefix from the unit's ingress URL, without trailing `/`.
    path: String,
}

pub(super) fn contribute(
    local: &LocalIdentity,
    relations: &[RelationSnapshot],
    memo: &BTreeMap<&RelationId, &MemoPart>,
    mut parts: Option<&mut Vec<MemoPart>>,
    out: &mut Contribution,
) {
    for snapshot in budget::oldest_first(relations) {
        let (part, mut report) = memoized(local, snapshot, memo, parts.as_deref_mut());
        let had_rules = !part.rule_files.is_empty();
        if let Err(why) = out.admit(part) {
            out.warn(snapshot, &remote_app_name(snapshot), why.clone());
            if had_rules {
                report.rule_errors.push(why.clone());
            }
            report.job_errors.push(why);
        }
        out.publish.extend(publish_event(local, snapshot, &report));
    }
}

/// One relation's part: from `memo` when its remote data is what the part was computed from
/// (the caller checked our identity), else computed; recorded in `parts` (when kept) either
/// way.
pub(super) fn memoized(
    local: &LocalIdentity,
    snapshot: &RelationSnapshot,
    memo: &BTreeMap<&RelationId, &MemoPart>,
    parts: Option<&mut Vec<MemoPart>>,
) -> (Contribution, Report) {
    let (Some(id), Some(parts)) = (&snapshot.id, parts) else {
        let mut part = Contribution::default();
        let report = contribute_relation(local, snapshot, &mut part);
        return (part, report);
    };
    let basis = MemoPart::basis_of(snapshot);
    let known = memo.get(id).filter(|m| m.basis == basis);
    let (part, report) = match known {
        Some(m) => (
            m.result.contribution.clone(),
            Report {
                rule_errors: m.result.rule_errors.clone(),
                job_errors: m.result.job_errors.clone(),
            },
        ),
        None => {
            let mut part = Contribution::default();
            let report = contribute_relation(local, snapshot, &mut part);
            (part, report)
        }
    };
    parts.push(MemoPart {
        id: id.clone(),
        basis,
        result: Contributed {
            contribution: part.clone(),
            rule_errors: report.rule_errors.clone(),
            job_errors: report.job_errors.clone(),
        },
    });
    (part, report)
}

fn contribute_relation(
    local: &LocalIdentity,
    snapshot: &RelationSnapshot,
    out: &mut Contribution,
) -> Report {
    let mut report = Report::default();
    // The library scrapes nothing from a relation without units: departed units and broken
    // relations take their targets and rules with them.
    if snapshot.remote_units.is_empty() {
        return report;
    }
    let app = remote_app_name(snapshot);
    let hosts = unit_hosts(snapshot, out, &mut report);
    let data = &snapshot.remote_app_data;

    let topology = match data.get("scrape_metadata") {
        None => None,
        Some(raw) => match Topology::from_scrape_metadata(raw).and_then(|t| {
            t.agrees_with_juju(&app, &local.model, &local.model_uuid)
                .map(|()| t)
        }) {
            Ok(t) => Some(t),
            Err(e) => {
                let message = format!(
                    "scrape_metadata refused, skipping this application's scrape jobs and alert rules: {e}"
                );
                out.warn(snapshot, &app, message.clone());
                // The rules go with the jobs: `event` must not call them valid.
                if data.contains_key("alert_rules") {
                    report.rule_errors.push(message.clone());
                }
                report.job_errors.push(message);
                return report;
            }
        },
    };

    if let Some(raw) = data.get("scrape_jobs") {
        match &topology {
            Some(t) => match scrape_jobs(local, snapshot, &app, raw, t, &hosts, out, &mut report) {
                Ok(jobs) => out.scrape_configs.extend(jobs),
                Err(e) => {
                    let message = format!("scrape_jobs refused: {e}");
                    out.warn(snapshot, &app, message.clone());
                    report.job_errors.push(message);
                }
            },
            None => {
                let message =
                    "scrape_jobs without scrape_metadata refused: the jobs cannot be labelled"
                        .to_string();
                out.warn(snapshot, &app, message.clone());
                report.job_errors.push(message);
            }
        }
    }

    if let Some(raw) = data.get("alert_rules") {
        match alert_rules::process(raw, topology.as_ref()) {
            Ok(processed) => {
                for e in processed.errors {
                    let message = format!("alert rule refused: {e}");
                    out.warn(snapshot, &app, message.clone());
                    report.rule_errors.push(message);
                }
                if let Some(file) = processed.file {
                    let name = match &topology {
                        Some(t) => t.rule_file_name(),
                        None => fallback_rule_file_name(snapshot, &app),
                    };
                    out.rule_files.push((name, file));
                }
            }
            Err(e) => {
                let message = format!("alert_rules refused: {e}");
                out.warn(snapshot, &app, message.clone());
                report.rule_errors.push(message);
            }
        }
    }
    report
}

/// For rules that came without `scrape_metadata`: named by relation, never by remote text.
pub(super) fn fallback_rule_file_name(snapshot: &RelationSnapshot, app: &str) -> String {
    let endpoint = snapshot.id.as_ref().map_or_else(
        || "relation".to_string(),
        |r| format!("{}_{}", r.endpoint, r.id),
    );
    format!(
        "juju_{}_{}.rules",
        sanitize_job_name(&endpoint).replace(['.', ':'], "_"),
        sanitize_job_name(app).replace(['.', ':'], "_")
    )
}

fn unit_hosts(
    snapshot: &RelationSnapshot,
    out: &mut Contribution,
    report: &mut Report,
) -> Vec<UnitHost> {
    let mut hosts = Vec::new();
    for (unit, bag) in snapshot.remote_units.iter().take(MAX_UNITS_PER_RELATION) {
        match unit_host(unit, bag) {
            Ok(Some(h)) => hosts.push(h),
            // Not published yet (the unit is still joining): nothing to scrape, nothing wrong.
            Ok(None) => {}
            Err(e) => {
                let message = format!("unit data refused, not scraping this unit: {e}");
                out.warn(snapshot, unit, message.clone());
                report.job_errors.push(format!("{unit}: {message}"));
            }
        }
    }
    if snapshot.remote_units.len() > MAX_UNITS_PER_RELATION {
        let message = format!(
            "only the first {MAX_UNITS_PER_RELATION} of {} units are scraped",
            snapshot.remote_units.len()
        );
        out.warn(snapshot, &remote_app_name(snapshot), message.clone());
        report.job_errors.push(message);
    }
    hosts
}

fn unit_host(unit: &str, bag: &RelationData) -> Result<Option<UnitHost>, Refused> {
    for v in bag.values() {
        check_size("unit data", v)?;
    }
    let Some(address) = bag
        .get("prometheus_scrape_unit_address")
        .or_else(|| bag.get("prometheus_scrape_host"))
        .filter(|a| !a.is_empty())
    else {
        return Ok(None);
    };
    let name = bag
        .get("prometheus_scrape_unit_name")
        .filter(|n| !n.is_empty())
        .map_or(unit, String::as_str);
    if !is_unit_name(name) {
        return Err(Refused::invalid(
            "prometheus_scrape_unit_name",
            name,
            "not a Juju unit name",
        ));
    }
    let (address, port) = split_host_port(address.trim())?;
    if port.is_some() {
        return Err(Refused::invalid(
            "prometheus_scrape_unit_address",
            &address,
            "must be an address without a port",
        ));
    }
    let fqdn = match bag
        .get("prometheus_scrape_unit_fqdn")
        .filter(|f| !f.is_empty())
    {
        Some(f) => Some(split_host_port(f)?.0),
        None => None,
    };
    let path = bag
        .get("prometheus_scrape_unit_path")
        .map_or("", |p| p.trim_end_matches('/'));
    url_path(path)?;
    Ok(Some(UnitHost {
        name: name.to_string(),
        address,
        fqdn,
        path: path.to_string(),
    }))
}

/// Parses and renders one application's `scrape_jobs`. A bad job is refused on its own;
/// an unreadable or oversized value refuses them all.
#[allow(clippy::too_many_arguments)]
fn scrape_jobs(
    local: &LocalIdentity,
    snapshot: &RelationSnapshot,
    app: &str,
    raw: &str,
    topology: &Topology,
    hosts: &[UnitHost],
    out: &mut Contribution,
    report: &mut Report,
) -> Result<Vec<ScrapeConfig>, Refused> {
    let jobs: Vec<Value> = parse_json("scrape_jobs", raw)?;
    check_count("scrape jobs", jobs.len(), MAX_JOBS_PER_APP)?;
    let global_interval = duration_ms(&local.scrape_interval).unwrap_or(60_000);
    let mut rendered = Vec::new();
    let mut planned_targets = 0usize;
    for (i, value) in jobs.into_iter().enumerate() {
        let shown_name = value
            .get("job_name")
            .and_then(Value::as_str)
            .map(|n| format!(" ({})", super::validate::shown(n)))
            .unwrap_or_default();
        let spec = from_json_value::<RemoteJob>("scrape job", value)
            .and_then(|job| job_spec(job, global_interval));
        match spec {
            Ok(spec) => {
                // Count before expanding: wildcards times units can be huge.
                planned_targets += spec
                    .static_configs
                    .iter()
                    .flat_map(|(targets, _)| targets)
                    .map(|t| match t {
                        Target::Wildcard(_) => hosts.len(),
                        Target::Address { .. } => 1,
                    })
                    .sum::<usize>();
                check_count(
                    "rendered targets",
                    planned_targets,
                    MAX_RENDERED_TARGETS_PER_RELATION,
                )?;
                rendered.extend(expand(&spec, topology, hosts));
            }
            Err(e) => {
                let message = format!("scrape job #{i}{shown_name} refused: {e}");
                out.warn(snapshot, app, message.clone());
                report.job_errors.push(message);
            }
        }
    }
    check_count(
        "rendered scrape jobs",
        rendered.len(),
        MAX_RENDERED_JOBS_PER_RELATION,
    )?;
    Ok(rendered)
}

fn job_spec(job: RemoteJob, global_interval_ms: u64) -> Result<JobSpec, Refused> {
    let name = job
        .job_name
        .as_deref()
        .map(sanitize_job_name)
        .filter(|n| !n.is_empty());
    let metrics_path = job.metrics_path.unwrap_or_else(|| "/metrics".to_string());
    if metrics_path.is_empty() {
        return Err(Refused::invalid("metrics_path", "", "must start with '/'"));
    }
    url_path(&metrics_path)?;

    let interval = match &job.scrape_interval {
        Some(i) => duration_ms(i)?,
        None => global_interval_ms,
    };
    if let Some(t) = &job.scrape_timeout {
        if duration_ms(t)? > interval {
            return Err(Refused::invalid(
                "scrape_timeout",
                t,
                "longer than the scrape interval",
            ));
        }
    }
    if let Some(s) = &job.scheme {
        if s != "http" && s != "https" {
            return Err(Refused::invalid("scheme", s, "must be http or https"));
        }
    }
    if let Some(p) = &job.proxy_url {
        HttpUrl::parse(p)?;
    }

    let mut relabels = job.relabel_configs.unwrap_or_default();
    target_relabel_configs(&mut relabels)?;
    let mut metric_relabels = job.metric_relabel_configs.unwrap_or_default();
    relabel_configs(&mut metric_relabels)?;

    let basic_auth = match job.basic_auth {
        Some(b) => {
            if let Some(username) = &b.username {
                short_text("basic_auth username", username)?;
            }
            if let Some(password) = &b.password {
                secret_text("basic_auth password", password)?;
            }
            Some(BasicAuth {
                username: b.username,
                password: b.password,
                password_file: None,
            })
        }
        None => None,
    };
    let authorization = match job.authorization {
        Some(a) => {
            if let Some(k) = &a.kind {
                if k.is_empty()
                    || !k.chars().all(|c| c.is_ascii_alphanumeric())
                    || k.eq_ignore_ascii_case("basic")
                {
                    return Err(Refused::invalid(
                        "authorization type",
                        k,
                        "must be a scheme name other than Basic",
                    ));
                }
            }
            if let Some(c) = &a.credentials {
                secret_text("authorization credentials", c)?;
            }
            Some(Authorization {
                kind: a.kind,
                credentials: a.credentials,
                credentials_file: None,
            })
        }
        None => None,
    };
    if basic_auth.is_some() && authorization.is_some() {
        // The message already names the job; say which keys clash.
        return Err(Refused::invalid(
            "authentication",
            "basic_auth + authorization",
            "Prometheus takes only one of them",
        ));
    }
    let tls_config = match job.tls_config {
        Some(t) => {
            if let Some(s) = &t.server_name {
                short_text("tls_config server_name", s)?;
            }
            Some(TlsConfig {
                server_name: t.server_name,
                insecure_skip_verify: t.insecure_skip_verify,
                ..TlsConfig::default()
            })
        }
        None => None,
    };
    let params = job.params.unwrap_or_default();
    check_count("params", params.len(), MAX_LABELS)?;
    for (k, vs) in &params {
        short_text("param name", k)?;
        check_count("param values", vs.len(), MAX_LABELS)?;
        for v in vs {
            short_text("param value", v)?;
        }
    }

    let static_configs = match job.static_configs {
        Some(scs) => scs,
        None => vec![RemoteStaticConfig {
            targets: vec!["*:80".to_string()],
            labels: None,
        }],
    };
    check_count(
        "static_configs",
        static_configs.len(),
        MAX_STATIC_CONFIGS_PER_JOB,
    )?;
    let mut checked = Vec::with_capacity(static_configs.len());
    for sc in static_configs {
        check_count("targets", sc.targets.len(), MAX_TARGETS_PER_STATIC_CONFIG)?;
        let targets = sc
            .targets
            .iter()
            .map(|t| Target::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        let labels = sc.labels.unwrap_or_default();
        check_count("labels", labels.len(), MAX_LABELS)?;
        for (k, v) in &labels {
            label_name(k)?;
            // Reserved labels (`__address__`, `__scrape_interval__`, ...) shape the target;
            // only the job's own keys may set those.
            if k.starts_with("__") {
                return Err(Refused::invalid("label name", k, "reserved for Prometheus"));
            }
            label_value(v)?;
        }
        checked.push((targets, labels));
    }

    Ok(JobSpec {
        name,
        metrics_path,
        static_configs: checked,
        relabel_configs: relabels,
        common: ScrapeConfig {
            scrape_interval: job.scrape_interval,
            scrape_timeout: job.scrape_timeout,
            scheme: job.scheme,
            params,
            basic_auth,
            authorization,
            tls_config,
            proxy_url: job.proxy_url,
            sample_limit: job.sample_limit,
            label_limit: job.label_limit,
            label_name_length_limit: job.label_name_length_limit,
            label_value_length_limit: job.label_value_length_limit,
            metric_relabel_configs: metric_relabels,
            ..ScrapeConfig::default()
        },
    })
}

fn instance_relabel(per_unit: bool, several_targets: bool) -> RelabelConfig {
    let mut source_labels: Vec<String> = ["juju_model", "juju_model_uuid", "juju_application"]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    if per_unit {
        source_labels.push("juju_unit".to_string());
    }
    if several_targets {
        source_labels.push("__address__".to_string());
    }
    RelabelConfig {
        source_labels,
        separator: Some("_".to_string()),
        target_label: Some("instance".to_string()),
        regex: Some("(.*)".to_string()),
        ..RelabelConfig::default()
    }
}

/// Topology labels go on top of the remote labels, so a remote charm cannot pass itself off
/// as another.
fn labelled(
    remote: &BTreeMap<String, String>,
    topology: &Topology,
    unit: Option<&str>,
) -> BTreeMap<String, String> {
    let mut labels = remote.clone();
    labels.extend(topology.labels());
    match unit {
        Some(u) => {
            labels.insert("juju_unit".to_string(), u.to_string());
        }
        None => {
            labels.remove("juju_unit");
        }
    }
    labels
}

fn expand(spec: &JobSpec, topology: &Topology, hosts: &[UnitHost]) -> Vec<ScrapeConfig> {
    let prefix = topology.scrape_job_prefix();
    let job_name = match &spec.name {
        Some(n) => format!("{prefix}_{n}"),
        None => prefix,
    };
    let mut unitless: Vec<StaticConfig> = Vec::new();
    let mut per_unit: Vec<Vec<StaticConfig>> = vec![Vec::new(); hosts.len()];
    for (targets, labels) in &spec.static_configs {
        let mut unit_targets: Vec<Vec<String>> = vec![Vec::new(); hosts.len()];
        let mut other_targets = Vec::new();
        for target in targets {
            match target {
                Target::Wildcard(port) => {
                    for (i, h) in hosts.iter().enumerate() {
                        unit_targets[i].push(super::validate::host_port(&h.address, *port));
                    }
                }
                Target::Address { host, port } => {
                    let text = super::validate::host_port(host, *port);
                    match hosts
                        .iter()
                        .position(|h| &h.address == host || h.fqdn.as_ref() == Some(host))
                    {
                        Some(i) => unit_targets[i].push(text),
                        None => other_targets.push(text),
                    }
                }
            }
        }
        for (i, targets) in unit_targets.into_iter().enumerate() {
            if !targets.is_empty() {
                per_unit[i].push(StaticConfig {
                    targets,
                    labels: labelled(labels, topology, Some(&hosts[i].name)),
                });
            }
        }
        if !other_targets.is_empty() {
            unitless.push(StaticConfig {
                targets: other_targets,
                labels: labelled(labels, topology, None),
            });
        }
    }

    let target_count = |scs: &[StaticConfig]| scs.iter().map(|s| s.targets.len()).sum::<usize>();
    let mut jobs = Vec::new();
    if !unitless.is_empty() {
        let mut relabels = spec.relabel_configs.clone();
        relabels.push(instance_relabel(false, target_count(&unitless) > 1));
        jobs.push(ScrapeConfig {
            job_name: job_name.clone(),
            metrics_path: Some(spec.metrics_path.clone()),
            static_configs: unitless,
            relabel_configs: relabels,
            ..spec.common.clone()
        });
    }
    for (host, static_configs) in hosts.iter().zip(per_unit) {
        if static_configs.is_empty() {
            continue;
        }
        let mut relabels = spec.relabel_configs.clone();
        relabels.push(instance_relabel(true, target_count(&static_configs) > 1));
        jobs.push(ScrapeConfig {
            job_name: format!("{job_name}-{}", unit_number(&host.name)),
            metrics_path: Some(format!("{}{}", host.path, spec.metrics_path)),
            static_configs,
            relabel_configs: relabels,
            ..spec.common.clone()
        });
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relations::test_support::*;
    use crate::relations::{plan, RelationsInput, METRICS_ENDPOINT};

    fn run(relations: Vec<RelationSnapshot>) -> crate::relations::RelationsPlan {
        plan(&RelationsInput {
            local: local(true),
            endpoints: [(METRICS_ENDPOINT.to_string(), relations)].into(),
            budget: None,
        })
    }

    /// A memo changes how much is computed, never the plan: after changes to one relation's
    /// units, to another's app data, a relation gone and our identity changed, planning
    /// with the previous plan's memo gives what planning from scratch gives, and the memo
    /// keeps a part for every scrape-target relation.
    #[test]
    fn a_memo_never_changes_the_plan() {
        let input = |relations: Vec<RelationSnapshot>, local: LocalIdentity| RelationsInput {
            local,
            endpoints: [(METRICS_ENDPOINT.to_string(), relations)].into(),
            budget: None,
        };
        let mut relations = vec![
            zinc_relation(1, 3),
            app_relation(2, "other", 2),
            app_relation(3, "third", 1),
        ];
        let first = input(relations.clone(), local(true));
        let (p, memo) = crate::relations::plan_with(&first, &crate::relations::Memo::default());
        assert_eq!(p, plan(&first));
        assert_eq!(memo.len(), 3);
        relations[0].remote_units.remove("zinc/2");
        relations[1]
            .remote_app_data
            .insert("scrape_jobs".into(), "[{\"metrics_path\": \"/m2\"}]".into());
        relations.pop();
        for local in [local(true), local(false)] {
            let next = input(relations.clone(), local);
            let (p, next_memo) = crate::relations::plan_with(&next, &memo);
            assert_eq!(p, plan(&next));
            assert_eq!(next_memo.len(), 2);
            assert!(!next_memo.same_as(&memo));
        }
        let again = input(relations.clone(), local(true));
        let (_, m1) = crate::relations::plan_with(&again, &memo);
        let (_, m2) = crate::relations::plan_with(&again, &m1);
        assert!(m2.same_as(&m1));
    }

    #[test]
    fn library_provider_is_scraped_per_unit_with_topology() {
        let p = run(vec![zinc_relation(1, 1)]);
        assert_eq!(p.warnings, vec![]);
        assert_eq!(p.scrape_configs.len(), 1);
        let job = &p.scrape_configs[0];
        assert_eq!(
            job.job_name,
            "juju_cos_f4d59020_zinc_prometheus_scrape_zinc-0"
        );
        assert_eq!(job.metrics_path.as_deref(), Some("/metrics"));
        assert_eq!(job.static_configs[0].targets, ["10.1.36.90:4080"]);
        let labels = &job.static_configs[0].labels;
        assert_eq!(labels["juju_model"], "cos");
        assert_eq!(labels["juju_model_uuid"], ZINC_UUID);
        assert_eq!(labels["juju_application"], "zinc");
        assert_eq!(labels["juju_charm"], "zinc-k8s");
        assert_eq!(labels["juju_unit"], "zinc/0");
        let relabel = job.relabel_configs.last().unwrap();
        assert_eq!(
            relabel.source_labels,
            [
                "juju_model",
                "juju_model_uuid",
                "juju_application",
                "juju_unit"
            ]
        );
        assert_eq!(relabel.separator.as_deref(), Some("_"));
        assert_eq!(relabel.target_label.as_deref(), Some("instance"));
        // And the rules became a file.
        assert!(p.rule_files.contains_key("juju_cos_f4d59020_zinc.rules"));
    }

    /// In our own model Juju names the remote application: data claiming to be another
    /// application (its labels, its job names) is refused and reported; in another model's
    /// name (a cross-model relation, where Juju knows only the offer's local alias) it stands.
    #[test]
    fn scrape_metadata_cannot_claim_another_applications_topology() {
        let ours = local(true);
        let claim = |model: &str, uuid: &str, app: &str, unit: &str| {
            let mut r = app_relation(7, "zinc", 1);
            r.remote_app_data.insert(
                "scrape_metadata".into(),
                serde_json::json!({"model": model, "model_uuid": uuid,
                    "application": app, "unit": unit})
                .to_string(),
            );
            run(vec![r])
        };
        for (model, app, unit, why) in [
            (
                "cos",
                "grafana",
                "grafana/0",
                "Juju says the relation is with \"zinc\"",
            ),
            ("cos", "zinc", "grafana/0", "not a unit of \"zinc\""),
            (
                "other",
                "zinc",
                "zinc/0",
                "the relation is in model \"cos\"",
            ),
        ] {
            let p = claim(model, &ours.model_uuid, app, unit);
            assert!(p.scrape_configs.is_empty(), "{app} {unit}");
            assert_eq!(p.warnings.len(), 1);
            assert!(
                p.warnings[0].message.contains(why),
                "{}",
                p.warnings[0].message
            );
            let event: serde_json::Value =
                serde_json::from_str(&p.publish[0].data["event"]).unwrap();
            let job_errors = event["scrape_job_errors"].as_str().unwrap();
            assert!(job_errors.contains(why), "{event}");
        }
        let honest = claim("cos", &ours.model_uuid, "zinc", "zinc/0");
        assert_eq!(honest.warnings, vec![]);
        assert_eq!(
            honest.scrape_configs[0].static_configs[0].labels["juju_application"],
            "zinc"
        );
        let offered = claim("edge", ZINC_UUID, "zinc-offer", "zinc-offer/0");
        assert_eq!(offered.warnings, vec![]);
        assert_eq!(offered.scrape_configs.len(), 1);
    }

    /// A refusal names the field, never a secret's value: not in the log, not in `event`.
    #[test]
    fn refusals_never_show_a_secret() {
        let secret = "s3cr3t-T0ken";
        for job in [
            serde_json::json!({"job_name": "a", "basic_auth": {"username": "u", "password": format!("{secret}\u{1b}")}}),
            serde_json::json!({"job_name": "b", "basic_auth": format!("u:{secret}")}),
            serde_json::json!({"job_name": "c", "authorization": {"credentials": format!("{secret}\n")}}),
            serde_json::json!({"job_name": "d", "authorization": {"credentials": [secret]}}),
            serde_json::json!({"job_name": "e", "proxy_url": format!("http://u:{secret}@proxy:3128")}),
            serde_json::json!({"job_name": "f", "static_configs": [{"targets": ["*:80"]}],
                "basic_auth": {"username": "u", "password": 12345, "x": secret}}),
        ] {
            let mut r = app_relation(7, "zinc", 1);
            r.remote_app_data
                .insert("scrape_jobs".into(), serde_json::json!([job]).to_string());
            let p = run(vec![r]);
            assert_eq!(p.warnings.len(), 1, "{job}: {:?}", p.warnings);
            let said = format!("{:?} {:?}", p.warnings, p.publish);
            assert!(!said.contains(secret), "{job}: {said}");
            assert!(!said.contains("12345"), "{job}: {said}");
        }
    }

    #[test]
    fn three_apps_of_three_units_and_one_malformed_app() {
        let mut relations: Vec<_> = (0..3)
            .map(|i| app_relation(10 + i, &format!("app{i}"), 3))
            .collect();
        let mut bad = app_relation(20, "broken", 3);
        bad.remote_app_data.insert(
            "scrape_jobs".into(),
            r#"[{"job_name": "x", "static_configs": [{"targets": "*:80"}]}"#.into(),
        );
        relations.push(bad);
        let p = run(relations);
        let targets: Vec<_> = p
            .scrape_configs
            .iter()
            .flat_map(|j| j.static_configs.iter().flat_map(|s| s.targets.clone()))
            .collect();
        assert_eq!(targets.len(), 9, "{targets:?}");
        assert!(p
            .scrape_configs
            .iter()
            .all(|j| !j.job_name.contains("broken")));
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert_eq!(p.warnings[0].source, "broken");
        assert_eq!(
            p.warnings[0].relation,
            Some(juju::RelationId::new(METRICS_ENDPOINT, 20))
        );
        assert!(p.warnings[0]
            .message
            .starts_with("scrape_jobs refused: scrape_jobs is not valid"));
        // The broken app hears about it in our event key; the others are told all is well.
        let event = |id: u32| {
            p.publish
                .iter()
                .find(|x| x.relation.id == id)
                .map(|x| x.data["event"].clone())
                .unwrap()
        };
        assert_eq!(
            event(10),
            r#"{"valid":true,"errors":"","scrape_job_errors":null}"#
        );
        assert!(event(20).contains(r#""scrape_job_errors":"scrape_jobs refused"#));
    }

    #[test]
    fn departed_units_and_broken_relations_remove_targets() {
        let full = run(vec![
            app_relation(10, "app0", 3),
            app_relation(11, "app1", 3),
        ]);
        assert_eq!(full.scrape_configs.len(), 6);
        let mut departed = app_relation(10, "app0", 3);
        departed.remote_units.remove("app0/1");
        let p = run(vec![departed, app_relation(11, "app1", 3)]);
        let names: Vec<_> = p
            .scrape_configs
            .iter()
            .map(|j| j.job_name.as_str())
            .collect();
        assert_eq!(names.len(), 5);
        assert!(!names.contains(&"juju_cos_f4d59020_app0_prometheus_scrape_app0-1"));
        // All units gone: the app's app data lingers but nothing is scraped.
        let mut empty = app_relation(10, "app0", 3);
        empty.remote_units.clear();
        assert_eq!(run(vec![empty]).scrape_configs, vec![]);
        // Relation broken: absent from the input.
        assert_eq!(
            run(vec![app_relation(11, "app1", 3)]).scrape_configs.len(),
            3
        );
    }

    #[test]
    fn default_job_and_legacy_host() {
        let mut r = relation(METRICS_ENDPOINT, 4, "legacy");
        r.remote_app_data = bag(&[
            ("scrape_metadata", &metadata("legacy", None)),
            ("scrape_jobs", "[{}]"),
        ]);
        r.remote_units.insert(
            "legacy/3".into(),
            bag(&[("prometheus_scrape_host", "10.0.0.3")]),
        );
        let p = run(vec![r]);
        assert_eq!(p.warnings, vec![]);
        let job = &p.scrape_configs[0];
        assert_eq!(job.job_name, "juju_cos_f4d59020_legacy_prometheus_scrape-3");
        assert_eq!(job.static_configs[0].targets, ["10.0.0.3:80"]);
        assert_eq!(job.metrics_path.as_deref(), Some("/metrics"));
        assert!(!job.static_configs[0].labels.contains_key("juju_charm"));
    }

    #[test]
    fn unit_path_prefixes_metrics_path_and_explicit_targets_match_units() {
        let mut r = relation(METRICS_ENDPOINT, 5, "web");
        r.remote_app_data = bag(&[
            ("scrape_metadata", &metadata("web", Some("web-k8s"))),
            (
                "scrape_jobs",
                r#"[{"job_name": "j", "metrics_path": "/m", "static_configs": [
                    {"targets": ["web-0.web-endpoints.cos.svc.cluster.local:8080", "10.0.0.99:9100", "*:9000"],
                     "labels": {"team": "a", "juju_application": "spoof", "juju_unit": "spoof/0"}}]}]"#,
            ),
        ]);
        r.remote_units.insert(
            "web/0".into(),
            bag(&[
                ("prometheus_scrape_unit_address", "10.0.0.1"),
                ("prometheus_scrape_unit_name", "web/0"),
                ("prometheus_scrape_unit_path", "/cos-web-0/"),
                (
                    "prometheus_scrape_unit_fqdn",
                    "web-0.web-endpoints.cos.svc.cluster.local",
                ),
            ]),
        );
        let p = run(vec![r]);
        assert_eq!(p.warnings, vec![]);
        let names: Vec<_> = p
            .scrape_configs
            .iter()
            .map(|j| j.job_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "juju_cos_f4d59020_web_prometheus_scrape_j",
                "juju_cos_f4d59020_web_prometheus_scrape_j-0"
            ]
        );
        let app_job = &p.scrape_configs[0];
        assert_eq!(app_job.static_configs[0].targets, ["10.0.0.99:9100"]);
        assert_eq!(app_job.static_configs[0].labels["juju_application"], "web");
        assert!(!app_job.static_configs[0].labels.contains_key("juju_unit"));
        assert_eq!(app_job.metrics_path.as_deref(), Some("/m"));
        let unit_job = &p.scrape_configs[1];
        assert_eq!(unit_job.metrics_path.as_deref(), Some("/cos-web-0/m"));
        assert_eq!(
            unit_job.static_configs[0].targets,
            [
                "web-0.web-endpoints.cos.svc.cluster.local:8080",
                "10.0.0.1:9000"
            ]
        );
        assert_eq!(unit_job.static_configs[0].labels["juju_unit"], "web/0");
        assert_eq!(unit_job.static_configs[0].labels["team"], "a");
        // Two targets in one unit job: instance keeps them apart.
        assert!(unit_job.relabel_configs[0]
            .source_labels
            .contains(&"__address__".to_string()));
    }

    #[test]
    fn only_allowed_keys_pass_and_files_are_never_read() {
        let mut r = zinc_relation(1, 1);
        r.remote_app_data.insert(
            "scrape_jobs".into(),
            r#"[{"job_name": "zinc", "honor_labels": true, "file_sd_configs": [{"files": ["/etc/*"]}],
                 "basic_auth": {"username": "u", "password_file": "/var/lib/juju/agents/x"},
                 "tls_config": {"cert_file": "/etc/ssl/private/key.pem", "server_name": "zinc"},
                 "scrape_interval": "30s", "scrape_timeout": "10s", "sample_limit": 1000,
                 "params": {"module": ["http_2xx"]},
                 "static_configs": [{"targets": ["*:4080"]}]}]"#
                .into(),
        );
        let p = run(vec![r]);
        assert_eq!(p.warnings, vec![]);
        let job = &p.scrape_configs[0];
        assert!(!job.honor_labels);
        assert_eq!(job.basic_auth.as_ref().unwrap().password_file, None);
        assert_eq!(job.tls_config.as_ref().unwrap().cert_file, None);
        assert_eq!(
            job.tls_config.as_ref().unwrap().server_name.as_deref(),
            Some("zinc")
        );
        assert_eq!(job.scrape_interval.as_deref(), Some("30s"));
        assert_eq!(job.sample_limit, Some(1000));
        assert_eq!(job.params["module"], ["http_2xx"]);
    }

    #[test]
    fn bad_jobs_are_refused_one_by_one() {
        let mut r = zinc_relation(1, 2);
        r.remote_app_data.insert(
            "scrape_jobs".into(),
            r#"[{"job_name": "good", "static_configs": [{"targets": ["*:1"]}]},
                {"job_name": "badlabel", "static_configs": [{"targets": ["*:1"], "labels": {"bad-name": "x"}}]},
                {"job_name": "badtarget", "static_configs": [{"targets": ["http://x:1/"]}]},
                {"job_name": "badtimeout", "scrape_interval": "10s", "scrape_timeout": "20s"},
                {"job_name": "globaltimeout", "scrape_timeout": "2m"},
                {"job_name": "badregex", "relabel_configs": [{"source_labels": ["a"], "regex": "(?=x)", "action": "keep"}]},
                {"job_name": "badtype", "sample_limit": "lots"},
                {"job_name": "badscheme", "scheme": "file"},
                {"job_name": "badpath", "metrics_path": "metrics"},
                {"job_name": "bothauth", "basic_auth": {"username": "a"}, "authorization": {"credentials": "b"}},
                {"job_name": "basicauthz", "authorization": {"type": "Basic", "credentials": "b"}},
                {"job_name": "badvalue", "static_configs": [{"targets": ["*:1"], "labels": {"a": "x\ny"}}]},
                {"job_name": "hostile name\n{}: [\"x\"]", "static_configs": [{"targets": ["*:2"]}]}
            ]"#
            .into(),
        );
        let p = run(vec![r]);
        let names: Vec<_> = p
            .scrape_configs
            .iter()
            .map(|j| j.job_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "juju_cos_f4d59020_zinc_prometheus_scrape_good-0",
                "juju_cos_f4d59020_zinc_prometheus_scrape_good-1",
                "juju_cos_f4d59020_zinc_prometheus_scrape_hostile_name___:___x__-0",
                "juju_cos_f4d59020_zinc_prometheus_scrape_hostile_name___:___x__-1",
            ]
        );
        assert_eq!(p.warnings.len(), 11, "{:#?}", p.warnings);
        assert!(p.warnings.iter().all(|w| w.source == "zinc"));
        assert!(p.warnings[0]
            .message
            .starts_with("scrape job #1 (\"badlabel\") refused: label name"));
    }

    #[test]
    fn bad_unit_data_skips_only_that_unit() {
        let mut r = zinc_relation(1, 3);
        r.remote_units.get_mut("zinc/1").unwrap().insert(
            "prometheus_scrape_unit_address".into(),
            "10.0.0.1 ; curl evil".into(),
        );
        r.remote_units
            .get_mut("zinc/2")
            .unwrap()
            .insert("prometheus_scrape_unit_name".into(), "other/../x".into());
        let p = run(vec![r]);
        assert_eq!(p.scrape_configs.len(), 1);
        assert_eq!(p.warnings.len(), 2);
        assert_eq!(p.warnings[0].source, "zinc/1");
        assert_eq!(p.warnings[1].source, "zinc/2");
        assert!(p.warnings[0]
            .message
            .starts_with("unit data refused, not scraping this unit: host"));
    }

    #[test]
    fn unit_without_address_yet_is_quietly_waited_for() {
        let mut r = zinc_relation(1, 2);
        r.remote_units.insert("zinc/9".into(), RelationData::new());
        let p = run(vec![r]);
        assert_eq!(p.scrape_configs.len(), 2);
        assert_eq!(p.warnings, vec![]);
    }

    #[test]
    fn huge_and_hostile_app_data_is_refused_whole() {
        let mut huge = zinc_relation(1, 1);
        huge.remote_app_data
            .insert("scrape_jobs".into(), format!("[{}]", " ".repeat(2 << 20)));
        let mut many = zinc_relation(2, 1);
        many.remote_app_data.insert(
            "scrape_jobs".into(),
            format!("[{}]", vec!["{}"; MAX_JOBS_PER_APP + 1].join(",")),
        );
        let mut spoof = zinc_relation(3, 1);
        spoof.remote_app_data.insert(
            "scrape_metadata".into(),
            r#"{"model": "cos", "model_uuid": "x\"}", "application": "zinc"}"#.into(),
        );
        let mut no_meta = zinc_relation(4, 1);
        no_meta.remote_app_data.remove("scrape_metadata");
        let p = run(vec![huge, many, spoof, no_meta]);
        assert_eq!(p.scrape_configs, vec![]);
        let messages: Vec<_> = p.warnings.iter().map(|w| w.message.as_str()).collect();
        assert!(
            messages[0].contains("over the 1048576-byte limit"),
            "{messages:?}"
        );
        assert!(messages[1].contains("too many scrape jobs"));
        assert!(messages[2].starts_with("scrape_metadata refused"));
        assert!(messages[3].starts_with("scrape_jobs without scrape_metadata refused"));
        // Without metadata the rules are still accepted, scoped by their own labels.
        assert!(p
            .rule_files
            .contains_key("juju_metrics-endpoint_4_zinc.rules"));
    }

    /// A refused `scrape_metadata` takes the application's jobs and its alert rules: the
    /// `event` says both, and never that the rules are valid.
    #[test]
    fn refused_metadata_reports_the_rules_lost_with_the_jobs() {
        let mut spoof = zinc_relation(1, 1);
        spoof
            .remote_app_data
            .insert("scrape_metadata".into(), r#"{"model": 7}"#.into());
        let mut jobs_only = zinc_relation(2, 1);
        jobs_only
            .remote_app_data
            .insert("scrape_metadata".into(), r#"{"model": 7}"#.into());
        jobs_only.remote_app_data.remove("alert_rules");
        let p = run(vec![spoof, jobs_only]);
        assert_eq!(p.scrape_configs, vec![]);
        assert!(p.rule_files.is_empty(), "{:?}", p.rule_files.keys());
        let event = |id: u32| -> serde_json::Value {
            let publish = p.publish.iter().find(|x| x.relation.id == id).unwrap();
            serde_json::from_str(&publish.data["event"]).unwrap()
        };
        let lost = event(1);
        assert_eq!(lost["valid"], false, "{lost}");
        let errors = lost["errors"].as_str().unwrap();
        assert!(
            errors.starts_with(
                "scrape_metadata refused, skipping this application's scrape jobs and alert rules"
            ),
            "{errors}"
        );
        assert_eq!(lost["scrape_job_errors"], lost["errors"]);
        // No rules sent, none lost: only the jobs are reported.
        let jobs = event(2);
        assert_eq!(jobs["valid"], true, "{jobs}");
        assert_eq!(jobs["errors"], "");
        assert!(jobs["scrape_job_errors"].is_string(), "{jobs}");
    }

    #[test]
    fn too_many_rendered_jobs_refuse_the_app() {
        let mut r = zinc_relation(1, 0);
        for n in 0..50 {
            r.remote_units.insert(
                format!("zinc/{n}"),
                bag(&[("prometheus_scrape_unit_address", &format!("10.0.1.{n}"))]),
            );
        }
        let jobs: Vec<String> = (0..MAX_JOBS_PER_APP)
            .map(|i| {
                format!(r#"{{"job_name": "j{i}", "static_configs": [{{"targets": ["*:1"]}}]}}"#)
            })
            .collect();
        r.remote_app_data
            .insert("scrape_jobs".into(), format!("[{}]", jobs.join(",")));
        let p = run(vec![r]);
        assert_eq!(p.scrape_configs, vec![]);
        assert!(p.warnings[0]
            .message
            .contains("too many rendered scrape jobs"));
    }

    #[test]
    fn wildcards_times_units_are_capped_before_expansion() {
        let mut r = zinc_relation(1, 0);
        for n in 0..200 {
            r.remote_units.insert(
                format!("zinc/{n}"),
                bag(&[("prometheus_scrape_unit_address", &format!("10.0.2.{n}"))]),
            );
        }
        let ports: Vec<String> = (1..=150).map(|p| format!("\"*:{p}\"")).collect();
        r.remote_app_data.insert(
            "scrape_jobs".into(),
            format!(
                r#"[{{"static_configs": [{{"targets": [{}]}}]}}]"#,
                ports.join(",")
            ),
        );
        let p = run(vec![r]);
        assert_eq!(p.scrape_configs, vec![]);
        assert!(p.warnings[0]
            .message
            .contains("too many rendered targets: 30000"));
    }

    #[test]
    fn same_job_from_two_relations_gets_stable_unique_names() {
        // Two relations to the same application (say, via two offers): identical jobs
        // collapse; differing ones get hash suffixes.
        let a = zinc_relation(1, 1);
        let mut b = zinc_relation(2, 1);
        let p = run(vec![a.clone(), b.clone()]);
        assert_eq!(p.scrape_configs.len(), 1);
        b.remote_units
            .get_mut("zinc/0")
            .unwrap()
            .insert("prometheus_scrape_unit_address".into(), "10.9.9.9".into());
        let p = run(vec![a.clone(), b.clone()]);
        let names: Vec<_> = p
            .scrape_configs
            .iter()
            .map(|j| j.job_name.clone())
            .collect();
        assert_eq!(names.len(), 2);
        assert_ne!(names[0], names[1]);
        assert!(names
            .iter()
            .all(|n| n.starts_with("juju_cos_f4d59020_zinc_prometheus_scrape_zinc-0_")));
        assert_eq!(run(vec![b, a]).scrape_configs, p.scrape_configs);
    }

    #[test]
    fn followers_do_not_report() {
        let p = plan(&RelationsInput {
            local: local(false),
            endpoints: [(METRICS_ENDPOINT.to_string(), vec![zinc_relation(1, 1)])].into(),
            budget: None,
        });
        assert_eq!(p.publish, vec![]);
        assert_eq!(p.scrape_configs.len(), 1);
    }
}
