//! Checks for values that arrive in relation data. Remote charms are not trusted: every value
//! that ends up in `prometheus.yml` or a rule file passes one of these first, because a single
//! value Prometheus refuses would stop the whole configuration from loading.

use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::prometheus::config::RelabelConfig;
use crate::syntax::url::UrlError;
pub(super) use crate::syntax::url::{host_port, port, split_host_port, url_path, HttpUrl};
use crate::syntax::{duration, is_label_name};

/// Largest relation value we read (one databag key).
pub(super) const MAX_VALUE_BYTES: usize = 1 << 20;
/// Scrape jobs one application may ask for (before expansion into per-unit jobs).
pub(super) const MAX_JOBS_PER_APP: usize = 100;
/// Jobs one relation may render after expansion into per-unit jobs.
pub(super) const MAX_RENDERED_JOBS_PER_RELATION: usize = 2000;
/// Targets one relation may render after expansion (wildcards times units).
pub(super) const MAX_RENDERED_TARGETS_PER_RELATION: usize = 20_000;
/// Alertmanager entries discovered through `alerting_config`, over all relations.
pub(super) const MAX_DISCOVERED_ALERTMANAGERS: usize = 100;
pub(super) const MAX_STATIC_CONFIGS_PER_JOB: usize = 100;
pub(super) const MAX_TARGETS_PER_STATIC_CONFIG: usize = 1000;
pub(super) const MAX_LABELS: usize = 64;
pub(super) const MAX_LABEL_VALUE_BYTES: usize = 4096;
pub(super) const MAX_RELABEL_CONFIGS: usize = 100;
pub(super) const MAX_UNITS_PER_RELATION: usize = 1000;
pub(super) const MAX_RULES_PER_APP: usize = 2000;
pub(super) const MAX_ALERTMANAGERS_PER_SOURCE: usize = 100;
/// Names, paths, URLs and other short strings.
pub(super) const MAX_SHORT_BYTES: usize = 1024;
/// Longest job name we render (Prometheus has no limit; humans reading `/targets` do).
pub(super) const MAX_JOB_NAME_BYTES: usize = 200;

/// Why a value from relation data was refused. Messages show at most a short, escaped
/// excerpt of the offending value, since it may be huge or hostile.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub(super) enum Refused {
    #[error("{key} is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        key: String,
        size: usize,
        max: usize,
    },
    #[error("{key} is not valid: {reason}")]
    Json { key: String, reason: String },
    #[error("{what} {shown}: {why}")]
    Invalid {
        what: &'static str,
        shown: String,
        why: String,
    },
    #[error("too many {what}: {count}, at most {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{0} is missing")]
    Missing(&'static str),
}

impl Refused {
    pub(super) fn invalid(what: &'static str, value: &str, why: impl Into<String>) -> Self {
        Refused::Invalid {
            what,
            shown: shown(value),
            why: why.into(),
        }
    }

    /// As [`Refused::invalid`] for a secret (a password, a token): its value is never shown.
    pub(super) fn invalid_secret(what: &'static str, why: impl Into<String>) -> Self {
        Refused::Invalid {
            what,
            shown: "(value not shown)".to_string(),
            why: why.into(),
        }
    }
}

impl From<UrlError> for Refused {
    fn from(e: UrlError) -> Self {
        Refused::invalid(e.what, &e.value, e.why)
    }
}

/// A short, escaped excerpt of `value` for messages.
pub(super) fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut excerpt: String = value.chars().take(MAX_CHARS).collect();
    if value.chars().nth(MAX_CHARS).is_some() {
        excerpt.push('…');
    }
    format!("{excerpt:?}")
}

fn clip(text: String) -> String {
    const MAX_CHARS: usize = 200;
    if text.chars().nth(MAX_CHARS).is_none() {
        return text;
    }
    let mut clipped: String = text.chars().take(MAX_CHARS).collect();
    clipped.push('…');
    clipped
}

/// Parses a JSON relation value into `T` after checking its size. Keys `T` does not model
/// are dropped by serde, which is how we refuse to pass on keys we did not allow.
pub(super) fn parse_json<T: DeserializeOwned>(key: &str, raw: &str) -> Result<T, Refused> {
    check_size(key, raw)?;
    serde_json::from_str(raw).map_err(|e| Refused::Json {
        key: key.to_string(),
        reason: json_reason(&e),
    })
}

