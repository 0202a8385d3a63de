//! Remote `alert_rules` (`{"groups": [...]}`) turned into a rule file Prometheus will load:
//! topology labels added and topology matchers injected into every expression, as the
//! `prometheus_scrape` library does. A rule that would make Prometheus refuse the file is
//! dropped and reported; the rest of the file is kept.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use super::promql::scope_rule_expr;
use super::template;
use super::topology::Topology;
use super::validate::{
    check_count, duration_ms, from_json_value, label_value, parse_json, short_text, Refused,
    MAX_LABELS, MAX_RULES_PER_APP,
};
use crate::prometheus::config::{Rule, RuleFile, RuleGroup};
use crate::syntax::{is_label_name, is_metric_name, number::fits_int64};

#[derive(Deserialize)]
struct RemoteRuleFile {
    #[serde(default)]
    groups: Vec<Value>,
}

#[derive(Deserialize)]
struct RemoteGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    rules: Vec<Value>,
}

#[derive(Deserialize)]
struct RemoteRule {
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    record: Option<String>,
    expr: Value,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The rules of one remote application, and what was wrong with the ones left out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct ProcessedRules {
    /// `None` when no rule survived (or none were sent).
    pub file: Option<RuleFile>,
    pub errors: Vec<String>,
}

const TOPOLOGY_MATCHER_LABELS: [&str; 3] = ["juju_model", "juju_model_uuid", "juju_application"];

/// Processes a remote `alert_rules` value. With a topology (from `scrape_metadata`) its
/// labels and matchers apply to every rule; without one (remote-write senders forward rules
/// of many charms) each rule is scoped by the `juju_*` labels it already carries.
/// Fails as a whole only when the value itself is unreadable or too large.
pub(super) fn process(raw: &str, topology: Option<&Topology>) -> Result<ProcessedRules, Refused> {
    let remote: RemoteRuleFile = parse_json("alert_rules", raw)?;
    let mut out = ProcessedRules::default();
    let mut groups = Vec::new();
    let mut names = BTreeSet::new();
    let mut total_rules = 0usize;
    for (gi, value) in remote.groups.into_iter().enumerate() {
        let group: RemoteGroup = match from_json_value("alert rule group", value) {
            Ok(g) => g,
            Err(e) => {
                out.errors.push(format!("alert rule group #{gi}: {e}"));
                continue;
            }
        };
        total_rules += group.rules.len();
        check_count("alert rules", total_rules, MAX_RULES_PER_APP)?;
        match process_group(group, topology, &mut names, &mut out.errors) {
            Ok(Some(g)) => groups.push(g),
            Ok(None) => {}
            Err(e) => out.errors.push(format!("alert rule group #{gi}: {e}")),
        }
    }
    if !groups.is_empty() {
        out.file = Some(RuleFile { groups });
    }
    Ok(out)
}

fn process_group(
    group: RemoteGroup,
    topology: Option<&Topology>,
    names: &mut BTreeSet<String>,
    errors: &mut Vec<String>,
) -> Result<Option<RuleGroup>, Refused> {
    if group.name.is_empty() {
        return Err(Refused::Missing("group name"));
    }
    short_text("group name", &group.name)?;
    if let Some(i) = &group.interval {
        duration_ms(i)?;
    }
    // Prometheus reads a group's limit into a Go int.
    if let Some(limit) = group.limit.filter(|l| !fits_int64(*l)) {
        return Err(Refused::invalid("limit", &limit.to_string(), "past int64"));
    }
    // Group names must be unique within a file.
    let mut name = group.name.clone();
    let mut n = 1;
    while names.contains(&name) {
        n += 1;
        name = format!("{}_{n}", group.name);
    }
    let mut rules = Vec::new();
    for (ri, value) in group.rules.into_iter().enumerate() {
        let result =
            from_json_value::<RemoteRule>("rule", value).and_then(|r| process_rule(r, topology));
        match result {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.push(format!("group {:?} rule #{ri}: {e}", group.name)),
        }
    }
    if rules.is_empty() {
        return Ok(None);
    }
    names.insert(name.clone());
    Ok(Some(RuleGroup {
        name,
        interval: group.interval,
        limit: group.limit,
        rules,
    }))
}

fn process_rule(r: RemoteRule, topology: Option<&Topology>) -> Result<Rule, Refused> {
    let expr = match r.expr {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(Refused::invalid("expr", "", "not a string")),
    };
    match (&r.alert, &r.record) {
        (Some(_), Some(_)) => {
            return Err(Refused::invalid(
                "rule",
                "",
                "has both 'alert' and 'record'",
            ))
        }
        (None, None) => return Err(Refused::Missing("'alert' or 'record'")),
        (Some(a), None) => {
            if a.is_empty() {
                return Err(Refused::Missing("alert name"));
            }
            short_text("alert name", a)?;
        }
        (None, Some(rec)) => {
            if !is_metric_name(rec) {
                return Err(Refused::invalid("record", rec, "not a metric name"));
            }
            if !r.annotations.is_empty() || r.for_.is_some() || r.keep_firing_for.is_some() {
                return Err(Refused::invalid(
                    "recording rule",
                    rec,
                    "takes no 'annotations', 'for' or 'keep_firing_for'",
                ));
            }
        }
    }
    for d in [&r.for_, &r.keep_firing_for].into_iter().flatten() {
        duration_ms(d)?;
    }
    // Counted before the topology's labels join them: what the remote sent.
    check_count("labels", r.labels.len(), MAX_LABELS)?;
    check_count("annotations", r.annotations.len(), MAX_LABELS)?;
    let mut labels = r.labels;
    if let Some(t) = topology {
        labels.extend(t.labels());
    }
    for (k, v) in &labels {
        if !is_label_name(k) || k == "__name__" {
            return Err(Refused::invalid(
                "label name",
                k,
                "not a Prometheus label name",
            ));
        }
        label_value(v)?;
    }
    for k in r.annotations.keys() {
        if !is_label_name(k) {
            return Err(Refused::invalid(
                "annotation name",
                k,
                "not a Prometheus label name",
            ));
        }
    }
    if r.alert.is_some() {
        for text in labels.values().chain(r.annotations.values()) {
            template::check(text).map_err(|e| Refused::invalid("template", text, e.to_string()))?;
        }
    }
    let matchers = match topology {
        Some(t) => t.matchers(),
        None => TOPOLOGY_MATCHER_LABELS
            .iter()
            .filter_map(|k| labels.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect(),
    };
    // Errors point into what the remote charm sent; what Prometheus loads is that text with
    // the topology matchers inserted, which the front-end has read back.
    let expr = scope_rule_expr(&expr, &matchers)
        .map_err(|e| Refused::invalid("expr", &expr, e.to_string()))?;
    Ok(Rule {
        alert: r.alert,
        record: r.record,
        expr,
        for_: r.for_,
        keep_firing_for: r.keep_firing_for,
        labels,
        annotations: r.annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::relations::test_support::ZINC_RULES;
    const ZINC_META: &str = r#"{"model": "cos", "model_uuid": "f4d59020-c8e7-4053-8044-a2c1e5591c7f", "application": "zinc", "unit": "zinc/0", "charm_name": "zinc-k8s"}"#;

    fn zinc() -> Topology {
        Topology::from_scrape_metadata(ZINC_META).unwrap()
    }

    #[test]
    fn expression_errors_point_into_what_the_remote_charm_sent() {
        let raw = r#"{"groups": [{"name": "g", "rules": [
            {"alert": "Typo", "expr": "rate(up[5m]) >> 1"}
        ]}]}"#;
        let p = process(raw, Some(&zinc())).unwrap();
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(p.errors[0].contains("at byte 14"), "{}", p.errors[0]);
    }

