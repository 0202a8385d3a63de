use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::log::LogLevel;
use crate::tools::{
    HookTools, NetworkInfo, RelationData, RelationId, Status, StatusInfo, StatusScope, ToolError,
};

/// Runs the hook tools as processes, found on `PATH` (where Juju puts its tools directory)
/// or in an explicit directory.
#[derive(Debug, Clone, Default)]
pub struct ProcessTools {
    tools_dir: Option<PathBuf>,
}

impl ProcessTools {
    /// Tools found on `PATH`, as in a real hook.
    pub fn new() -> Self {
        ProcessTools { tools_dir: None }
    }

    /// Tools found in `dir` (a tools directory of symlinks, like Juju's).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        ProcessTools {
            tools_dir: Some(dir.into()),
        }
    }

    fn command(&self, tool: &str) -> Command {
        match &self.tools_dir {
            Some(dir) => Command::new(dir.join(tool)),
            None => Command::new(tool),
        }
    }

    /// Runs `tool args...`, feeding `stdin` when given; returns stdout on exit 0.
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Result<String, ToolError> {
        let mut cmd = self.command(tool);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| ToolError::Spawn {
            tool: tool.to_string(),
            source,
        })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A tool that exits early closes its stdin; its exit status tells the story.
            let _ = pipe.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|source| ToolError::Spawn {
                tool: tool.to_string(),
                source,
            })?;
        if !out.status.success() {
            return Err(ToolError::Failed {
                tool: tool.to_string(),
                args: args.to_vec(),
                code: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn run_json<T: DeserializeOwned>(&self, tool: &str, args: &[&str]) -> Result<T, ToolError> {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push("--format=json".to_string());
        let out = self.run(tool, &args, None)?;
        // An empty answer is Juju's way of saying null in some releases.
        let text = if out.trim().is_empty() { "null" } else { &out };
        serde_json::from_str(text).map_err(|source| ToolError::Output {
            tool: tool.to_string(),
            args,
            source,
        })
    }

    fn run_plain(&self, tool: &str, args: &[&str]) -> Result<(), ToolError> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        self.run(tool, &args, None).map(|_| ())
    }

    fn run_with_stdin(&self, tool: &str, args: &[&str], input: &[u8]) -> Result<(), ToolError> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        self.run(tool, &args, Some(input)).map(|_| ())
    }
}

