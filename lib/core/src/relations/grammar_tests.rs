//! The grammar of `crate::syntax`, end to end through the options and the relation entry
//! points, against the real promtool on GENERATED edge cases: the bound of every duration
//! unit, every numeric form, every escape form, regexes at RE2's limits. Each case is its
//! own file, and one promtool run checks a whole batch, so the verdicts are per case.
//!
//! What we accept, promtool must accept: always. What we refuse, promtool must refuse too,
//! except where the case says why we refuse more on purpose.

use serde_json::{json, Value};

use super::alert_rules;
use super::validate;
use crate::config::CharmConfig;
use crate::prometheus::config::RelabelConfig;
use crate::prometheus::promtool::{check_each, Check};
use crate::syntax::duration::MAX_MILLIS;
use crate::syntax::{number, quote, regex};

/// One generated case: what it is, the file promtool reads, our verdict, and whether our
/// refusal may be stricter than Prometheus (with the reason).
struct Case {
    what: String,
    file: String,
    ours: Result<(), String>,
    stricter_on_purpose: Option<&'static str>,
}

/// Runs promtool once over `cases` and fails on every disagreement, listing them all.
fn compare(check: Check, cases: &[Case]) {
    assert!(!cases.is_empty());
    let files: Vec<String> = cases.iter().map(|c| c.file.clone()).collect();
    let verdicts = check_each(check, &files).unwrap();
    let mut wrong = Vec::new();
    let mut stricter = 0;
    for (case, theirs) in cases.iter().zip(&verdicts) {
        match (&case.ours, theirs) {
            (Ok(()), Err(why)) => wrong.push(format!(
                "ACCEPTED BY US, REFUSED BY PROMTOOL: {}\n    {why}",
                case.what
            )),
            (Err(ours), Ok(())) if case.stricter_on_purpose.is_none() => wrong.push(format!(
                "refused by us, accepted by promtool: {}\n    ours: {ours}",
                case.what
            )),
            (Err(_), Ok(())) => stricter += 1,
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases disagree with promtool:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    // Both verdicts occur, and we accept some, or the batch proves little.
    let both_accept = cases
        .iter()
        .zip(&verdicts)
        .filter(|(c, v)| c.ours.is_ok() && v.is_ok())
        .count();
    let refused = verdicts.iter().filter(|v| v.is_err()).count();
    assert!(
        both_accept > 0 && refused > 0 && stricter < cases.len() / 2,
        "{both_accept} accepted by both, {refused} refused by promtool, {stricter} only by us, of {}",
        cases.len()
    );
}

/// A remote charm's `alert_rules` with one group, through our whole rule processing. What
/// promtool reads is the rule file we render when we accept it, and the remote JSON as it
/// came (JSON is YAML) when we refuse it.
fn rule_case(what: String, group: Value) -> Case {
    let raw = json!({ "groups": [group] }).to_string();
    let (ours, file) = match alert_rules::process(&raw, None) {
        Ok(p) if p.errors.is_empty() => match p.file.map(|f| crate::yaml::to_string(&f)) {
            Some(Ok(rendered)) => (Ok(()), rendered),
            _ => (Err("nothing rendered".to_string()), raw),
        },
        Ok(p) => (Err(p.errors.join("; ")), raw),
        Err(e) => (Err(e.to_string()), raw),
    };
    Case {
        what,
        file,
        ours,
        stricter_on_purpose: None,
    }
}

fn expr_case(what: &str, expr: &str) -> Case {
    rule_case(
        format!("{what}: {expr}"),
        json!({"name": "g", "rules": [{"record": "x", "expr": expr}]}),
    )
}

fn annotation_case(what: &str, template: &str) -> Case {
    rule_case(
        format!("{what}: {template}"),
        json!({"name": "g", "rules": [
            {"alert": "A", "expr": "up == 0", "annotations": {"summary": template}}
        ]}),
    )
}

/// Durations at and past the int64-nanosecond bound in every unit, zeros, and malformed ones.
fn durations() -> Vec<String> {
    let mut out = Vec::new();
    for (unit, ms) in crate::syntax::duration::UNITS {
        let most = MAX_MILLIS / ms;
        out.push(format!("{most}{unit}"));
        out.push(format!("{}{unit}", most + 1));
        out.push(format!("1{unit}"));
    }
    out.extend(
        [
            crate::syntax::duration::MAX_TEXT,
            "292y24w3d23h47m16s855ms",
            "292y24w3d23h47m17s",
            "292y24w4d",
            "292y25w",
            "291y52w",
            "1y1w1d1h1m1s1ms",
            "0",
            "0s",
            "0ms",
            "00y",
            "01s",
            "1",
            "1.5s",
            "-1s",
            "+1s",
            "1ms1s",
            "1h1h",
            "1Y",
            "1 s",
            "",
            "18446744073709551616ms",
            "99999999999999999999y",
        ]
        .map(String::from),
    );
    out
}

#[test]
fn durations_agree_with_promtool_in_rules_and_promql() {
    let mut cases = Vec::new();
    for d in durations() {
        cases.push(rule_case(
            format!("group interval {d:?}"),
            json!({"name": "g", "interval": d, "rules": [{"record": "x", "expr": "1"}]}),
        ));
        cases.push(rule_case(
            format!("alert for {d:?}"),
            json!({"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": d}]}),
        ));
        if !d.is_empty() && !d.contains(' ') {
            cases.push(expr_case("range", &format!("rate(up[{d}])")));
            cases.push(expr_case("offset", &format!("up offset {d}")));
            cases.push(expr_case("negative offset", &format!("up offset -{d}")));
            cases.push(expr_case("subquery", &format!("max_over_time(up[{d}:1m])")));
            cases.push(expr_case(
                "subquery step",
                &format!("max_over_time(up[5m:{d}])"),
            ));
        }
    }
    compare(Check::Rules, &cases);
}

