use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::level::LogLevel;

/// A relation databag: Juju keeps every value as a string.
pub type RelationData = BTreeMap<String, String>;

/// `<endpoint>:<id>`, as `relation-ids` prints it and `-r` accepts it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RelationId {
    pub endpoint: String,
    pub id: u32,
}

impl RelationId {
    pub fn new(endpoint: impl Into<String>, id: u32) -> Self {
        RelationId {
            endpoint: endpoint.into(),
            id,
        }
    }

    /// Parses `alertmanager:4`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (endpoint, id) = raw.rsplit_once(':')?;
        if endpoint.is_empty() {
            return None;
        }
        Some(RelationId::new(endpoint, id.parse().ok()?))
    }
}

impl fmt::Display for RelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.endpoint, self.id)
    }
}

/// The workload states a charm may set (`error`, `unknown`, `terminated` are Juju's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Maintenance,
    Blocked,
    Waiting,
    Active,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Maintenance => "maintenance",
            Self::Blocked => "blocked",
            Self::Waiting => "waiting",
            Self::Active => "active",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Status {
    pub kind: StatusKind,
    pub message: String,
}

impl Status {
    pub fn new(kind: StatusKind, message: impl Into<String>) -> Self {
        Status {
            kind,
            message: message.into(),
        }
    }
    pub fn active(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Active, message)
    }
    pub fn blocked(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Blocked, message)
    }
    pub fn waiting(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Waiting, message)
    }
    pub fn maintenance(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Maintenance, message)
    }
}

/// Whose status `status-set`/`status-get` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusScope {
    Unit,
    /// Leader only.
    Application,
}

/// What `status-get --include-data --format=json` reports (status words are free text here:
/// Juju may report `unknown`, `error`, ... which a charm cannot set).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StatusInfo {
    pub status: String,
    #[serde(default)]
    pub message: String,
}

/// `network-get <binding> --format=json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetworkInfo {
    #[serde(default)]
    pub bind_addresses: Vec<BindAddress>,
    #[serde(default)]
    pub ingress_addresses: Vec<String>,
    #[serde(default)]
    pub egress_subnets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BindAddress {
    #[serde(default)]
    pub interface_name: String,
    #[serde(default)]
    pub addresses: Vec<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Address {
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub cidr: String,
}

impl NetworkInfo {
    /// The first bound address: the pod IP on Kubernetes.
    pub fn bind_address(&self) -> Option<&str> {
        self.bind_addresses
            .iter()
            .flat_map(|b| b.addresses.iter())
            .map(|a| a.value.as_str())
            .find(|v| !v.is_empty())
    }
}

#[derive(Debug, Error)]
pub enum ToolError {
    /// The tool ran and failed; Juju's tools print `ERROR <message>` on stderr.
    #[error("{tool}{} failed ({}): {}", command_args(.args), exit(.code), .stderr.trim())]
    Failed {
        tool: String,
        args: Vec<String>,
        code: Option<i32>,
        stderr: String,
    },
    #[error("cannot run {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool}{} printed output that is not the expected JSON: {source}", command_args(.args))]
    Output {
        tool: String,
        args: Vec<String>,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot prepare input for {tool}: {source}")]
    Input {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    /// Output that parses but cannot be what Juju prints (nothing where JSON is due, a
    /// relation id without its number): as untrustworthy as a failure.
    #[error("{tool} printed {what}")]
    Unexpected { tool: String, what: String },
    /// The tool did not exit in time; it was killed.
    #[error("{tool} did not finish within {seconds}s")]
    Timeout { tool: String, seconds: u64 },
}

/// The arguments as a shell would show them (quoted where a space or quote is in them).
fn command_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!(" {a:?}")
            } else {
                format!(" {a}")
            }
        })
        .collect()
}

fn exit(code: &Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_string(),
    }
}

impl ToolError {
    /// The tool's own message without the `ERROR ` prefix, when it ran and failed.
    pub fn message(&self) -> Option<&str> {
        match self {
            ToolError::Failed { stderr, .. } => {
                Some(stderr.trim().trim_start_matches("ERROR ").trim())
            }
            _ => None,
        }
    }
}

