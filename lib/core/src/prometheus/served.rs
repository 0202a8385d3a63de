//! Does the configuration Prometheus serves (`/api/v1/status/config`) match the one the charm
//! rendered? Pure.
//!
//! Prometheus prints what it loaded, not the file: every default filled in (per-job scrape
//! intervals, `honor_timestamps`, relabel `separator`, remote-write queues...), durations
//! normalised (`90s` → `1m30s`), secrets as `<secret>`, rule files as absolute paths, and
//! external labels expanded (`${POD_NAME}` → the pod's name, `$$` → `$`). So the rendered
//! document must be *contained* in the served one: every value the charm wrote is there and
//! equal in Prometheus's terms. Containment alone would miss removals, so lists the charm
//! left out must be empty in the served document too (a removed Alertmanager, scrape job or
//! rule file), and label maps must have the same names on both sides.

use std::fmt;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::prometheus::config::PrometheusConfig;
use crate::syntax::Duration;
use crate::yaml::YamlError;

/// What Prometheus shows instead of a secret.
pub const SECRET: &str = "<secret>";

/// The keys of our typed config whose values Prometheus keeps secret (`config.Secret`):
/// a difference there never shows what we rendered.
const SECRET_KEYS: [&str; 2] = ["password", "credentials"];

/// Keys whose values are Prometheus durations (compared by length, not by spelling).
const DURATION_KEYS: [&str; 12] = [
    "scrape_interval",
    "scrape_timeout",
    "evaluation_interval",
    "timeout",
    "remote_timeout",
    "refresh_interval",
    "batch_send_deadline",
    "min_backoff",
    "max_backoff",
    "send_interval",
    "for",
    "keep_firing_for",
];

/// Maps whose names are data (labels, URL parameters): the served one may not have more.
const EXACT_MAPS: [&str; 3] = ["external_labels", "labels", "params"];

/// The lists of prometheus.yml that the charm writes (config.rs), left out when empty.
const COLLECTIONS: [&str; 16] = [
    "rule_files",
    "file_sd_configs",
    "files",
    "alertmanagers",
    "alert_relabel_configs",
    "scrape_configs",
    "remote_write",
    "static_configs",
    "targets",
    "relabel_configs",
    "metric_relabel_configs",
    "write_relabel_configs",
    "kubernetes_sd_configs",
    "selectors",
    "names",
    "source_labels",
];

/// Sections the charm may leave out whole that hold such lists or maps.
const SECTIONS: [&str; 3] = ["global", "alerting", "namespaces"];

/// Where the served configuration first differs from the rendered one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `scrape_configs[1].static_configs[0].targets`
    pub path: String,
    pub rendered: String,
    pub served: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: rendered {}, served {}",
            self.path, self.rendered, self.served
        )
    }
}

#[derive(Debug, Error)]
pub enum ServedError {
    #[error("the served configuration is not YAML: {0}")]
    Yaml(#[from] YamlError),
    #[error("the rendered configuration does not convert: {0}")]
    Rendered(#[from] serde_json::Error),
}

/// `None` when Prometheus serves what was rendered, else the first difference.
pub fn difference(
    rendered: &PrometheusConfig,
    served_yaml: &str,
) -> Result<Option<Difference>, ServedError> {
    let served: Value = crate::yaml::from_str(served_yaml)?;
    let rendered = serde_json::to_value(rendered)?;
    let mut path = Vec::new();
    Ok(contained(&rendered, &served, &mut path).err())
}

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

fn show_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(k) if out.is_empty() => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        out.push_str("(top)");
    }
    out
}

fn last_key(path: &[Segment]) -> Option<&str> {
    path.iter().rev().find_map(|s| match s {
        Segment::Key(k) => Some(k.as_str()),
        Segment::Index(_) => None,
    })
}

fn differs(path: &[Segment], rendered: String, served: String) -> Result<(), Difference> {
    // The difference ends up in the unit's status: a secret we render stays unsaid.
    let secret = last_key(path).is_some_and(|k| SECRET_KEYS.contains(&k));
    Err(Difference {
        path: show_path(path),
        rendered: if secret && rendered != "nothing" {
            SECRET.to_string()
        } else {
            rendered
        },
        served,
    })
}