    #[test]
    fn library_rules_get_topology_labels_and_matchers() {
        let p = process(ZINC_RULES, Some(&zinc())).unwrap();
        assert_eq!(p.errors, Vec::<String>::new());
        let file = p.file.unwrap();
        let rule = &file.groups[0].rules[0];
        assert_eq!(rule.alert.as_deref(), Some("ZincDown"));
        assert_eq!(
            rule.expr,
            r#"up{juju_application="zinc",juju_model="cos",juju_model_uuid="f4d59020-c8e7-4053-8044-a2c1e5591c7f"} < 1"#
        );
        assert_eq!(rule.labels["juju_charm"], "zinc-k8s");
        assert_eq!(rule.labels["severity"], "critical");
        let recorded = &file.groups[1].rules[0];
        assert!(recorded
            .expr
            .contains(r#"zinc_requests_total{juju_model="cos""#));
    }

    #[test]
    fn rule_labels_scope_rules_without_metadata() {
        let raw = r#"{"groups": [{"name": "agent", "rules": [
            {"alert": "A", "expr": "up == 0", "labels": {"juju_model": "m", "juju_application": "a"}},
            {"alert": "B", "expr": "up == 0"}]}]}"#;
        let file = process(raw, None).unwrap().file.unwrap();
        assert_eq!(
            file.groups[0].rules[0].expr,
            r#"up{juju_model="m",juju_application="a"} == 0"#
        );
        assert_eq!(file.groups[0].rules[1].expr, "up == 0");
    }

    #[test]
    fn topology_labels_win_over_remote_ones() {
        let raw = r#"{"groups": [{"name": "g", "rules": [
            {"alert": "A", "expr": "up == 0", "labels": {"juju_application": "someone-else"}}]}]}"#;
        let file = process(raw, Some(&zinc())).unwrap().file.unwrap();
        assert_eq!(file.groups[0].rules[0].labels["juju_application"], "zinc");
    }

    #[test]
    fn bad_rules_are_dropped_and_reported_the_rest_kept() {
        let raw = r#"{"groups": [
            {"name": "g", "rules": [
                {"alert": "Good", "expr": "up == 0", "for": "5m"},
                {"alert": "BadExpr", "expr": "up{"},
                {"alert": "BadFor", "expr": "up", "for": "five minutes"},
                {"record": "bad name", "expr": "up"},
                {"record": "ok:rec", "expr": "up", "annotations": {"a": "b"}},
                {"alert": "BadLabel", "expr": "up", "labels": {"bad-name": "x"}},
                {"alert": "BadTemplate", "expr": "up", "annotations": {"summary": "{{ $labels.x"}},
                {"alert": "A", "record": "b", "expr": "up"},
                {"expr": "up"},
                {"alert": "WrongType", "expr": ["up"]},
                {"alert": "Ctl", "expr": "up", "labels": {"x": "a\u0000b"}},
                {"alert": "Tabbed", "expr": "up", "annotations": {"x": "\tindented\nlines"}}
            ]},
            {"name": "g", "rules": [{"record": "ok:rec", "expr": "sum(up)"}]},
            {"name": "empty", "rules": [{"alert": "X"}]},
            "not a group"
        ]}"#;
        let p = process(raw, Some(&zinc())).unwrap();
        let file = p.file.unwrap();
        let names: Vec<_> = file.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["g", "g_2"]);
        // Any text is fine in an annotation: the YAML writer quotes what needs it.
        let kept: Vec<_> = file.groups[0]
            .rules
            .iter()
            .filter_map(|r| r.alert.as_deref())
            .collect();
        assert_eq!(kept, ["Good", "Tabbed"]);
        assert_eq!(p.errors.len(), 12, "{:#?}", p.errors);
        assert!(p.errors[0].starts_with("group \"g\" rule #1: expr"));
    }

    #[test]
    fn templates_that_query_are_refused_naming_why() {
        let raw = r#"{"groups": [{"name": "g", "rules": [
            {"alert": "Leak", "expr": "up == 0", "annotations": {"d": "{{ range query \"secret\" }}{{ .Value }}{{ end }}"}},
            {"alert": "LeakLabel", "expr": "up == 0", "labels": {"d": "{{ query \"secret\" }}"}},
            {"alert": "Fine", "expr": "up == 0", "annotations": {"d": "{{ $labels.query }}"}}
        ]}]}"#;
        let p = process(raw, Some(&zinc())).unwrap();
        assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
        for e in &p.errors {
            assert!(e.contains("may not call \"query\""), "{e}");
        }
        assert_eq!(p.file.unwrap().groups[0].rules.len(), 1);
    }

    #[test]
    fn hostile_shapes_are_refused_quickly() {
        // JSON nested past serde_json's recursion limit (128), in the value and in a rule.
        assert!(process(&"[".repeat(100_000), None).is_err());
        let deep_expr = format!(
            r#"{{"groups": [{{"name": "g", "rules": [{{"alert": "A", "expr": {}1{}}}]}}]}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(process(&deep_expr, None).is_err());
        // Too many labels or annotations in one rule.
        let many: BTreeMap<String, String> = (0..=MAX_LABELS)
            .map(|i| (format!("l{i}"), "v".to_string()))
            .collect();
        for key in ["labels", "annotations"] {
            let raw = serde_json::json!({"groups": [{"name": "g", "rules": [
                {"alert": "A", "expr": "up", key: many}
            ]}]})
            .to_string();
            let p = process(&raw, None).unwrap();
            assert_eq!(p.file, None);
            assert!(p.errors[0].contains(key), "{:?}", p.errors);
        }
        // An annotation nested deeper than the template limit; an expression deeper than
        // PromQL's: refused for that, naming the limit.
        let parens = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        let raw = serde_json::json!({"groups": [{"name": "g", "rules": [
            {"alert": "A", "expr": "up", "annotations": {"a": parens(10_000)}},
            {"alert": "B", "expr": format!("{}up{}", "(".repeat(10_000), ")".repeat(10_000))}
        ]}]})
        .to_string();
        let p = process(&raw, None).unwrap();
        assert!(
            p.errors[0].contains("nests parentheses deeper than 64"),
            "{:?}",
            p.errors
        );
        assert!(
            p.errors[1].contains("nests deeper than 128"),
            "{:?}",
            p.errors
        );
    }

    /// `alert_rules` values whose expression or template repeats one hostile unit up to the
    /// size limits: one such rule, or (`fill_value`) as many as make about 1 MB, the most a
    /// relation value may hold. (shape, value, how many of its rules are kept.)
    fn hostile_values(fill_value: bool) -> Vec<(&'static str, String, usize)> {
        use crate::relations::promql::MAX_EXPR_BYTES;
        use crate::relations::template::MAX_TEMPLATE_BYTES;
        use crate::relations::validate::MAX_VALUE_BYTES;
        let fill = |unit: &str, open: &str, close: &str, max: usize| {
            // Room for the topology matchers the rewrite adds.
            let n = (max - 1024 - open.len() - close.len()) / unit.len();
            format!("{open}{}{close}", unit.repeat(n))
        };
        // As many rules as fit in one value.
        let value = |expr: &str, annotation: &str| {
            let rule =
                serde_json::json!({"alert": "A", "expr": expr, "annotations": {"a": annotation}});
            let n = match fill_value {
                true => (MAX_VALUE_BYTES - 100) / (rule.to_string().len() + 1),
                false => 1,
            };
            let rules = vec![rule; n.max(1)];
            (
                serde_json::json!({"groups": [{"name": "g", "rules": rules}]}).to_string(),
                n,
            )
        };
        let t = |unit: &str, open: &str, close: &str| fill(unit, open, close, MAX_TEMPLATE_BYTES);
        let e = |unit: &str, open: &str, close: &str| fill(unit, open, close, MAX_EXPR_BYTES);
        let mut shapes = vec![
            ("nested JSON", "[".repeat(MAX_VALUE_BYTES - 1), 0),
            (
                "nested JSON objects",
                r#"{"a":"#.repeat(MAX_VALUE_BYTES / 5),
                0,
            ),
        ];
        for (shape, expr, annotation, kept) in [
            (
                "template: ( nesting",
                "up".into(),
                t("(", "{{ ", " }}"),
                false,
            ),
            (
                "template: {{if}} nesting",
                "up".into(),
                t("{{ if true }}", "", ""),
                false,
            ),
            ("template: {{ runs", "up".into(), t("{{", "", ""), false),
            (
                "template: long pipeline",
                "up".into(),
                t(" | humanize", "{{ $value", " }}"),
                true,
            ),
            (
                "template: many operands",
                "up".into(),
                t(" $value", "{{ print", " }}"),
                true,
            ),
            (
                "template: many actions",
                "up".into(),
                t("{{ $value }}", "", ""),
                true,
            ),
            (
                "template: many variables",
                "up".into(),
                t("{{ $x := 1 }}", "", "{{ $x }}"),
                true,
            ),
            (
                "template: else-if chain",
                "up".into(),
                t("{{ else if true }}", "{{ if true }}", "{{ end }}"),
                true,
            ),
            (
                "template: field chain",
                "up".into(),
                t(".a", "{{ $labels", " }}"),
                true,
            ),
            ("expr: ( nesting", e("(", "", ""), "x".into(), false),
            ("expr: { runs", e("{", "", ""), "x".into(), false),
            ("expr: [ runs", e("[", "up", ""), "x".into(), false),
            ("expr: unary chain", e("-", "", "up"), "x".into(), false),
            ("expr: ^ chain", e("^2", "2", ""), "x".into(), false),
            ("expr: call nesting", e("abs(", "", ""), "x".into(), false),
            (
                "expr: long + chain of selectors",
                e("+a", "a", ""),
                "x".into(),
                false,
            ),
            (
                "expr: long * chain of numbers",
                e("*2", "up", ""),
                "x".into(),
                true,
            ),
            (
                "expr: many matchers",
                e(",a=\"b\"", "up{c=\"d\"", "}"),
                "x".into(),
                true,
            ),
            (
                "expr: many labels in on()",
                e(",a", "up * on(b", ") group_left(c) up"),
                "x".into(),
                true,
            ),
        ] {
            let (raw, n) = value(&expr, &annotation);
            shapes.push((shape, raw, if kept { n } else { 0 }));
        }
        shapes
    }

    /// Every shape is answered as it should be, one rule of each (a 1 MB value is 16 of them,
    /// and the checks take one at a time). How long it takes is `megabyte_bench`'s business;
    /// here a quadratic or unbounded check shows as a test that does not end.
    #[test]
    fn hostile_values_of_every_shape_are_answered() {
        for (shape, raw, kept) in hostile_values(false) {
            let got = process(&raw, Some(&zinc())).map(|p| {
                p.file
                    .map_or(0, |f| f.groups.iter().map(|g| g.rules.len()).sum())
            });
            assert_eq!(got.unwrap_or(0), kept, "{shape}");
        }
    }

    /// `cargo test --release --lib megabyte_bench -- --ignored --nocapture`: wall time of each
    /// shape (generous bound: a linear check takes milliseconds).
    #[test]
    #[ignore]
    fn megabyte_bench() {
        for (shape, raw, _) in hostile_values(true) {
            let started = std::time::Instant::now();
            let _ = process(&raw, Some(&zinc()));
            let took = started.elapsed();
            eprintln!("{took:>12.3?}  {shape}");
            assert!(
                took < std::time::Duration::from_secs(2),
                "{shape}: {took:?}"
            );
        }
    }

    #[test]
    fn unreadable_or_huge_values_fail_as_a_whole() {
        assert!(process("{not json", None).is_err());
        assert!(process(r#"{"groups": 5}"#, None).is_err());
        let huge = format!(
            r#"{{"groups": [{{"name": "g", "rules": [{}]}}]}}"#,
            vec![r#"{"alert": "A", "expr": "up"}"#; MAX_RULES_PER_APP + 1].join(",")
        );
        assert!(matches!(process(&huge, None), Err(Refused::TooMany { .. })));
        let p = process(r#"{"groups": []}"#, None).unwrap();
        assert_eq!(p.file, None);
        assert_eq!(process("{}", None).unwrap().file, None);
    }
}
