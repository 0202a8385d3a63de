//! prometheus.yml and the rule files, from the options and what the relations contribute.
//! Pure: identical inputs give identical values (and so byte-identical YAML).

use std::collections::{BTreeMap, BTreeSet};

use crate::config::CharmConfig;
use serde::{Deserialize, Serialize};

use crate::prometheus::config::{
    AlertingConfig, AlertmanagerConfig, Authorization, GlobalConfig, KubernetesSdConfig,
    PrometheusConfig, RelabelConfig, RemoteWriteConfig, Rule, RuleFile, RuleGroup, ScrapeConfig,
    StaticConfig, TlsConfig,
};
use crate::prometheus::targets::{self, TargetFiles};
use crate::relations::RelationsPlan;

/// The file Prometheus reads its configuration from, in [`CONFIG_DIR`].
pub const CONFIG_FILE: &str = "prometheus.yml";
/// Where prometheus.yml and the rule files are mounted in the container.
pub const CONFIG_DIR: &str = "/etc/prometheus";
/// The environment variable holding the pod's name, expanded in the replica label.
pub const POD_NAME_ENV: &str = "POD_NAME";
/// The job scraping Prometheus itself.
pub const SELF_JOB: &str = "prometheus";

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The one rule file, in [`CONFIG_DIR`] beside prometheus.yml. The set of files the pod
/// mounts never changes (on Juju 2.9.30 and later a changed set rolls every pod, before it
/// a new file is never mounted), so every relation's rules go into this file.
pub const RULES_FILE: &str = "rules.yml";
/// The rule group whose name tells which rule file Prometheus loaded.
pub const RULES_MARKER_PREFIX: &str = "juju_charm_rules_";
/// The marker group's inert alert.
pub const RULES_MARKER_ALERT: &str = "JujuCharmRulesLoaded";

/// What Prometheus reads: prometheus.yml and the one rule file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    pub config: PrometheusConfig,
    pub rules: RuleFile,
    /// The name of the marker group in `rules`: Prometheus lists it once it has loaded them.
    pub rules_marker: String,
    /// The relations' scrape targets, for the file_sd files (`targets`).
    pub targets: TargetFiles,
    /// Contributions left out (a job name already taken, a reserved group name).
    pub warnings: Vec<String>,
}

impl Rendered {
    /// The scrape jobs as Prometheus sees them: see [`effective_scrape_configs`].
    pub fn effective_scrape_configs(&self) -> Vec<ScrapeConfig> {
        effective_scrape_configs(&self.config.scrape_configs, &self.targets)
    }

    /// Whether Prometheus must expand `${POD_NAME}` in the external labels
    /// (`--enable-feature=expand-external-labels`).
    pub fn expands_external_labels(config: &CharmConfig) -> bool {
        config.replica_label.is_some()
    }
}

/// The relations' part of a rendering, which no option changes: their scrape jobs as
/// prometheus.yml keeps them (pooled), the target files, the one rule file, the
/// Alertmanagers and remote writes they send. A hook that changes one relation patches the
/// last one (`incremental`) instead of assembling every relation again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assembled {
    pub jobs: Vec<ScrapeConfig>,
    /// Not in its serde form: megabytes of JSON lines that would be escaped again as JSON
    /// strings; whoever keeps an `Assembled` writes them as they are (the charm's cache).
    #[serde(skip)]
    pub targets: TargetFiles,
    pub rules: RuleFile,
    /// `rules` as the file the pod mounts, once written (the same in every hook that keeps
    /// the rules).
    #[serde(default)]
    pub rules_yml: Option<String>,
    pub rules_marker: String,
    pub alertmanagers: Vec<AlertmanagerConfig>,
    pub remote_write: Vec<RemoteWriteConfig>,
    pub warnings: Vec<String>,
}