/// Longest value shown in a difference.
const SHOWN: usize = 60;

/// A short rendering of a value for a message.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::String(s) if s.chars().count() > SHOWN => {
            format!("{}…", s.chars().take(SHOWN).collect::<String>())
        }
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("{} item(s)", items.len()),
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            format!("{{{}}}", keys.join(", "))
        }
        other => other.to_string(),
    }
}

/// A value Prometheus leaves out of what it prints (its fields are `omitempty`).
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
    }
}

/// A rendered value that asks for Prometheus's default, whichever it prints.
fn is_default(value: &Value) -> bool {
    matches!(value, Value::Null) || value.as_str() == Some("")
}

fn contained(rendered: &Value, served: &Value, path: &mut Vec<Segment>) -> Result<(), Difference> {
    match (rendered, served) {
        (Value::Object(r), Value::Object(s)) => objects(r, s, path),
        (Value::Array(r), Value::Array(s)) => {
            if r.len() != s.len() {
                return differs(
                    path,
                    format!("{} item(s)", r.len()),
                    format!("{} item(s)", s.len()),
                );
            }
            for (i, (r, s)) in r.iter().zip(s).enumerate() {
                path.push(Segment::Index(i));
                contained(r, s, path)?;
                path.pop();
            }
            Ok(())
        }
        (r, _) if is_default(r) => Ok(()),
        (r, s) if scalar_matches(path, r, s) => Ok(()),
        (r, s) => differs(path, show(r), show(s)),
    }
}

fn objects(
    rendered: &Map<String, Value>,
    served: &Map<String, Value>,
    path: &mut Vec<Segment>,
) -> Result<(), Difference> {
    if last_key(path).is_some_and(|k| EXACT_MAPS.contains(&k)) {
        if let Some(extra) = served.keys().find(|k| !rendered.contains_key(*k)) {
            path.push(Segment::Key(extra.clone()));
            let served_value = served.get(extra).map(show).unwrap_or_default();
            return differs(path, "nothing".into(), served_value);
        }
    }
    for (key, r) in rendered {
        path.push(Segment::Key(key.clone()));
        match served.get(key) {
            Some(s) => contained(r, s, path)?,
            None if is_empty(r) => {}
            None => return differs(path, show(r), "nothing".into()),
        }
        path.pop();
    }
    // What the charm leaves out must not be there: lists it would have written (jobs,
    // targets, Alertmanagers, rule files) and label maps.
    for (key, s) in served {
        if rendered.contains_key(key) {
            continue;
        }
        path.push(Segment::Key(key.clone()));
        absent(s, path)?;
        path.pop();
    }
    Ok(())
}