/// The options path: `scrape-interval` and `evaluation-interval` as `CharmConfig` takes them,
/// against promtool on the global section they become.
#[test]
fn duration_options_agree_with_promtool() {
    let mut cases = Vec::new();
    for d in durations() {
        for (option, key) in [
            ("scrape-interval", "scrape_interval"),
            ("evaluation-interval", "evaluation_interval"),
        ] {
            let options = json!({option: d, "scrape-timeout": "1ms"});
            let ours = CharmConfig::parse(options.as_object().unwrap_or(&Default::default()))
                .map(|_| ())
                .map_err(|e| format!("{e:?}"));
            let zero = crate::syntax::duration::millis(&d) == Ok(0);
            cases.push(Case {
                what: format!("{option}={d:?}"),
                file: json!({"global": {key: d, "scrape_timeout": "1ms"}}).to_string(),
                ours,
                // Prometheus reads 0 as "the default"; an option of 0 is a mistake.
                stricter_on_purpose: zero.then_some("zero means the default to Prometheus"),
            });
        }
    }
    compare(Check::Config, &cases);
}

#[test]
fn numbers_agree_with_promtool() {
    let mut cases = Vec::new();
    let literals = [
        "0",
        "1",
        "010",
        "08",
        "09",
        ".5",
        "5.",
        "1.e5",
        "1E5",
        "1e-5",
        "1e+5",
        "1e308",
        "1e309",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "4.9e-324",
        "1e-400",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "99999999999999999999999999999",
        "0x7fffffffffffffff",
        "0x8000000000000000",
        "0xffffffffffffffff",
        "0x10000000000000000",
        "0x0",
        "0X1F",
        "0x",
        "0x1.8",
        "0x1p3",
        "0b1",
        "0o7",
        "1_000",
        "1e",
        "1.2.3",
        "Inf",
        "inf",
        "INF",
        "+Inf",
        "-Inf",
        "NaN",
        "nan",
        "-NaN",
        "Infinity",
    ];
    for n in literals {
        cases.push(expr_case("number", n));
        cases.push(expr_case(
            "number in a call",
            &format!("clamp_max(up, {n})"),
        ));
    }
    let max = i64::MAX;
    for t in [
        format!("{max}"),
        format!("{}", max / 1000),
        "9223372036854775".to_string(),
        "9223372036854776".to_string(),
        "9.223372036854775e18".to_string(),
        "9.223372036854776e18".to_string(),
        "-9.223372036854776e18".to_string(),
        "-9.2233720368547748e18".to_string(),
        "1e30".to_string(),
        "0x7fffffffffffffff".to_string(),
        "0".to_string(),
        "-1".to_string(),
    ] {
        cases.push(expr_case("@ timestamp", &format!("up @ {t}")));
    }
    for limit in [
        json!(0),
        json!(i64::MAX),
        json!(i64::MAX as u64 + 1),
        json!(u64::MAX),
    ] {
        cases.push(rule_case(
            format!("group limit {limit}"),
            json!({"name": "g", "limit": limit, "rules": [{"record": "x", "expr": "1"}]}),
        ));
    }
    let mut negative = rule_case(
        "group limit -1".into(),
        json!({"name": "g", "limit": -1, "rules": [{"record": "x", "expr": "1"}]}),
    );
    negative.stricter_on_purpose = Some("a negative limit means nothing useful");
    cases.push(negative);
    compare(Check::Rules, &cases);
}