/// The names of our own scrape jobs, which no relation's job may take: the self-scrape, and
/// the Kubernetes jobs with `monitor-k8s`.
pub fn own_job_names(config: &CharmConfig) -> Vec<&'static str> {
    let mut names = vec![SELF_JOB];
    if config.monitor_k8s {
        names.extend(KUBERNETES_JOBS);
    }
    names
}

/// Every name [`own_job_names`] may give, whatever the options.
pub fn reserved_job_names() -> impl Iterator<Item = &'static str> {
    std::iter::once(SELF_JOB).chain(KUBERNETES_JOBS)
}

/// The relations' part of the rendering; `ours` are the job names our own jobs take.
pub fn assemble(relations: &RelationsPlan, ours: &[&str]) -> Assembled {
    let mut warnings = Vec::new();
    let (rules, rules_marker) = rules(&relations.rule_files, &mut warnings);
    // Prometheus refuses duplicate job names; ours come first and stay.
    let mut theirs = Vec::new();
    for job in &relations.scrape_configs {
        if ours.contains(&job.job_name.as_str()) {
            warnings.push(format!(
                "scrape job {:?} from a relation left out: the name is already taken",
                job.job_name
            ));
        } else {
            theirs.push(job.clone());
        }
    }
    // Their targets go to the file_sd files; ours stay static (they never change).
    let (jobs, targets) = targets::split(theirs);
    Assembled {
        jobs,
        targets,
        rules,
        rules_yml: None,
        rules_marker,
        alertmanagers: relations.alertmanagers.clone(),
        remote_write: relations.remote_write.clone(),
        warnings,
    }
}

/// Renders the whole configuration.
pub fn render(config: &CharmConfig, relations: &RelationsPlan) -> Rendered {
    render_assembled(config, assemble(relations, &own_job_names(config)))
}

/// Renders the whole configuration around the relations' part.
pub fn render_assembled(config: &CharmConfig, assembled: Assembled) -> Rendered {
    let Assembled {
        jobs: theirs,
        targets,
        rules,
        rules_yml: _,
        rules_marker,
        alertmanagers,
        remote_write: their_remote_write,
        warnings,
    } = assembled;
    let mut scrape_configs = vec![self_job(config.port)];
    if config.monitor_k8s {
        scrape_configs.extend(kubernetes_jobs());
    }
    scrape_configs.extend(theirs);
    let prometheus = PrometheusConfig {
        global: GlobalConfig {
            scrape_interval: Some(config.scrape_interval.to_string()),
            scrape_timeout: Some(config.scrape_timeout.to_string()),
            evaluation_interval: Some(config.evaluation_interval.to_string()),
            external_labels: external_labels(config),
        },
        // Relative paths resolve against prometheus.yml's own directory, wherever it is.
        rule_files: vec![RULES_FILE.to_string()],
        alerting: alerting(config, alertmanagers),
        scrape_configs,
        remote_write: remote_write(config, &their_remote_write),
    };
    Rendered {
        config: prometheus,
        rules,
        rules_marker,
        targets,
        warnings,
    }
}

/// The scrape jobs as Prometheus sees them, in the order they were rendered before their
/// targets went to the file_sd files: ours first, then the relations' jobs by name, each
/// with the targets of the files put back (`targets::effective_jobs`).
pub fn effective_scrape_configs(jobs: &[ScrapeConfig], files: &TargetFiles) -> Vec<ScrapeConfig> {
    let ours =
        |j: &ScrapeConfig| j.job_name == SELF_JOB || KUBERNETES_JOBS.contains(&j.job_name.as_str());
    let (mut out, theirs): (Vec<ScrapeConfig>, Vec<ScrapeConfig>) =
        jobs.iter().cloned().partition(ours);
    let mut theirs = targets::effective_jobs(&theirs, files);
    theirs.sort_by(|a, b| a.job_name.cmp(&b.job_name));
    out.extend(theirs);
    out
}

