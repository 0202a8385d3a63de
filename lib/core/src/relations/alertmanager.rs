//! `alertmanager` (interface `alertmanager_dispatch`): where to send alerts, in every dialect
//! alertmanager-k8s has spoken:
//! - v1 (current): unit `url`;
//! - v0 (2021): unit `public_address` (`host:port[/path]`) and optional unit `scheme`;
//! - pod-spec era, canonical: app `addrs` (JSON list of hosts) and app `port`;
//! - pod-spec era, charmed-lma: unit `alerting_config` (JSON `{"alertmanagers": [...]}`).
//!
//! Static targets are grouped by (scheme, path prefix): one `alertmanagers[]` entry per group,
//! as Prometheus needs one entry per distinct scheme and path. Only units present in the
//! relation count, so a departed unit or a broken relation takes its targets away.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::validate::{
    check_count, duration_ms, parse_json, port, short_text, split_host_port,
    target_relabel_configs, url_path, HttpUrl, Refused, MAX_ALERTMANAGERS_PER_SOURCE,
    MAX_DISCOVERED_ALERTMANAGERS, MAX_TARGETS_PER_STATIC_CONFIG, MAX_UNITS_PER_RELATION,
};
use super::{remote_app_name, Contribution, RelationSnapshot};
use crate::prometheus::config::{
    AlertmanagerConfig, KubernetesSdConfig, Namespaces, RelabelConfig, Selector, StaticConfig,
};

/// (scheme, path prefix) of an `alertmanagers[]` entry.
type GroupKey = (String, String);
/// Group → targets.
type Groups = BTreeMap<GroupKey, BTreeSet<String>>;

#[derive(Deserialize)]
struct AlertingConfig {
    #[serde(default)]
    alertmanagers: Vec<RemoteAlertmanager>,
}

/// The parts of an `alertmanagers[]` entry a remote charm may set; serde drops the rest
/// (credentials files, `api_server`, ...).
#[derive(Deserialize)]
struct RemoteAlertmanager {
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    static_configs: Option<Vec<RemoteStaticConfig>>,
    #[serde(default)]
    kubernetes_sd_configs: Option<Vec<RemoteKubernetesSd>>,
    #[serde(default)]
    relabel_configs: Option<Vec<RelabelConfig>>,
}

#[derive(Deserialize)]
struct RemoteStaticConfig {
    #[serde(default)]
    targets: Vec<String>,
}

#[derive(Deserialize)]
struct RemoteKubernetesSd {
    role: String,
    #[serde(default)]
    namespaces: Option<RemoteNamespaces>,
    #[serde(default)]
    selectors: Option<Vec<RemoteSelector>>,
}

#[derive(Deserialize)]
struct RemoteNamespaces {
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Deserialize)]
struct RemoteSelector {
    role: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

pub(super) fn contribute(relations: &[RelationSnapshot], out: &mut Contribution) {
    let mut groups = Groups::new();
    let mut discovered: Vec<AlertmanagerConfig> = Vec::new();
    for snapshot in relations {
        if snapshot.remote_units.is_empty() {
            continue;
        }
        let app = remote_app_name(snapshot);
        if let Err(e) = app_addrs(snapshot, &mut groups) {
            out.warn(snapshot, &app, format!("addrs/port refused: {e}"));
        }
        for (unit, bag) in snapshot.remote_units.iter().take(MAX_UNITS_PER_RELATION) {
            match unit_address(bag) {
                Ok(Some((key, target))) => {
                    groups.entry(key).or_default().insert(target);
                }
                Ok(None) => {}
                Err(e) => out.warn(snapshot, unit, format!("alertmanager address refused: {e}")),
            }
            if let Some(raw) = bag.get("alerting_config") {
                match alerting_config(raw) {
                    Ok(configs) => {
                        for c in configs {
                            if discovered.contains(&c) {
                                continue;
                            }
                            if discovered.len() == MAX_DISCOVERED_ALERTMANAGERS {
                                out.warn(
                                    snapshot,
                                    unit,
                                    format!(
                                        "alerting_config ignored: already {MAX_DISCOVERED_ALERTMANAGERS} discovered Alertmanager entries"
                                    ),
                                );
                                break;
                            }
                            discovered.push(c);
                        }
                    }
                    Err(e) => out.warn(snapshot, unit, format!("alerting_config refused: {e}")),
                }
            }
        }
    }
    out.alertmanagers
        .extend(
            groups
                .into_iter()
                .map(|((scheme, path), targets)| AlertmanagerConfig {
                    scheme: Some(scheme),
                    path_prefix: Some(path),
                    static_configs: vec![StaticConfig {
                        targets: targets.into_iter().collect(),
                        ..StaticConfig::default()
                    }],
                    ..AlertmanagerConfig::default()
                }),
        );
    out.alertmanagers.extend(discovered);
}

fn normalized_path(path: &str) -> String {
    if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    }
}

