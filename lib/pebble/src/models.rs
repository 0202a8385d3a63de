//! What Pebble's API answers, typed after the Go structs that write it (named on each).
//! Statuses Pebble may grow read as `Unknown` rather than failing the call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::layer::CheckLevel;

/// Every JSON answer (internals/daemon/response.go `respJSON`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Envelope {
    #[serde(rename = "type")]
    pub(crate) kind: ResponseType,
    #[serde(default)]
    pub(crate) status_code: u16,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) change: Option<String>,
    #[serde(default)]
    pub(crate) result: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ResponseType {
    Sync,
    Async,
    Error,
}

/// `result` of an error answer (response.go `errorResult`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorResult {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) kind: Option<String>,
}

/// `GET /v1/system-info` (api.go `v1SystemInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SystemInfo {
    #[serde(default)]
    pub boot_id: String,
    #[serde(default)]
    pub http_address: Option<String>,
    pub version: String,
}

/// The id of a change (start, stop, replan, exec…), to wait on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeId(pub String);

impl std::fmt::Display for ChangeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A change (api_changes.go `changeInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Change {
    pub id: ChangeId,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub err: Option<String>,
    #[serde(default)]
    pub spawn_time: Option<String>,
    #[serde(default)]
    pub ready_time: Option<String>,
    #[serde(default)]
    pub data: BTreeMap<String, serde_json::Value>,
}

/// A task of a change (api_changes.go `taskInfo`); an exec task's `data` holds
/// `exit-code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Task {
    pub id: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub log: Vec<String>,
    #[serde(default)]
    pub data: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceStartup {
    Enabled,
    Disabled,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceStatus {
    Active,
    Inactive,
    Backoff,
    Error,
    #[serde(other)]
    Unknown,
}

/// `GET /v1/services` (api_services.go `serviceInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServiceInfo {
    pub name: String,
    pub startup: ServiceStartup,
    pub current: ServiceStatus,
    #[serde(default)]
    pub current_since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Up,
    Down,
    Inactive,
    #[serde(other)]
    Unknown,
}

/// `GET /v1/checks` (api_checks.go `checkInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckInfo {
    pub name: String,
    #[serde(default)]
    pub level: Option<CheckLevel>,
    #[serde(default)]
    pub startup: Option<String>,
    pub status: CheckStatus,
    #[serde(default)]
    pub successes: u64,
    #[serde(default)]
    pub failures: u64,
    #[serde(default)]
    pub threshold: u64,
    #[serde(default)]
    pub change_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileType {
    File,
    Directory,
    Symlink,
    Socket,
    NamedPipe,
    Device,
    #[serde(other)]
    Unknown,
}

/// `GET /v1/files?action=list` (api_files.go `fileInfoResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FileInfo {
    pub path: String,
    pub name: String,
    #[serde(rename = "type")]
    pub file_type: FileType,
    /// Regular files only.
    #[serde(default)]
    pub size: Option<u64>,
    /// Three octal digits, e.g. `644`.
    pub permissions: String,
    #[serde(default)]
    pub last_modified: String,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub group_id: Option<i64>,
    #[serde(default)]
    pub group: String,
}

/// One path's outcome in a files call (api_files.go `fileResult`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FileResult {
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) error: Option<ErrorResult>,
}

/// `result` of `POST /v1/exec` (api_exec.go `v1PostExec`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ExecResult {
    pub(crate) task_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pebble's own client tests feed these answers to its Go client (client/exec_test.go
    // `addResponses`, client/client_test.go), byte for byte.
    #[test]
    fn reads_pebbles_exec_and_wait_answers() {
        let exec: Envelope = serde_json::from_str(
            r#"{
		"change": "123",
		"result": {"task-id": "T123"},
		"status": "Accepted",
		"status-code": 202,
		"type": "async"
	}"#,
        )
        .unwrap();
        assert_eq!(exec.kind, ResponseType::Async);
        assert_eq!(exec.change.as_deref(), Some("123"));
        let result: ExecResult = serde_json::from_value(exec.result).unwrap();
        assert_eq!(result.task_id, "T123");

        let wait: Envelope = serde_json::from_str(
            r#"{
		"result": {
			"id": "123",
			"kind": "exec",
			"ready": true,
			"tasks": [{
				"data": {"exit-code": 0},
				"id": "T123",
				"kind": "exec"
			}]
		},
		"status": "OK",
		"status-code": 200,
		"type": "sync"
	}"#,
        )
        .unwrap();
        let change: Change = serde_json::from_value(wait.result).unwrap();
        assert!(change.ready);
        assert_eq!(change.tasks[0].data["exit-code"], 0);
    }

    #[test]
    fn reads_pebbles_error_answer() {
        // client/client_test.go TestClientIntegration-style error body; response.go
        // errorResult has message (never omitted), kind, value.
        let e: Envelope = serde_json::from_str(
            r#"{"type": "error", "status-code": 400, "status": "Bad Request", "result": {"message": "cannot find executable \"foo\"", "kind": "generic-file-error", "value": 1}}"#,
        )
        .unwrap();
        assert_eq!(e.kind, ResponseType::Error);
        let err: ErrorResult = serde_json::from_value(e.result).unwrap();
        assert_eq!(err.message, "cannot find executable \"foo\"");
        assert_eq!(err.kind.as_deref(), Some("generic-file-error"));
    }

    #[test]
    fn reads_services_checks_and_files() {
        // Shapes of api_services.go serviceInfo, api_checks.go checkInfo and api_files.go
        // fileInfoResult as Go marshals them (omitempty fields absent).
        let services: Vec<ServiceInfo> = serde_json::from_str(
            r#"[{"name":"prometheus","startup":"enabled","current":"active","current-since":"2026-11-29T22:00:00Z"},{"name":"x","startup":"disabled","current":"something-new"}]"#,
        )
        .unwrap();
        assert_eq!(services[0].current, ServiceStatus::Active);
        assert_eq!(services[1].current, ServiceStatus::Unknown);
        let checks: Vec<CheckInfo> = serde_json::from_str(
            r#"[{"name":"ready","level":"ready","startup":"enabled","status":"down","successes":0,"failures":3,"threshold":3,"change-id":"7"}]"#,
        )
        .unwrap();
        assert_eq!(checks[0].status, CheckStatus::Down);
        assert_eq!(checks[0].level, Some(CheckLevel::Ready));
        let files: Vec<FileInfo> = serde_json::from_str(
            r#"[{"path":"/etc/prometheus","name":"prometheus","type":"directory","permissions":"755","last-modified":"2026-11-29T22:00:00Z","user-id":0,"user":"root","group-id":0,"group":"root"}]"#,
        )
        .unwrap();
        assert_eq!(files[0].file_type, FileType::Directory);
        assert_eq!(files[0].size, None);
    }
}