fn external_labels(config: &CharmConfig) -> BTreeMap<String, String> {
    match &config.replica_label {
        None => config.external_labels.clone(),
        Some(replica) => {
            // With expansion on, `$` starts a variable: an operator's literal `$` is `$$`.
            let mut labels: BTreeMap<String, String> = config
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.replace('$', "$$")))
                .collect();
            labels.insert(replica.clone(), format!("${{{POD_NAME_ENV}}}"));
            labels
        }
    }
}

/// The rule groups of every relation, in source order (the relations' rule file names),
/// with the group names made unique within the one file: Prometheus refuses a repeated name
/// in a file. The first source keeps a name; a later one gets `<name>_<n>`.
fn merged_groups(
    rule_files: &BTreeMap<String, RuleFile>,
    warnings: &mut Vec<String>,
) -> Vec<RuleGroup> {
    let mut taken = BTreeSet::new();
    let mut groups = Vec::new();
    for (source, file) in rule_files {
        for group in &file.groups {
            if group.name.starts_with(RULES_MARKER_PREFIX) {
                warnings.push(format!(
                    "rule group {:?} from {source:?} left out: names starting with \
                     {RULES_MARKER_PREFIX:?} are the charm's own",
                    group.name
                ));
                continue;
            }
            let mut name = group.name.clone();
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                name = format!("{}_{n}", group.name);
            }
            groups.push(RuleGroup {
                name,
                ..group.clone()
            });
        }
    }
    groups
}

/// The marker group: its name carries a fingerprint of every other group, so the rule groups
/// a running Prometheus lists (`/api/v1/rules`) tell whether it loaded this very file. Its
/// one alert can never fire (`vector(1) < 0` selects nothing): Prometheus 2.54 and later
/// leave groups without rules out of that list.
fn marker_group(groups: &[RuleGroup]) -> RuleGroup {
    // Serializing plain structs of strings, vectors and ordered maps cannot fail.
    let content = serde_json::to_string(groups).unwrap_or_default();
    RuleGroup {
        name: format!(
            "{RULES_MARKER_PREFIX}{}",
            crate::syntax::fingerprint::hex(&content)
        ),
        rules: vec![Rule {
            alert: Some(RULES_MARKER_ALERT.to_string()),
            expr: "vector(1) < 0".to_string(),
            ..Rule::default()
        }],
        ..RuleGroup::default()
    }
}

/// The one rule file: the relations' groups, then the marker; and the marker's name.
pub fn rules(
    rule_files: &BTreeMap<String, RuleFile>,
    warnings: &mut Vec<String>,
) -> (RuleFile, String) {
    let mut groups = merged_groups(rule_files, warnings);
    let marker = marker_group(&groups);
    let marker_name = marker.name.clone();
    groups.push(marker);
    (RuleFile { groups }, marker_name)
}

fn alerting(
    config: &CharmConfig,
    alertmanagers: Vec<AlertmanagerConfig>,
) -> Option<AlertingConfig> {
    if alertmanagers.is_empty() {
        return None;
    }
    let alertmanagers = alertmanagers
        .into_iter()
        .map(|mut am| {
            if am.timeout.is_none() {
                am.timeout = Some(config.alertmanager_timeout.to_string());
            }
            am
        })
        .collect();
    Some(AlertingConfig {
        alert_relabel_configs: Vec::new(),
        alertmanagers,
    })
}

fn remote_write(config: &CharmConfig, theirs: &[RemoteWriteConfig]) -> Vec<RemoteWriteConfig> {
    let mut out: Vec<RemoteWriteConfig> = config
        .remote_write_urls
        .iter()
        .map(|url| RemoteWriteConfig {
            url: url.clone(),
            ..RemoteWriteConfig::default()
        })
        .collect();
    // Prometheus refuses two remote writes to the same URL; the operator's own one wins.
    for rw in theirs {
        if !out.iter().any(|o| o.url == rw.url) {
            out.push(rw.clone());
        }
    }
    out
}

fn self_job(port: u16) -> ScrapeConfig {
    ScrapeConfig {
        job_name: SELF_JOB.to_string(),
        static_configs: vec![StaticConfig {
            targets: vec![format!("localhost:{port}")],
            labels: BTreeMap::new(),
        }],
        ..ScrapeConfig::default()
    }
}

