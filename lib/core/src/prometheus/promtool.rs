//! Test helper: the real `promtool check config` on what the charm renders, with the rule
//! files next to prometheus.yml as they are mounted in the pod.
//!
//! Debian builds Prometheus without Kubernetes service discovery (its promtool refuses
//! `kubernetes_sd_configs` as an unknown field), so the Kubernetes jobs are checked in two
//! halves: the `kubernetes_sd_configs` blocks against the roles Prometheus knows, and the rest
//! of each job (scheme, TLS, authorization, every relabel rule) by promtool, with the discovery
//! swapped for a static target. The service account's files, which Kubernetes mounts in the
//! pod, are stood in for by files in the temporary directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::pod_spec::ConfigFiles;
use crate::prometheus::config::{PrometheusConfig, RuleFile, StaticConfig};
use crate::prometheus::render::{Rendered, CONFIG_DIR, CONFIG_FILE};
use crate::prometheus::targets::TargetFiles;

/// Where `make test` gets promtool from (Debian's `prometheus` package).
const PROMTOOL: &str = "promtool";

/// Writes prometheus.yml, the rule file and the target files into a fresh directory, at
/// their mount paths (so the relative paths between them resolve as in the pod), and runs
/// `promtool check config` on them, which also checks every target file; the error carries
/// promtool's output and prometheus.yml.
pub(crate) fn check_config(
    config: &PrometheusConfig,
    rules: &RuleFile,
    targets: &TargetFiles,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = config.clone();
    stand_in_service_account(&mut config, dir.path())?;
    let text = crate::yaml::to_string(&config).map_err(|e| e.to_string())?;
    let files = ConfigFiles {
        prometheus_yml: text.clone(),
        rules_yml: crate::yaml::to_string(rules).map_err(|e| e.to_string())?,
        targets: targets.to_json(),
    };
    // As mounted in the pod: each file set at its mount path.
    for set in files.file_sets() {
        let at = dir.path().join(set.mount_path.trim_start_matches('/'));
        std::fs::create_dir_all(&at).map_err(|e| e.to_string())?;
        for (name, content) in set.files {
            std::fs::write(at.join(name), content).map_err(|e| e.to_string())?;
        }
    }
    let path = dir
        .path()
        .join(CONFIG_DIR.trim_start_matches('/'))
        .join(CONFIG_FILE);
    run(&path).map_err(|out| format!("{out}\n--- {CONFIG_FILE} ---\n{text}"))
}

const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount/";

/// Points the jobs' service-account token and CA at stand-in files under `dir`.
fn stand_in_service_account(config: &mut PrometheusConfig, dir: &Path) -> Result<(), String> {
    let stand_in = |path: &mut Option<String>| -> Result<(), String> {
        if let Some(name) = path
            .as_deref()
            .and_then(|p| p.strip_prefix(SERVICE_ACCOUNT_DIR))
        {
            let local = dir.join(name);
            std::fs::write(&local, "stand-in\n").map_err(|e| e.to_string())?;
            *path = Some(local.to_string_lossy().into_owned());
        }
        Ok(())
    };
    for job in &mut config.scrape_configs {
        if let Some(auth) = &mut job.authorization {
            stand_in(&mut auth.credentials_file)?;
        }
        if let Some(tls) = &mut job.tls_config {
            stand_in(&mut tls.ca_file)?;
        }
    }
    Ok(())
}

/// Checks a whole rendering.
pub(crate) fn check_rendered(rendered: &Rendered) -> Result<(), String> {
    let mut config = rendered.config.clone();
    for job in &mut config.scrape_configs {
        let name = format!("job {}", job.job_name);
        stand_in_kubernetes_sd(
            &name,
            &mut job.kubernetes_sd_configs,
            &mut job.static_configs,
        )?;
    }
    for (i, am) in config
        .alerting
        .iter_mut()
        .flat_map(|a| a.alertmanagers.iter_mut())
        .enumerate()
    {
        let name = format!("alertmanager #{i}");
        stand_in_kubernetes_sd(&name, &mut am.kubernetes_sd_configs, &mut am.static_configs)?;
    }
    check_config(&config, &rendered.rules, &rendered.targets)
}