fn app_addrs(snapshot: &RelationSnapshot, groups: &mut Groups) -> Result<(), Refused> {
    let data = &snapshot.remote_app_data;
    let Some(raw) = data.get("addrs") else {
        return Ok(());
    };
    let addrs: Vec<String> = parse_json("addrs", raw)?;
    check_count("addrs", addrs.len(), MAX_TARGETS_PER_STATIC_CONFIG)?;
    let p = match data.get("port") {
        Some(p) => Some(port(p.trim())?),
        None => None,
    };
    let mut targets = Vec::with_capacity(addrs.len());
    for a in &addrs {
        let (h, own_port) = split_host_port(a.trim())?;
        targets.push(super::validate::host_port(&h, own_port.or(p)));
    }
    groups
        .entry(("http".to_string(), "/".to_string()))
        .or_default()
        .extend(targets);
    Ok(())
}

/// A unit's `url` (v1) or `public_address` + `scheme` (v0); `url` wins when both are set,
/// so one unit is never targeted twice.
fn unit_address(bag: &juju::RelationData) -> Result<Option<(GroupKey, String)>, Refused> {
    if let Some(raw) = bag.get("url").filter(|u| !u.is_empty()) {
        let url = HttpUrl::parse(raw.trim())?;
        return Ok(Some((
            (url.scheme.clone(), normalized_path(&url.path)),
            url.address(),
        )));
    }
    let Some(raw) = bag.get("public_address").filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let scheme = bag
        .get("scheme")
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "http".to_string());
    if scheme != "http" && scheme != "https" {
        return Err(Refused::invalid("scheme", &scheme, "must be http or https"));
    }
    let raw = raw.trim();
    let (authority, path) = match raw.find('/') {
        Some(i) => raw.split_at(i),
        None => (raw, ""),
    };
    let (h, p) = split_host_port(authority)?;
    url_path(path)?;
    Ok(Some((
        (scheme, normalized_path(path)),
        super::validate::host_port(&h, p),
    )))
}

fn alerting_config(raw: &str) -> Result<Vec<AlertmanagerConfig>, Refused> {
    let config: AlertingConfig = parse_json("alerting_config", raw)?;
    check_count(
        "alertmanagers",
        config.alertmanagers.len(),
        MAX_ALERTMANAGERS_PER_SOURCE,
    )?;
    config.alertmanagers.into_iter().map(checked).collect()
}

fn checked(am: RemoteAlertmanager) -> Result<AlertmanagerConfig, Refused> {
    if let Some(s) = &am.scheme {
        if s != "http" && s != "https" {
            return Err(Refused::invalid("scheme", s, "must be http or https"));
        }
    }
    if let Some(p) = &am.path_prefix {
        url_path(p)?;
    }
    if let Some(t) = &am.timeout {
        duration_ms(t)?;
    }
    if let Some(v) = &am.api_version {
        if v != "v1" && v != "v2" {
            return Err(Refused::invalid("api_version", v, "must be v1 or v2"));
        }
    }
    let mut static_configs = Vec::new();
    for sc in am.static_configs.unwrap_or_default() {
        check_count("targets", sc.targets.len(), MAX_TARGETS_PER_STATIC_CONFIG)?;
        let targets = sc
            .targets
            .iter()
            .map(|t| split_host_port(t.trim()).map(|(h, p)| super::validate::host_port(&h, p)))
            .collect::<Result<Vec<_>, _>>()?;
        static_configs.push(StaticConfig {
            targets,
            ..StaticConfig::default()
        });
    }
    let sds = am.kubernetes_sd_configs.unwrap_or_default();
    check_count(
        "kubernetes_sd_configs",
        sds.len(),
        MAX_ALERTMANAGERS_PER_SOURCE,
    )?;
    let kubernetes_sd_configs = sds
        .into_iter()
        .map(kubernetes_sd)
        .collect::<Result<Vec<_>, _>>()?;
    if static_configs.is_empty() && kubernetes_sd_configs.is_empty() {
        return Err(Refused::Missing("static_configs or kubernetes_sd_configs"));
    }
    let mut relabels = am.relabel_configs.unwrap_or_default();
    target_relabel_configs(&mut relabels)?;
    Ok(AlertmanagerConfig {
        scheme: am.scheme,
        path_prefix: am.path_prefix,
        timeout: am.timeout,
        api_version: am.api_version,
        tls_config: None,
        static_configs,
        kubernetes_sd_configs,
        relabel_configs: relabels,
    })
}