/// The Kubernetes jobs' names, in the order they are rendered.
pub const KUBERNETES_JOBS: [&str; 5] = [
    "kubernetes-apiservers",
    "kubernetes-nodes",
    "kubernetes-cadvisor",
    "kubernetes-service-endpoints",
    "kubernetes-pods",
];

fn sd(role: &str) -> Vec<KubernetesSdConfig> {
    vec![KubernetesSdConfig {
        role: role.to_string(),
        ..KubernetesSdConfig::default()
    }]
}

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(std::string::ToString::to_string).collect()
}

fn relabel(
    source_labels: &[&str],
    action: &str,
    regex: Option<&str>,
    target_label: Option<&str>,
    replacement: Option<&str>,
) -> RelabelConfig {
    RelabelConfig {
        source_labels: labels(source_labels),
        action: Some(action.to_string()),
        regex: regex.map(str::to_string),
        target_label: target_label.map(str::to_string),
        replacement: replacement.map(str::to_string),
        ..RelabelConfig::default()
    }
}

/// Talks to the API server with the pod's service account (the pod spec grants it).
fn with_service_account(job: ScrapeConfig) -> ScrapeConfig {
    ScrapeConfig {
        scheme: Some("https".to_string()),
        tls_config: Some(TlsConfig {
            ca_file: Some(format!("{SA_DIR}/ca.crt")),
            ..TlsConfig::default()
        }),
        authorization: Some(Authorization {
            credentials_file: Some(format!("{SA_DIR}/token")),
            ..Authorization::default()
        }),
        ..job
    }
}

/// The node jobs go through the API server's proxy (`nodes/proxy`), so they work with the
/// cluster's CA whatever certificates the kubelets serve.
fn node_job(name: &str, path_suffix: &str) -> ScrapeConfig {
    with_service_account(ScrapeConfig {
        job_name: name.to_string(),
        kubernetes_sd_configs: sd("node"),
        relabel_configs: vec![
            relabel(
                &[],
                "labelmap",
                Some("__meta_kubernetes_node_label_(.+)"),
                None,
                None,
            ),
            relabel(
                &[],
                "replace",
                None,
                Some("__address__"),
                Some("kubernetes.default.svc:443"),
            ),
            relabel(
                &["__meta_kubernetes_node_name"],
                "replace",
                Some("(.+)"),
                Some("__metrics_path__"),
                Some(&format!("/api/v1/nodes/$1/proxy/metrics{path_suffix}")),
            ),
        ],
        ..ScrapeConfig::default()
    })
}

/// The `prometheus.io/scrape|scheme|path|port` annotations of `kind` (service or pod).
fn annotation_relabels(kind: &str) -> Vec<RelabelConfig> {
    let annotation =
        |name: &str| format!("__meta_kubernetes_{kind}_annotation_prometheus_io_{name}");
    vec![
        relabel(&[&annotation("scrape")], "keep", Some("true"), None, None),
        relabel(
            &[&annotation("scheme")],
            "replace",
            Some("(https?)"),
            Some("__scheme__"),
            None,
        ),
        relabel(
            &[&annotation("path")],
            "replace",
            Some("(.+)"),
            Some("__metrics_path__"),
            None,
        ),
        relabel(
            &["__address__", &annotation("port")],
            "replace",
            Some(r"([^:]+)(?::\d+)?;(\d+)"),
            Some("__address__"),
            Some("$1:$2"),
        ),
        relabel(
            &[],
            "labelmap",
            Some(&format!("__meta_kubernetes_{kind}_label_(.+)")),
            None,
            None,
        ),
        relabel(
            &["__meta_kubernetes_namespace"],
            "replace",
            None,
            Some("kubernetes_namespace"),
            None,
        ),
    ]
}

