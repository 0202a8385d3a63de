//! The front-end as a whole: what it accepts and refuses (as promtool does: also checked
//! through the rule processing in `relations::grammar_tests` and `promtool_tests`), the
//! scoping, the limits, and that the printed text reads back as the same tree and loads.

use super::check::{rule_type, Type};
use super::parser::parse;
use super::*;
use crate::prometheus::config::{Rule, RuleFile, RuleGroup};
use crate::prometheus::promtool::{check_each, Check};

/// Parse and type-check only, as a rule would be.
fn check_rule_expr(expr: &str) -> Result<Type, PromqlError> {
    if expr.trim().is_empty() {
        return Err(PromqlError::Empty);
    }
    rule_type(&parse(expr)?)
}

/// Expressions Prometheus 2.42 parses as a rule's.
const ACCEPTED: &[&str] = &[
    "up",
    "up == 0",
    "up{job=\"x\"} < 1",
    "sum by (job, instance) (rate(http_requests_total[5m])) > 0",
    "sum(rate(x[5m:1m])) without (pod)",
    "a / on(job) group_left(team) b offset 5m",
    "absent(up{job=\"zinc\"}) and vector(1) > bool Inf",
    "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
    "label_join(up, \"a\", \",\", \"b\", \"c\")",
    "job:up:rate5m > 1e-3",
    "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
    "topk(3, count_values(\"v\", up))",
    "quantile(0.9, up) unless on() absent(up)",
    "up @ start()",
    "up offset -5m @ 100",
    "rate(up[1h30m])",
    "max_over_time(up[5m:30s] offset 1m)",
    "max_over_time(rate(up[5m])[30m:])",
    "-up",
    "- -1",
    "NaN",
    "0x1F * up",
    "-2 ^ 2",
    "2 ^ -1",
    // A sign after any binary operator (the old parser refused it after `*`, `/`, `%`,
    // `atan2`; Prometheus does not).
    "up * -up",
    "2 * -1 > bool 0",
    "up atan2 -up",
    "up % - - up / +up",
    "time() - process_start_time_seconds > 3600",
    "count without(a,b,) (up)",
    "up == bool 1",
    "1 > bool 2",
    "sum(up) or vector(0)",
    "{__name__=~\"up|down\", job=\"x\"}",
    "{job!=\"\"}",
    "{__name__=~\"up|down\"}",
    "up{a=~'x\\\\d+', b=`raw\\d`}",
    "round(up)",
    "round(up, 0.5)",
    "hour()",
    "scalar(up) * 2",
    "(up)",
    "max_over_time(((up + 1) * 2)[5m:1m] offset 1m) > 0",
    "# just\nup # comments",
];

#[test]
fn accepts_what_prometheus_parses() {
    for ok in ACCEPTED {
        assert!(
            check_rule_expr(ok).is_ok(),
            "{ok}: {:?}",
            check_rule_expr(ok)
        );
    }
}

#[test]
fn refuses_what_prometheus_refuses() {
    for bad in [
        "",
        "up up",
        "rate(up)",
        "-\"x\"",
        "sum(up[5m])",
        "(up)[5m]",
        "up offset 5m [5m]",
        "up[5m][5m]",
        "rate(up[5m])[5m]",
        "foo(up)",
        "1 > 2",
        "up and 1",
        "1 + on(a) up",
        "up + bool up",
        "up and on(a) group_left b",
        "up{a=\"\\d\"}",
        "up{a=~\"(\"}",
        "up{__name__=\"x\"}",
        "{a=~\".*\"}",
        "{a=~\"up|\"}",
        "{}",
        "up{a=\"x\",}}",
        "sum(up) by",
        "topk(up, 3)",
        "count_values(1, up)",
        "vector(up)",
        "clamp(up, 1)",
        "label_replace(up, 1, \"a\", \"b\", \"c\")",
        "5m",
        "up offset 5",
        "up offset -0m",
        "a / on(job)Z>group_left(team) b offset 5m",
        "up[0s]",
        "up[5m:1x]",
        "up @ end",
        "(1 + 2) offset 5m",
        "up +",
        "up ^",
        "up{a=\"x\" b=\"y\"}",
        "1.2.3",
        "on(a)",
        "a * on(x) group_left(x) b",
        "day_of_week(up, up)",
    ] {
        assert!(check_rule_expr(bad).is_err(), "{bad}");
    }
    // Prometheus parses these, but they could never be evaluated as a rule (a string, a
    // range vector) or read as intended (keywords as metric names): refused too.
    for odd in ["\"x\"", "up[5m]", "sum", "by"] {
        assert!(check_rule_expr(odd).is_err(), "{odd}");
    }
    let deep = format!("{}up{}", "(".repeat(500), ")".repeat(500));
    assert_eq!(check_rule_expr(&deep), Err(PromqlError::TooDeep));
}

