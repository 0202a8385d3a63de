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

pub(super) fn every_dialect() -> RelationsInput {
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
            include_str!("../../../../tests/fixtures/relations/web_scrape_jobs.json"),
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
        include_str!("../../../../tests/fixtures/relations/agent_alert_rules.json"),
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
        budget: None,
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
        include_str!("../../../../tests/fixtures/relations/edge_scrape_jobs.json").into(),
    );
    let mut rules = zinc_relation(2, 1);
    rules
        .remote_app_data
        .insert("scrape_metadata".into(), metadata("edge", Some("edge-k8s")));
    rules.remote_app_data.remove("scrape_jobs");
    rules.remote_app_data.insert(
        "alert_rules".into(),
        include_str!("../../../../tests/fixtures/relations/edge_alert_rules.json").into(),
    );
    let p = plan(&RelationsInput {
        local: local(true),
        endpoints: [(METRICS_ENDPOINT.to_string(), vec![r, rules])].into(),
        budget: None,
    });
    assert_eq!(p.warnings, vec![]);
    let edge_jobs: usize = serde_json::from_str::<Vec<serde_json::Value>>(include_str!(
        "../../../../tests/fixtures/relations/edge_scrape_jobs.json"
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
            include_str!("../../../../tests/fixtures/relations/web_scrape_jobs.json").to_string(),
        ),
        (
            "scrape_jobs",
            include_str!("../../../../tests/fixtures/relations/edge_scrape_jobs.json").to_string(),
        ),
        (
            "scrape_jobs",
            r#"[{"job_name": "zinc", "metrics_path": "/metrics", "static_configs": [{"targets": ["*:4080"]}]}]"#.to_string(),
        ),
        ("scrape_metadata", metadata("zinc", Some("zinc-k8s"))),
        (
            "alert_rules",
            include_str!("../../../../tests/fixtures/relations/edge_alert_rules.json").to_string(),
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
        budget: None,
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
        "../../../../tests/fixtures/relations/edge_alert_rules.json"
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
        budget: None,
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

/// Generators for the fuzz tests: random text from the grammars the checks know (Go
/// templates, PromQL), near misses included (literals at and past Go's limits, keywords out
/// of place, unknown names, broken structure), so both outcomes happen often.
mod generate {
    use super::Lcg;

    fn pick<'a>(rng: &mut Lcg, from: &[&'a str]) -> &'a str {
        from[rng.below(from.len())]
    }

    fn digits(rng: &mut Lcg, max: usize) -> String {
        (0..1 + rng.below(max))
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect()
    }

    /// Decimal numbers around Go's limits (leading zeros, 20 digits, big exponents) and a
    /// few forms Go has that the checker refuses.
    pub(super) fn number(rng: &mut Lcg) -> String {
        if rng.below(8) == 0 {
            return pick(
                rng,
                &[
                    "18446744073709551615",
                    "18446744073709551616",
                    "-9223372036854775808",
                    "-9223372036854775809",
                    "+9223372036854775807",
                    "+9223372036854775808",
                    "1.7976931348623157e308",
                    "1.7976931348623159e308",
                    "4.9e-324",
                    "1e-400",
                    "0x1F",
                    "1_000",
                    "1i",
                    "'c'",
                    "0777",
                    "0778",
                    "1.",
                    ".5",
                    "-.5e-3",
                ],
            )
            .to_string();
        }
        let mut n = pick(rng, &["", "", "-", "+"]).to_string();
        if rng.below(4) == 0 {
            n.push('0');
        }
        n.push_str(&digits(rng, 21));
        if rng.below(3) == 0 {
            n.push('.');
            n.push_str(&digits(rng, 4));
        }
        if rng.below(4) == 0 {
            n.push_str(pick(rng, &["e", "E", "e+", "e-"]));
            n.push_str(&digits(rng, 3));
        }
        n
    }

    /// Quoted strings with every kind of escape, good and bad.
    pub(super) fn string(rng: &mut Lcg) -> String {
        if rng.below(5) == 0 {
            return format!("`{}`", pick(rng, &["raw", "raw \\d {{", "", "a\"b"]));
        }
        let mut s = String::from("\"");
        for _ in 0..rng.below(4) {
            s.push_str(pick(
                rng,
                &[
                    "a",
                    "%s",
                    "é",
                    " ",
                    "\\n",
                    "\\t",
                    "\\\\",
                    "\\\"",
                    "\\x41",
                    "\\u00e9",
                    "\\U0001F600",
                    "\\101",
                    "\\d",
                    "\\'",
                    "\\x4",
                    "\\400",
                    "\\ud800",
                    "}",
                ],
            ));
        }
        s.push('"');
        s
    }

    const FUNCTIONS: &[&str] = &[
        "humanize",
        "humanizeDuration",
        "printf",
        "index",
        "len",
        "eq",
        "gt",
        "not",
        "and",
        "toUpper",
        "reReplaceAll",
        "title",
        "urlquery",
        "stripPort",
        "query",
        "nosuch",
        "end",
        "else",
        "if",
        "true",
    ];

    fn template_operand(rng: &mut Lcg, depth: usize) -> String {
        match rng.below(if depth > 3 { 9 } else { 11 }) {
            0 => pick(
                rng,
                &[
                    "$labels",
                    "$value",
                    "$externalURL",
                    "$x",
                    "$i",
                    "$",
                    "$nope",
                ],
            )
            .to_string(),
            1 => format!(
                "{}{}",
                pick(rng, &["$labels", ".", "$x", "$value"]),
                pick(rng, &[".instance", ".a.b", ".1x", "", ".", ".é"])
            ),
            2 | 3 => number(rng),
            4 | 5 => string(rng),
            6 => pick(rng, &["true", "false", "nil", ".", ".Labels"]).to_string(),
            7 | 8 => pick(rng, FUNCTIONS).to_string(),
            _ => format!(
                "({}){}",
                template_pipeline(rng, depth + 1, false),
                pick(rng, &["", "", ".a", "x", "(1)"])
            ),
        }
    }

    fn template_command(rng: &mut Lcg, depth: usize) -> String {
        let mut parts = Vec::new();
        if rng.below(3) > 0 {
            parts.push(pick(rng, FUNCTIONS).to_string());
        }
        for _ in 0..rng.below(3) + usize::from(parts.is_empty()) {
            parts.push(template_operand(rng, depth));
        }
        parts.join(pick(rng, &[" ", " ", "  ", "\t", ""]))
    }

    pub(super) fn template_pipeline(rng: &mut Lcg, depth: usize, top: bool) -> String {
        let mut p = String::new();
        if top && rng.below(4) == 0 {
            p.push_str(pick(
                rng,
                &[
                    "$x := ",
                    "$x:=",
                    "$x = ",
                    "$i, $e := ",
                    "$x=",
                    "$a, $b, $c := ",
                ],
            ));
        }
        let stages = 1 + rng.below(3);
        let commands: Vec<_> = (0..stages).map(|_| template_command(rng, depth)).collect();
        p.push_str(&commands.join(pick(rng, &[" | ", "|", " | ", " || "])));
        if rng.below(20) == 0 {
            p.push_str(" |");
        }
        p
    }

    /// A template: text, actions, comments and blocks, usually (not always) well nested.
    pub(super) fn template(rng: &mut Lcg) -> String {
        let mut out = String::new();
        let mut open = 0usize;
        for _ in 0..1 + rng.below(4) {
            match rng.below(12) {
                0 | 1 => out.push_str(pick(rng, &["text ", "} { ", "%", "\n", "{ {", "}}"])),
                2..=5 => {
                    let (l, r) = [
                        ("{{ ", " }}"),
                        ("{{- ", " -}}"),
                        ("{{", "}}"),
                        ("{{-", "-}}"),
                    ][rng.below(4)];
                    out.push_str(&format!("{l}{}{r}", template_pipeline(rng, 0, true)));
                }
                6 | 7 => {
                    let k = pick(rng, &["if", "range", "with", "if", "define", "break"]);
                    out.push_str(&format!(
                        "{{{{ {k} {} }}}}",
                        template_pipeline(rng, 0, true)
                    ));
                    open += 1;
                }
                8 => out.push_str(&if rng.below(2) == 0 {
                    "{{ else }}".to_string()
                } else {
                    format!(
                        "{{{{ else {} {} }}}}",
                        pick(rng, &["if", "if", "with"]),
                        template_pipeline(rng, 0, true)
                    )
                }),
                9 if open > 0 => {
                    out.push_str("{{ end }}");
                    open -= 1;
                }
                9 => out.push_str(pick(rng, &["{{ end }}", "{{end}}"])),
                _ => out.push_str(pick(
                    rng,
                    &[
                        "{{/* c */}}",
                        "{{- /* c */ -}}",
                        "{{/* c */ }}",
                        "{{ /* c */}}",
                        "{{/**/}}",
                    ],
                )),
            }
        }
        if rng.below(8) > 0 {
            out.push_str(&"{{ end }}".repeat(open));
        }
        out
    }

    fn selector(rng: &mut Lcg) -> String {
        let name = pick(
            rng,
            &[
                "up",
                "up",
                "http_requests_total",
                "job:up:rate5m",
                "x_bucket",
                "",
                "sum",
                "by",
            ],
        );
        if !name.is_empty() && rng.below(2) == 0 {
            return name.to_string();
        }
        let matchers: Vec<_> = (0..rng.below(3) + usize::from(name.is_empty()))
            .map(|_| {
                format!(
                    "{}{}{}",
                    pick(rng, &["job", "le", "__name__", "juju_model", "1a"]),
                    pick(rng, &["=", "!=", "=~", "!~", "=="]),
                    pick(
                        rng,
                        &[
                            "\"x\"", "\"\"", "\".*\"", "\"x.+\"", "\"(\"", "'a'", "`b`", "\"\\d\"",
                            "x"
                        ]
                    )
                )
            })
            .collect();
        format!("{name}{{{}}}", matchers.join(pick(rng, &[",", ", ", " "])))
    }

    pub(super) fn expr(rng: &mut Lcg, depth: usize) -> String {
        match rng.below(if depth > 3 { 3 } else { 11 }) {
            0 => pick(
                rng,
                &[
                    "1", "0.5", "1e3", "0x1F", "Inf", "NaN", "-1", "1.2.3", "5m", "\"s\"",
                ],
            )
            .to_string(),
            1 | 2 => selector(rng),
            3 => format!(
                "{}{}",
                selector(rng),
                pick(
                    rng,
                    &["[5m]", "[5m:1m]", "[1h30m:]", "[0s]", "[5x]", "[5m", "[]"]
                )
            ),
            4 => {
                let args: Vec<_> = (0..rng.below(4)).map(|_| expr(rng, depth + 1)).collect();
                format!(
                    "{}({})",
                    pick(
                        rng,
                        &[
                            "rate",
                            "abs",
                            "histogram_quantile",
                            "label_replace",
                            "vector",
                            "time",
                            "round",
                            "clamp",
                            "absent",
                            "foo",
                            "sum_over_time",
                        ]
                    ),
                    args.join(", ")
                )
            }
            5 => {
                let op = pick(
                    rng,
                    &["sum", "topk", "count_values", "quantile", "max", "group"],
                );
                let grouping = pick(rng, &["", "by (job) ", "without (a, b,) ", "by (1) "]);
                let param = match rng.below(3) {
                    0 => format!("{}, ", expr(rng, depth + 1)),
                    _ => String::new(),
                };
                if rng.below(2) == 0 {
                    format!("{op} {grouping}({param}{})", expr(rng, depth + 1))
                } else {
                    format!("{op}({param}{}) {grouping}", expr(rng, depth + 1))
                }
            }
            6 | 7 => format!(
                "{} {}{} {}",
                expr(rng, depth + 1),
                pick(
                    rng,
                    &[
                        "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<=", "and", "or", "unless",
                        "atan2",
                    ]
                ),
                pick(
                    rng,
                    &[
                        "",
                        "",
                        "",
                        " bool",
                        " on(job)",
                        " ignoring(a)",
                        " on(job) group_left(b)",
                        " on() group_right",
                        " group_left",
                    ]
                ),
                expr(rng, depth + 1)
            ),
            8 => format!("({})", expr(rng, depth + 1)),
            9 => format!("{}{}", pick(rng, &["-", "+", "- -"]), expr(rng, depth + 1)),
            _ => format!(
                "{}{}",
                expr(rng, depth + 1),
                pick(
                    rng,
                    &[
                        " offset 5m",
                        " offset -5m",
                        " @ 100",
                        " @ start()",
                        " @ end",
                        "[5m:]"
                    ]
                )
            ),
        }
    }
}