/// The standard recipes of Prometheus's own Kubernetes example.
fn kubernetes_jobs() -> Vec<ScrapeConfig> {
    let apiservers = with_service_account(ScrapeConfig {
        job_name: KUBERNETES_JOBS[0].to_string(),
        kubernetes_sd_configs: sd("endpoints"),
        relabel_configs: vec![relabel(
            &[
                "__meta_kubernetes_namespace",
                "__meta_kubernetes_service_name",
                "__meta_kubernetes_endpoint_port_name",
            ],
            "keep",
            Some("default;kubernetes;https"),
            None,
            None,
        )],
        ..ScrapeConfig::default()
    });
    let nodes = node_job(KUBERNETES_JOBS[1], "");
    let cadvisor = node_job(KUBERNETES_JOBS[2], "/cadvisor");
    let mut endpoint_relabels = annotation_relabels("service");
    endpoint_relabels.extend([
        relabel(
            &["__meta_kubernetes_service_name"],
            "replace",
            None,
            Some("kubernetes_name"),
            None,
        ),
        relabel(
            &["__meta_kubernetes_pod_node_name"],
            "replace",
            None,
            Some("kubernetes_node"),
            None,
        ),
    ]);
    let service_endpoints = ScrapeConfig {
        job_name: KUBERNETES_JOBS[3].to_string(),
        kubernetes_sd_configs: sd("endpoints"),
        relabel_configs: endpoint_relabels,
        ..ScrapeConfig::default()
    };
    let mut pod_relabels = annotation_relabels("pod");
    pod_relabels.extend([
        relabel(
            &["__meta_kubernetes_pod_name"],
            "replace",
            None,
            Some("kubernetes_pod_name"),
            None,
        ),
        // Finished or not yet started pods have nothing to serve.
        relabel(
            &["__meta_kubernetes_pod_phase"],
            "drop",
            Some("Pending|Succeeded|Failed|Completed"),
            None,
            None,
        ),
    ]);
    let pods = ScrapeConfig {
        job_name: KUBERNETES_JOBS[4].to_string(),
        kubernetes_sd_configs: sd("pod"),
        relabel_configs: pod_relabels,
        ..ScrapeConfig::default()
    };
    vec![apiservers, nodes, cadvisor, service_endpoints, pods]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::config::{AlertmanagerConfig, Rule, RuleGroup};
    use serde_json::json;

    use crate::config::test_config as config;

    fn job_names(r: &Rendered) -> Vec<&str> {
        r.config
            .scrape_configs
            .iter()
            .map(|j| j.job_name.as_str())
            .collect()
    }

    #[test]
    fn defaults_scrape_only_prometheus_itself() {
        let r = render(&config(&[]), &RelationsPlan::default());
        assert_eq!(job_names(&r), vec!["prometheus"]);
        assert_eq!(
            r.config.scrape_configs[0].static_configs[0].targets,
            vec!["localhost:9090"]
        );
        assert_eq!(r.config.global.scrape_interval.as_deref(), Some("1m"));
        assert_eq!(r.config.global.scrape_timeout.as_deref(), Some("10s"));
        assert_eq!(r.config.global.evaluation_interval.as_deref(), Some("1m"));
        assert_eq!(
            r.config.global.external_labels,
            BTreeMap::from([("replica".to_string(), "${POD_NAME}".to_string())])
        );
        assert!(r.config.alerting.is_none());
        assert!(r.config.remote_write.is_empty());
        assert_eq!(r.config.rule_files, vec![RULES_FILE]);
        assert_eq!(r.rules.groups.len(), 1, "the marker alone");
        assert_eq!(r.rules.groups[0].name, r.rules_marker);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn the_self_job_follows_the_port() {
        let r = render(&config(&[("port", json!(9191))]), &RelationsPlan::default());
        assert_eq!(
            r.config.scrape_configs[0].static_configs[0].targets,
            vec!["localhost:9191"]
        );
    }

    #[test]
    fn operator_labels_are_escaped_only_when_expansion_is_on() {
        let labels = json!(r#"{"cluster": "eu-1", "cost": "$5"}"#);
        let on = render(
            &config(&[("external-labels", labels.clone())]),
            &RelationsPlan::default(),
        );
        assert_eq!(on.config.global.external_labels["cost"], "$$5");
        assert_eq!(on.config.global.external_labels["replica"], "${POD_NAME}");
        let off = render(
            &config(&[("external-labels", labels), ("replica-label", json!(""))]),
            &RelationsPlan::default(),
        );
        assert_eq!(off.config.global.external_labels["cost"], "$5");
        assert!(!off.config.global.external_labels.contains_key("replica"));
    }

    #[test]
    fn monitor_k8s_adds_the_discovery_jobs() {
        let r = render(
            &config(&[("monitor-k8s", json!(true))]),
            &RelationsPlan::default(),
        );
        let mut expected = vec!["prometheus"];
        expected.extend(KUBERNETES_JOBS);
        assert_eq!(job_names(&r), expected);
        let pods = &r.config.scrape_configs[5];
        assert_eq!(pods.kubernetes_sd_configs[0].role, "pod");
        let sources: Vec<&str> = pods
            .relabel_configs
            .iter()
            .flat_map(|r| r.source_labels.iter().map(String::as_str))
            .collect();
        for annotation in ["scrape", "scheme", "path", "port"] {
            let label = format!("__meta_kubernetes_pod_annotation_prometheus_io_{annotation}");
            assert!(sources.contains(&label.as_str()), "{label}");
        }
        let cadvisor = &r.config.scrape_configs[3];
        assert!(cadvisor
            .relabel_configs
            .iter()
            .any(|r| r.replacement.as_deref() == Some("/api/v1/nodes/$1/proxy/metrics/cadvisor")));
    }

    fn relations_plan() -> RelationsPlan {
        RelationsPlan {
            scrape_configs: vec![
                ScrapeConfig {
                    job_name: "juju_cos_f4d59020_zinc_prometheus_scrape_zinc-0".into(),
                    static_configs: vec![StaticConfig {
                        targets: vec!["10.1.36.90:4080".into()],
                        labels: BTreeMap::from([("juju_unit".into(), "zinc/0".into())]),
                    }],
                    ..ScrapeConfig::default()
                },
                ScrapeConfig {
                    job_name: "prometheus".into(),
                    ..ScrapeConfig::default()
                },
            ],
            alertmanagers: vec![
                AlertmanagerConfig {
                    scheme: Some("http".into()),
                    path_prefix: Some("/".into()),
                    static_configs: vec![StaticConfig {
                        targets: vec!["alertmanager-0.alertmanager-endpoints:9093".into()],
                        labels: BTreeMap::new(),
                    }],
                    ..AlertmanagerConfig::default()
                },
                AlertmanagerConfig {
                    timeout: Some("3s".into()),
                    static_configs: vec![StaticConfig {
                        targets: vec!["am-1:9093".into()],
                        labels: BTreeMap::new(),
                    }],
                    ..AlertmanagerConfig::default()
                },
            ],
            rule_files: BTreeMap::from([
                (
                    "juju_cos_f4d59020_zinc.rules".to_string(),
                    RuleFile {
                        groups: vec![RuleGroup {
                            name: "zinc".into(),
                            rules: vec![Rule {
                                alert: Some("ZincDown".into()),
                                expr: "up < 1".into(),
                                ..Rule::default()
                            }],
                            ..RuleGroup::default()
                        }],
                    },
                ),
                (
                    "juju_cos_f4d59020_zinc_2.rules".to_string(),
                    RuleFile {
                        groups: vec![
                            RuleGroup {
                                name: "zinc".into(),
                                rules: vec![Rule {
                                    record: Some("zinc:up".into()),
                                    expr: "up".into(),
                                    ..Rule::default()
                                }],
                                ..RuleGroup::default()
                            },
                            RuleGroup {
                                name: format!("{RULES_MARKER_PREFIX}0123456789abcdef"),
                                ..RuleGroup::default()
                            },
                        ],
                    },
                ),
            ]),
            remote_write: vec![
                RemoteWriteConfig {
                    url: "http://mimir:9009/api/v1/push".into(),
                    ..RemoteWriteConfig::default()
                },
                RemoteWriteConfig {
                    url: "http://cortex:80/api/v1/push".into(),
                    ..RemoteWriteConfig::default()
                },
            ],
            ..RelationsPlan::default()
        }
    }

    #[test]
    fn relations_are_merged_in() {
        let c = config(&[
            ("remote-write-urls", json!("http://mimir:9009/api/v1/push")),
            ("alertmanager-timeout", json!("20s")),
        ]);
        let r = render(&c, &relations_plan());
        let effective = r.effective_scrape_configs();
        assert_eq!(
            effective
                .iter()
                .map(|j| j.job_name.as_str())
                .collect::<Vec<_>>(),
            vec![
                "prometheus",
                "juju_cos_f4d59020_zinc_prometheus_scrape_zinc-0"
            ]
        );
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings.iter().any(|w| w.contains("\"prometheus\"")));
        assert!(r.warnings.iter().any(|w| w.contains(RULES_MARKER_PREFIX)));
        let alerting = r.config.alerting.unwrap();
        assert_eq!(alerting.alertmanagers[0].timeout.as_deref(), Some("20s"));
        assert_eq!(alerting.alertmanagers[1].timeout.as_deref(), Some("3s"));
        let urls: Vec<&str> = r
            .config
            .remote_write
            .iter()
            .map(|w| w.url.as_str())
            .collect();
        assert_eq!(
            urls,
            vec![
                "http://mimir:9009/api/v1/push",
                "http://cortex:80/api/v1/push"
            ]
        );
        assert_eq!(r.config.rule_files, vec![RULES_FILE]);
        let names: Vec<&str> = r.rules.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["zinc", "zinc_2", r.rules_marker.as_str()]);
        assert_eq!(
            r.rules.groups[1].rules[0].record.as_deref(),
            Some("zinc:up")
        );
    }

    #[test]
    fn the_marker_follows_every_rule_and_nothing_else() {
        let c = config(&[]);
        let mut plan = relations_plan();
        let before = render(&c, &plan);
        assert_eq!(render(&c, &plan), before);
        assert!(before.rules_marker.starts_with(RULES_MARKER_PREFIX));
        let other = render(&config(&[("scrape-interval", json!("30s"))]), &plan);
        assert_eq!(other.rules_marker, before.rules_marker, "options leave it");
        let zinc = plan
            .rule_files
            .get_mut("juju_cos_f4d59020_zinc.rules")
            .unwrap();
        zinc.groups[0].rules[0].expr = "up < 0.5".into();
        let after = render(&c, &plan);
        assert_ne!(
            after.rules_marker, before.rules_marker,
            "a changed rule moves it"
        );
        assert_eq!(after.config.rule_files, before.config.rule_files);
    }

    #[test]
    fn the_marker_is_valid_and_inert_for_promtool() {
        let r = render(&config(&[]), &relations_plan());
        crate::prometheus::promtool::check_rendered(&r).unwrap();
        let marker = r.rules.groups.last().unwrap();
        assert_eq!(marker.rules.len(), 1);
        assert_eq!(marker.rules[0].expr, "vector(1) < 0");
    }

    #[test]
    fn rendering_is_deterministic() {
        let c = config(&[
            ("monitor-k8s", json!(true)),
            (
                "external-labels",
                json!(r#"{"z": "1", "a": "2", "m": "3"}"#),
            ),
        ]);
        let first = crate::yaml::to_string(&render(&c, &relations_plan()).config).unwrap();
        for _ in 0..5 {
            let again = crate::yaml::to_string(&render(&c, &relations_plan()).config).unwrap();
            assert_eq!(first, again);
        }
    }
}