/// Reads one already-parsed JSON value (a job, a rule) into `T`, refusing it as `key`
/// without quoting what it holds.
pub(super) fn from_json_value<T: DeserializeOwned>(
    key: &str,
    value: serde_json::Value,
) -> Result<T, Refused> {
    serde_json::from_value(value).map_err(|e| Refused::Json {
        key: key.to_string(),
        reason: json_reason(&e),
    })
}

/// serde_json's message without the values it quotes (`invalid type: string "user:s3cr3t",
/// expected …`): the value may be a password or a token. What was expected, and where, is
/// enough for the sender to find it.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // A value already parsed (`from_value`) has no place in the text.
    let place = if e.line() == 0 {
        String::new()
    } else {
        format!(" at line {} column {}", e.line(), e.column())
    };
    match e.classify() {
        serde_json::error::Category::Data => {
            let expected = text
                .split_once(", expected ")
                .map(|(_, rest)| rest.rsplit_once(" at line ").map_or(rest, |(e, _)| e))
                .map(|expected| format!(": expected {}", clip(expected.to_string())))
                .unwrap_or_default();
            // "missing field `x`" and "unknown variant" name only our own words.
            if text.starts_with("missing field") || text.starts_with("duplicate field") {
                return clip(text);
            }
            format!("a value of the wrong type{place}{expected}")
        }
        serde_json::error::Category::Syntax => format!("not JSON{place}"),
        serde_json::error::Category::Eof => format!("JSON cut short{place}"),
        serde_json::error::Category::Io => clip(text),
    }
}