/// The Juju hook tools a charm calls, with typed arguments and results. Every reading tool is
/// asked for `--format=json`.
pub trait HookTools {
    /// `config-get --format=json`: options that have a value or a default.
    fn config_get(&self) -> Result<Map<String, Value>, ToolError>;
    /// `is-leader --format=json`.
    fn is_leader(&self) -> Result<bool, ToolError>;
    /// `relation-ids <endpoint> --format=json`.
    fn relation_ids(&self, endpoint: &str) -> Result<Vec<RelationId>, ToolError>;
    /// `relation-list -r <id> --format=json`: remote units now in the relation.
    fn relation_list(&self, relation: &RelationId) -> Result<Vec<String>, ToolError>;
    /// `relation-list -r <id> --app --format=json`: the remote application.
    fn relation_remote_app(&self, relation: &RelationId) -> Result<Option<String>, ToolError>;
    /// `relation-get -r <id> - <unit> --format=json`: a unit's databag.
    fn relation_get_unit(
        &self,
        relation: &RelationId,
        unit: &str,
    ) -> Result<RelationData, ToolError>;
    /// `relation-get -r <id> --app - <app> --format=json`: an application's databag.
    fn relation_get_app(&self, relation: &RelationId, app: &str)
        -> Result<RelationData, ToolError>;
    /// `relation-set -r <id> [--app] --file -`; an empty value deletes the key.
    fn relation_set(
        &self,
        relation: &RelationId,
        data: &RelationData,
        app: bool,
    ) -> Result<(), ToolError>;
    /// `resource-get <name>`: the path of the resource file.
    fn resource_get(&self, name: &str) -> Result<PathBuf, ToolError>;
    /// `pod-spec-set --file <spec> [--k8s-resources <file>]` (leader only).
    fn pod_spec_set(&self, spec_yaml: &str, k8s_resources: Option<&str>) -> Result<(), ToolError>;
    /// `status-set [--application] <status> <message>`.
    fn status_set(&self, scope: StatusScope, status: &Status) -> Result<(), ToolError>;
    /// `status-get --include-data [--application] --format=json` (unit only here).
    fn status_get(&self) -> Result<StatusInfo, ToolError>;
    /// `application-version-set -- <version>`.
    fn application_version_set(&self, version: &str) -> Result<(), ToolError>;
    /// `juju-log --log-level <LEVEL> -- <message>`.
    fn juju_log(&self, level: LogLevel, message: &str) -> Result<(), ToolError>;
    /// `network-get <binding> [-r <id>] --format=json`.
    fn network_get(
        &self,
        binding: &str,
        relation: Option<&RelationId>,
    ) -> Result<NetworkInfo, ToolError>;
    /// `leader-get --format=json`.
    fn leader_get(&self) -> Result<BTreeMap<String, String>, ToolError>;
    /// `leader-set k=v...` (leader only; empty value deletes).
    fn leader_set(&self, data: &BTreeMap<String, String>) -> Result<(), ToolError>;
    /// `action-get --format=json`.
    fn action_get(&self) -> Result<Map<String, Value>, ToolError>;
    /// `action-set k=v...`; dotted keys nest.
    fn action_set(&self, results: &BTreeMap<String, String>) -> Result<(), ToolError>;
    /// `action-fail <message>`.
    fn action_fail(&self, message: &str) -> Result<(), ToolError>;
    /// `action-log <message>`.
    fn action_log(&self, message: &str) -> Result<(), ToolError>;
    /// `state-get --format=json`: this unit's persisted key/value state.
    fn state_get(&self) -> Result<BTreeMap<String, String>, ToolError>;
    /// `state-set --file -` (committed at hook end on success).
    fn state_set(&self, data: &BTreeMap<String, String>) -> Result<(), ToolError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_ids_parse_and_print() {
        let id = RelationId::parse("send-remote-write:12").unwrap();
        assert_eq!(id, RelationId::new("send-remote-write", 12));
        assert_eq!(id.to_string(), "send-remote-write:12");
        assert!(RelationId::parse("12").is_none());
        assert!(RelationId::parse(":1").is_none());
        assert!(RelationId::parse("x:y").is_none());
    }

    #[test]
    fn network_info_reads_the_k8s_shape() {
        let raw = r#"{"bind-addresses":[{"mac-address":"","interface-name":"","addresses":[{"hostname":"","value":"10.1.34.20","cidr":""}]}],"egress-subnets":["10.152.183.7/32"],"ingress-addresses":["10.152.183.7"]}"#;
        let info: NetworkInfo = serde_json::from_str(raw).unwrap();
        assert_eq!(info.bind_address(), Some("10.1.34.20"));
        assert_eq!(info.ingress_addresses, vec!["10.152.183.7"]);
    }

    #[test]
    fn tool_errors_read_like_the_command_that_failed() {
        let e = ToolError::Failed {
            tool: "relation-get".into(),
            args: vec![
                "-r".into(),
                "metrics-endpoint:1".into(),
                "-".into(),
                "zinc/0".into(),
            ],
            code: Some(1),
            stderr: "ERROR permission denied\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "relation-get -r metrics-endpoint:1 - zinc/0 failed (exit code 1): ERROR permission denied"
        );
        let e = ToolError::Failed {
            tool: "status-set".into(),
            args: vec![
                "active".into(),
                "--".into(),
                String::new(),
                "two words".into(),
            ],
            code: None,
            stderr: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "status-set active -- \"\" \"two words\" failed (killed by a signal): "
        );
    }

    #[test]
    fn tool_error_message_strips_the_prefix() {
        let e = ToolError::Failed {
            tool: "pod-spec-set".into(),
            args: vec![],
            code: Some(1),
            stderr: "ERROR this unit is not the leader\n".into(),
        };
        assert_eq!(e.message(), Some("this unit is not the leader"));
    }
}