/// Each nesting construct counts towards the limit, and the refusal names it.
#[test]
fn nesting_is_limited_and_the_refusal_names_the_limit() {
    let n = MAX_PROMQL_DEPTH;
    let shapes: [(&str, &str, &str); 6] = [
        ("(", "up", ")"),
        ("abs(", "up", ")"),
        ("sum(", "up", ")"),
        ("- ", "up", ""),
        ("2 ^ ", "2", ""),
        // Every precedence level between two parentheses: the most pending operators per
        // level. (`^ (` would be two levels: the `^` and the parenthesis.)
        ("up or up and up == bool up + up * up ^ up % (", "up", ")"),
    ];
    for (open, inner, close) in shapes {
        let at = |n: usize| format!("{}{inner}{}", open.repeat(n), close.repeat(n));
        assert!(
            check_rule_expr(&at(n)).is_ok(),
            "{open} × {n}: {:?}",
            check_rule_expr(&at(n))
        );
        // Scoping, printing and reading back walk the same depth, on a test's small stack.
        assert!(scope_rule_expr(&at(n), &zinc()).is_ok(), "{open} × {n}");
        assert_eq!(
            check_rule_expr(&at(n + 1)),
            Err(PromqlError::TooDeep),
            "{open}"
        );
    }
    assert!(PromqlError::TooDeep
        .to_string()
        .contains(&MAX_PROMQL_DEPTH.to_string()));
}

/// Expressions just under the size limit in the shapes that cost a naive parser
/// quadratic time or deep recursion: each is answered.
#[test]
fn hostile_shapes_at_the_size_limit_are_answered() {
    let fill = |unit: &str, open: &str, close: &str| {
        let n = (MAX_EXPR_BYTES - open.len() - close.len()) / unit.len();
        format!("{open}{}{close}", unit.repeat(n))
    };
    for deep in [
        fill("(", "", ""),
        fill("{", "", ""),
        fill("[", "up", ""),
        fill("-", "", "1"),
        fill("2^", "", "2"),
        fill("abs(", "", ""),
    ] {
        assert!(check_rule_expr(&deep).is_err());
    }
    for flat in [
        fill(" + up", "up", ""),
        fill(" or up", "up", ""),
        fill(" * 2 + 1", "up", ""),
        fill(",a=\"b\"", "up{c=\"d\"", "}"),
        fill(", a", "up * on(b", ") group_left(c) up"),
        fill(", a", "sum by (b", ") (up)"),
        fill("up[5m:1m]", "", ""),
        fill(" ", "up", ""),
        fill("# c\n", "", "up"),
    ] {
        let _ = check_rule_expr(&flat);
    }
    assert_eq!(check_rule_expr(&fill(" + up", "up", "")), Ok(Type::Vector));
    assert_eq!(
        check_rule_expr(&"u".repeat(MAX_EXPR_BYTES + 1)),
        Err(PromqlError::TooLong)
    );
}

