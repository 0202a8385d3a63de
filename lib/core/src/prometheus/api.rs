//! Prometheus's own HTTP API, as far as the charm needs it: readiness, build information,
//! the lifecycle reload and the configuration it serves. [`PrometheusApi`] is what the shell
//! calls, so the core and its tests never touch the network; the shell's `http::HttpApi` is
//! the real client.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use thiserror::Error;

/// Longest piece of a response body quoted in an error.
const BODY_QUOTED: usize = 300;

/// One Prometheus server: a unit's pod IP and the `port` option.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub address: String,
    pub port: u16,
}

impl Target {
    pub fn new(address: impl Into<String>, port: u16) -> Self {
        Target {
            address: address.into(),
            port,
        }
    }

    /// `http://<address>:<port>`, IPv6 addresses in brackets.
    pub fn base_url(&self) -> String {
        format!("http://{self}")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.address.contains(':') {
            write!(f, "[{}]:{}", self.address, self.port)
        } else {
            write!(f, "{}:{}", self.address, self.port)
        }
    }
}

/// `GET /-/ready`: 200 once the TSDB is open and the first config loaded, 503 before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// What Prometheus answered instead.
    NotReady(String),
}

/// `GET /api/v1/status/buildinfo` → `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    #[serde(default)]
    pub revision: String,
    #[serde(default)]
    pub branch: String,
    #[serde(default)]
    pub build_user: String,
    #[serde(default)]
    pub build_date: String,
    #[serde(default)]
    pub go_version: String,
}

/// `GET /api/v1/status/config` → `data`: the loaded configuration as Prometheus prints it
/// (defaults filled in, secrets as `<secret>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServedConfig {
    pub yaml: String,
}

/// `GET /api/v1/rules` → `data`: the loaded rule groups (only their names are read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuleGroups {
    pub groups: Vec<RuleGroupName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuleGroupName {
    pub name: String,
}

/// The envelope of every `/api/v1` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    #[error("cannot set up an HTTP client: {0}")]
    Client(String),
    #[error("cannot reach Prometheus at {target}: {reason}")]
    Unreachable { target: Target, reason: String },
    #[error("Prometheus at {target} did not answer {path} within {seconds}s")]
    Timeout {
        target: Target,
        path: &'static str,
        seconds: u64,
    },
    /// `POST /-/reload` answered 500: the configuration on disk does not load.
    #[error("Prometheus at {target} refused to reload: {message}")]
    ReloadRefused { target: Target, message: String },
    #[error("Prometheus at {target} answered {path} with HTTP {status}: {body}")]
    Http {
        target: Target,
        path: &'static str,
        status: u16,
        body: String,
    },
    #[error("Prometheus at {target} answered {path} with something unexpected: {reason}")]
    Unexpected {
        target: Target,
        path: &'static str,
        reason: String,
    },
}

impl ApiError {
    /// Why the call gave no usable answer, without repeating the address: for messages
    /// that name the server already.
    pub fn reason(&self) -> String {
        match self {
            ApiError::Client(reason) => format!("cannot set up an HTTP client: {reason}"),
            ApiError::Unreachable { reason, .. } => reason.clone(),
            ApiError::Timeout { path, seconds, .. } => {
                format!("no answer to {path} within {seconds}s")
            }
            ApiError::ReloadRefused { message, .. } => message.clone(),
            ApiError::Http {
                path, status, body, ..
            } => format!("{path} answered HTTP {status}: {body}"),
            ApiError::Unexpected { path, reason, .. } => {
                format!("unexpected answer to {path}: {reason}")
            }
        }
    }
}

/// What the charm asks of a Prometheus server.
pub trait PrometheusApi {
    fn ready(&self, target: &Target) -> Result<Readiness, ApiError>;
    fn build_info(&self, target: &Target) -> Result<BuildInfo, ApiError>;
    /// `POST /-/reload` (needs `--web.enable-lifecycle`, which the pod spec passes).
    fn reload(&self, target: &Target) -> Result<(), ApiError>;
    /// The YAML of the configuration Prometheus has loaded.
    fn served_config(&self, target: &Target) -> Result<String, ApiError>;
    /// The names of the rule groups Prometheus has loaded.
    fn rule_groups(&self, target: &Target) -> Result<Vec<String>, ApiError>;
    /// How Kubernetes' API has answered Prometheus's service discovery so far: HTTP status
    /// code → requests ([`KUBERNETES_ANSWERS`]); empty before the first request.
    fn kubernetes_answers(&self, target: &Target) -> Result<BTreeMap<String, f64>, ApiError>;
}

