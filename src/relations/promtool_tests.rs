//! The real `promtool` on what the relations render: every dialect of every endpoint at once,
//! plus the shapes our own validators let through (relabel rules, regexes, rewritten
//! expressions), so the validators never accept what Prometheus refuses.
//! Debian's promtool has no Kubernetes discovery: Alertmanagers discovered that way (the
//! charmed-lma `alerting_config`) are checked with a static target in place of the discovery.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::test_support::*;
use super::*;
use crate::prometheus::config::{AlertingConfig, GlobalConfig, PrometheusConfig, StaticConfig};

fn promtool(args: &[&str], path: &Path) -> Result<(), String> {
    let out = Command::new("promtool")
        .args(args)
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run promtool (apt install prometheus): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Renders `plan` into prometheus.yml (with a global section) and its rule files, and runs
/// `promtool check config` (which loads the rule files too) and `check rules` on each file.
fn check(plan: &RelationsPlan) {
    let dir = tempfile::tempdir().unwrap();
    let config = PrometheusConfig {
        global: GlobalConfig {
            scrape_interval: Some("1m".into()),
            scrape_timeout: Some("10s".into()),
            evaluation_interval: Some("1m".into()),
            external_labels: BTreeMap::new(),
        },
        rule_files: plan.rule_files.keys().cloned().collect(),
        alerting: (!plan.alertmanagers.is_empty()).then(|| AlertingConfig {
            alertmanagers: plan
                .alertmanagers
                .iter()
                .cloned()
                .map(|mut am| {
                    if !am.kubernetes_sd_configs.is_empty() {
                        am.kubernetes_sd_configs.clear();
                        am.static_configs.push(StaticConfig {
                            targets: vec!["kubernetes-sd.invalid:9093".into()],
                            ..StaticConfig::default()
                        });
                    }
                    am
                })
                .collect(),
            ..AlertingConfig::default()
        }),
        scrape_configs: plan.scrape_configs.clone(),
        remote_write: plan.remote_write.clone(),
    };
    let text = crate::yaml::to_string(&config).unwrap();
    let path = dir.path().join("prometheus.yml");
    std::fs::write(&path, &text).unwrap();
    for (name, file) in &plan.rule_files {
        let rules_path = dir.path().join(name);
        let rules = crate::yaml::to_string(file).unwrap();
        std::fs::write(&rules_path, &rules).unwrap();
        if let Err(e) = promtool(&["check", "rules"], &rules_path) {
            panic!("{e}\n--- {name} ---\n{rules}");
        }
    }
    if let Err(e) = promtool(&["check", "config"], &path) {
        panic!("{e}\n--- prometheus.yml ---\n{text}");
    }
}

fn every_dialect() -> RelationsInput {
    let mut metrics = vec![zinc_relation(1, 3)];
    metrics.extend((0..3).map(|i| app_relation(10 + i, &format!("app{i}"), 3)));
    let mut malformed = app_relation(20, "broken", 3);
    malformed
        .remote_app_data
        .insert("scrape_jobs".into(), "[{\"job_name\": ".into());
    metrics.push(malformed);
    let mut legacy = relation(METRICS_ENDPOINT, 21, "legacy");
    legacy.remote_app_data = bag(&[
        ("scrape_metadata", &metadata("legacy", None)),
        ("scrape_jobs", "[{}]"),
    ]);
    legacy.remote_units.insert(
        "legacy/0".into(),
        bag(&[("prometheus_scrape_host", "fd00::7")]),
    );
    metrics.push(legacy);
    let mut web = relation(METRICS_ENDPOINT, 22, "web");
    web.remote_app_data = bag(&[
        ("scrape_metadata", &metadata("web", Some("web-k8s"))),
        (
            "scrape_jobs",
            include_str!("../../tests/fixtures/relations/web_scrape_jobs.json"),
        ),
    ]);
    web.remote_units.insert(
        "web/0".into(),
        bag(&[
            ("prometheus_scrape_unit_address", "10.0.0.1"),
            ("prometheus_scrape_unit_name", "web/0"),
            ("prometheus_scrape_unit_path", "/cos-web-0"),
        ]),
    );
    metrics.push(web);

    let mut monitoring = relation(MONITORING, 7, "kube-state-metrics");
    monitoring.remote_app_data = bag(&[
        ("targets", r#"["10.1.36.90:8080", "10.1.36.91"]"#),
        ("job_name", "kube-state-metrics"),
    ]);
    monitoring
        .remote_units
        .insert("kube-state-metrics/0".into(), bag(&[]));

    let mut am_v1 = relation(ALERTMANAGER, 30, "alertmanager");
    am_v1.remote_units.insert(
        "alertmanager/0".into(),
        bag(&[(
            "url",
            "http://alertmanager-0.alertmanager-endpoints.cos.svc.cluster.local:9093",
        )]),
    );
    let mut am_v0 = relation(ALERTMANAGER, 31, "am-ingressed");
    am_v0.remote_units.insert(
        "am-ingressed/0".into(),
        bag(&[
            ("public_address", "am.example.com:443/cos-am"),
            ("scheme", "https"),
        ]),
    );
    let mut am_pod_spec = relation(ALERTMANAGER, 32, "am-old");
    am_pod_spec.remote_units.insert("am-old/0".into(), bag(&[]));
    am_pod_spec.remote_app_data = bag(&[
        ("port", "9093"),
        (
            "addrs",
            r#"["alertmanager-0.alertmanager-endpoints.lma.svc.cluster.local"]"#,
        ),
    ]);

    let mut am_lma = relation(ALERTMANAGER, 33, "am-lma");
    am_lma.remote_units.insert(
        "am-lma/0".into(),
        bag(&[("alerting_config", r#"{"alertmanagers": [{"kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["lma"]}, "selectors": [{"role": "pod", "label": "juju-app=alertmanager"}]}]}]}"#)]),
    );

    let mut mimir = relation(SEND_REMOTE_WRITE, 40, "mimir");
    mimir.remote_units.insert(
        "mimir/0".into(),
        bag(&[(
            "remote_write",
            r#"{"url": "http://mimir-0.mimir-endpoints.cos.svc.cluster.local:9009/api/v1/push"}"#,
        )]),
    );
    let mut agent = relation(RECEIVE_REMOTE_WRITE, 41, "grafana-agent");
    agent
        .remote_units
        .insert("grafana-agent/0".into(), bag(&[]));
    agent.remote_app_data = bag(&[(
        "alert_rules",
        include_str!("../../tests/fixtures/relations/agent_alert_rules.json"),
    )]);

    RelationsInput {
        local: local(true),
        endpoints: [
            (METRICS_ENDPOINT.to_string(), metrics),
            (MONITORING.to_string(), vec![monitoring]),
            (
                ALERTMANAGER.to_string(),
                vec![am_v1, am_v0, am_pod_spec, am_lma],
            ),
            (
                GRAFANA_SOURCE.to_string(),
                vec![relation(GRAFANA_SOURCE, 50, "grafana")],
            ),
            (
                SELF_METRICS_ENDPOINT.to_string(),
                vec![relation(SELF_METRICS_ENDPOINT, 51, "cos-prometheus")],
            ),
            (SEND_REMOTE_WRITE.to_string(), vec![mimir]),
            (RECEIVE_REMOTE_WRITE.to_string(), vec![agent]),
        ]
        .into(),
    }
}

#[test]
fn every_dialect_renders_a_config_promtool_accepts() {
    let p = plan(&every_dialect());
    // 9 targets of the 3×3 apps + 3 zinc units + legacy + web's 2 jobs + ksm.
    assert_eq!(
        p.scrape_configs.len(),
        9 + 3 + 1 + 2 + 1,
        "{:#?}",
        p.scrape_configs
    );
    assert_eq!(p.alertmanagers.len(), 3);
    assert_eq!(p.remote_write.len(), 1);
    assert_eq!(p.rule_files.len(), 2);
    // Only the malformed app complains.
    let sources: Vec<_> = p.warnings.iter().map(|w| w.source.as_str()).collect();
    assert_eq!(sources, ["broken"]);
    check(&p);
}

#[test]
fn same_input_same_plan() {
    assert_eq!(plan(&every_dialect()), plan(&every_dialect()));
}

/// Whatever our relabel and regex checks accept, Prometheus must accept too.
#[test]
fn validators_never_accept_what_prometheus_refuses() {
    let mut r = zinc_relation(1, 1);
    r.remote_app_data.insert(
        "scrape_jobs".into(),
        include_str!("../../tests/fixtures/relations/edge_scrape_jobs.json").into(),
    );
    let mut rules = zinc_relation(2, 1);
    rules
        .remote_app_data
        .insert("scrape_metadata".into(), metadata("edge", Some("edge-k8s")));
    rules.remote_app_data.remove("scrape_jobs");
    rules.remote_app_data.insert(
        "alert_rules".into(),
        include_str!("../../tests/fixtures/relations/edge_alert_rules.json").into(),
    );
    let p = plan(&RelationsInput {
        local: local(true),
        endpoints: [(METRICS_ENDPOINT.to_string(), vec![r, rules])].into(),
    });
    assert_eq!(p.warnings, vec![]);
    let edge_jobs: usize = serde_json::from_str::<Vec<serde_json::Value>>(include_str!(
        "../../tests/fixtures/relations/edge_scrape_jobs.json"
    ))
    .unwrap()
    .len();
    assert_eq!(p.scrape_configs.len(), edge_jobs);
    let rule_count: usize = p
        .rule_files
        .values()
        .map(|f| f.groups.iter().map(|g| g.rules.len()).sum::<usize>())
        .sum();
    assert!(rule_count > 20, "{rule_count}");
    check(&p);
}

/// A small deterministic generator (64-bit LCG), so the hostile inputs are the same on every
/// run and a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `text` with a few characters replaced, inserted or deleted, from an alphabet that is hard
/// on parsers of JSON, YAML, PromQL, URLs and label names.
fn mutate(text: &str, rng: &mut Lcg) -> String {
    const ALPHABET: &[char] = &[
        '{', '}', '[', ']', ':', ',', '"', '\\', '\n', '\t', ' ', '*', '$', '#', '\'', '/', '@',
        '?', '=', '~', '!', '-', '_', '.', '0', '9', 'a', 'Z', '\u{0}', 'é', '(', ')', '|', '%',
        '&', '<', '>', '`', '^', '+',
    ];
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len());
        let c = ALPHABET[rng.below(ALPHABET.len())];
        match rng.below(3) {
            0 if !chars.is_empty() => chars[at] = c,
            1 => chars.insert(at, c),
            _ if !chars.is_empty() => {
                chars.remove(at);
            }
            _ => chars.push(c),
        }
    }
    chars.into_iter().collect()
}

/// Thousands of corrupted variants of real peer data: none may panic the planner, and
/// whatever survives the checks must be a configuration promtool accepts.
#[test]
fn corrupted_peer_data_never_reaches_prometheus() {
    let seeds_app: [(&str, String); 6] = [
        (
            "scrape_jobs",
            include_str!("../../tests/fixtures/relations/web_scrape_jobs.json").to_string(),
        ),
        (
            "scrape_jobs",
            include_str!("../../tests/fixtures/relations/edge_scrape_jobs.json").to_string(),
        ),
        (
            "scrape_jobs",
            r#"[{"job_name": "zinc", "metrics_path": "/metrics", "static_configs": [{"targets": ["*:4080"]}]}]"#.to_string(),
        ),
        ("scrape_metadata", metadata("zinc", Some("zinc-k8s"))),
        (
            "alert_rules",
            include_str!("../../tests/fixtures/relations/edge_alert_rules.json").to_string(),
        ),
        ("alert_rules", ZINC_RULES.to_string()),
    ];
    let mut rng = Lcg(0x5eed);
    let mut metrics = Vec::new();
    let mut alertmanagers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..400u32 {
        let mut r = zinc_relation(1000 + i, 2);
        // Each relation its own application, so every surviving rule file is kept.
        r.remote_app_data.remove("alert_rules");
        r.remote_app_data
            .insert("scrape_metadata".into(), metadata(&format!("app{i}"), None));
        let (key, seed) = &seeds_app[rng.below(seeds_app.len())];
        r.remote_app_data
            .insert(key.to_string(), mutate(seed, &mut rng));
        if rng.below(4) == 0 {
            let unit = r.remote_units.get_mut("zinc/1").unwrap();
            let key = [
                "prometheus_scrape_unit_address",
                "prometheus_scrape_unit_path",
                "prometheus_scrape_unit_name",
            ][rng.below(3)];
            let value = mutate(&unit.get(key).cloned().unwrap_or_default(), &mut rng);
            unit.insert(key.to_string(), value);
        }
        metrics.push(r);

        let mut am = relation(ALERTMANAGER, 2000 + i, "alertmanager");
        let unit_data = match rng.below(3) {
            0 => (
                "url",
                mutate(
                    "http://alertmanager-0.alertmanager-endpoints.cos.svc.cluster.local:9093/x",
                    &mut rng,
                ),
            ),
            1 => ("public_address", mutate("10.1.36.85:9093/cos-am", &mut rng)),
            _ => (
                "alerting_config",
                mutate(
                    r#"{"alertmanagers": [{"scheme": "https", "path_prefix": "/am", "timeout": "10s", "static_configs": [{"targets": ["am-0:9093"]}], "relabel_configs": [{"source_labels": ["__address__"], "regex": "(.+):.*", "target_label": "host"}]}]}"#,
                    &mut rng,
                ),
            ),
        };
        am.remote_units
            .insert("alertmanager/0".into(), bag(&[(unit_data.0, &unit_data.1)]));
        alertmanagers.push(am);

        let mut w = relation(SEND_REMOTE_WRITE, 3000 + i, "mimir");
        w.remote_units.insert(
            "mimir/0".into(),
            bag(&[("remote_write", &mutate(r#"{"url": "http://mimir-0.mimir-endpoints.cos.svc.cluster.local:9009/api/v1/push"}"#, &mut rng))]),
        );
        writers.push(w);
    }
    let p = plan(&RelationsInput {
        local: local(true),
        endpoints: [
            (METRICS_ENDPOINT.to_string(), metrics),
            (ALERTMANAGER.to_string(), alertmanagers),
            (SEND_REMOTE_WRITE.to_string(), writers),
        ]
        .into(),
    });
    // Both outcomes happen: plenty refused, plenty kept.
    assert!(p.warnings.len() > 100, "{}", p.warnings.len());
    assert!(p.scrape_configs.len() > 200, "{}", p.scrape_configs.len());
    check(&p);
}

/// One rule file of alerts `T0`, `T1`, … with `expr` and one annotation each.
fn alert_file(rules: &[(String, String)]) -> crate::prometheus::config::RuleFile {
    use crate::prometheus::config::{Rule, RuleFile, RuleGroup};
    RuleFile {
        groups: vec![RuleGroup {
            name: "generated".into(),
            interval: None,
            limit: None,
            rules: rules
                .iter()
                .enumerate()
                .map(|(i, (expr, text))| Rule {
                    alert: Some(format!("T{i}")),
                    expr: expr.clone(),
                    annotations: [("summary".to_string(), text.clone())].into(),
                    ..Rule::default()
                })
                .collect(),
        }],
    }
}

/// `promtool check rules` on `file`: Ok, or the names of the rules it complains about
/// (promtool reports every rule's errors, so one call checks a whole batch).
fn rules_promtool_refuses(file: &crate::prometheus::config::RuleFile) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated.rules");
    std::fs::write(&path, crate::yaml::to_string(file).unwrap()).unwrap();
    promtool(&["check", "rules"], &path)
}

/// Our template check against Go's own parser (through promtool), two calls in all:
/// everything it accepts loads (and so do the `query` templates we refuse on principle),
/// and every template on the refused list is refused, each for itself.
#[test]
fn template_checks_agree_with_promtool() {
    use super::template::tests::{ACCEPTED, QUERIES, REFUSED};
    let with_expr = |texts: &[&str]| -> Vec<(String, String)> {
        texts
            .iter()
            .map(|t| ("up == 0".to_string(), t.to_string()))
            .collect()
    };
    let accepted: Vec<&str> = ACCEPTED.iter().chain(&QUERIES).copied().collect();
    rules_promtool_refuses(&alert_file(&with_expr(&accepted))).unwrap();
    let out = rules_promtool_refuses(&alert_file(&with_expr(&REFUSED))).unwrap_err();
    for (i, bad) in REFUSED.iter().enumerate() {
        assert!(
            out.contains(&format!("\"T{i}\": annotation")),
            "promtool accepts {bad:?}:\n{out}"
        );
    }
}

/// Corrupted variants of real expressions and templates, straight into the rule checks:
/// whatever our checks accept, promtool must accept too.
#[test]
fn corrupted_expressions_and_templates_never_reach_prometheus() {
    let edge: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/relations/edge_alert_rules.json"
    ))
    .unwrap();
    let mut seeds: Vec<(String, String)> = edge["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["expr"].as_str().unwrap().to_string(),
                r["annotations"]["summary"]
                    .as_str()
                    .unwrap_or("{{ $value }}")
                    .to_string(),
            )
        })
        .collect();
    seeds.push((
        "sum by (job) (rate(x{a=~\"b.*\"}[5m] @ end())) / on(job) group_left() count(up) > bool 0"
            .into(),
        "{{ range $k, $v := $labels }}{{ $k | toUpper }}={{ $v }}{{ else }}-{{ end }}".into(),
    ));
    let mut rng = Lcg(0xe59);
    let mut rules = Vec::new();
    let mut refused = 0;
    for i in 0..4000 {
        let (expr, template) = &seeds[rng.below(seeds.len())];
        let (expr, template) = if rng.below(2) == 0 {
            (mutate(expr, &mut rng), template.clone())
        } else {
            (expr.clone(), mutate(template, &mut rng))
        };
        let rule = serde_json::json!({
            "alert": format!("R{i}"),
            "expr": expr,
            "annotations": {"summary": template},
        });
        let one =
            serde_json::json!({"groups": [{"name": "g", "rules": [rule.clone()]}]}).to_string();
        match alert_rules::process(&one, None) {
            Ok(p) if p.errors.is_empty() => rules.push(rule),
            _ => refused += 1,
        }
    }
    assert!(
        refused > 500 && rules.len() > 500,
        "{refused} refused, {} kept",
        rules.len()
    );
    let rule_files = rules
        .chunks(1000)
        .enumerate()
        .map(|(n, chunk)| {
            let raw = serde_json::json!({"groups": [{"name": "g", "rules": chunk}]}).to_string();
            let file = alert_rules::process(&raw, None).unwrap().file.unwrap();
            (format!("fuzz{n}.rules"), file)
        })
        .collect();
    let p = RelationsPlan {
        rule_files,
        ..RelationsPlan::default()
    };
    check(&p);
}

/// Many large relations still plan quickly (the planner runs in every hook).
#[test]
fn large_models_plan_quickly() {
    let relations: Vec<_> = (0..20)
        .map(|i| {
            let mut r = app_relation(100 + i, &format!("big{i}"), 0);
            for n in 0..100 {
                r.remote_units.insert(
                    format!("big{i}/{n}"),
                    bag(&[("prometheus_scrape_unit_address", &format!("10.{i}.0.{n}"))]),
                );
            }
            let jobs: Vec<_> = (0..10)
                .map(|j| serde_json::json!({"job_name": format!("j{j}"), "static_configs": [{"targets": ["*:9100"], "labels": {"team": "x"}}]}))
                .collect();
            r.remote_app_data
                .insert("scrape_jobs".into(), serde_json::Value::from(jobs).to_string());
            r
        })
        .collect();
    let input = RelationsInput {
        local: local(true),
        endpoints: [(METRICS_ENDPOINT.to_string(), relations)].into(),
    };
    let started = std::time::Instant::now();
    let p = plan(&input);
    assert_eq!(p.scrape_configs.len(), 20 * 100 * 10);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
