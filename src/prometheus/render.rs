//! prometheus.yml and the rule files, from the options and what the relations contribute.
//! Pure: identical inputs give identical values (and so byte-identical YAML).

use std::collections::BTreeMap;

use crate::config::CharmConfig;
use crate::prometheus::config::{
    AlertingConfig, Authorization, GlobalConfig, KubernetesSdConfig, PrometheusConfig,
    RelabelConfig, RemoteWriteConfig, RuleFile, ScrapeConfig, StaticConfig, TlsConfig,
};
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

/// What Prometheus reads: prometheus.yml and the rule files it lists, by file name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    pub config: PrometheusConfig,
    pub rule_files: BTreeMap<String, RuleFile>,
    /// Contributions left out (a job name already taken, a rule file name clash).
    pub warnings: Vec<String>,
}

impl Rendered {
    /// Whether Prometheus must expand `${POD_NAME}` in the external labels
    /// (`--enable-feature=expand-external-labels`).
    pub fn expands_external_labels(config: &CharmConfig) -> bool {
        config.replica_label.is_some()
    }
}

/// Renders the whole configuration.
pub fn render(config: &CharmConfig, relations: &RelationsPlan) -> Rendered {
    let mut warnings = Vec::new();
    let rule_files = rule_files(relations, &mut warnings);
    let scrape_configs = scrape_configs(config, relations, &mut warnings);
    let prometheus = PrometheusConfig {
        global: GlobalConfig {
            scrape_interval: Some(config.scrape_interval.to_string()),
            scrape_timeout: Some(config.scrape_timeout.to_string()),
            evaluation_interval: Some(config.evaluation_interval.to_string()),
            external_labels: external_labels(config),
        },
        // Relative paths resolve against prometheus.yml's own directory, wherever it is.
        rule_files: rule_files.keys().cloned().collect(),
        alerting: alerting(config, relations),
        scrape_configs,
        remote_write: remote_write(config, relations),
    };
    Rendered {
        config: prometheus,
        rule_files,
        warnings,
    }
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

/// A file name Kubernetes accepts as a ConfigMap key (`[-._a-zA-Z0-9]+`), kept apart from
/// prometheus.yml.
pub fn rule_file_name(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        clean = format!("_{clean}");
    }
    if clean == CONFIG_FILE {
        clean.push_str(".rules");
    }
    clean
}

/// The name a rule file is mounted and listed under: its clean name with a fingerprint of its
/// content (`<stem>.<fingerprint>.rules`). A change to any rule then changes `rule_files` in
/// prometheus.yml, so the served configuration tells exactly which rules Prometheus loaded,
/// and the charm reloads only when it serves something else.
fn versioned_name(clean: &str, file: &RuleFile) -> String {
    let stem = clean.strip_suffix(".rules").unwrap_or(clean);
    // Serializing plain structs of strings, vectors and ordered maps cannot fail.
    let content = serde_json::to_string(file).unwrap_or_default();
    let fingerprint = crate::pod_spec::fingerprint(&content);
    format!("{stem}.{}.rules", &fingerprint[..8])
}

fn rule_files(relations: &RelationsPlan, warnings: &mut Vec<String>) -> BTreeMap<String, RuleFile> {
    let mut clean_names = std::collections::BTreeSet::new();
    let mut files = BTreeMap::new();
    for (name, file) in &relations.rule_files {
        let clean = rule_file_name(name);
        if !clean_names.insert(clean.clone()) {
            warnings.push(format!(
                "rule file {name:?} left out: its name clashes with another as {clean:?}"
            ));
            continue;
        }
        files.insert(versioned_name(&clean, file), file.clone());
    }
    files
}

fn alerting(config: &CharmConfig, relations: &RelationsPlan) -> Option<AlertingConfig> {
    if relations.alertmanagers.is_empty() {
        return None;
    }
    let alertmanagers = relations
        .alertmanagers
        .iter()
        .map(|am| {
            let mut am = am.clone();
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

fn remote_write(config: &CharmConfig, relations: &RelationsPlan) -> Vec<RemoteWriteConfig> {
    let mut out: Vec<RemoteWriteConfig> = config
        .remote_write_urls
        .iter()
        .map(|url| RemoteWriteConfig {
            url: url.clone(),
            ..RemoteWriteConfig::default()
        })
        .collect();
    // Prometheus refuses two remote writes to the same URL; the operator's own one wins.
    for rw in &relations.remote_write {
        if !out.iter().any(|o| o.url == rw.url) {
            out.push(rw.clone());
        }
    }
    out
}

fn scrape_configs(
    config: &CharmConfig,
    relations: &RelationsPlan,
    warnings: &mut Vec<String>,
) -> Vec<ScrapeConfig> {
    let mut jobs = vec![self_job(config.port)];
    if config.monitor_k8s {
        jobs.extend(kubernetes_jobs());
    }
    // Prometheus refuses duplicate job names; ours come first and stay.
    for job in &relations.scrape_configs {
        if jobs.iter().any(|j| j.job_name == job.job_name) {
            warnings.push(format!(
                "scrape job {:?} from a relation left out: the name is already taken",
                job.job_name
            ));
        } else {
            jobs.push(job.clone());
        }
    }
    jobs
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
    names.iter().map(|s| s.to_string()).collect()
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
        assert!(r.config.rule_files.is_empty());
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
                ("prometheus.yml".to_string(), RuleFile::default()),
                ("weird/name".to_string(), RuleFile::default()),
                ("weird_name".to_string(), RuleFile::default()),
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
        assert_eq!(
            job_names(&r),
            vec![
                "prometheus",
                "juju_cos_f4d59020_zinc_prometheus_scrape_zinc-0"
            ]
        );
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings.iter().any(|w| w.contains("\"prometheus\"")));
        assert!(r.warnings.iter().any(|w| w.contains("weird")));
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
        let unversioned: Vec<String> = r
            .config
            .rule_files
            .iter()
            .map(|n| {
                let (stem, fingerprint) =
                    n.strip_suffix(".rules").unwrap().rsplit_once('.').unwrap();
                assert_eq!(fingerprint.len(), 8, "{n}");
                assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()), "{n}");
                stem.to_string()
            })
            .collect();
        assert_eq!(
            unversioned,
            vec!["juju_cos_f4d59020_zinc", "prometheus.yml", "weird_name"]
        );
        assert_eq!(
            r.rule_files.keys().collect::<Vec<_>>(),
            r.config.rule_files.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_rule_file_is_named_after_its_content() {
        let c = config(&[]);
        let mut plan = relations_plan();
        let before = render(&c, &plan).config.rule_files;
        assert_eq!(render(&c, &plan).config.rule_files, before);
        let zinc = plan
            .rule_files
            .get_mut("juju_cos_f4d59020_zinc.rules")
            .unwrap();
        zinc.groups[0].rules[0].expr = "up < 0.5".into();
        let after = render(&c, &plan).config.rule_files;
        assert_ne!(after[0], before[0], "a changed rule gets a new name");
        assert_eq!(after[1..], before[1..], "the others keep theirs");
    }

    #[test]
    fn rule_file_names_are_configmap_keys() {
        assert_eq!(rule_file_name("a b/c.rules"), "a_b_c.rules");
        assert_eq!(rule_file_name(""), "_");
        assert_eq!(rule_file_name(".."), "_..");
        assert_eq!(rule_file_name("prometheus.yml"), "prometheus.yml.rules");
        assert_eq!(rule_file_name("ok-1.rules"), "ok-1.rules");
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