/// Checks `sds` against the roles Prometheus knows and swaps them for a static target that
/// promtool (built without Kubernetes discovery by Debian) can read.
fn stand_in_kubernetes_sd(
    what: &str,
    sds: &mut Vec<crate::prometheus::config::KubernetesSdConfig>,
    statics: &mut Vec<StaticConfig>,
) -> Result<(), String> {
    if sds.is_empty() {
        return Ok(());
    }
    for sd in sds.iter() {
        if !KUBERNETES_ROLES.contains(&sd.role.as_str()) {
            return Err(format!("{what}: unknown Kubernetes role {:?}", sd.role));
        }
        if sd.api_server.is_some() {
            return Err(format!("{what}: in-cluster discovery takes no api_server"));
        }
    }
    sds.clear();
    statics.push(StaticConfig {
        targets: vec!["kubernetes-sd.invalid:443".to_string()],
        labels: BTreeMap::new(),
    });
    Ok(())
}

/// `kubernetes_sd_config.role` values Prometheus 2.x accepts.
const KUBERNETES_ROLES: [&str; 6] = [
    "node",
    "service",
    "pod",
    "endpoints",
    "endpointslice",
    "ingress",
];

/// Which `promtool check` a batch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Rules,
    Config,
}

/// Promtool's verdict on each of `files` (file contents, JSON or YAML): each is written to its
/// own file in a fresh directory and ONE `promtool check rules|config` reads them all, since
/// its start-up is most of the cost of a small check. `Err` carries promtool's complaint
/// about that file.
pub(crate) fn check_each(
    check: Check,
    files: &[String],
) -> Result<Vec<Result<(), String>>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut paths = Vec::with_capacity(files.len());
    for (i, text) in files.iter().enumerate() {
        let path = dir.path().join(format!("case{i:05}.yml"));
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        paths.push(path);
    }
    let out = Command::new(PROMTOOL)
        .arg("check")
        .arg(match check {
            Check::Rules => "rules",
            Check::Config => "config",
        })
        .args(&paths)
        .output()
        .map_err(|e| format!("cannot run {PROMTOOL} (apt install prometheus): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // promtool prints "Checking <path>" for each file in order on stdout, then a SUCCESS line
    // for a file it accepts; complaints go to stderr, naming the file.
    let blocks: Vec<&str> = stdout.split("Checking ").skip(1).collect();
    if blocks.len() != paths.len() {
        return Err(format!(
            "promtool checked {} of {} files:\n{stdout}{stderr}",
            blocks.len(),
            paths.len()
        ));
    }
    Ok(paths
        .iter()
        .zip(blocks)
        .map(|(path, block)| {
            let path = path.to_string_lossy();
            if !block.starts_with(path.as_ref()) {
                return Err(format!("promtool output out of order at {path}"));
            }
            if block.contains("SUCCESS") {
                return Ok(());
            }
            let name = path.rsplit('/').next().unwrap_or_default();
            let complaint: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
            Err(complaint.join("\n"))
        })
        .collect())
}

fn run(path: &Path) -> Result<(), String> {
    let out = Command::new(PROMTOOL)
        .arg("check")
        .arg("config")
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run {PROMTOOL} (apt install prometheus): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // promtool only warns about a target file that is not there: here it is a wrong path.
    let missing = stdout
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .any(|l| l.contains("for file_sd in scrape job") && l.contains("does not exist"));
    if out.status.success() && !missing {
        Ok(())
    } else {
        Err(format!(
            "promtool check config failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::config::{
        AlertmanagerConfig, RemoteWriteConfig, Rule, RuleGroup, ScrapeConfig, StaticConfig,
    };
    use crate::prometheus::render::render;
    use crate::relations::RelationsPlan;
    use serde_json::{json, Value};

    use crate::config::test_config as config;

    fn relations() -> RelationsPlan {
        RelationsPlan {
            scrape_configs: vec![ScrapeConfig {
                job_name: "juju_cos_f4d59020_zinc_prometheus_scrape_zinc-0".into(),
                metrics_path: Some("/metrics".into()),
                static_configs: vec![StaticConfig {
                    targets: vec!["10.1.36.90:4080".into()],
                    labels: BTreeMap::from([("juju_unit".into(), "zinc/0".into())]),
                }],
                ..ScrapeConfig::default()
            }],
            alertmanagers: vec![AlertmanagerConfig {
                scheme: Some("http".into()),
                path_prefix: Some("/".into()),
                static_configs: vec![StaticConfig {
                    targets: vec!["alertmanager-0.alertmanager-endpoints.cos.svc:9093".into()],
                    labels: BTreeMap::new(),
                }],
                ..AlertmanagerConfig::default()
            }],
            rule_files: BTreeMap::from([(
                "juju_cos_f4d59020_zinc.rules".to_string(),
                RuleFile {
                    groups: vec![RuleGroup {
                        name: "cos_f4d59020_zinc_zinc_alerts".into(),
                        rules: vec![Rule {
                            alert: Some("ZincDown".into()),
                            expr: r#"up{juju_application="zinc"} < 1"#.into(),
                            for_: Some("5m".into()),
                            labels: BTreeMap::from([("severity".into(), "critical".into())]),
                            ..Rule::default()
                        }],
                        ..RuleGroup::default()
                    }],
                },
            )]),
            remote_write: vec![RemoteWriteConfig {
                url: "http://cortex:80/api/v1/push".into(),
                ..RemoteWriteConfig::default()
            }],
            remote_write_receiver: true,
            ..RelationsPlan::default()
        }
    }

    #[test]
    fn promtool_refuses_a_broken_config() {
        // The helper must be able to fail, or the matrix below proves nothing.
        let mut bad = render(&config(&[]), &RelationsPlan::default());
        bad.config.global.scrape_timeout = Some("2m".into());
        assert!(check_rendered(&bad).is_err());
        let mut missing_rules = render(&config(&[]), &RelationsPlan::default());
        missing_rules.config.rule_files = vec!["absent.rules".into()];
        assert!(check_rendered(&missing_rules).is_err());
        let mut bad_relabel = render(
            &config(&[("monitor-k8s", json!(true))]),
            &RelationsPlan::default(),
        );
        bad_relabel.config.scrape_configs[1].relabel_configs[0].regex = Some("(".into());
        assert!(check_rendered(&bad_relabel).is_err());
        let mut bad_role = render(
            &config(&[("monitor-k8s", json!(true))]),
            &RelationsPlan::default(),
        );
        bad_role.config.scrape_configs[1].kubernetes_sd_configs[0].role = "nodes".into();
        assert!(check_rendered(&bad_role).is_err());
    }

    /// Label values may hold any text: Prometheus's YAML parser must read every shape back.
    #[test]
    fn promtool_reads_label_values_of_any_shape() {
        let labels = json!({
            "tab_first": "\tx\ny",
            "space_first": " x\ny",
            "tab_inside": "x\n\ty",
            "crlf": "x\r\ny",
            "trailing_newline": "x\n",
            "looks_like_yaml": "a: b\n- c\n# d",
            "unicode_breaks": "\u{85}x\u{2028}y",
        });
        let annotations: BTreeMap<String, String> = labels
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let rule_file = RuleFile {
            groups: vec![RuleGroup {
                name: "awkward".into(),
                rules: vec![Rule {
                    alert: Some("Awkward".into()),
                    expr: "up == 0".into(),
                    annotations,
                    ..Rule::default()
                }],
                ..RuleGroup::default()
            }],
        };
        let relations = RelationsPlan {
            rule_files: BTreeMap::from([("awkward.rules".to_string(), rule_file)]),
            ..RelationsPlan::default()
        };
        let rendered = render(
            &config(&[("external-labels", json!(labels.to_string()))]),
            &relations,
        );
        check_rendered(&rendered).unwrap();
    }

    /// Every option that reaches prometheus.yml, alone and together, with and without
    /// relations: real promtool accepts each rendering.
    #[test]
    fn promtool_accepts_every_combination() {
        let option_sets: Vec<Vec<(&str, Value)>> = vec![
            vec![],
            vec![("monitor-k8s", json!(true))],
            vec![("replica-label", json!(""))],
            vec![
                (
                    "external-labels",
                    json!(r#"{"cluster": "eu-1", "cost": "$5 a month"}"#),
                ),
                ("replica-label", json!("prometheus_replica")),
            ],
            vec![
                ("scrape-interval", json!("30s")),
                ("scrape-timeout", json!("30s")),
                ("evaluation-interval", json!("1h30m")),
            ],
            vec![
                ("scrape-interval", json!("1m30s500ms")),
                ("scrape-timeout", json!("500ms")),
                ("evaluation-interval", json!("15s")),
            ],
            vec![(
                "remote-write-urls",
                json!("http://mimir:9009/api/v1/push,https://thanos.example.com/api/v1/receive"),
            )],
            vec![
                ("port", json!(19090)),
                ("alertmanager-timeout", json!("1m")),
            ],
            vec![
                ("monitor-k8s", json!(true)),
                ("external-labels", json!(r#"{"env": "prod"}"#)),
                ("remote-write-urls", json!("http://cortex:80/api/v1/push")),
                ("scrape-interval", json!("15s")),
                ("scrape-timeout", json!("5s")),
            ],
        ];
        for options in &option_sets {
            let c = config(options);
            for plan in [RelationsPlan::default(), relations()] {
                let rendered = render(&c, &plan);
                if let Err(e) = check_rendered(&rendered) {
                    panic!("options {options:?}: {e}");
                }
            }
        }
    }
}