pub const READY: &str = "/-/ready";
pub const BUILD_INFO: &str = "/api/v1/status/buildinfo";
pub const RELOAD: &str = "/-/reload";
pub const CONFIG: &str = "/api/v1/status/config";
/// Only the groups and rules, not every active alert (older servers ignore the parameter).
pub const RULES: &str = "/api/v1/rules?exclude_alerts=true";
/// `sum by (status_code) (prometheus_sd_kubernetes_http_request_total)`: Prometheus counts
/// its Kubernetes discovery's requests by the API server's status code
/// (discovery/kubernetes/client_metrics.go), so a 403 there is the cluster refusing it.
pub const KUBERNETES_ANSWERS: &str =
    "/api/v1/query?query=sum%20by%20(status_code)%20(prometheus_sd_kubernetes_http_request_total)";

/// `GET /api/v1/query` → `data` for an instant vector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryData {
    pub result_type: String,
    pub result: Vec<VectorSample>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VectorSample {
    pub metric: BTreeMap<String, String>,
    /// `[<unix time>, "<value>"]`
    pub value: (f64, String),
}

impl QueryData {
    /// Each sample's value by the given label (samples without it or a number skipped).
    pub fn by_label(&self, label: &str) -> BTreeMap<String, f64> {
        self.result
            .iter()
            .filter_map(|s| Some((s.metric.get(label)?.clone(), s.value.1.parse().ok()?)))
            .collect()
    }
}

/// Reads an `/api/v1` answer: `{"status":"success","data":...}` or an error envelope.
pub fn decode_envelope<T: DeserializeOwned>(
    target: &Target,
    path: &'static str,
    status: u16,
    body: &str,
) -> Result<T, ApiError> {
    let unexpected = |reason: String| ApiError::Unexpected {
        target: target.clone(),
        path,
        reason,
    };
    let envelope: Envelope<T> = match serde_json::from_str(body) {
        Ok(envelope) => envelope,
        Err(e) if status == 200 => return Err(unexpected(e.to_string())),
        Err(_) => {
            return Err(ApiError::Http {
                target: target.clone(),
                path,
                status,
                body: quote(body),
            })
        }
    };
    match (envelope.status.as_str(), envelope.data) {
        ("success", Some(data)) if status == 200 => Ok(data),
        ("success", None) => Err(unexpected("no data in a successful answer".into())),
        _ => Err(ApiError::Http {
            target: target.clone(),
            path,
            status,
            body: format!(
                "{}: {}",
                envelope
                    .error_type
                    .unwrap_or_else(|| envelope.status.clone()),
                envelope.error.unwrap_or_default()
            ),
        }),
    }
}

/// What went wrong in a refused reload, without the wrapping that repeats the file's path:
/// `failed to reload config: couldn't load configuration (--config.file="<path>"): <why>`.
pub fn reload_failure(body: &str) -> &str {
    let body = body.trim();
    let rest = body
        .strip_prefix("failed to reload config: ")
        .unwrap_or(body);
    match rest
        .strip_prefix("couldn't load configuration (--config.file=")
        .and_then(|r| r.split_once("): "))
    {
        Some((_, why)) => why,
        None => rest,
    }
}