fn key_values(data: &BTreeMap<String, String>) -> Vec<String> {
    data.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn json_bytes<T: serde::Serialize>(tool: &str, value: &T) -> Result<Vec<u8>, ToolError> {
    serde_json::to_vec(value).map_err(|e| ToolError::Input {
        tool: tool.to_string(),
        source: std::io::Error::other(e),
    })
}

fn write_temp(
    tool: &str,
    dir: &tempfile::TempDir,
    name: &str,
    text: &str,
) -> Result<String, ToolError> {
    let path = dir.path().join(name);
    std::fs::write(&path, text).map_err(|source| ToolError::Input {
        tool: tool.to_string(),
        source,
    })?;
    Ok(path.to_string_lossy().into_owned())
}

impl HookTools for ProcessTools {
    fn config_get(&self) -> Result<Map<String, Value>, ToolError> {
        let v: Option<Map<String, Value>> = self.run_json("config-get", &[])?;
        Ok(v.unwrap_or_default())
    }

    fn is_leader(&self) -> Result<bool, ToolError> {
        self.run_json("is-leader", &[])
    }

    fn relation_ids(&self, endpoint: &str) -> Result<Vec<RelationId>, ToolError> {
        let raw: Option<Vec<String>> = self.run_json("relation-ids", &[endpoint])?;
        Ok(raw
            .unwrap_or_default()
            .iter()
            .filter_map(|r| RelationId::parse(r))
            .collect())
    }

    fn relation_list(&self, relation: &RelationId) -> Result<Vec<String>, ToolError> {
        let r = relation.to_string();
        let v: Option<Vec<String>> = self.run_json("relation-list", &["-r", &r])?;
        Ok(v.unwrap_or_default())
    }

    fn relation_remote_app(&self, relation: &RelationId) -> Result<Option<String>, ToolError> {
        let r = relation.to_string();
        self.run_json("relation-list", &["-r", &r, "--app"])
    }

    fn relation_get(
        &self,
        relation: &RelationId,
        unit_or_app: &str,
        app: bool,
    ) -> Result<RelationData, ToolError> {
        let r = relation.to_string();
        let mut args = vec!["-r", r.as_str()];
        if app {
            args.push("--app");
        }
        args.extend(["-", unit_or_app]);
        let v: Option<RelationData> = self.run_json("relation-get", &args)?;
        Ok(v.unwrap_or_default())
    }

    fn relation_set(
        &self,
        relation: &RelationId,
        data: &RelationData,
        app: bool,
    ) -> Result<(), ToolError> {
        let r = relation.to_string();
        let mut args = vec!["-r", r.as_str()];
        if app {
            args.push("--app");
        }
        args.extend(["--file", "-"]);
        // JSON is YAML, and it keeps multi-line and space-padded values intact.
        let input = json_bytes("relation-set", data)?;
        self.run_with_stdin("relation-set", &args, &input)
    }

    fn resource_get(&self, name: &str) -> Result<PathBuf, ToolError> {
        let out = self.run("resource-get", &[name.to_string()], None)?;
        Ok(PathBuf::from(out.trim_end_matches('\n')))
    }

    fn pod_spec_set(&self, spec_yaml: &str, k8s_resources: Option<&str>) -> Result<(), ToolError> {
        let tool = "pod-spec-set";
        let dir = tempfile::tempdir().map_err(|source| ToolError::Input {
            tool: tool.to_string(),
            source,
        })?;
        let spec_path = write_temp(tool, &dir, "spec.yaml", spec_yaml)?;
        let mut args = vec!["--file".to_string(), spec_path];
        if let Some(res) = k8s_resources {
            args.push("--k8s-resources".to_string());
            args.push(write_temp(tool, &dir, "k8s-resources.yaml", res)?);
        }
        self.run(tool, &args, None).map(|_| ())
    }

    fn status_set(&self, scope: StatusScope, status: &Status) -> Result<(), ToolError> {
        let app = match scope {
            StatusScope::Unit => "--application=False",
            StatusScope::Application => "--application=True",
        };
        self.run_plain(
            "status-set",
            &[app, status.kind.as_str(), "--", status.message.as_str()],
        )
    }

    fn status_get(&self) -> Result<StatusInfo, ToolError> {
        self.run_json("status-get", &["--include-data", "--application=False"])
    }

    fn application_version_set(&self, version: &str) -> Result<(), ToolError> {
        self.run_plain("application-version-set", &["--", version])
    }

    fn juju_log(&self, level: LogLevel, message: &str) -> Result<(), ToolError> {
        self.run_plain("juju-log", &["--log-level", level.as_str(), "--", message])
    }

    fn network_get(
        &self,
        binding: &str,
        relation: Option<&RelationId>,
    ) -> Result<NetworkInfo, ToolError> {
        match relation {
            Some(r) => {
                let r = r.to_string();
                self.run_json("network-get", &[binding, "-r", &r])
            }
            None => self.run_json("network-get", &[binding]),
        }
    }

    fn leader_get(&self) -> Result<BTreeMap<String, String>, ToolError> {
        let v: Option<BTreeMap<String, String>> = self.run_json("leader-get", &[])?;
        Ok(v.unwrap_or_default())
    }

    fn leader_set(&self, data: &BTreeMap<String, String>) -> Result<(), ToolError> {
        let args = key_values(data);
        self.run("leader-set", &args, None).map(|_| ())
    }

    fn action_get(&self) -> Result<Map<String, Value>, ToolError> {
        let v: Option<Map<String, Value>> = self.run_json("action-get", &[])?;
        Ok(v.unwrap_or_default())
    }

    fn action_set(&self, results: &BTreeMap<String, String>) -> Result<(), ToolError> {
        let args = key_values(results);
        self.run("action-set", &args, None).map(|_| ())
    }

    fn action_fail(&self, message: &str) -> Result<(), ToolError> {
        self.run_plain("action-fail", &[message])
    }

    fn action_log(&self, message: &str) -> Result<(), ToolError> {
        self.run_plain("action-log", &["--", message])
    }

    fn state_get(&self) -> Result<BTreeMap<String, String>, ToolError> {
        let v: Option<BTreeMap<String, String>> = self.run_json("state-get", &[])?;
        Ok(v.unwrap_or_default())
    }

    fn state_set(&self, data: &BTreeMap<String, String>) -> Result<(), ToolError> {
        let input = json_bytes("state-set", data)?;
        self.run_with_stdin("state-set", &["--file", "-"], &input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Writes a shell script standing in for one tool, recording its argv and stdin.
    fn fake_tool(dir: &std::path::Path, name: &str, body: &str) {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn reads_json_and_passes_format() {
        let dir = tempfile::tempdir().unwrap();
        fake_tool(
            dir.path(),
            "relation-ids",
            r#"[ "$1" = alertmanager ] && [ "$2" = --format=json ] && echo '["alertmanager:4","alertmanager:11"]'"#,
        );
        let tools = ProcessTools::in_dir(dir.path());
        let ids = tools.relation_ids("alertmanager").unwrap();
        assert_eq!(
            ids,
            vec![
                RelationId::new("alertmanager", 4),
                RelationId::new("alertmanager", 11)
            ]
        );
    }

    #[test]
    fn failure_carries_tool_args_code_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        fake_tool(
            dir.path(),
            "pod-spec-set",
            "echo 'ERROR this unit is not the leader' >&2; exit 1",
        );
        let tools = ProcessTools::in_dir(dir.path());
        match tools.pod_spec_set("version: 3\n", None) {
            Err(ToolError::Failed {
                tool, code, stderr, ..
            }) => {
                assert_eq!(tool, "pod-spec-set");
                assert_eq!(code, Some(1));
                assert!(stderr.contains("not the leader"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn relation_set_sends_json_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record");
        fake_tool(
            dir.path(),
            "relation-set",
            &format!("echo \"$@\" > {0}; cat >> {0}", record.display()),
        );
        let tools = ProcessTools::in_dir(dir.path());
        let data: RelationData = [("port".to_string(), "9090".to_string())].into();
        tools
            .relation_set(&RelationId::new("grafana-source", 3), &data, true)
            .unwrap();
        let seen = std::fs::read_to_string(record).unwrap();
        assert_eq!(
            seen,
            "-r grafana-source:3 --app --file -\n{\"port\":\"9090\"}"
        );
    }

    #[test]
    fn missing_tool_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let tools = ProcessTools::in_dir(dir.path());
        assert!(matches!(tools.is_leader(), Err(ToolError::Spawn { .. })));
    }
}