/// `syntax::number::parse_float` against Go's own `strconv.ParseFloat`, seen through Go's
/// text/template, which reads a number that is not an integer and has a `.`, `e` or `p` in
/// it with ParseFloat. (Whether our template check agrees is `template`'s business.)
#[test]
fn go_parse_float_agrees_with_promtool() {
    let literals = [
        "1.5",
        "1_000.5",
        "1__000.5",
        "1_.5",
        "1._5",
        "1.5_",
        "1e1_0",
        "1e_10",
        "1.5e308",
        "1.8e308",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "-1.8e308",
        "1e-400",
        "4.9e-324",
        "0x1p3",
        "0x1.8p1",
        "0x_1p3",
        "0x1_p3",
        "0x1.fffffffffffffp1023",
        "0x1.fffffffffffff8p1023",
        "0x1p1024",
        "0x1p-2000",
        "0x.8p1",
        "0x1.8",
        "010.5",
        "0.e5",
        "1e+5",
        "1e-5",
        "1e99999",
        "1e",
        "1.5.",
    ];
    let mut cases: Vec<Case> = literals
        .iter()
        .map(|n| {
            let floatish = n.contains(['.', 'e', 'E', 'p', 'P']);
            let ours =
                if number::parse_int(n).is_ok() || (floatish && number::parse_float(n).is_ok()) {
                    Ok(())
                } else {
                    Err(format!("{:?}", number::parse_float(n)))
                };
            let template = format!("{{{{ {n} }}}}");
            Case {
                what: format!("ParseFloat {n}"),
                file: json!({"groups": [{"name": "g", "rules": [
                    {"alert": "A", "expr": "up == 0", "annotations": {"summary": template}}
                ]}]})
                .to_string(),
                ours,
                stricter_on_purpose: None,
            }
        })
        .collect();
    // And the same literals through our template check.
    for n in literals {
        let mut case = annotation_case("template number", &format!("{{{{ {n} }}}}"));
        if n.contains(['_', 'x']) {
            case.stricter_on_purpose = Some("the template check reads decimal numbers only");
        }
        cases.push(case);
    }
    compare(Check::Rules, &cases);
}

/// Every escape form in every kind of quote, in PromQL and in Go templates.
fn escapes() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in (b' '..=b'~').map(char::from) {
        out.push(format!("\\{c}"));
    }
    for e in [
        "\\x41",
        "\\x4",
        "\\x+4",
        "\\xg1",
        "\\xFF",
        "\\x7f",
        "\\x80",
        "\\u0041",
        "\\u+041",
        "\\u004",
        "\\uD7FF",
        "\\uD800",
        "\\uDFFF",
        "\\uE000",
        "\\uFFFF",
        "\\u00e9",
        "\\U00010000",
        "\\U0010FFFF",
        "\\U00110000",
        "\\U+0010000",
        "\\UFFFFFFFF",
        "\\101",
        "\\377",
        "\\400",
        "\\777",
        "\\000",
        "\\0",
        "\\00",
        "\\08",
        "\\18",
        "\\1",
        "\\\n",
        "\\\t",
        "\\é",
        "a\u{FFFD}b",
        "\\xc3\\xa9",
        "\\xc3",
        "plain",
        "",
    ] {
        out.push(e.to_string());
    }
    out
}