/// A served value under `path` that the charm did not render. Lists the charm writes (when
/// it has items) must be empty and label maps too; sections holding them are looked into;
/// everything else is Prometheus's own default (a remote write's `queue_config`, the
/// `scrape_protocols` of newer versions) and not the charm's business.
fn absent(served: &Value, path: &mut Vec<Segment>) -> Result<(), Difference> {
    let key = last_key(path).unwrap_or_default();
    match served {
        Value::Array(items) if !items.is_empty() && COLLECTIONS.contains(&key) => {
            differs(path, "nothing".into(), format!("{} item(s)", items.len()))
        }
        Value::Object(map) if !map.is_empty() && EXACT_MAPS.contains(&key) => {
            differs(path, "nothing".into(), show(served))
        }
        Value::Object(map) if SECTIONS.contains(&key) => {
            for (key, value) in map {
                path.push(Segment::Key(key.clone()));
                absent(value, path)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn scalar_matches(path: &[Segment], rendered: &Value, served: &Value) -> bool {
    let (Some(r), Some(s)) = (scalar_text(rendered), scalar_text(served)) else {
        return false;
    };
    if r == s {
        return true;
    }
    if s == SECRET && matches!(rendered, Value::String(_)) {
        return true;
    }
    let key = last_key(path);
    if key.is_some_and(|k| DURATION_KEYS.contains(&k)) {
        if let (Ok(r), Ok(s)) = (Duration::parse(&r), Duration::parse(&s)) {
            return r.millis() == s.millis();
        }
    }
    match path.first() {
        // Prometheus resolves rule files against the directory of prometheus.yml.
        Some(Segment::Key(k)) if k == "rule_files" => {
            !r.starts_with('/') && s.ends_with(&format!("/{r}"))
        }
        // So are file_sd files, cleaned (`../prometheus-targets/t0/p00.json` is served as
        // `/etc/prometheus-targets/t0/p00.json`).
        _ if is_file_sd_file(path) => {
            let tail = r.trim_start_matches("../");
            !r.starts_with('/') && tail.len() < r.len() && s.ends_with(&format!("/{tail}"))
        }
        Some(Segment::Key(k)) if k == "global" && path.len() == 3 => expands_to(&r, &s),
        _ => false,
    }
}

/// `…file_sd_configs[i].files[j]`.
fn is_file_sd_file(path: &[Segment]) -> bool {
    matches!(
        path,
        [.., Segment::Key(k), Segment::Index(_)] if k == "files"
    )
}

#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// An environment variable: it may expand to anything.
    Variable,
}

/// Splits an external label value as `--enable-feature=expand-external-labels` reads it
/// (Go's `os.Expand`, with `$$` meaning a literal `$`).
fn expansion_pieces(value: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            text.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                text.push('$');
            }
            Some('{') => {
                chars.next();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Variable);
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    chars.next();
                }
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Variable);
            }
            _ => text.push('$'),
        }
    }
    pieces.push(Piece::Text(text));
    pieces
}

