//! The pod spec (version 3) the leader hands to `pod-spec-set`: typed after Juju's schema
//! (juju-hook-reference §3), so nothing is written by string formatting.
//!
//! A change to prometheus.yml or the rule files changes only the `files` of the config file
//! set (a ConfigMap Kubernetes updates in the running pod); everything that shapes the pod
//! template (args, env, ports, probes) depends on the options alone. So a configuration
//! change does not roll the pod: the charm asks Prometheus to reload (`POST /-/reload`,
//! allowed by `--web.enable-lifecycle`) once the new file is served.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::CharmConfig;
use crate::image::ImageDetails;
use crate::prometheus::render::{CONFIG_DIR, CONFIG_FILE, POD_NAME_ENV, RULES_FILE};
use crate::prometheus::targets::{self, TargetFiles};

/// The workload container's name.
pub const CONTAINER: &str = "prometheus";
/// Where the `database` storage is mounted (metadata.yaml).
pub const TSDB_PATH: &str = "/var/lib/prometheus";
/// The file set holding prometheus.yml and the rule file. Juju names the pod volume and its
/// ConfigMap `<app>-<this>-config`, a 63-character label: short, so long application
/// names fit (see `k8s_names`).
pub const CONFIG_VOLUME: &str = "config";
/// 0644: Prometheus only reads these files.
pub const FILE_MODE: u32 = 0o644;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    pub version: u32,
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    pub name: String,
    pub image_details: ImageDetailsSpec,
    pub args: Vec<String>,
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_config: BTreeMap<String, EnvValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_config: Vec<FileSet>,
    pub kubernetes: ContainerKubernetes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageDetailsSpec {
    pub image_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerPort {
    pub name: String,
    pub container_port: u16,
    pub protocol: String,
}

/// An `envConfig` value: plain text, or a reference Kubernetes resolves in the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Field { field: FieldRef },
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRef {
    pub path: String,
    #[serde(rename = "api-version")]
    pub api_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSet {
    pub name: String,
    pub mount_path: String,
    pub files: Vec<File>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub path: String,
    pub content: String,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerKubernetes {
    pub readiness_probe: Probe,
    pub liveness_probe: Probe,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    pub http_get: HttpGet,
    pub initial_delay_seconds: u32,
    pub timeout_seconds: u32,
    pub period_seconds: u32,
    pub failure_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGet {
    pub path: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccount {
    pub automount_service_account_token: bool,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub global: bool,
    pub rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
    pub verbs: Vec<String>,
}

/// Every file the pod mounts, as text: prometheus.yml and the one rule file in
/// [`CONFIG_DIR`] (file set [`CONFIG_VOLUME`]), and the target files of every shard (file
/// sets `t0`…`t7`, see `prometheus::targets`). Always the same file sets with the same files,
/// whatever the relations: only their contents change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFiles {
    pub prometheus_yml: String,
    pub rules_yml: String,
    /// `targets[shard][pool]`: always `SHARDS` × `POOLS` JSON texts.
    pub targets: Vec<Vec<String>>,
}

impl Default for ConfigFiles {
    fn default() -> Self {
        ConfigFiles {
            prometheus_yml: String::new(),
            rules_yml: String::new(),
            targets: TargetFiles::default().to_json(),
        }
    }
}

/// What the files of one file set may take in all: Kubernetes keeps a file set in one
/// ConfigMap, which holds at most 1 MiB with its metadata, and refuses a larger one only when
/// Juju applies the spec, long after the hook said it was set. The rest of the MiB is left for
/// names and metadata.
pub const CONFIG_FILES_BUDGET: usize = 1_000_000;

/// One file set as the pod mounts it: volume name, mount path, (file name, content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSetText<'a> {
    pub name: String,
    pub mount_path: String,
    pub files: Vec<(String, &'a str)>,
}

impl FileSetText<'_> {
    /// Bytes the ConfigMap's data takes: every file's name and content.
    pub fn size(&self) -> usize {
        self.files
            .iter()
            .map(|(name, content)| name.len() + content.len())
            .sum()
    }
}

impl ConfigFiles {
    /// The config file set's files, as (name in [`CONFIG_DIR`], content), in a fixed order.
    pub fn files(&self) -> [(&'static str, &str); 2] {
        [
            (CONFIG_FILE, self.prometheus_yml.as_str()),
            (RULES_FILE, self.rules_yml.as_str()),
        ]
    }

    /// Every file set, in a fixed order: the config, then the target shards.
    pub fn file_sets(&self) -> Vec<FileSetText<'_>> {
        let mut sets = vec![FileSetText {
            name: CONFIG_VOLUME.to_string(),
            mount_path: CONFIG_DIR.to_string(),
            files: self
                .files()
                .iter()
                .map(|(name, content)| ((*name).to_string(), *content))
                .collect(),
        }];
        for shard in 0..targets::SHARDS {
            sets.push(FileSetText {
                name: targets::volume(shard),
                mount_path: targets::mount_path(shard),
                files: (0..targets::POOLS)
                    .map(|pool| {
                        let content = self
                            .targets
                            .get(shard)
                            .and_then(|p| p.get(pool))
                            .map_or(targets::EMPTY_FILE, String::as_str);
                        (targets::file_name(pool), content)
                    })
                    .collect(),
            });
        }
        sets
    }

    /// Bytes the config file set takes (prometheus.yml and the rules).
    pub fn size(&self) -> usize {
        self.files()
            .iter()
            .map(|(name, content)| name.len() + content.len())
            .sum()
    }

    /// The file set over [`CONFIG_FILES_BUDGET`], the largest first: its name and size.
    pub fn oversized(&self) -> Option<(String, usize)> {
        self.file_sets()
            .iter()
            .map(|set| (set.name.clone(), set.size()))
            .filter(|(_, size)| *size > CONFIG_FILES_BUDGET)
            .max_by_key(|(_, size)| *size)
    }
}

/// What the pod spec is built from.
#[derive(Debug, Clone, Copy)]
pub struct PodSpecInput<'a> {
    pub config: &'a CharmConfig,
    pub image: &'a ImageDetails,
    pub files: &'a ConfigFiles,
    /// A receive-remote-write relation wants `/api/v1/write` served.
    pub remote_write_receiver: bool,
}

/// Prometheus's command line. Depends on the options (and the receiver switch) only.
pub fn args(config: &CharmConfig, remote_write_receiver: bool) -> Vec<String> {
    let mut args = vec![
        format!("--config.file={CONFIG_DIR}/{CONFIG_FILE}"),
        format!("--storage.tsdb.path={TSDB_PATH}"),
        // Allows POST /-/reload, which is how a new prometheus.yml takes effect.
        "--web.enable-lifecycle".to_string(),
        format!("--web.listen-address=0.0.0.0:{}", config.port),
        format!("--log.level={}", config.log_level.as_str()),
        format!(
            "--storage.tsdb.retention.time={}",
            config.metrics_retention_time
        ),
    ];
    if let Some(size) = &config.maximum_retention_size {
        args.push(format!("--storage.tsdb.retention.size={}", size.as_str()));
    }
    // Prometheus compresses the WAL by default: say no explicitly when the option says so.
    args.push(if config.metrics_wal_compression {
        "--storage.tsdb.wal-compression".to_string()
    } else {
        "--no-storage.tsdb.wal-compression".to_string()
    });
    if config.web_enable_admin_api {
        args.push("--web.enable-admin-api".to_string());
    }
    args.push(format!("--web.page-title={}", config.web_page_title));
    args.push(format!(
        "--web.max-connections={}",
        config.web_max_connections
    ));
    if let Some(url) = &config.web_external_url {
        args.push(format!("--web.external-url={url}"));
        // A path in the external URL would otherwise move every route, the probes' too;
        // the ingress in front strips it.
        args.push("--web.route-prefix=/".to_string());
    }
    args.push(format!(
        "--alertmanager.notification-queue-capacity={}",
        config.alertmanager_notification_queue_capacity
    ));
    if config.replica_label.is_some() {
        args.push("--enable-feature=expand-external-labels".to_string());
    }
    if remote_write_receiver {
        args.push("--web.enable-remote-write-receiver".to_string());
    }
    args
}

/// Kubernetes expands `$(VAR)` in container args and turns `$$` into `$`; doubling every
/// `$` makes it hand Prometheus the option's text exactly (a page title of `$(POD_NAME)`
/// stays that text).
fn kubernetes_escaped(arg: &str) -> String {
    arg.replace('$', "$$")
}

fn probe(path: &str, port: u16, initial_delay_seconds: u32) -> Probe {
    Probe {
        http_get: HttpGet {
            path: path.to_string(),
            port,
        },
        initial_delay_seconds,
        timeout_seconds: 30,
        period_seconds: 10,
        failure_threshold: 3,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(std::string::ToString::to_string).collect()
}

/// Read-only access to exactly what the Kubernetes discovery jobs use.
pub fn kubernetes_sd_service_account() -> ServiceAccount {
    let read = strings(&["get", "list", "watch"]);
    ServiceAccount {
        automount_service_account_token: true,
        roles: vec![Role {
            global: true,
            rules: vec![
                PolicyRule {
                    api_groups: strings(&[""]),
                    resources: strings(&[
                        "nodes",
                        "nodes/metrics",
                        "nodes/proxy",
                        "services",
                        "endpoints",
                        "pods",
                    ]),
                    non_resource_urls: Vec::new(),
                    verbs: read.clone(),
                },
                PolicyRule {
                    api_groups: strings(&["networking.k8s.io"]),
                    resources: strings(&["ingresses"]),
                    non_resource_urls: Vec::new(),
                    verbs: read,
                },
                PolicyRule {
                    api_groups: Vec::new(),
                    resources: Vec::new(),
                    non_resource_urls: strings(&["/metrics"]),
                    verbs: strings(&["get"]),
                },
            ],
        }],
    }
}

/// Builds the spec. Pure: identical inputs give identical specs.
pub fn build(input: PodSpecInput<'_>) -> PodSpec {
    let PodSpecInput {
        config,
        image,
        files,
        remote_write_receiver,
    } = input;
    let volume_config = files
        .file_sets()
        .into_iter()
        .map(|set| FileSet {
            name: set.name,
            mount_path: set.mount_path,
            files: set
                .files
                .into_iter()
                .map(|(path, content)| File {
                    path,
                    content: content.to_string(),
                    mode: FILE_MODE,
                })
                .collect(),
        })
        .collect();
    let env_config = BTreeMap::from([(
        POD_NAME_ENV.to_string(),
        EnvValue::Field {
            field: FieldRef {
                path: "metadata.name".to_string(),
                api_version: "v1".to_string(),
            },
        },
    )]);
    PodSpec {
        version: 3,
        containers: vec![Container {
            name: CONTAINER.to_string(),
            image_details: ImageDetailsSpec {
                image_path: image.image_path.clone(),
                username: image.username.clone(),
                password: image.password.clone(),
            },
            args: args(config, remote_write_receiver)
                .iter()
                .map(|a| kubernetes_escaped(a))
                .collect(),
            ports: vec![ContainerPort {
                name: "http".to_string(),
                container_port: config.port,
                protocol: "TCP".to_string(),
            }],
            env_config,
            volume_config,
            kubernetes: ContainerKubernetes {
                readiness_probe: probe("/-/ready", config.port, 10),
                liveness_probe: probe("/-/healthy", config.port, 30),
            },
        }],
        service_account: config.monitor_k8s.then(kubernetes_sd_service_account),
    }
}

/// The fingerprint of a spec's text, which the leader keeps so as to set a spec only when it
/// changed.
pub fn fingerprint(text: &str) -> String {
    crate::syntax::fingerprint::bulk_hex(text)
}

impl PodSpec {
    /// The text given to `pod-spec-set`: JSON, which is YAML too. Juju turns whatever it is
    /// given into JSON before decoding it (2.9 `caas/kubernetes/provider/specs/decode.go`,
    /// `YAMLOrJSONDecoder`), and JSON of a spec holding megabytes of target files is written
    /// many times faster than YAML.
    pub fn to_text(&self) -> String {
        // Sized up front: growing a buffer of megabytes by doubling would hold two.
        let files: usize = self
            .containers
            .iter()
            .flat_map(|c| &c.volume_config)
            .flat_map(|set| &set.files)
            .map(|f| f.content.len() + f.content.len() / 8 + f.path.len() + 32)
            .sum();
        let mut text = Vec::with_capacity(files + 16_384);
        // Plain structs of strings, numbers and ordered maps always serialize.
        if serde_json::to_writer(&mut text, self).is_err() {
            return String::new();
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::config::test_config as config;

    fn image() -> ImageDetails {
        ImageDetails {
            image_path: "registry.example/prometheus@sha256:0123".into(),
            username: Some("docker-registry".into()),
            password: Some("s3cr3t".into()),
        }
    }

    fn files() -> ConfigFiles {
        ConfigFiles {
            prometheus_yml: "global:\n  scrape_interval: 1m\n".into(),
            rules_yml: "groups:\n- name: zinc\n  rules: []\n".to_string(),
            ..ConfigFiles::default()
        }
    }

    fn spec(c: &CharmConfig, f: &ConfigFiles, receiver: bool) -> PodSpec {
        build(PodSpecInput {
            config: c,
            image: &image(),
            files: f,
            remote_write_receiver: receiver,
        })
    }

    /// The file sets and their files are the same whatever the targets: the config, then the
    /// target volumes `t0`…`t7` of `p00.json`…`p15.json` each, beside `/etc/prometheus`.
    #[test]
    fn the_file_sets_never_change() {
        let shape = |s: &PodSpec| -> Vec<(String, String, Vec<String>)> {
            s.containers[0]
                .volume_config
                .iter()
                .map(|set| {
                    let files = set.files.iter().map(|f| f.path.clone()).collect();
                    (set.name.clone(), set.mount_path.clone(), files)
                })
                .collect()
        };
        let empty = spec(&config(&[]), &files(), false);
        let jobs = (0..50)
            .map(|i| crate::prometheus::config::ScrapeConfig {
                job_name: format!("j{i}"),
                scrape_interval: Some(format!("{}s", i + 1)),
                static_configs: vec![crate::prometheus::config::StaticConfig {
                    targets: vec![format!("h{i}:1")],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        let (_, targets) = targets::split(jobs);
        let full = ConfigFiles {
            targets: targets.to_json(),
            ..files()
        };
        let busy = spec(&config(&[]), &full, false);
        assert_ne!(empty, busy);
        assert_eq!(shape(&empty), shape(&busy));
        let sets = shape(&empty);
        assert_eq!(sets.len(), 1 + targets::SHARDS);
        assert_eq!(sets[0].0, CONFIG_VOLUME);
        assert_eq!(sets[8].0, "t7");
        assert_eq!(sets[8].1, "/etc/prometheus-targets/t7");
        assert_eq!(sets[8].2.len(), targets::POOLS);
        assert_eq!(sets[8].2[15], "p15.json");
    }

    #[test]
    fn default_spec_has_what_juju_and_prometheus_need() {
        let s = spec(&config(&[]), &files(), false);
        assert_eq!(s.version, 3);
        let c = &s.containers[0];
        assert_eq!(c.name, "prometheus");
        assert_eq!(
            c.image_details.image_path,
            "registry.example/prometheus@sha256:0123"
        );
        assert_eq!(c.image_details.username.as_deref(), Some("docker-registry"));
        assert_eq!(
            c.args,
            vec![
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
            ]
        );
        assert_eq!(c.ports[0].container_port, 9090);
        assert_eq!(c.kubernetes.readiness_probe.http_get.path, "/-/ready");
        assert_eq!(c.kubernetes.liveness_probe.http_get.path, "/-/healthy");
        assert_eq!(c.kubernetes.liveness_probe.http_get.port, 9090);
        let fs = &c.volume_config[0];
        assert_eq!(fs.mount_path, "/etc/prometheus");
        let paths: Vec<&str> = fs.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["prometheus.yml", "rules.yml"]);
        assert!(fs.files.iter().all(|f| f.mode == 420));
        assert!(s.service_account.is_none());
        assert_eq!(
            c.env_config["POD_NAME"],
            EnvValue::Field {
                field: FieldRef {
                    path: "metadata.name".into(),
                    api_version: "v1".into()
                }
            }
        );
    }

    #[test]
    fn dollars_reach_prometheus_as_written_through_kubernetes_expansion() {
        let c = config(&[
            ("web-page-title", json!("$(POD_NAME) costs $$5")),
            ("web-external-url", json!("https://prom.example.com/$x")),
        ]);
        let args = spec(&c, &files(), false).containers[0].args.clone();
        assert!(args.contains(&"--web.page-title=$$(POD_NAME) costs $$$$5".to_string()));
        assert!(args.contains(&"--web.external-url=https://prom.example.com/$$x".to_string()));
        // What Prometheus itself is given is the option's text.
        assert!(
            super::args(&c, false).contains(&"--web.page-title=$(POD_NAME) costs $$5".to_string())
        );
    }

    #[test]
    fn every_flag_option_reaches_the_args() {
        let c = config(&[
            ("port", json!(9191)),
            ("log-level", json!("debug")),
            ("metrics-retention-time", json!("30d")),
            ("maximum-retention-size", json!("50GB")),
            ("metrics-wal-compression", json!(true)),
            ("web-enable-admin-api", json!(true)),
            ("web-page-title", json!("Our Prometheus")),
            ("web-max-connections", json!(64)),
            ("web-external-url", json!("https://prom.example.com/prom")),
            ("alertmanager-notification-queue-capacity", json!(500)),
            ("replica-label", json!("")),
        ]);
        let s = spec(&c, &files(), true);
        let args = &s.containers[0].args;
        for expected in [
            "--web.listen-address=0.0.0.0:9191",
            "--log.level=debug",
            "--storage.tsdb.retention.time=30d",
            "--storage.tsdb.retention.size=50GB",
            "--storage.tsdb.wal-compression",
            "--web.enable-admin-api",
            "--web.page-title=Our Prometheus",
            "--web.max-connections=64",
            "--web.external-url=https://prom.example.com/prom",
            "--web.route-prefix=/",
            "--alertmanager.notification-queue-capacity=500",
            "--web.enable-remote-write-receiver",
        ] {
            assert!(
                args.iter().any(|a| a == expected),
                "{expected} not in {args:?}"
            );
        }
        assert!(!args.iter().any(|a| a.contains("expand-external-labels")));
        assert!(!args.iter().any(|a| a.contains("no-storage")));
        assert_eq!(s.containers[0].ports[0].container_port, 9191);
        assert_eq!(
            s.containers[0].kubernetes.readiness_probe.http_get.port,
            9191
        );
    }

    /// The real Prometheus binary parses every flag we give it (`--version` after them
    /// stops it once they are all read; an unknown flag fails first).
    #[test]
    fn prometheus_accepts_the_args() {
        let all_on = config(&[
            ("maximum-retention-size", json!("1TB")),
            ("metrics-wal-compression", json!(true)),
            ("web-enable-admin-api", json!(true)),
            ("web-external-url", json!("http://prom.example.com:8080/x")),
        ]);
        for (c, receiver) in [(config(&[]), false), (all_on, true)] {
            let args = args(&c, receiver);
            let out = std::process::Command::new("prometheus")
                .args(&args)
                .arg("--version")
                .output()
                .expect("prometheus is installed (apt install prometheus)");
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = std::process::Command::new("prometheus")
            .args(["--no-such-flag", "--version"])
            .output()
            .unwrap();
        assert!(!out.status.success());
    }

    #[test]
    fn monitor_k8s_grants_read_only_discovery_rights() {
        let s = spec(&config(&[("monitor-k8s", json!(true))]), &files(), false);
        let sa = s.service_account.unwrap();
        assert!(sa.automount_service_account_token);
        assert_eq!(sa.roles.len(), 1);
        assert!(sa.roles[0].global);
        let mut resources = Vec::new();
        for rule in &sa.roles[0].rules {
            if rule.non_resource_urls.is_empty() {
                assert_eq!(rule.verbs, vec!["get", "list", "watch"]);
                resources.extend(rule.resources.iter().map(String::as_str));
            } else {
                assert_eq!(rule.non_resource_urls, vec!["/metrics"]);
                assert_eq!(rule.verbs, vec!["get"]);
                assert!(rule.resources.is_empty() && rule.api_groups.is_empty());
            }
        }
        resources.sort();
        assert_eq!(
            resources,
            vec![
                "endpoints",
                "ingresses",
                "nodes",
                "nodes/metrics",
                "nodes/proxy",
                "pods",
                "services"
            ]
        );
    }

    #[test]
    fn a_config_file_change_touches_only_the_files() {
        let c = config(&[("monitor-k8s", json!(true))]);
        let before = spec(&c, &files(), false);
        let mut changed = files();
        changed.prometheus_yml.push_str("  scrape_timeout: 5s\n");
        changed.rules_yml = "groups: []\n".into();
        let mut after = spec(&c, &changed, false);
        assert_ne!(before, after);
        // The file set keeps its names and modes: only contents differ.
        let shape = |s: &PodSpec| -> Vec<(String, String, u32)> {
            s.containers[0]
                .volume_config
                .iter()
                .flat_map(|v| {
                    v.files
                        .iter()
                        .map(|f| (v.name.clone(), f.path.clone(), f.mode))
                })
                .collect()
        };
        assert_eq!(shape(&before), shape(&after));
        after.containers[0].volume_config = before.containers[0].volume_config.clone();
        assert_eq!(before, after);
    }

    #[test]
    fn identical_inputs_give_a_byte_identical_spec() {
        let c = config(&[("monitor-k8s", json!(true))]);
        let first = spec(&c, &files(), true).to_text();
        for _ in 0..5 {
            assert_eq!(spec(&c, &files(), true).to_text(), first);
        }
        // The fingerprint the leader keeps follows the text.
        assert_eq!(
            fingerprint(&first),
            fingerprint(&spec(&c, &files(), true).to_text())
        );
        assert_ne!(fingerprint(&first), fingerprint(&format!("{first} ")));
    }

    #[test]
    fn the_text_round_trips_as_yaml_with_juju_field_names() {
        let c = config(&[("monitor-k8s", json!(true))]);
        let s = spec(&c, &files(), false);
        let text = s.to_text();
        for key in [
            "\"version\":3",
            "\"imageDetails\":",
            "\"imagePath\":",
            "\"containerPort\":9090",
            "\"envConfig\":",
            "\"api-version\":\"v1\"",
            "\"volumeConfig\":",
            "\"mountPath\":\"/etc/prometheus\"",
            "\"mode\":420",
            "\"readinessProbe\":",
            "\"httpGet\":",
            "\"initialDelaySeconds\":",
            "\"serviceAccount\":",
            "\"automountServiceAccountToken\":true",
            "\"nonResourceURLs\":",
            "\"apiGroups\":",
        ] {
            assert!(text.contains(key), "{key} not in\n{text}");
        }
        let back: PodSpec = crate::yaml::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