#[test]
fn escapes_agree_with_promtool() {
    let mut cases = Vec::new();
    for body in escapes() {
        for quote_char in ['"', '\'', '`'] {
            let literal = format!("{quote_char}{body}{quote_char}");
            let mut case = expr_case("matcher", &format!("up{{a={literal}}}"));
            // Bytes that are not UTF-8 make a label value Prometheus loads but mangles, and a
            // regex it refuses: refused in any matcher.
            if quote::unquote(&literal, quote::Dialect::Promql).is_ok()
                && quote::unquote_utf8(&literal, quote::Dialect::Promql).is_err()
            {
                case.stricter_on_purpose = Some("not UTF-8 once unescaped");
            }
            cases.push(case);
            cases.push(expr_case("regex matcher", &format!("up{{a=~{literal}}}")));
        }
        for quote_char in ['"', '`'] {
            let literal = format!("{quote_char}{body}{quote_char}");
            cases.push(annotation_case(
                "template string",
                &format!("{{{{ {literal} }}}}"),
            ));
        }
    }
    compare(Check::Rules, &cases);
}

/// Regexes at RE2's limits, as relabel rules (checked by `promtool check config`).
fn regex_cases() -> Vec<(String, Option<&'static str>)> {
    let mut out: Vec<(String, Option<&'static str>)> = Vec::new();
    let plain = |s: String| (s, None);
    for c in (b' '..=b'~').map(char::from) {
        out.push(plain(format!("\\{c}")));
        out.push(plain(format!("[\\{c}]")));
        out.push(plain(format!("a\\{c}1")));
    }
    for n in [0, 1, 2, 999, 1000, 1001, 100_000_000, 99_999_999] {
        out.push(plain(format!("a{{{n}}}")));
        out.push(plain(format!("a{{{n},}}")));
        out.push(plain(format!("a{{1,{n}}}")));
        out.push(plain(format!("a{{{n},2}}")));
    }
    for (outer, inner) in [
        (2, 500),
        (2, 501),
        (3, 333),
        (3, 334),
        (7, 142),
        (7, 143),
        (10, 100),
        (10, 101),
        (30, 33),
        (30, 34),
        (40, 30),
        (1000, 1),
        (1000, 2),
    ] {
        out.push(plain(format!("(a{{{inner}}}){{{outer}}}")));
        out.push(plain(format!("(a{{{inner},}}){{{outer}}}")));
        out.push(plain(format!("(a{{0,{inner}}}){{{outer}}}")));
        out.push(plain(format!("(?:b|a{{{inner}}}){{{outer},}}")));
        out.push(plain(format!("((a{{{inner}}}){{1}}){{{outer}}}")));
        out.push(plain(format!("((a{{{inner}}})*){{{outer}}}")));
        out.push(plain(format!("(a{{{inner}}}){{0}}{{{outer}}}")));
    }
    for (a, b, c) in [
        (10, 10, 10),
        (10, 10, 11),
        (2, 2, 250),
        (2, 2, 251),
        (5, 8, 25),
        (5, 8, 26),
    ] {
        out.push(plain(format!("((a{{{a}}}){{{b}}}){{{c}}}")));
        out.push(plain(format!("((x|a{{{a}}}){{{b}}}y){{{c}}}")));
    }
    for r in [
        "a{01}",
        "a{1,01}",
        "{01}",
        "a{,5}",
        "{2}",
        "a{2}{3}",
        "a**",
        "a*?",
        "a*??",
        "(?i)*",
        "(?P<n>a)",
        "(?P<n>a)(?P<n>b)",
        "(?<n>a)",
        "(?P<>a)",
        "(?i-s:a)",
        "(?i-)a",
        "(?-i)a",
        "(?U)a*",
        "\\pL",
        "\\p{Greek}",
        "\\p{Gree}",
        "\\pZ",
        "[[:word:]]",
        "[[:foo:]]",
        "[a-\\d]",
        "[z-a]",
        "\\x{10FFFF}",
        "\\x{110000}",
        "\\x{0000000041}",
        "\\x{}",
        "\\x{+41}",
        "\\x{-1}",
        "(",
        ")",
        "(()",
        "[]a]",
        "[^]a]",
        "[]",
        "x{",
        "x{1",
        "x{1,",
    ] {
        out.push(plain(r.to_string()));
    }
    // Lengths at and past our bound; RE2's program size, nesting and rune limits lie beyond.
    let max = regex::MAX_REGEX_BYTES;
    let too_long = Some("longer than our bound (RE2's own limits lie far beyond it)");
    let repeated = format!("({}){{1000}}", "a".repeat(max - 8));
    let deep = format!(
        "{}a{}",
        "(".repeat((max - 1) / 2),
        ")".repeat((max - 1) / 2)
    );
    let classes = "\\pL".repeat(max / 3);
    for worst in [repeated, deep, classes] {
        assert!(worst.len() <= max, "{}", worst.len());
        out.push(plain(worst));
    }
    out.push((format!("({}){{1000}}", "a".repeat(max)), too_long));
    out.push(("a".repeat(max + 1), too_long));
    out.push((format!("({}){{1000}}", "a".repeat(4000)), too_long));
    out.push((
        format!("{}a{}", "(".repeat(1100), ")".repeat(1100)),
        too_long,
    ));
    out
}

#[test]
fn regexes_agree_with_promtool() {
    let cases: Vec<Case> = regex_cases()
        .into_iter()
        .map(|(re, stricter)| {
            let mut rc = RelabelConfig {
                source_labels: vec!["a".into()],
                regex: Some(re.clone()),
                action: Some("keep".into()),
                ..RelabelConfig::default()
            };
            let ours = validate::relabel_config(&mut rc).map_err(|e| e.to_string());
            let file = json!({"scrape_configs": [{
                "job_name": "j",
                "static_configs": [{"targets": ["a:1"]}],
                "relabel_configs": [{"source_labels": ["a"], "regex": re, "action": "keep"}],
            }]})
            .to_string();
            let shown: String = re.chars().take(60).collect();
            Case {
                what: format!("regex {shown:?} ({} bytes)", re.len()),
                file,
                ours,
                stricter_on_purpose: stricter,
            }
        })
        .collect();
    compare(Check::Config, &cases);
}

/// URLs, as an operator types them (`remote-write-urls`) and as a remote charm sends them
/// (`HttpUrl`, which takes no credentials, query or fragment), against promtool reading them
/// as remote-write URLs.
/// Go's `net/url` takes ports 0 and 65536, an empty port, zones, odd host names; ours
/// take what Prometheus and a browser both read the same way (and relation data no
/// credentials, query or fragment). Only the other direction must hold.
const STRICT_URLS: &str = "URLs are deliberately stricter than Go's net/url";

#[test]
fn urls_agree_with_promtool() {
    let mut urls: Vec<String> = Vec::new();
    for port in [
        "",
        ":",
        ":0",
        ":1",
        ":80",
        ":65535",
        ":65536",
        ":+80",
        ":080",
        ":99999999",
    ] {
        for host in [
            "mimir",
            "10.0.0.1",
            "[::1]",
            "[fd00::1%25eth0]",
            "mimir.cos.svc",
            "_x",
        ] {
            urls.push(format!("http://{host}{port}/api/v1/push"));
        }
    }
    for url in [
        "https://thanos.example.com",
        "HTTP://mimir/x",
        "http://user:pass@mimir/x",
        "http://us%20er@mimir/x",
        "http://@mimir/x",
        "http://mimir/x?a=b#c",
        "http://mimir/a%41",
        "http://mimir/a%4",
        "http://mimir/a%zz",
        "http://mimir/#%zz",
        "http://mimir/a b",
        "http://mimir/../x",
        "http://fd00::1/x",
        "http://[zz]/x",
        "http:///x",
        "http://",
        "ftp://mimir/x",
        "mimir:9009/x",
        "http://-mimir/x",
        "http://mi mir/x",
        "http://mimir/é",
    ] {
        urls.push(url.to_string());
    }
    let mut cases = Vec::new();
    for url in &urls {
        let file = json!({"remote_write": [{"url": url}]}).to_string();
        let options = json!({ "remote-write-urls": url });
        cases.push(Case {
            what: format!("option remote-write-urls={url:?}"),
            file: file.clone(),
            ours: CharmConfig::parse(options.as_object().unwrap_or(&Default::default()))
                .map(|_| ())
                .map_err(|e| format!("{e:?}")),
            stricter_on_purpose: Some(STRICT_URLS),
        });
        cases.push(Case {
            what: format!("relation URL {url:?}"),
            file,
            ours: validate::HttpUrl::parse(url)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            stricter_on_purpose: Some(STRICT_URLS),
        });
    }
    compare(Check::Config, &cases);
}

/// Scrape job intervals and timeouts from relation data, through the whole plan: what we
/// render when we accept, the raw job when we refuse.
#[test]
fn scrape_job_durations_agree_with_promtool() {
    use super::test_support::app_relation;
    use super::{plan, RelationsInput, METRICS_ENDPOINT};
    use crate::prometheus::config::{GlobalConfig, PrometheusConfig};

    let global = GlobalConfig {
        scrape_interval: Some("1m".into()),
        scrape_timeout: Some("10s".into()),
        evaluation_interval: Some("1m".into()),
        external_labels: Default::default(),
    };
    let mut cases = Vec::new();
    for d in durations() {
        for key in ["scrape_interval", "scrape_timeout"] {
            let mut job = json!({"job_name": "app", "static_configs": [{"targets": ["*:8001"]}]});
            job[key] = json!(d);
            if key == "scrape_timeout" {
                job["scrape_interval"] = json!("292y");
            }
            let mut r = app_relation(1, "app", 1);
            r.remote_app_data
                .insert("scrape_jobs".into(), json!([job]).to_string());
            let p = plan(&RelationsInput {
                local: super::test_support::local(true),
                endpoints: [(METRICS_ENDPOINT.to_string(), vec![r])].into(),
                budget: None,
            });
            let (ours, file) = if p.warnings.is_empty() && !p.scrape_configs.is_empty() {
                let config = PrometheusConfig {
                    global: global.clone(),
                    scrape_configs: p.scrape_configs,
                    ..PrometheusConfig::default()
                };
                (Ok(()), crate::yaml::to_string(&config).unwrap_or_default())
            } else {
                job["static_configs"] = json!([{"targets": ["10.1.1.0:8001"]}]);
                let raw = json!({
                    "global": {"scrape_interval": "1m", "scrape_timeout": "10s"},
                    "scrape_configs": [job],
                });
                (Err(format!("{:?}", p.warnings)), raw.to_string())
            };
            cases.push(Case {
                what: format!("scrape job {key} {d:?}"),
                file,
                ours,
                stricter_on_purpose: None,
            });
        }
    }
    compare(Check::Config, &cases);
}

/// Label and metric names in every place a remote rule or an option puts them.
#[test]
fn names_agree_with_promtool() {
    let names = [
        "a", "_", "__x", "A9_z", "a:b", ":a", "a:", "1a", "a-b", "é", "a.b", "a b", "", "__name__",
        "le", "job", "ab\u{0}",
    ];
    let mut cases = Vec::new();
    for n in names {
        cases.push(rule_case(
            format!("record {n:?}"),
            json!({"name": "g", "rules": [{"record": n, "expr": "1"}]}),
        ));
        cases.push(rule_case(
            format!("rule label {n:?}"),
            json!({"name": "g", "rules": [{"alert": "A", "expr": "up", "labels": {n: "v"}}]}),
        ));
        cases.push(rule_case(
            format!("annotation {n:?}"),
            json!({"name": "g", "rules": [{"alert": "A", "expr": "up", "annotations": {n: "v"}}]}),
        ));
        if !n.contains([' ', '\u{0}']) && !n.is_empty() {
            cases.push(expr_case("metric", &format!("{n} > 0")));
            cases.push(expr_case("matcher label", &format!("up{{{n}=\"v\"}}")));
            cases.push(expr_case("grouping label", &format!("sum by ({n}) (up)")));
        }
    }
    compare(Check::Rules, &cases);
}