/// Whether `served` is what `rendered` can expand to, whatever the variables hold: the text
/// before the first variable starts it, the text after the last ends it, and the texts
/// between are found in order, each as early as it can be (a variable takes any text, so
/// the earliest place never rules out a match). Linear in the served value, however many
/// variables the label holds: trying every split would take exponential time.
fn expands_to(rendered: &str, served: &str) -> bool {
    let texts: Vec<String> = expansion_pieces(rendered)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Text(text) => Some(text),
            Piece::Variable => None,
        })
        .collect();
    let Some((first, rest)) = texts.split_first() else {
        return served.is_empty();
    };
    let Some((last, middle)) = rest.split_last() else {
        return served == first;
    };
    let Some(between) = served
        .strip_prefix(first.as_str())
        .and_then(|tail| tail.strip_suffix(last.as_str()))
    else {
        return false;
    };
    let mut between = between;
    for text in middle {
        match between.find(text.as_str()) {
            Some(at) => between = &between[at + text.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// prometheus.yml as the charm rendered it under juju-sim (an Alertmanager and a scrape
    /// target related), and what Prometheus 2.42 served after loading it with POD_NAME set.
    const RENDERED_RELATIONS: &str = include_str!("fixtures/rendered-relations.yml");
    const SERVED_RELATIONS: &str = include_str!("fixtures/served-relations.yml");
    /// Secrets, non-canonical durations, `$$`, quoted label names, parameters, TLS, remote
    /// write, and what Prometheus 2.42 served for it.
    const RENDERED_SECRETS: &str = include_str!("fixtures/rendered-secrets.yml");
    const SERVED_SECRETS: &str = include_str!("fixtures/served-secrets.yml");

    fn parse(text: &str) -> PrometheusConfig {
        crate::yaml::from_str(text).unwrap()
    }

    #[test]
    fn real_served_configs_match_what_was_rendered() {
        for (rendered, served) in [
            (RENDERED_RELATIONS, SERVED_RELATIONS),
            (RENDERED_SECRETS, SERVED_SECRETS),
        ] {
            assert_eq!(difference(&parse(rendered), served).unwrap(), None);
        }
    }

    #[test]
    fn a_changed_interval_is_found() {
        let mut rendered = parse(RENDERED_RELATIONS);
        rendered.global.scrape_interval = Some("30s".into());
        assert_eq!(
            difference(&rendered, SERVED_RELATIONS).unwrap(),
            Some(Difference {
                path: "global.scrape_interval".into(),
                rendered: "30s".into(),
                served: "1m".into(),
            })
        );
        // The same length spelled another way is no difference.
        rendered.global.scrape_interval = Some("60s".into());
        assert_eq!(difference(&rendered, SERVED_RELATIONS).unwrap(), None);
    }

    #[test]
    fn an_added_job_or_target_is_found() {
        let mut rendered = parse(RENDERED_RELATIONS);
        let mut job = rendered.scrape_configs[1].clone();
        job.job_name = "another".into();
        rendered.scrape_configs.push(job);
        let d = difference(&rendered, SERVED_RELATIONS).unwrap().unwrap();
        assert_eq!(
            d.to_string(),
            "scrape_configs: rendered 3 item(s), served 2 item(s)"
        );

        let mut rendered = parse(RENDERED_RELATIONS);
        rendered.scrape_configs[1].static_configs[0]
            .targets
            .push("10.1.3.11:4080".into());
        let d = difference(&rendered, SERVED_RELATIONS).unwrap().unwrap();
        assert_eq!(d.path, "scrape_configs[1].static_configs[0].targets");
    }

    #[test]
    fn removed_alertmanagers_and_rule_files_are_found() {
        let mut rendered = parse(RENDERED_RELATIONS);
        rendered.alerting = None;
        let d = difference(&rendered, SERVED_RELATIONS).unwrap().unwrap();
        assert_eq!(d.path, "alerting.alertmanagers");
        assert_eq!(d.served, "1 item(s)");

        let mut rendered = parse(RENDERED_RELATIONS);
        rendered.rule_files.clear();
        let d = difference(&rendered, SERVED_RELATIONS).unwrap().unwrap();
        assert_eq!(d.path, "rule_files");
    }

    #[test]
    fn rule_files_match_by_their_place_next_to_prometheus_yml() {
        let mut rendered = parse(RENDERED_RELATIONS);
        rendered.rule_files = vec!["scrape-target.rules".into()];
        let d = difference(&rendered, SERVED_RELATIONS).unwrap().unwrap();
        assert_eq!(d.path, "rule_files[0]");
    }

    #[test]
    fn file_sd_files_match_by_their_place_beside_prometheus_yml() {
        let job = |files: &str| {
            format!(
                "global:\n  scrape_interval: 1m\nscrape_configs:\n- job_name: p\n  \
                 file_sd_configs:\n  - files:\n    - {files}\n"
            )
        };
        let rendered = parse(&job("../prometheus-targets/t0/p00.json"));
        let served = job("/etc/prometheus-targets/t0/p00.json");
        assert_eq!(difference(&rendered, &served).unwrap(), None);
        let elsewhere = job("/etc/prometheus-targets/t1/p00.json");
        let d = difference(&rendered, &elsewhere).unwrap().unwrap();
        assert_eq!(d.path, "scrape_configs[0].file_sd_configs[0].files[0]");
    }

    #[test]
    fn labels_must_match_by_name() {
        let mut rendered = parse(RENDERED_SECRETS);
        rendered.global.external_labels.remove("zone");
        let d = difference(&rendered, SERVED_SECRETS).unwrap().unwrap();
        assert_eq!(
            d.to_string(),
            "global.external_labels.zone: rendered nothing, served 7"
        );

        let mut rendered = parse(RENDERED_RELATIONS);
        rendered.scrape_configs[1].static_configs[0].labels.clear();
        let d = difference(&rendered, SERVED_RELATIONS).unwrap().unwrap();
        assert_eq!(d.path, "scrape_configs[1].static_configs[0].labels");

        let mut rendered = parse(RENDERED_SECRETS);
        rendered
            .global
            .external_labels
            .insert("cost".into(), "$$6 a month".into());
        let d = difference(&rendered, SERVED_SECRETS).unwrap().unwrap();
        assert_eq!(d.path, "global.external_labels.cost");
    }

    #[test]
    fn secrets_are_taken_on_trust_but_usernames_are_not() {
        let mut rendered = parse(RENDERED_SECRETS);
        if let Some(auth) = &mut rendered.scrape_configs[1].basic_auth {
            auth.password = Some("changed".into());
        }
        assert_eq!(difference(&rendered, SERVED_SECRETS).unwrap(), None);
        if let Some(auth) = &mut rendered.scrape_configs[1].basic_auth {
            auth.username = Some("alice".into());
        }
        let d = difference(&rendered, SERVED_SECRETS).unwrap().unwrap();
        assert_eq!(d.path, "scrape_configs[1].basic_auth.username");
    }

    #[test]
    fn a_secret_prometheus_does_not_serve_yet_is_not_shown() {
        let mut rendered = parse(RENDERED_RELATIONS);
        rendered.scrape_configs[1].basic_auth = Some(crate::prometheus::config::BasicAuth {
            username: Some("bob".into()),
            password: Some("s3cr3t-pw".into()),
            password_file: None,
        });
        let served = SERVED_RELATIONS.replacen(
            "job_name: ",
            "basic_auth:\n    username: bob\n  job_name: ",
            2,
        );
        let d = difference(&rendered, &served).unwrap().unwrap();
        assert!(!d.to_string().contains("s3cr3t"), "{d}");
    }

    #[test]
    fn zeros_and_empty_values_match_what_prometheus_leaves_out_or_fills_in() {
        let mut rendered = parse(RENDERED_RELATIONS);
        rendered.scrape_configs[1].sample_limit = Some(0);
        rendered.scrape_configs[1].scheme = Some(String::new());
        assert_eq!(difference(&rendered, SERVED_RELATIONS).unwrap(), None);
        rendered.scrape_configs[1].sample_limit = Some(10);
        let d = difference(&rendered, SERVED_RELATIONS).unwrap().unwrap();
        assert_eq!(
            d.to_string(),
            "scrape_configs[1].sample_limit: rendered 10, served nothing"
        );
        rendered.scrape_configs[1].sample_limit = None;
        rendered.scrape_configs[1].scheme = Some("https".into());
        let d = difference(&rendered, SERVED_RELATIONS).unwrap().unwrap();
        assert_eq!(
            d.to_string(),
            "scrape_configs[1].scheme: rendered https, served http"
        );
    }

    /// Newer Prometheus versions print more defaults, lists among them.
    #[test]
    fn defaults_of_newer_versions_are_not_differences() {
        let served = SERVED_RELATIONS
            .replace(
                "  evaluation_interval: 1m\n",
                "  evaluation_interval: 1m\n  scrape_protocols:\n  - OpenMetricsText1.0.0\n  \
                 - PrometheusText0.0.4\n",
            )
            .replace("alerting:\n", "runtime:\n  gogc: 75\nalerting:\n")
            .replace(
                "  enable_http2: true\n  static_configs:",
                "  enable_http2: true\n  scrape_protocols:\n  - PrometheusText0.0.4\n  \
                 static_configs:",
            );
        assert!(served.contains("runtime:"), "{served}");
        assert_eq!(served.matches("scrape_protocols").count(), 2, "{served}");
        assert_eq!(
            difference(&parse(RENDERED_RELATIONS), &served).unwrap(),
            None
        );
    }

    /// Every list and label map the typed model can write is known to the removal check.
    #[test]
    fn every_collection_of_the_model_is_known() {
        use crate::prometheus::config::*;
        use std::collections::BTreeMap;
        let relabel = RelabelConfig {
            source_labels: vec!["a".into()],
            ..RelabelConfig::default()
        };
        let statics = vec![StaticConfig {
            targets: vec!["a:1".into()],
            labels: BTreeMap::from([("a".into(), "b".into())]),
        }];
        let sd = vec![KubernetesSdConfig {
            role: "pod".into(),
            namespaces: Some(Namespaces {
                own_namespace: true,
                names: vec!["a".into()],
            }),
            selectors: vec![Selector {
                role: "pod".into(),
                ..Selector::default()
            }],
            ..KubernetesSdConfig::default()
        }];
        let full = PrometheusConfig {
            global: GlobalConfig {
                external_labels: BTreeMap::from([("a".into(), "b".into())]),
                ..GlobalConfig::default()
            },
            rule_files: vec!["a.rules".into()],
            alerting: Some(AlertingConfig {
                alert_relabel_configs: vec![relabel.clone()],
                alertmanagers: vec![AlertmanagerConfig {
                    static_configs: statics.clone(),
                    kubernetes_sd_configs: sd.clone(),
                    relabel_configs: vec![relabel.clone()],
                    ..AlertmanagerConfig::default()
                }],
            }),
            scrape_configs: vec![ScrapeConfig {
                job_name: "a".into(),
                params: BTreeMap::from([("a".into(), vec!["b".into()])]),
                kubernetes_sd_configs: sd,
                static_configs: statics,
                file_sd_configs: vec![FileSdConfig {
                    files: vec!["a.json".into()],
                    ..FileSdConfig::default()
                }],
                relabel_configs: vec![relabel.clone()],
                metric_relabel_configs: vec![relabel.clone()],
                ..ScrapeConfig::default()
            }],
            remote_write: vec![RemoteWriteConfig {
                url: "http://a".into(),
                write_relabel_configs: vec![relabel],
                ..RemoteWriteConfig::default()
            }],
        };
        fn walk(value: &Value, key: &str, seen: &mut Vec<String>) -> bool {
            let mut holds = false;
            match value {
                Value::Array(items) => {
                    assert!(
                        COLLECTIONS.contains(&key),
                        "list {key} is not in COLLECTIONS"
                    );
                    seen.push(key.to_string());
                    for item in items {
                        walk(item, "", seen);
                    }
                    holds = true;
                }
                Value::Object(_) if EXACT_MAPS.contains(&key) => {
                    seen.push(key.to_string());
                    holds = true;
                }
                Value::Object(map) => {
                    for (k, v) in map {
                        holds |= walk(v, k, seen);
                    }
                    // A section holding lists must be looked into when left out.
                    assert!(
                        !holds
                            || key.is_empty()
                            || SECTIONS.contains(&key)
                            || key == "scrape_configs",
                        "section {key} is not in SECTIONS"
                    );
                }
                _ => {}
            }
            holds
        }
        let mut seen = Vec::new();
        walk(&serde_json::to_value(&full).unwrap(), "", &mut seen);
        for key in COLLECTIONS.iter().chain(&EXACT_MAPS) {
            assert!(seen.iter().any(|s| s == key), "{key} never seen");
        }
    }

    #[test]
    fn a_removed_remote_write_is_found() {
        let mut rendered = parse(RENDERED_SECRETS);
        rendered.remote_write.clear();
        let d = difference(&rendered, SERVED_SECRETS).unwrap().unwrap();
        assert_eq!(d.path, "remote_write");
    }

    #[test]
    fn served_text_that_is_not_yaml_is_an_error() {
        assert!(difference(&parse(RENDERED_RELATIONS), "global: [").is_err());
    }

    #[test]
    fn external_label_expansion() {
        assert!(expands_to("${POD_NAME}", "prometheus-0"));
        assert!(expands_to("${POD_NAME}", ""));
        assert!(expands_to("$$5 a month", "$5 a month"));
        assert!(expands_to("eu-$REGION-1", "eu-west-1"));
        assert!(!expands_to("eu-$REGION-1", "us-west-2"));
        assert!(!expands_to("$$5", "$$5"));
        assert!(expands_to("a$", "a$"));
        assert!(expands_to("${A}-${B}-x", "1-2-3-x"));
        assert!(!expands_to("${A}-${B}-x", "1-2-3-y"));
        assert!(!expands_to("a${A}a", "a"));
    }

    /// An old value served while the new one waits must not stall the hook.
    #[test]
    fn many_variables_against_a_long_mismatch_take_no_time() {
        let rendered = format!("{}!", "${V}-".repeat(40));
        let served = "-".repeat(4000);
        let started = std::time::Instant::now();
        assert!(!expands_to(&rendered, &served));
        assert!(expands_to(&rendered, &format!("{served}!")));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