#[test]
fn string_literals_follow_go_quoting() {
    let string_value = |literal: &str| match parse(literal) {
        Ok(ast::Expr::Str(s)) => Ok(s.value),
        other => Err(format!("{other:?}")),
    };
    assert_eq!(string_value(r#""a\"b\n\\""#), Ok("a\"b\n\\".to_string()));
    assert_eq!(
        string_value(r"'it\'s \x41\u00e9\101'"),
        Ok("it's AéA".to_string())
    );
    assert_eq!(string_value(r"`raw\d`"), Ok(r"raw\d".to_string()));
    assert!(string_value(r#""\d""#).is_err());
    assert!(string_value(r#""\x4""#).is_err());
    assert!(string_value(r#""\400""#).is_err());
}

fn zinc() -> Vec<(String, String)> {
    vec![
        ("juju_model".into(), "cos".into()),
        ("juju_application".into(), "zinc".into()),
    ]
}

fn inject(expr: &str) -> String {
    scope_rule_expr(expr, &zinc()).unwrap()
}

#[test]
fn bare_metric_gets_a_selector() {
    assert_eq!(
        inject("up < 1"),
        r#"up{juju_model="cos",juju_application="zinc"} < 1"#
    );
}

#[test]
fn existing_selector_is_extended_without_duplicates() {
    assert_eq!(
        inject(r#"up{juju_application="zinc",job="x"} == 0"#),
        r#"up{juju_model="cos",juju_application="zinc",job="x"} == 0"#
    );
    assert_eq!(
        inject("up{}"),
        r#"up{juju_model="cos",juju_application="zinc"}"#
    );
    assert_eq!(
        inject(r#"{__name__=~"up|down"}"#),
        r#"{juju_model="cos",juju_application="zinc",__name__=~"up|down"}"#
    );
}

#[test]
fn functions_aggregations_and_grouping_are_left_alone() {
    assert_eq!(
        inject("sum by (job, instance) (rate(http_requests_total[5m])) > 0"),
        r#"sum by (job, instance) (rate(http_requests_total{juju_model="cos",juju_application="zinc"}[5m])) > 0"#
    );
    assert_eq!(
        inject("sum(rate(x[5m:1m])) without (pod)"),
        r#"sum(rate(x{juju_model="cos",juju_application="zinc"}[5m:1m])) without (pod)"#
    );
    assert_eq!(
        inject("a / on(job) group_left(team) b offset 5m"),
        r#"a{juju_model="cos",juju_application="zinc"} / on(job) group_left(team) b{juju_model="cos",juju_application="zinc"} offset 5m"#
    );
    assert_eq!(
        inject(r#"absent(up{job="zinc"}) AND vector(1) > bool Inf"#),
        r#"absent(up{juju_model="cos",juju_application="zinc",job="zinc"}) AND vector(1) > bool Inf"#
    );
    assert_eq!(
        inject(r#"label_replace(up, "a", "$1", "b", "(.*)")"#),
        r#"label_replace(up{juju_model="cos",juju_application="zinc"}, "a", "$1", "b", "(.*)")"#
    );
    assert_eq!(
        inject("job:up:rate5m > 1e-3 # comment up"),
        r#"job:up:rate5m{juju_model="cos",juju_application="zinc"} > 1e-3 # comment up"#
    );
}

#[test]
fn values_are_quoted() {
    let out = scope_rule_expr("up", &[("a".into(), "x\"y\\".into())]).unwrap();
    assert_eq!(out, r#"up{a="x\"y\\"}"#);
}

#[test]
fn malformed_expressions_are_refused() {
    for bad in [
        "",
        "  ",
        "up{",
        "up)",
        "(up",
        "up{job=}",
        r#"up{job="x""#,
        "up{job=\"x\" job=\"y\"}",
        "up; drop",
        "up $x",
        "rate(up[5m)",
        "sum by (a b\"c\") (up)",
        "up ! 1",
    ] {
        assert!(scope_rule_expr(bad, &zinc()).is_err(), "{bad:?}");
    }
    assert_eq!(
        scope_rule_expr(&"u".repeat(MAX_EXPR_BYTES + 1), &zinc()),
        Err(PromqlError::TooLong)
    );
}

/// The scoped expression, matchers added, must fit the same limit as what was sent.
#[test]
fn rewrites_of_many_selectors_are_bounded() {
    let many = |n: usize| format!("a{}", " + a".repeat(n));
    let fits = inject(&many(100));
    assert_eq!(fits.matches("juju_application").count(), 101);
    // 16,383 bare selectors: the input fits, its scoped form would not.
    let n = (MAX_EXPR_BYTES - 1) / 4;
    let err = scope_rule_expr(&many(n), &zinc()).unwrap_err();
    assert_eq!(err, PromqlError::ScopedTooLong);
    assert!(err.to_string().contains(&MAX_EXPR_BYTES.to_string()));
    assert_eq!(
        scope_rule_expr(&many(n), &[]).map(|s| s.len()),
        Ok(many(n).len())
    );
    // Layout is kept as written: nothing added, nothing changed.
    let compact = format!("a{}", "+a".repeat(MAX_EXPR_BYTES / 2 - 1));
    assert_eq!(scope_rule_expr(&compact, &[]), Ok(compact.clone()));
}

/// Printing keeps every token's meaning and drops only layout: it reads back as the same
/// tree, and printing that gives the same text again.
#[test]
fn printing_reads_back_as_the_same_tree() {
    for expr in ACCEPTED {
        let tree = parse(expr).unwrap();
        let printed = tree.to_string();
        let reread = parse(&printed).unwrap_or_else(|e| panic!("{expr} → {printed}: {e}"));
        assert_eq!(reread, tree, "{expr} → {printed}");
        assert_eq!(reread.to_string(), printed, "{expr}");
        assert_eq!(
            check_rule_expr(&printed),
            check_rule_expr(expr),
            "{printed}"
        );
    }
}

#[test]
fn printing_normalises_layout_only() {
    for (expr, printed) in [
        ("sum(x) without(a,b,)", "sum without (a, b) (x)"),
        ("SUM BY(a) (x)", "sum by (a) (x)"),
        ("a  AND\n b # why", "a and b"),
        ("a*on(b)group_left c", "a * on (b) group_left c"),
        ("a*on(b)group_left(c)(d)", "a * on (b) group_left (c) (d)"),
        ("a*on(b)group_left()(d)", "a * on (b) group_left () (d)"),
        ("a == BOOL ignoring(b) c", "a == bool ignoring (b) c"),
        ("- -1", "--1"),
        ("-a ^ -b ^ c", "-a ^ -b ^ c"),
        ("(a - b) - (c)", "(a - b) - (c)"),
        ("x[ 5m : ]", "x[5m:]"),
        ("x @ 10 offset -1h30m", "x offset -1h30m @ 10"),
        (
            "rate(x[5m:1m] OFFSET 1m @ end())",
            "rate(x[5m:1m] offset 1m @ end())",
        ),
        ("topk(3,x)", "topk(3, x)"),
        ("x{a='b',c=`d`}", "x{a='b',c=`d`}"),
        ("0x1F*Inf+.5", "0x1F * Inf + .5"),
    ] {
        assert_eq!(
            parse(expr).map(|t| t.to_string()),
            Ok(printed.to_string()),
            "{expr}"
        );
    }
}

/// What the front-end makes of every accepted expression, scoped and not, is loaded by
/// Prometheus (one promtool run).
#[test]
fn scoped_expressions_are_loaded_by_promtool() {
    let mut rules = Vec::new();
    for expr in ACCEPTED {
        for matchers in [zinc(), vec![]] {
            rules.push(Rule {
                record: Some(format!("r{}", rules.len())),
                expr: scope_rule_expr(expr, &matchers).unwrap(),
                ..Rule::default()
            });
        }
    }
    let file = RuleFile {
        groups: vec![RuleGroup {
            name: "scoped".into(),
            interval: None,
            limit: None,
            rules,
        }],
    };
    let yaml = crate::yaml::to_string(&file).unwrap();
    let verdicts = check_each(Check::Rules, std::slice::from_ref(&yaml)).unwrap();
    assert_eq!(verdicts, vec![Ok(())], "{yaml}");
}