/// Alertmanagers are discovered as pods or endpoints; selectors must fit the role, as
/// Prometheus checks. `api_server` is never taken from a remote charm: we talk to our own
/// cluster only.
fn kubernetes_sd(sd: RemoteKubernetesSd) -> Result<KubernetesSdConfig, Refused> {
    let allowed_selectors: &[&str] = match sd.role.as_str() {
        "pod" => &["pod"],
        "endpoints" => &["endpoints", "pod", "service"],
        "endpointslice" => &["endpointslice", "pod", "service"],
        other => {
            return Err(Refused::invalid(
                "kubernetes_sd_configs role",
                other,
                "must be pod, endpoints or endpointslice",
            ))
        }
    };
    let namespaces = match sd.namespaces {
        Some(ns) => {
            check_count("namespaces", ns.names.len(), MAX_ALERTMANAGERS_PER_SOURCE)?;
            for n in &ns.names {
                let dns_label = !n.is_empty()
                    && n.len() <= 63
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                if !dns_label {
                    return Err(Refused::invalid(
                        "namespace",
                        n,
                        "not a Kubernetes namespace name",
                    ));
                }
            }
            Some(Namespaces {
                own_namespace: false,
                names: ns.names,
            })
        }
        None => None,
    };
    let mut selectors = Vec::new();
    for s in sd.selectors.unwrap_or_default() {
        if !allowed_selectors.contains(&s.role.as_str()) {
            return Err(Refused::invalid(
                "selector role",
                &s.role,
                "does not fit the discovery role",
            ));
        }
        for expr in [&s.label, &s.field].into_iter().flatten() {
            short_text("selector", expr)?;
            let ok = expr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=!,".contains(c));
            if !ok {
                return Err(Refused::invalid("selector", expr, "not a simple selector"));
            }
        }
        selectors.push(Selector {
            role: s.role,
            label: s.label,
            field: s.field,
        });
    }
    Ok(KubernetesSdConfig {
        role: sd.role,
        api_server: None,
        namespaces,
        selectors,
    })
}

#[cfg(test)]
mod tests {
    use crate::prometheus::config::AlertmanagerConfig;
    use crate::relations::test_support::*;
    use crate::relations::{plan, RelationSnapshot, RelationsInput, RelationsPlan, ALERTMANAGER};

    fn run(relations: Vec<RelationSnapshot>) -> RelationsPlan {
        plan(&RelationsInput {
            local: local(true),
            endpoints: [(ALERTMANAGER.to_string(), relations)].into(),
            budget: None,
        })
    }

    fn with_units(id: u32, units: &[(&str, &[(&str, &str)])]) -> RelationSnapshot {
        let mut r = relation(ALERTMANAGER, id, "alertmanager");
        for (unit, data) in units {
            r.remote_units.insert(unit.to_string(), bag(data));
        }
        r
    }

    fn static_targets(am: &AlertmanagerConfig) -> Vec<String> {
        am.static_configs[0].targets.clone()
    }