pub(super) fn check_size(key: &str, raw: &str) -> Result<(), Refused> {
    if raw.len() > MAX_VALUE_BYTES {
        return Err(Refused::TooLarge {
            key: key.to_string(),
            size: raw.len(),
            max: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

pub(super) fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), Refused> {
    if count > max {
        return Err(Refused::TooMany { what, count, max });
    }
    Ok(())
}

pub(super) fn label_name(s: &str) -> Result<(), Refused> {
    if is_label_name(s) {
        Ok(())
    } else {
        Err(Refused::invalid(
            "label name",
            s,
            "not a Prometheus label name",
        ))
    }
}

/// Label values may be any text; we refuse control characters and oversized values.
pub(super) fn label_value(s: &str) -> Result<(), Refused> {
    if s.len() > MAX_LABEL_VALUE_BYTES {
        return Err(Refused::invalid(
            "label value",
            s,
            format!("longer than {MAX_LABEL_VALUE_BYTES} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Refused::invalid(
            "label value",
            s,
            "contains control characters",
        ));
    }
    Ok(())
}

/// A secret (basic_auth password, authorization credentials) that must be short and
/// printable; refused without showing it.
pub(super) fn secret_text(what: &'static str, s: &str) -> Result<(), Refused> {
    if s.len() > MAX_SHORT_BYTES {
        return Err(Refused::invalid_secret(
            what,
            format!("longer than {MAX_SHORT_BYTES} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Refused::invalid_secret(what, "contains control characters"));
    }
    Ok(())
}

/// Text that must be short and printable (names, separators, replacement strings).
pub(super) fn short_text(what: &'static str, s: &str) -> Result<(), Refused> {
    if s.len() > MAX_SHORT_BYTES {
        return Err(Refused::invalid(
            what,
            s,
            format!("longer than {MAX_SHORT_BYTES} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Refused::invalid(what, s, "contains control characters"));
    }
    Ok(())
}

/// A Prometheus duration (`syntax::duration`) in milliseconds, refused in relation terms.
pub(super) fn duration_ms(s: &str) -> Result<u64, Refused> {
    duration::millis(s).map_err(|e| Refused::invalid("duration", s, e.to_string()))
}

/// Job names are free text to Prometheus, but they end up in file names, URLs and logs:
/// keep a conservative alphabet and a bounded length.
pub(super) fn sanitize_job_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_JOB_NAME_BYTES)
        .collect()
}

/// A regex Go's RE2 compiles (`syntax::regex`), refused in relation terms; control
/// characters are refused too, as in every short relation string.
pub(super) fn regex(re: &str) -> Result<(), Refused> {
    if re.chars().any(char::is_control) {
        return Err(Refused::invalid("regex", re, "contains control characters"));
    }
    crate::syntax::regex::check(re).map_err(|e| Refused::invalid("regex", re, e.to_string()))
}

const RELABEL_ACTIONS: [&str; 11] = [
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
];

/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`: a label name that may use `$1` / `${name}`.
fn is_relabel_target(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        match b[i] {
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && word(b[j]) {
                        j += 1;
                    }
                    if j == start || b.get(j) != Some(&b'}') {
                        return false;
                    }
                    i = j + 1;
                } else {
                    let start = i;
                    while i < b.len() && word(b[i]) {
                        i += 1;
                    }
                    if i == start {
                        return false;
                    }
                }
            }
            c if first && !(c.is_ascii_alphabetic() || c == b'_') => return false,
            c if word(c) => i += 1,
            _ => return false,
        }
        first = false;
    }
    true
}

/// Checks a relabel rule as Prometheus's own validation does, and normalises the action to
/// lower case (Prometheus accepts any case).
pub(super) fn relabel_config(rc: &mut RelabelConfig) -> Result<(), Refused> {
    let action = rc
        .action
        .as_deref()
        .unwrap_or("replace")
        .to_ascii_lowercase();
    if !RELABEL_ACTIONS.contains(&action.as_str()) {
        return Err(Refused::invalid(
            "relabel action",
            &action,
            "unknown action",
        ));
    }
    if rc.action.is_some() {
        rc.action = Some(action.clone());
    }
    for l in &rc.source_labels {
        label_name(l)?;
    }
    if let Some(r) = &rc.regex {
        regex(r)?;
    }
    for s in [&rc.separator, &rc.replacement, &rc.target_label]
        .into_iter()
        .flatten()
    {
        short_text("relabel field", s)?;
    }
    let default_separator = matches!(rc.separator.as_deref(), None | Some(";"));
    let default_replacement = matches!(rc.replacement.as_deref(), None | Some("$1"));
    let default_regex = matches!(rc.regex.as_deref(), None | Some("(.*)"));
    let target = rc.target_label.as_deref().unwrap_or("");
    let refuse = |why: &str| Err(Refused::invalid("relabel rule", &action, why.to_string()));
    let only_regex = rc.source_labels.is_empty()
        && target.is_empty()
        && rc.modulus.is_none()
        && default_separator
        && default_replacement;
    let only_labels =
        default_regex && rc.modulus.is_none() && default_separator && default_replacement;
    match action.as_str() {
        "labeldrop" | "labelkeep" if !only_regex => return refuse("takes only 'regex'"),
        "keepequal" | "dropequal" if !only_labels => {
            return refuse("takes only 'source_labels' and 'target_label'")
        }
        _ => {}
    }
    let needs_target = [
        "replace",
        "hashmod",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    ];
    if needs_target.contains(&action.as_str()) && target.is_empty() {
        return refuse("needs 'target_label'");
    }
    if ["replace", "lowercase", "uppercase"].contains(&action.as_str())
        && !is_relabel_target(target)
    {
        return refuse("'target_label' is not a valid label name");
    }
    if ["lowercase", "uppercase"].contains(&action.as_str()) && !default_replacement {
        return refuse("takes no 'replacement'");
    }
    if action == "labelmap" && !is_relabel_target(rc.replacement.as_deref().unwrap_or("$1")) {
        return refuse("'replacement' is not a valid label name");
    }
    if action == "hashmod" {
        if !is_label_name(target) {
            return refuse("'target_label' is not a valid label name");
        }
        if rc.modulus.unwrap_or(0) == 0 {
            return refuse("needs a non-zero 'modulus'");
        }
    }
    if ["keepequal", "dropequal"].contains(&action.as_str()) && !is_label_name(target) {
        return refuse("'target_label' is not a valid label name");
    }
    Ok(())
}

pub(super) fn relabel_configs(rcs: &mut [RelabelConfig]) -> Result<(), Refused> {
    check_count("relabel rules", rcs.len(), MAX_RELABEL_CONFIGS)?;
    rcs.iter_mut().try_for_each(relabel_config)
}

/// Labels starting with `__` that a target relabel rule may write: scrape parameters and
/// scratch labels. The others (`__address__`, `__scheme__`, `__metrics_path__`,
/// `__scrape_interval__`, ...) make or break the target itself.
/// Whether a label name written by a relation's target relabel rule can never be one of the
/// reserved `__` labels a target is made of, whatever its `$1`/`${1}` expansions hold: the
/// literal text before the first `$` must already rule out a leading `__` (so `_${1}` or
/// `$1` are refused, since `_` + `_address__` is `__address__`), or start one of the
/// prefixes Prometheus leaves to relabelling (`__param_`, `__tmp`).
fn harmless_target_label(name: &str) -> bool {
    let literal = name.split('$').next().unwrap_or("");
    let expands = literal.len() < name.len();
    if literal.starts_with("__param_") || literal.starts_with("__tmp") {
        return true;
    }
    let mut chars = literal.chars();
    match (chars.next(), chars.next()) {
        (None, _) => false,
        (Some('_'), None) => !expands,
        (Some('_'), Some('_')) => false,
        _ => true,
    }
}

/// Whether a regex cannot fully match any reserved `__` label: it starts with a mandatory
/// literal that no reserved label starts with, and has no alternation that could bypass it.
fn spares_reserved_labels(re: &str) -> bool {
    if re.contains('|') {
        return false;
    }
    let chars: Vec<char> = re.chars().collect();
    let mut prefix = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let optional = matches!(chars.get(i + 1), Some('*' | '?' | '{'));
        if !(c.is_ascii_alphanumeric() || c == '_') || optional {
            break;
        }
        prefix.push(c);
    }
    !prefix.is_empty()
        && (!prefix.starts_with('_')
            || prefix.starts_with("__meta_")
            || prefix.starts_with("__tmp"))
}

/// The stricter check for relabel rules that run on targets (`relabel_configs` of a scrape
/// job or of an Alertmanager): on top of [`relabel_config`], a remote charm's rule may not
/// remove or rewrite the labels a target is made of, since Prometheus (and promtool) refuse a
/// static target left without a valid `__address__` or scrape interval. Writing a constant,
/// valid `__address__`, `__metrics_path__` or `__scheme__` (the blackbox-exporter pattern) is
/// allowed.
pub(super) fn target_relabel_config(rc: &RelabelConfig) -> Result<(), Refused> {
    let action = rc.action.as_deref().unwrap_or("replace");
    let refuse = |why: &str| Err(Refused::invalid("relabel rule", action, why.to_string()));
    match action {
        "labelkeep" => refuse("'labelkeep' would drop the target's own labels"),
        "labeldrop" if !spares_reserved_labels(rc.regex.as_deref().unwrap_or("(.*)")) => {
            refuse("a 'labeldrop' regex must start with a literal that is not '__'")
        }
        "labelmap" if !harmless_target_label(rc.replacement.as_deref().unwrap_or("$1")) => {
            refuse("a 'labelmap' replacement must be a plain label name")
        }
        "replace" | "lowercase" | "uppercase" | "hashmod" => {
            let target = rc.target_label.as_deref().unwrap_or("");
            if harmless_target_label(target) {
                return Ok(());
            }
            let constant = rc.replacement.as_deref().filter(|r| !r.contains('$'));
            let valid_constant = action == "replace"
                && match (target, constant) {
                    ("__address__", Some(r)) => split_host_port(r).is_ok(),
                    ("__metrics_path__", Some(r)) => r.starts_with('/') && url_path(r).is_ok(),
                    ("__scheme__", Some(r)) => r == "http" || r == "https",
                    _ => false,
                };
            if valid_constant {
                Ok(())
            } else {
                refuse(
                    "may only write a constant, valid __address__, __metrics_path__ or __scheme__",
                )
            }
        }
        _ => Ok(()),
    }
}

pub(super) fn target_relabel_configs(rcs: &mut [RelabelConfig]) -> Result<(), Refused> {
    relabel_configs(rcs)?;
    rcs.iter().try_for_each(target_relabel_config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_refuse_control_characters_and_huge_values() {
        assert!(label_value("any text, even \"quotes\" and ünïcode").is_ok());
        assert!(label_value("a\nb").is_err());
        assert!(label_value(&"x".repeat(MAX_LABEL_VALUE_BYTES + 1)).is_err());
    }

    /// The grammar is `syntax::duration`'s; here only how a refusal reads.
    #[test]
    fn durations_are_refused_in_relation_terms() {
        assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(
            duration_ms("293y").map_err(|e| e.to_string()),
            Err("duration \"293y\": duration out of range: at most 292y24w3d23h47m16s854ms".into())
        );
    }

    #[test]
    fn job_names_are_sanitized_and_bounded() {
        assert_eq!(sanitize_job_name("zinc"), "zinc");
        assert_eq!(sanitize_job_name("a b/c\n{}"), "a_b_c___");
        assert_eq!(
            sanitize_job_name(&"é".repeat(500)).len(),
            MAX_JOB_NAME_BYTES
        );
    }

    #[test]
    fn target_relabels_cannot_unmake_the_target() {
        let ok = [
            RelabelConfig {
                source_labels: vec!["__address__".into()],
                target_label: Some("__param_target".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("__address__".into()),
                replacement: Some("blackbox-exporter:9115".into()),
                ..rc("replace")
            },
            RelabelConfig {
                regex: Some("tmp_.*".into()),
                ..rc("labeldrop")
            },
            RelabelConfig {
                regex: Some("__meta_(.+)".into()),
                replacement: Some("k8s_$1".into()),
                ..rc("labelmap")
            },
            RelabelConfig {
                source_labels: vec!["__address__".into()],
                regex: Some("x".into()),
                ..rc("drop")
            },
            RelabelConfig {
                source_labels: vec!["x".into()],
                target_label: Some("_x${1}".into()),
                ..rc("replace")
            },
            RelabelConfig {
                regex: Some("x(.*)".into()),
                replacement: Some("__tmp_$1".into()),
                ..rc("labelmap")
            },
        ];
        for r in &ok {
            assert!(target_relabel_config(r).is_ok(), "{r:?}");
        }
        let bad = [
            rc("labelkeep"),
            RelabelConfig {
                regex: Some("__.*".into()),
                ..rc("labeldrop")
            },
            RelabelConfig {
                regex: Some("tmp|__address__".into()),
                ..rc("labeldrop")
            },
            RelabelConfig {
                regex: Some("t?__address__".into()),
                ..rc("labeldrop")
            },
            RelabelConfig {
                source_labels: vec!["missing".into()],
                target_label: Some("__address__".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("__address__".into()),
                replacement: Some("evil host/x".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("__scrape_interval__".into()),
                replacement: Some("1s".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("${1}".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("__address__".into()),
                ..rc("lowercase")
            },
            RelabelConfig {
                regex: Some("foo_(.*)".into()),
                ..rc("labelmap")
            },
            // Expansion may not reach a reserved label either: `_` + `_address__`.
            RelabelConfig {
                source_labels: vec!["x".into()],
                regex: Some("(.*)".into()),
                target_label: Some("_${1}".into()),
                ..rc("replace")
            },
            RelabelConfig {
                target_label: Some("_$1".into()),
                ..rc("hashmod")
            },
            RelabelConfig {
                regex: Some("x(.*)".into()),
                replacement: Some("_$1".into()),
                ..rc("labelmap")
            },
            RelabelConfig {
                regex: Some("x(.*)".into()),
                replacement: Some("__$1".into()),
                ..rc("labelmap")
            },
        ];
        for r in &bad {
            assert!(target_relabel_config(r).is_err(), "{r:?}");
        }
    }

    fn rc(action: &str) -> RelabelConfig {
        RelabelConfig {
            action: Some(action.to_string()),
            ..RelabelConfig::default()
        }
    }

    #[test]
    fn relabel_rules_are_checked_like_prometheus() {
        let mut ok = RelabelConfig {
            source_labels: vec!["__address__".into()],
            target_label: Some("instance".into()),
            regex: Some("(.*):.*".into()),
            ..RelabelConfig::default()
        };
        assert!(relabel_config(&mut ok).is_ok());
        let mut templated = RelabelConfig {
            target_label: Some("${1}_x".into()),
            ..rc("Replace")
        };
        assert!(relabel_config(&mut templated).is_ok());
        assert_eq!(templated.action.as_deref(), Some("replace"));
        assert!(relabel_config(&mut rc("labeldrop")).is_ok());

        let mut unknown = rc("exfiltrate");
        assert!(relabel_config(&mut unknown).is_err());
        let mut no_target = rc("replace");
        assert!(relabel_config(&mut no_target).is_err());
        let mut hashmod = RelabelConfig {
            target_label: Some("__tmp".into()),
            ..rc("hashmod")
        };
        assert!(relabel_config(&mut hashmod).is_err());
        let mut labeldrop_extra = RelabelConfig {
            target_label: Some("x".into()),
            ..rc("labeldrop")
        };
        assert!(relabel_config(&mut labeldrop_extra).is_err());
        let mut bad_source = RelabelConfig {
            source_labels: vec!["a-b".into()],
            ..rc("keep")
        };
        assert!(relabel_config(&mut bad_source).is_err());
        let mut bad_target = RelabelConfig {
            target_label: Some("a-b".into()),
            ..rc("replace")
        };
        assert!(relabel_config(&mut bad_target).is_err());
    }
}