/// A body trimmed to one readable line for a status message or an error.
pub fn quote(body: &str) -> String {
    let line = body.trim().replace(['\n', '\r'], " ");
    if line.chars().count() > BODY_QUOTED {
        let cut: String = line.chars().take(BODY_QUOTED).collect();
        format!("{cut}…")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::new("10.1.36.80", 9090)
    }

    #[test]
    fn targets_print_as_host_port() {
        assert_eq!(target().base_url(), "http://10.1.36.80:9090");
        assert_eq!(Target::new("fd00::1", 9090).to_string(), "[fd00::1]:9090");
    }

    #[test]
    fn build_info_decodes_what_prometheus_2_42_answers() {
        let body = r#"{"status":"success","data":{"version":"2.42.0+ds","revision":"2.42.0+ds-5+b6","branch":"debian/sid","buildUser":"team+pkg-go@tracker.debian.org","buildDate":"20250421-12:29:42","goVersion":"go1.19.8"}}"#;
        let info: BuildInfo = decode_envelope(&target(), BUILD_INFO, 200, body).unwrap();
        assert_eq!(info.version, "2.42.0+ds");
        assert_eq!(info.go_version, "go1.19.8");
    }

    #[test]
    fn error_envelopes_and_garbage_are_errors() {
        let body = r#"{"status":"error","errorType":"unavailable","error":"TSDB not ready"}"#;
        let err = decode_envelope::<BuildInfo>(&target(), BUILD_INFO, 503, body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Prometheus at 10.1.36.80:9090 answered /api/v1/status/buildinfo with HTTP 503: \
             unavailable: TSDB not ready"
        );
        let err = decode_envelope::<BuildInfo>(&target(), BUILD_INFO, 200, "<html>").unwrap_err();
        assert!(matches!(err, ApiError::Unexpected { .. }), "{err}");
        let err = decode_envelope::<BuildInfo>(&target(), BUILD_INFO, 404, "404 page not found\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Prometheus at 10.1.36.80:9090 answered /api/v1/status/buildinfo with HTTP 404: \
             404 page not found"
        );
    }

    #[test]
    fn served_config_decodes() {
        let body = r#"{"status":"success","data":{"yaml":"global:\n  scrape_interval: 1m\n"}}"#;
        let config: ServedConfig = decode_envelope(&target(), CONFIG, 200, body).unwrap();
        assert_eq!(config.yaml, "global:\n  scrape_interval: 1m\n");
    }

    #[test]
    fn kubernetes_answers_decode_an_instant_vector_by_status_code() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"status_code":"403"},"value":[1700000000.123,"12"]},
            {"metric":{"status_code":"200"},"value":[1700000000.123,"3"]}]}}"#;
        let data: QueryData = decode_envelope(&target(), KUBERNETES_ANSWERS, 200, body).unwrap();
        assert_eq!(
            data.by_label("status_code"),
            BTreeMap::from([("200".to_string(), 3.0), ("403".to_string(), 12.0)])
        );
    }

    #[test]
    fn rule_groups_decode_what_prometheus_2_42_answers() {
        let body = r#"{"status":"success","data":{"groups":[{"name":"g1","file":"rules.yml",
            "rules":[{"state":"inactive","name":"A","query":"up == 0","duration":300,
            "labels":{},"annotations":{},"alerts":[],"health":"ok","type":"alerting"}],
            "interval":1,"limit":0},{"name":"juju_charm_rules_0123","file":"rules.yml",
            "rules":[],"interval":60,"limit":0}]}}"#;
        let rules: RuleGroups = decode_envelope(&target(), RULES, 200, body).unwrap();
        let names: Vec<&str> = rules.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["g1", "juju_charm_rules_0123"]);
    }

    #[test]
    fn reload_failures_keep_what_went_wrong() {
        let body = "failed to reload config: couldn't load configuration \
                    (--config.file=\"/etc/prometheus/prometheus.yml\"): parsing YAML file \
                    /etc/prometheus/prometheus.yml: yaml: unmarshal errors:\n  line 18: field \
                    kubernetes_sd_configs not found in type config.ScrapeConfig\n";
        assert_eq!(
            reload_failure(body),
            "parsing YAML file /etc/prometheus/prometheus.yml: yaml: unmarshal errors:\n  \
             line 18: field kubernetes_sd_configs not found in type config.ScrapeConfig"
        );
        assert_eq!(
            reload_failure("failed to reload config: one or more errors occurred"),
            "one or more errors occurred"
        );
        assert_eq!(reload_failure("something else\n"), "something else");
    }

    #[test]
    fn reasons_do_not_repeat_the_address() {
        let t = target();
        assert_eq!(
            ApiError::Timeout {
                target: t.clone(),
                path: "/-/ready",
                seconds: 5
            }
            .reason(),
            "no answer to /-/ready within 5s"
        );
        assert_eq!(
            ApiError::Http {
                target: t,
                path: "/-/reload",
                status: 403,
                body: "Lifecycle API is not enabled.".into()
            }
            .reason(),
            "/-/reload answered HTTP 403: Lifecycle API is not enabled."
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(quote(&long).chars().count(), BODY_QUOTED + 1);
        assert_eq!(quote(" a\nb \n"), "a b");
    }
}