    #[test]
    fn v1_unit_urls() {
        let p = run(vec![with_units(
            4,
            &[
                (
                    "alertmanager/0",
                    &[(
                        "url",
                        "http://alertmanager-0.alertmanager-endpoints.cos.svc.cluster.local:9093",
                    )],
                ),
                (
                    "alertmanager/1",
                    &[(
                        "url",
                        "http://alertmanager-1.alertmanager-endpoints.cos.svc.cluster.local:9093",
                    )],
                ),
            ],
        )]);
        assert_eq!(p.warnings, vec![]);
        assert_eq!(p.alertmanagers.len(), 1);
        let am = &p.alertmanagers[0];
        assert_eq!(am.scheme.as_deref(), Some("http"));
        assert_eq!(am.path_prefix.as_deref(), Some("/"));
        assert_eq!(
            static_targets(am),
            [
                "alertmanager-0.alertmanager-endpoints.cos.svc.cluster.local:9093",
                "alertmanager-1.alertmanager-endpoints.cos.svc.cluster.local:9093"
            ]
        );
    }

    #[test]
    fn v0_public_address_with_scheme_and_path_groups_apart() {
        let p = run(vec![with_units(
            4,
            &[
                ("alertmanager/0", &[("public_address", "10.1.36.85:9093")]),
                ("alertmanager/1", &[("public_address", "10.1.36.86:9093")]),
                (
                    "alertmanager/2",
                    &[
                        ("public_address", "am.example.com:443/cos-alertmanager"),
                        ("scheme", "https"),
                    ],
                ),
            ],
        )]);
        assert_eq!(p.warnings, vec![]);
        assert_eq!(p.alertmanagers.len(), 2);
        assert_eq!(
            static_targets(&p.alertmanagers[0]),
            ["10.1.36.85:9093", "10.1.36.86:9093"]
        );
        let tls = &p.alertmanagers[1];
        assert_eq!(tls.scheme.as_deref(), Some("https"));
        assert_eq!(tls.path_prefix.as_deref(), Some("/cos-alertmanager"));
        assert_eq!(static_targets(tls), ["am.example.com:443"]);
    }

    #[test]
    fn url_wins_over_public_address_for_one_unit() {
        let p = run(vec![with_units(
            4,
            &[(
                "alertmanager/0",
                &[
                    ("url", "http://10.1.36.85:9093"),
                    ("public_address", "10.1.36.85:9093"),
                ],
            )],
        )]);
        assert_eq!(p.alertmanagers.len(), 1);
        assert_eq!(static_targets(&p.alertmanagers[0]), ["10.1.36.85:9093"]);
    }

    #[test]
    fn pod_spec_canonical_app_addrs_and_port() {
        let mut r = with_units(2, &[("alertmanager/0", &[])]);
        r.remote_app_data = bag(&[
            ("port", "9093"),
            (
                "addrs",
                r#"["alertmanager-0.alertmanager-endpoints.lma.svc.cluster.local", "alertmanager-1.alertmanager-endpoints.lma.svc.cluster.local"]"#,
            ),
        ]);
        let p = run(vec![r]);
        assert_eq!(p.warnings, vec![]);
        assert_eq!(
            static_targets(&p.alertmanagers[0]),
            [
                "alertmanager-0.alertmanager-endpoints.lma.svc.cluster.local:9093",
                "alertmanager-1.alertmanager-endpoints.lma.svc.cluster.local:9093"
            ]
        );
    }

    #[test]
    fn pod_spec_charmed_lma_alerting_config_once_for_all_units() {
        let config = r#"{"alertmanagers": [{"kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["lma"]}, "selectors": [{"role": "pod", "label": "juju-app=alertmanager"}]}]}]}"#;
        let p = run(vec![with_units(
            6,
            &[
                ("alertmanager/0", &[("alerting_config", config)]),
                ("alertmanager/1", &[("alerting_config", config)]),
            ],
        )]);
        assert_eq!(p.warnings, vec![]);
        assert_eq!(p.alertmanagers.len(), 1);
        let sd = &p.alertmanagers[0].kubernetes_sd_configs[0];
        assert_eq!(sd.role, "pod");
        assert_eq!(sd.namespaces.as_ref().unwrap().names, ["lma"]);
        assert_eq!(
            sd.selectors[0].label.as_deref(),
            Some("juju-app=alertmanager")
        );
    }

