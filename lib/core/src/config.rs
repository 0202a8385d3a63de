//! The charm's options (config.yaml), parsed and validated as a whole before anything is
//! applied. Every problem is collected, so an operator fixes them all in one `juju config`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::syntax::url::{is_http_url, without_credentials};
use crate::syntax::{is_label_name, Duration};

/// One refused option value: names the option, shows the value, says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{option}={value}: expected {expected}")]
pub struct ConfigError {
    pub option: &'static str,
    /// The value as JSON text (strings quoted), shortened when very long.
    pub value: String,
    pub expected: String,
}

impl ConfigError {
    fn new(option: &'static str, value: &Value, expected: impl Into<String>) -> Self {
        ConfigError {
            option,
            value: shown(value),
            expected: expected.into(),
        }
    }
}

const SHOWN_MAX: usize = 60;

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= SHOWN_MAX {
        return text;
    }
    let mut short: String = text.chars().take(SHOWN_MAX).collect();
    short.push('…');
    short
}

/// Prometheus's `--log.level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    const ALL: [LogLevel; 4] = [Self::Debug, Self::Info, Self::Warn, Self::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// A size for `--storage.tsdb.retention.size` (`50GB`; base 2, as Prometheus reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteSize {
    text: String,
    bytes: u64,
}

impl ByteSize {
    const UNITS: [(&'static str, u32); 7] = [
        ("B", 0),
        ("KB", 10),
        ("MB", 20),
        ("GB", 30),
        ("TB", 40),
        ("PB", 50),
        ("EB", 60),
    ];

    /// A whole number followed by one of B KB MB GB TB PB EB.
    pub fn parse(text: &str) -> Option<ByteSize> {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = text.split_at(digits);
        if number.is_empty() {
            return None;
        }
        let shift = Self::UNITS.iter().find(|(u, _)| *u == unit)?.1;
        let number: u64 = number.parse().ok()?;
        let bytes = number.checked_mul(1u64.checked_shl(shift)?)?;
        // Prometheus keeps the size in an int64.
        if bytes > i64::MAX as u64 {
            return None;
        }
        Some(ByteSize {
            text: text.to_string(),
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Every option of config.yaml, typed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharmConfig {
    pub port: u16,
    pub log_level: LogLevel,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub evaluation_interval: Duration,
    /// Operator's labels, without the replica label.
    pub external_labels: BTreeMap<String, String>,
    /// The external label carrying each pod's own name; `None` when disabled.
    pub replica_label: Option<String>,
    pub metrics_retention_time: Duration,
    pub maximum_retention_size: Option<ByteSize>,
    pub metrics_wal_compression: bool,
    pub web_enable_admin_api: bool,
    pub web_page_title: String,
    pub web_max_connections: u32,
    pub web_external_url: Option<String>,
    pub alertmanager_timeout: Duration,
    pub alertmanager_notification_queue_capacity: u32,
    /// In the order given, without duplicates.
    pub remote_write_urls: Vec<String>,
    pub monitor_k8s: bool,
}

/// Option names and defaults, as in config.yaml (a test keeps the two in step).
pub mod defaults {
    pub const PORT: i64 = 9090;
    pub const LOG_LEVEL: &str = "info";
    pub const SCRAPE_INTERVAL: &str = "1m";
    pub const SCRAPE_TIMEOUT: &str = "10s";
    pub const EVALUATION_INTERVAL: &str = "1m";
    pub const EXTERNAL_LABELS: &str = "{}";
    pub const REPLICA_LABEL: &str = "replica";
    pub const METRICS_RETENTION_TIME: &str = "15d";
    pub const MAXIMUM_RETENTION_SIZE: &str = "";
    pub const METRICS_WAL_COMPRESSION: bool = false;
    pub const WEB_ENABLE_ADMIN_API: bool = false;
    pub const WEB_PAGE_TITLE: &str = "Prometheus Time Series Collection and Processing Server";
    pub const WEB_MAX_CONNECTIONS: i64 = 512;
    pub const WEB_EXTERNAL_URL: &str = "";
    pub const ALERTMANAGER_TIMEOUT: &str = "10s";
    pub const ALERTMANAGER_NOTIFICATION_QUEUE_CAPACITY: i64 = 10000;
    pub const REMOTE_WRITE_URLS: &str = "";
    pub const MONITOR_K8S: bool = false;
}

const MAX_PAGE_TITLE: usize = 200;

/// Reads options from `config-get`, falling back to the defaults for absent keys (and
/// `null`, which `config-get --all` prints for unset options).
struct Reader<'a> {
    raw: &'a Map<String, Value>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    fn value(&self, option: &str) -> Option<&'a Value> {
        self.raw.get(option).filter(|v| !v.is_null())
    }

    fn string(&mut self, option: &'static str, default: &str) -> Option<String> {
        match self.value(option) {
            None => Some(default.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.errors
                    .push(ConfigError::new(option, other, "a string"));
                None
            }
        }
    }

    fn boolean(&mut self, option: &'static str, default: bool) -> Option<bool> {
        match self.value(option) {
            None => Some(default),
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.errors
                    .push(ConfigError::new(option, other, "true or false"));
                None
            }
        }
    }

    fn int_in(&mut self, option: &'static str, default: i64, min: i64, max: i64) -> Option<i64> {
        let expected = || format!("an integer from {min} to {max}");
        match self.value(option) {
            None => Some(default),
            Some(v @ Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Some(i),
                _ => {
                    self.errors.push(ConfigError::new(option, v, expected()));
                    None
                }
            },
            Some(other) => {
                self.errors
                    .push(ConfigError::new(option, other, expected()));
                None
            }
        }
    }

    fn positive_duration(&mut self, option: &'static str, default: &str) -> Option<Duration> {
        let text = self.string(option, default)?;
        match Duration::parse(&text) {
            Ok(d) if d.millis() > 0 => Some(d),
            _ => {
                self.errors.push(ConfigError::new(
                    option,
                    &Value::String(text),
                    format!(
                        "a positive Prometheus duration such as 30s, 1m, 1h30m or 500ms \
                         (units y w d h m s ms, largest first, at most {})",
                        crate::syntax::duration::MAX_TEXT
                    ),
                ));
                None
            }
        }
    }

    fn refuse(&mut self, option: &'static str, value: &str, expected: impl Into<String>) {
        self.errors.push(ConfigError::new(
            option,
            &Value::String(value.to_string()),
            expected,
        ));
    }
}

impl CharmConfig {
    /// Parses `config-get --format=json`. Unknown options are ignored (an upgraded charm may
    /// leave old ones behind); absent ones take their default.
    pub fn parse(raw: &Map<String, Value>) -> Result<CharmConfig, Vec<ConfigError>> {
        let mut r = Reader {
            raw,
            errors: Vec::new(),
        };
        let port = r.int_in("port", defaults::PORT, 1, 65535);
        let log_level = r.string("log-level", defaults::LOG_LEVEL).and_then(|s| {
            let found = LogLevel::ALL.into_iter().find(|l| l.as_str() == s);
            if found.is_none() {
                r.refuse("log-level", &s, "one of debug, info, warn, error");
            }
            found
        });
        let scrape_interval = r.positive_duration("scrape-interval", defaults::SCRAPE_INTERVAL);
        let scrape_timeout = r.positive_duration("scrape-timeout", defaults::SCRAPE_TIMEOUT);
        let evaluation_interval =
            r.positive_duration("evaluation-interval", defaults::EVALUATION_INTERVAL);
        if let (Some(interval), Some(timeout)) = (&scrape_interval, &scrape_timeout) {
            if timeout.millis() > interval.millis() {
                r.refuse(
                    "scrape-timeout",
                    timeout.as_str(),
                    format!("at most scrape-interval ({interval})"),
                );
            }
        }
        let replica_label = r
            .string("replica-label", defaults::REPLICA_LABEL)
            .and_then(|s| parse_replica_label(&mut r, s));
        let external_labels = r
            .string("external-labels", defaults::EXTERNAL_LABELS)
            .and_then(|s| parse_external_labels(&mut r, &s, replica_label.as_ref()));
        let metrics_retention_time =
            r.positive_duration("metrics-retention-time", defaults::METRICS_RETENTION_TIME);
        let maximum_retention_size = r
            .string("maximum-retention-size", defaults::MAXIMUM_RETENTION_SIZE)
            .and_then(|s| {
                if s.is_empty() {
                    return Some(None);
                }
                match ByteSize::parse(&s) {
                    Some(size) if size.bytes() > 0 => Some(Some(size)),
                    _ => {
                        r.refuse(
                            "maximum-retention-size",
                            &s,
                            "empty (no limit) or a positive whole number with a unit of \
                             B, KB, MB, GB, TB, PB or EB, such as 50GB",
                        );
                        None
                    }
                }
            });
        let metrics_wal_compression =
            r.boolean("metrics-wal-compression", defaults::METRICS_WAL_COMPRESSION);
        let web_enable_admin_api =
            r.boolean("web-enable-admin-api", defaults::WEB_ENABLE_ADMIN_API);
        let web_page_title = r
            .string("web-page-title", defaults::WEB_PAGE_TITLE)
            .and_then(|s| {
                let ok = !s.trim().is_empty()
                    && s.chars().count() <= MAX_PAGE_TITLE
                    && !s.chars().any(char::is_control);
                if !ok {
                    r.refuse(
                        "web-page-title",
                        &s,
                        format!(
                            "a non-empty single line of text of at most {MAX_PAGE_TITLE} characters"
                        ),
                    );
                }
                ok.then_some(s)
            });
        let web_max_connections = r.int_in(
            "web-max-connections",
            defaults::WEB_MAX_CONNECTIONS,
            1,
            1_000_000,
        );
        let web_external_url = r
            .string("web-external-url", defaults::WEB_EXTERNAL_URL)
            .and_then(|s| {
                if s.is_empty() {
                    return Some(None);
                }
                if is_http_url(&s) {
                    Some(Some(s))
                } else {
                    r.refuse(
                        "web-external-url",
                        &s,
                        "empty (derived) or an absolute http:// or https:// URL \
                         such as https://prometheus.example.com/",
                    );
                    None
                }
            });
        let alertmanager_timeout =
            r.positive_duration("alertmanager-timeout", defaults::ALERTMANAGER_TIMEOUT);
        let alertmanager_notification_queue_capacity = r.int_in(
            "alertmanager-notification-queue-capacity",
            defaults::ALERTMANAGER_NOTIFICATION_QUEUE_CAPACITY,
            1,
            10_000_000,
        );
        let remote_write_urls = r
            .string("remote-write-urls", defaults::REMOTE_WRITE_URLS)
            .and_then(|s| parse_remote_write_urls(&mut r, &s));
        let monitor_k8s = r.boolean("monitor-k8s", defaults::MONITOR_K8S);

        // Each field is Some exactly when its option produced no error.
        match (
            port,
            log_level,
            scrape_interval,
            scrape_timeout,
            evaluation_interval,
            external_labels,
            replica_label,
            metrics_retention_time,
            maximum_retention_size,
            metrics_wal_compression,
            web_enable_admin_api,
            web_page_title,
            web_max_connections,
            web_external_url,
            alertmanager_timeout,
            alertmanager_notification_queue_capacity,
            remote_write_urls,
            monitor_k8s,
        ) {
            (
                Some(port),
                Some(log_level),
                Some(scrape_interval),
                Some(scrape_timeout),
                Some(evaluation_interval),
                Some(external_labels),
                Some(replica_label),
                Some(metrics_retention_time),
                Some(maximum_retention_size),
                Some(metrics_wal_compression),
                Some(web_enable_admin_api),
                Some(web_page_title),
                Some(web_max_connections),
                Some(web_external_url),
                Some(alertmanager_timeout),
                Some(alertmanager_notification_queue_capacity),
                Some(remote_write_urls),
                Some(monitor_k8s),
            ) if r.errors.is_empty() => Ok(CharmConfig {
                // The ranges were checked above, so these conversions cannot fail; a failure
                // would still be reported, never panic.
                port: u16::try_from(port).map_err(|_| r.errors.clone())?,
                log_level,
                scrape_interval,
                scrape_timeout,
                evaluation_interval,
                external_labels,
                replica_label,
                metrics_retention_time,
                maximum_retention_size,
                metrics_wal_compression,
                web_enable_admin_api,
                web_page_title,
                web_max_connections: u32::try_from(web_max_connections)
                    .map_err(|_| r.errors.clone())?,
                web_external_url,
                alertmanager_timeout,
                alertmanager_notification_queue_capacity: u32::try_from(
                    alertmanager_notification_queue_capacity,
                )
                .map_err(|_| r.errors.clone())?,
                remote_write_urls,
                monitor_k8s,
            }),
            _ => Err(r.errors),
        }
    }
}

fn parse_replica_label(r: &mut Reader<'_>, s: String) -> Option<Option<String>> {
    if s.is_empty() {
        return Some(None);
    }
    if is_label_name(&s) && !s.starts_with("__") {
        Some(Some(s))
    } else {
        r.refuse(
            "replica-label",
            &s,
            "empty (disabled) or a label name: a letter or _ then letters, digits or _, \
             not starting with __",
        );
        None
    }
}

fn parse_external_labels(
    r: &mut Reader<'_>,
    s: &str,
    replica_label: Option<&Option<String>>,
) -> Option<BTreeMap<String, String>> {
    const OBJECT: &str = "a JSON object of label names to non-empty strings, \
                          such as {\"cluster\": \"eu-1\"}";
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(s) else {
        r.refuse("external-labels", s, OBJECT);
        return None;
    };
    let mut labels = BTreeMap::new();
    let mut ok = true;
    for (name, value) in &object {
        if !is_label_name(name) || name.starts_with("__") {
            r.refuse(
                "external-labels",
                s,
                format!(
                    "{OBJECT}; {name:?} is not a label name (a letter or _ then letters, \
                     digits or _, not starting with __)"
                ),
            );
            ok = false;
            continue;
        }
        match value {
            Value::String(v) if !v.is_empty() => {
                labels.insert(name.clone(), v.clone());
            }
            _ => {
                r.refuse(
                    "external-labels",
                    s,
                    format!("{OBJECT}; the value of {name:?} is not a non-empty string"),
                );
                ok = false;
            }
        }
    }
    if let Some(Some(replica)) = replica_label {
        if labels.contains_key(replica) {
            r.refuse(
                "external-labels",
                s,
                format!(
                    "no label named {replica:?}: replica-label sets it to each pod's name \
                     (choose another replica-label, or leave it out here)"
                ),
            );
            ok = false;
        }
    }
    ok.then_some(labels)
}

fn parse_remote_write_urls(r: &mut Reader<'_>, s: &str) -> Option<Vec<String>> {
    let mut urls: Vec<String> = Vec::new();
    let mut ok = true;
    for url in s.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        if !is_http_url(url) {
            // The URLs may carry credentials (`https://user:token@host/…`): never shown.
            let shown: Vec<String> = s.split(',').map(without_credentials).collect();
            r.refuse(
                "remote-write-urls",
                &shown.join(","),
                format!(
                    "comma-separated http:// or https:// URLs such as \
                     http://mimir:9009/api/v1/push; {:?} is not one",
                    without_credentials(url)
                ),
            );
            ok = false;
        } else if !urls.iter().any(|u| u == url) {
            urls.push(url.to_string());
        }
    }
    ok.then_some(urls)
}

/// Test helper: the options given as `(name, value)` pairs, every other at its default.
#[cfg(any(test, feature = "test-support"))]
#[allow(clippy::expect_used)]
pub fn test_config(pairs: &[(&str, Value)]) -> CharmConfig {
    let raw: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    CharmConfig::parse(&raw).expect("the test's options are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn errors_of(pairs: &[(&str, Value)]) -> Vec<String> {
        match CharmConfig::parse(&raw(pairs)) {
            Ok(c) => panic!("accepted {pairs:?} as {c:?}"),
            Err(e) => e.iter().map(std::string::ToString::to_string).collect(),
        }
    }

    #[test]
    fn defaults_parse() {
        let c = CharmConfig::parse(&Map::new()).unwrap();
        assert_eq!(c.port, 9090);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.scrape_interval.as_str(), "1m");
        assert_eq!(c.scrape_timeout.millis(), 10_000);
        assert_eq!(c.evaluation_interval.as_str(), "1m");
        assert!(c.external_labels.is_empty());
        assert_eq!(c.replica_label.as_deref(), Some("replica"));
        assert_eq!(c.metrics_retention_time.as_str(), "15d");
        assert_eq!(c.maximum_retention_size, None);
        assert!(!c.metrics_wal_compression);
        assert!(!c.web_enable_admin_api);
        assert_eq!(c.web_page_title, defaults::WEB_PAGE_TITLE);
        assert_eq!(c.web_max_connections, 512);
        assert_eq!(c.web_external_url, None);
        assert_eq!(c.alertmanager_timeout.as_str(), "10s");
        assert_eq!(c.alertmanager_notification_queue_capacity, 10000);
        assert!(c.remote_write_urls.is_empty());
        assert!(!c.monitor_k8s);
    }

    #[test]
    fn nulls_take_the_default() {
        let c = CharmConfig::parse(&raw(&[("port", Value::Null)])).unwrap();
        assert_eq!(c.port, 9090);
    }

    #[test]
    fn every_option_is_read() {
        let c = CharmConfig::parse(&raw(&[
            ("port", json!(9091)),
            ("log-level", json!("debug")),
            ("scrape-interval", json!("30s")),
            ("scrape-timeout", json!("30s")),
            ("evaluation-interval", json!("1h30m")),
            ("external-labels", json!(r#"{"cluster": "eu-1", "env": "prod"}"#)),
            ("replica-label", json!("")),
            ("metrics-retention-time", json!("8w")),
            ("maximum-retention-size", json!("50GB")),
            ("metrics-wal-compression", json!(true)),
            ("web-enable-admin-api", json!(true)),
            ("web-page-title", json!("Our Prometheus")),
            ("web-max-connections", json!(100)),
            ("web-external-url", json!("https://prom.example.com/")),
            ("alertmanager-timeout", json!("500ms")),
            ("alertmanager-notification-queue-capacity", json!(5)),
            (
                "remote-write-urls",
                json!(" http://mimir:9009/api/v1/push , https://thanos.example.com/receive,http://mimir:9009/api/v1/push,"),
            ),
            ("monitor-k8s", json!(true)),
            ("an-option-from-an-older-revision", json!("ignored")),
        ]))
        .unwrap();
        assert_eq!(c.port, 9091);
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.evaluation_interval.millis(), 5_400_000);
        assert_eq!(
            c.external_labels,
            BTreeMap::from([
                ("cluster".to_string(), "eu-1".to_string()),
                ("env".to_string(), "prod".to_string())
            ])
        );
        assert_eq!(c.replica_label, None);
        assert_eq!(c.maximum_retention_size.unwrap().bytes(), 50 << 30);
        assert!(c.metrics_wal_compression && c.web_enable_admin_api && c.monitor_k8s);
        assert_eq!(c.web_page_title, "Our Prometheus");
        assert_eq!(c.web_max_connections, 100);
        assert_eq!(
            c.web_external_url.as_deref(),
            Some("https://prom.example.com/")
        );
        assert_eq!(c.alertmanager_timeout.millis(), 500);
        assert_eq!(c.alertmanager_notification_queue_capacity, 5);
        assert_eq!(
            c.remote_write_urls,
            vec![
                "http://mimir:9009/api/v1/push",
                "https://thanos.example.com/receive"
            ]
        );
    }

    #[test]
    fn byte_sizes_follow_prometheus_units() {
        assert_eq!(ByteSize::parse("512B").unwrap().bytes(), 512);
        assert_eq!(ByteSize::parse("1KB").unwrap().bytes(), 1024);
        assert_eq!(ByteSize::parse("50GB").unwrap().bytes(), 50 << 30);
        assert_eq!(ByteSize::parse("7EB").unwrap().bytes(), 7 << 60);
        for text in [
            "", "GB", "50", "50gb", "1.5GB", "50 GB", "50GiB", "8EB", "-1GB", "50G",
        ] {
            assert_eq!(ByteSize::parse(text), None, "{text:?}");
        }
    }

    /// Every refused value names its option, shows the value and says what is expected.
    #[test]
    fn invalid_values_are_refused_with_clear_messages() {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "port",
                json!(0),
                r#"port=0: expected an integer from 1 to 65535"#,
            ),
            (
                "port",
                json!(65536),
                r#"port=65536: expected an integer from 1 to 65535"#,
            ),
            (
                "port",
                json!(-1),
                r#"port=-1: expected an integer from 1 to 65535"#,
            ),
            (
                "port",
                json!("9090"),
                r#"port="9090": expected an integer from 1 to 65535"#,
            ),
            (
                "port",
                json!(90.5),
                r#"port=90.5: expected an integer from 1 to 65535"#,
            ),
            (
                "log-level",
                json!("verbose"),
                r#"log-level="verbose": expected one of debug, info, warn, error"#,
            ),
            (
                "log-level",
                json!("INFO"),
                r#"log-level="INFO": expected one of debug, info, warn, error"#,
            ),
            ("log-level", json!(1), r#"log-level=1: expected a string"#),
            (
                "scrape-interval",
                json!("1 minute"),
                r#"scrape-interval="1 minute": expected a positive Prometheus duration"#,
            ),
            (
                "scrape-interval",
                json!("0s"),
                r#"scrape-interval="0s": expected a positive Prometheus duration"#,
            ),
            (
                "scrape-interval",
                json!("60"),
                r#"scrape-interval="60": expected a positive Prometheus duration"#,
            ),
            (
                "scrape-interval",
                json!("293y"),
                r#"scrape-interval="293y": expected a positive Prometheus duration"#,
            ),
            (
                "metrics-retention-time",
                json!("292y24w3d23h47m16s855ms"),
                r#"at most 292y24w3d23h47m16s854ms"#,
            ),
            (
                "scrape-timeout",
                json!("1.5s"),
                r#"scrape-timeout="1.5s": expected a positive Prometheus duration"#,
            ),
            (
                "scrape-timeout",
                json!("2m"),
                r#"scrape-timeout="2m": expected at most scrape-interval (1m)"#,
            ),
            (
                "evaluation-interval",
                json!("30m1h"),
                r#"evaluation-interval="30m1h": expected a positive Prometheus duration"#,
            ),
            (
                "evaluation-interval",
                json!(""),
                r#"evaluation-interval="": expected a positive Prometheus duration"#,
            ),
            (
                "external-labels",
                json!("cluster=eu-1"),
                r#"external-labels="cluster=eu-1": expected a JSON object of label names to non-empty strings"#,
            ),
            (
                "external-labels",
                json!("[]"),
                r#"external-labels="[]": expected a JSON object"#,
            ),
            (
                "external-labels",
                json!(r#"{"1cluster": "x"}"#),
                r#"expected a JSON object of label names to non-empty strings, such as {"cluster": "eu-1"}; "1cluster" is not a label name"#,
            ),
            (
                "external-labels",
                json!(r#"{"my-cluster": "x"}"#),
                r#""my-cluster" is not a label name"#,
            ),
            (
                "external-labels",
                json!(r#"{"__name__": "x"}"#),
                r#""__name__" is not a label name"#,
            ),
            (
                "external-labels",
                json!(r#"{"cluster": 1}"#),
                r#"the value of "cluster" is not a non-empty string"#,
            ),
            (
                "external-labels",
                json!(r#"{"cluster": ""}"#),
                r#"the value of "cluster" is not a non-empty string"#,
            ),
            (
                "external-labels",
                json!(r#"{"replica": "a"}"#),
                r#"expected no label named "replica": replica-label sets it to each pod's name"#,
            ),
            (
                "replica-label",
                json!("replica-id"),
                r#"replica-label="replica-id": expected empty (disabled) or a label name"#,
            ),
            (
                "replica-label",
                json!("__replica__"),
                r#"replica-label="__replica__": expected empty (disabled) or a label name"#,
            ),
            (
                "metrics-retention-time",
                json!("15 days"),
                r#"metrics-retention-time="15 days": expected a positive Prometheus duration"#,
            ),
            (
                "metrics-retention-time",
                json!("0"),
                r#"metrics-retention-time="0": expected a positive Prometheus duration"#,
            ),
            (
                "maximum-retention-size",
                json!("50G"),
                r#"maximum-retention-size="50G": expected empty (no limit) or a positive whole number with a unit of B, KB, MB, GB, TB, PB or EB, such as 50GB"#,
            ),
            (
                "maximum-retention-size",
                json!("0GB"),
                r#"maximum-retention-size="0GB": expected empty (no limit)"#,
            ),
            (
                "maximum-retention-size",
                json!("1.5TB"),
                r#"maximum-retention-size="1.5TB": expected empty (no limit)"#,
            ),
            (
                "metrics-wal-compression",
                json!("yes"),
                r#"metrics-wal-compression="yes": expected true or false"#,
            ),
            (
                "web-enable-admin-api",
                json!(1),
                r#"web-enable-admin-api=1: expected true or false"#,
            ),
            (
                "web-page-title",
                json!(""),
                r#"web-page-title="": expected a non-empty single line of text of at most 200 characters"#,
            ),
            (
                "web-page-title",
                json!("two\nlines"),
                r#"web-page-title="two\nlines": expected a non-empty single line"#,
            ),
            (
                "web-max-connections",
                json!(0),
                r#"web-max-connections=0: expected an integer from 1 to 1000000"#,
            ),
            (
                "web-external-url",
                json!("prometheus.example.com"),
                r#"web-external-url="prometheus.example.com": expected empty (derived) or an absolute http:// or https:// URL"#,
            ),
            (
                "web-external-url",
                json!("ftp://x/"),
                r#"web-external-url="ftp://x/": expected empty (derived) or an absolute http:// or https:// URL"#,
            ),
            (
                "alertmanager-timeout",
                json!("10"),
                r#"alertmanager-timeout="10": expected a positive Prometheus duration"#,
            ),
            (
                "alertmanager-notification-queue-capacity",
                json!(0),
                r#"alertmanager-notification-queue-capacity=0: expected an integer from 1 to 10000000"#,
            ),
            (
                "remote-write-urls",
                json!("mimir:9009/api/v1/push"),
                r#"remote-write-urls="mimir:9009/api/v1/push": expected comma-separated http:// or https:// URLs such as http://mimir:9009/api/v1/push; "mimir:9009/api/v1/push" is not one"#,
            ),
            (
                "remote-write-urls",
                json!("http://a/ http://b/"),
                r#""http://a/ http://b/" is not one"#,
            ),
            (
                "remote-write-urls",
                json!("https://u:s3cr3t@ok/push,https://u:s3cr3t@bad host/push"),
                r#"remote-write-urls="https://<credentials>@ok/push,https://<credentials>@bad hos…: expected comma-separated http:// or https:// URLs such as http://mimir:9009/api/v1/push; "https://<credentials>@bad host/push" is not one"#,
            ),
            (
                "monitor-k8s",
                json!("true"),
                r#"monitor-k8s="true": expected true or false"#,
            ),
        ];
        assert!(cases.len() >= 25);
        for (option, value, message) in cases {
            let errors = errors_of(&[(option, value.clone())]);
            assert_eq!(errors.len(), 1, "{option}={value}: {errors:?}");
            assert!(
                errors[0].contains(message),
                "{option}={value}: {:?} does not contain {message:?}",
                errors[0]
            );
            assert!(
                errors[0].starts_with(&format!("{option}=")),
                "{}",
                errors[0]
            );
        }
    }

    #[test]
    fn all_errors_are_collected() {
        let errors = errors_of(&[
            ("port", json!(0)),
            ("log-level", json!("loud")),
            ("scrape-interval", json!("soon")),
            ("monitor-k8s", json!("no")),
        ]);
        let options: Vec<&str> = errors
            .iter()
            .map(|e| e.split('=').next().unwrap())
            .collect();
        assert_eq!(
            options,
            vec!["port", "log-level", "scrape-interval", "monitor-k8s"]
        );
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(500);
        let errors = errors_of(&[("log-level", json!(long))]);
        assert!(errors[0].len() < 200, "{}", errors[0]);
        assert!(errors[0].contains('…'));
    }

    /// config.yaml and the defaults here must say the same thing.
    #[test]
    fn config_yaml_matches_the_parser() {
        #[derive(serde::Deserialize)]
        struct ConfigYaml {
            options: BTreeMap<String, OptionYaml>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct OptionYaml {
            #[serde(rename = "type")]
            kind: String,
            default: serde_json::Value,
            description: String,
        }
        let text = include_str!("../../../config.yaml");
        let parsed: ConfigYaml = crate::yaml::from_str(text).unwrap();
        let defaults: Map<String, Value> = parsed
            .options
            .iter()
            .map(|(k, o)| (k.clone(), o.default.clone()))
            .collect();
        // Every declared default must be valid and equal to the parser's own default.
        let from_yaml = CharmConfig::parse(&defaults).unwrap();
        let built_in = CharmConfig::parse(&Map::new()).unwrap();
        assert_eq!(from_yaml, built_in);
        let expected = [
            ("port", "int"),
            ("log-level", "string"),
            ("scrape-interval", "string"),
            ("scrape-timeout", "string"),
            ("evaluation-interval", "string"),
            ("external-labels", "string"),
            ("replica-label", "string"),
            ("metrics-retention-time", "string"),
            ("maximum-retention-size", "string"),
            ("metrics-wal-compression", "boolean"),
            ("web-enable-admin-api", "boolean"),
            ("web-page-title", "string"),
            ("web-max-connections", "int"),
            ("web-external-url", "string"),
            ("alertmanager-timeout", "string"),
            ("alertmanager-notification-queue-capacity", "int"),
            ("remote-write-urls", "string"),
            ("monitor-k8s", "boolean"),
        ];
        let declared: Vec<(&str, &str)> = parsed
            .options
            .iter()
            .map(|(k, o)| (k.as_str(), o.kind.as_str()))
            .collect();
        let mut expected_sorted = expected.to_vec();
        expected_sorted.sort();
        assert_eq!(declared, expected_sorted);
        for (name, option) in &parsed.options {
            assert!(!option.description.trim().is_empty(), "{name}");
            // A wrong-typed value for every option is refused, so each one is really read.
            let wrong = match option.kind.as_str() {
                "string" => json!(12),
                _ => json!("12"),
            };
            let errors = errors_of(&[(name.as_str(), wrong)]);
            assert!(errors[0].starts_with(&format!("{name}=")), "{errors:?}");
        }
    }
}