fn fuzz_seed(default: u64) -> u64 {
    // FUZZ_SEED=<n> explores other inputs; the default keeps `make test` reproducible.
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Generated templates and expressions through the whole alert-rules path (JSON → checks →
/// scoped rule): none may panic, and every rule accepted goes into one rule file that promtool
/// must accept (three promtool calls in all).
#[test]
fn generated_rules_accepted_are_accepted_by_promtool() {
    let zinc = super::topology::Topology::from_scrape_metadata(&metadata("zinc", Some("zinc-k8s")))
        .unwrap();
    let mut rng = Lcg(fuzz_seed(0xf022));
    let mut batches: [Vec<serde_json::Value>; 3] = Default::default();
    let mut refused = [0usize; 3];
    for i in 0..9000 {
        let kind = i % 3;
        let (expr, template) = match kind {
            0 => ("up == 0".to_string(), generate::template(&mut rng)),
            1 => (generate::expr(&mut rng, 0), "{{ $value }}".to_string()),
            _ if rng.below(2) == 0 => (
                mutate(&generate::expr(&mut rng, 0), &mut rng),
                "{{ $labels.instance }}".to_string(),
            ),
            _ => (
                "up == 0".to_string(),
                mutate(&generate::template(&mut rng), &mut rng),
            ),
        };
        let rule = serde_json::json!({
            "alert": format!("R{i}"),
            "expr": expr,
            "labels": {"severity": "x"},
            "annotations": {"summary": template},
        });
        let one = serde_json::json!({"groups": [{"name": "g", "rules": [rule]}]}).to_string();
        let topology = (i % 2 == 0).then_some(&zinc);
        match alert_rules::process(&one, topology) {
            Ok(p) if p.errors.is_empty() => {
                let file = p.file.unwrap();
                let rule = &file.groups[0].rules[0];
                batches[kind].push(serde_json::json!({
                    "alert": rule.alert, "expr": rule.expr,
                    "labels": rule.labels, "annotations": rule.annotations,
                }));
            }
            _ => refused[kind] += 1,
        }
    }
    eprintln!(
        "kept {:?}, refused {refused:?}",
        batches.each_ref().map(Vec::len)
    );
    for (kind, batch) in batches.iter().enumerate() {
        // Both outcomes, plenty of each: the generators reach both sides of every check.
        assert!(
            batch.len() > 200 && refused[kind] > 200,
            "kind {kind}: {} kept, {} refused",
            batch.len(),
            refused[kind]
        );
        let raw = serde_json::json!({"groups": [{"name": "g", "rules": batch}]}).to_string();
        let p = alert_rules::process(&raw, None).unwrap();
        assert_eq!(p.errors, Vec::<String>::new());
        let file = p.file.unwrap();
        if let Err(e) = rules_promtool_refuses(&file) {
            let named: Vec<_> = file.groups[0]
                .rules
                .iter()
                .filter(|r| e.contains(&format!("\"{}\":", r.alert.as_deref().unwrap_or(""))))
                .map(|r| format!("{:?}: {:?} {:?}", r.alert, r.expr, r.annotations))
                .collect();
            panic!("promtool refuses what we accepted (FUZZ_SEED to replay):\n{e}\n{named:#?}");
        }
    }
}

/// The printer on generated expressions, near misses and mutations included: whatever the
/// front-end accepts, it prints as text that reads back as the same tree. (A printer bug
/// would refuse the rule as `Reprinted`, which the promtool fuzz above counts as a mere
/// refusal.)
#[test]
fn generated_expressions_print_as_they_read() {
    use super::promql::{scope_rule_expr, PromqlError};
    let matchers = [("juju_model".to_string(), "cos\"\\".to_string())];
    let mut rng = Lcg(fuzz_seed(0x9417));
    let mut accepted = 0;
    for i in 0..20_000 {
        let mut expr = generate::expr(&mut rng, 0);
        if i % 2 == 1 {
            expr = mutate(&expr, &mut rng);
        }
        for matchers in [&matchers[..], &[]] {
            match scope_rule_expr(&expr, matchers) {
                Ok(_) => accepted += 1,
                Err(PromqlError::Reprinted(printed)) => {
                    panic!("{expr:?} printed as {printed:?} (FUZZ_SEED to replay)")
                }
                Err(_) => {}
            }
        }
    }
    assert!(accepted > 2_000, "{accepted}");
}

/// What the limits let through at their edge, Prometheus loads: templates nested
/// `MAX_TEMPLATE_DEPTH` deep, expressions `MAX_PROMQL_DEPTH` deep in each nesting construct,
/// a scoped expression close to `MAX_EXPR_BYTES`. One promtool call.
#[test]
fn what_the_limits_let_through_prometheus_loads() {
    use super::promql::{MAX_EXPR_BYTES, MAX_PROMQL_DEPTH};
    use super::template::MAX_TEMPLATE_DEPTH;
    let zinc = super::topology::Topology::from_scrape_metadata(&metadata("zinc", Some("zinc-k8s")))
        .unwrap();
    let nest = |open: &str, inner: &str, close: &str, n: usize| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    let t = MAX_TEMPLATE_DEPTH;
    let p = MAX_PROMQL_DEPTH;
    let templates = [
        format!("{{{{ {}1{} }}}}", "(".repeat(t), ")".repeat(t)),
        nest("{{ if true }}", "x", "{{ end }}", t),
        nest(
            "{{ range $labels }}{{ with . }}",
            "x",
            "{{ end }}{{ end }}",
            t / 2,
        ),
        format!(
            "{{{{ if true }}}}{}{{{{ end }}}}",
            "{{ else if false }}".repeat(1000)
        ),
    ];
    let exprs = [
        nest("(", "up", ")", p),
        nest("abs(", "up", ")", p),
        nest("sum by (job) (", "up", ")", p),
        nest("- ", "up", "", p),
        nest("2 ^ ", "2", "", p),
        // Every precedence level but `or` between two parentheses, one selector a level (the
        // topology matchers fill the rest of the size limit quickly).
        nest("up * 2 ^ 2 + 1 == bool 1 and (", "up", ")", p),
        format!("a{}", "+a".repeat((MAX_EXPR_BYTES - 2048) / 200)),
    ];
    let mut rules = Vec::new();
    for text in &templates {
        rules
            .push(serde_json::json!({"alert": "T", "expr": "up == 0", "annotations": {"t": text}}));
    }
    for expr in &exprs {
        rules.push(serde_json::json!({"alert": "E", "expr": expr}));
    }
    let raw = serde_json::json!({"groups": [{"name": "edge", "rules": rules}]}).to_string();
    let processed = alert_rules::process(&raw, Some(&zinc)).unwrap();
    assert_eq!(processed.errors, Vec::<String>::new());
    let file = processed.file.unwrap();
    assert_eq!(file.groups[0].rules.len(), templates.len() + exprs.len());
    rules_promtool_refuses(&file).unwrap();
}