    #[test]
    fn hostile_alerting_config_is_refused() {
        for bad in [
            r#"{"alertmanagers": [{"kubernetes_sd_configs": [{"role": "node"}]}]}"#,
            r#"{"alertmanagers": [{"kubernetes_sd_configs": [{"role": "pod", "selectors": [{"role": "service"}]}]}]}"#,
            r#"{"alertmanagers": [{"kubernetes_sd_configs": [{"role": "pod", "selectors": [{"role": "pod", "label": "a in (b)"}]}]}]}"#,
            r#"{"alertmanagers": [{"scheme": "file", "static_configs": [{"targets": ["x:1"]}]}]}"#,
            r#"{"alertmanagers": [{"timeout": "soon", "static_configs": [{"targets": ["x:1"]}]}]}"#,
            r#"{"alertmanagers": [{}]}"#,
            r#"{"alertmanagers": "x"}"#,
        ] {
            let p = run(vec![with_units(
                6,
                &[("alertmanager/0", &[("alerting_config", bad)])],
            )]);
            assert_eq!(p.alertmanagers, vec![], "{bad}");
            assert_eq!(p.warnings.len(), 1, "{bad}");
            assert_eq!(p.warnings[0].source, "alertmanager/0");
        }
        // api_server and credential files are dropped, the rest kept.
        let p = run(vec![with_units(
            6,
            &[(
                "alertmanager/0",
                &[(
                    "alerting_config",
                    r#"{"alertmanagers": [{"kubernetes_sd_configs": [{"role": "pod", "api_server": "https://evil", "bearer_token_file": "/x"}]}]}"#,
                )],
            )],
        )]);
        assert_eq!(p.alertmanagers[0].kubernetes_sd_configs[0].api_server, None);
    }

    #[test]
    fn departed_units_and_broken_relations_remove_targets() {
        let both = with_units(
            4,
            &[
                ("alertmanager/0", &[("url", "http://10.0.0.1:9093")]),
                ("alertmanager/1", &[("url", "http://10.0.0.2:9093")]),
            ],
        );
        let mut one = both.clone();
        one.remote_units.remove("alertmanager/1");
        assert_eq!(
            static_targets(&run(vec![one]).alertmanagers[0]),
            ["10.0.0.1:9093"]
        );
        let mut none = both.clone();
        none.remote_units.clear();
        none.remote_app_data = bag(&[("port", "9093"), ("addrs", r#"["am-0"]"#)]);
        assert_eq!(run(vec![none]).alertmanagers, vec![]);
        assert_eq!(run(vec![]).alertmanagers, vec![]);
    }

    #[test]
    fn bad_unit_is_skipped_others_kept() {
        let p = run(vec![with_units(
            4,
            &[
                ("alertmanager/0", &[("url", "http://10.0.0.1:9093")]),
                ("alertmanager/1", &[("url", "javascript:alert(1)")]),
                (
                    "alertmanager/2",
                    &[("public_address", "10.0.0.3:9093"), ("scheme", "gopher")],
                ),
            ],
        )]);
        assert_eq!(static_targets(&p.alertmanagers[0]), ["10.0.0.1:9093"]);
        let sources: Vec<_> = p.warnings.iter().map(|w| w.source.as_str()).collect();
        assert_eq!(sources, ["alertmanager/1", "alertmanager/2"]);
        assert!(p.warnings[0]
            .message
            .starts_with("alertmanager address refused: URL"));
    }

    #[test]
    fn discovered_alertmanagers_are_capped() {
        let mut r = with_units(6, &[]);
        for n in 0..150 {
            let config = format!(
                r#"{{"alertmanagers": [{{"static_configs": [{{"targets": ["am-{n}:9093"]}}]}}]}}"#
            );
            r.remote_units.insert(
                format!("alertmanager/{n}"),
                bag(&[("alerting_config", &config)]),
            );
        }
        let p = run(vec![r]);
        assert_eq!(p.alertmanagers.len(), 100);
        assert_eq!(p.warnings.len(), 50);
        assert!(p.warnings[0].message.starts_with("alerting_config ignored"));
    }

    #[test]
    fn several_relations_share_groups() {
        let a = with_units(4, &[("alertmanager/0", &[("url", "http://10.0.0.1:9093")])]);
        let mut b = with_units(5, &[("am2/0", &[("url", "http://10.0.0.9:9093")])]);
        b.remote_app = Some("am2".into());
        let p = run(vec![a, b]);
        assert_eq!(p.alertmanagers.len(), 1);
        assert_eq!(
            static_targets(&p.alertmanagers[0]),
            ["10.0.0.1:9093", "10.0.0.9:9093"]
        );
    }
}
