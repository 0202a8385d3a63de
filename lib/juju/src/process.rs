use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wait_timeout::ChildExt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::level::LogLevel;
use crate::text::printable;
use crate::tools::{
    HookTools, NetworkInfo, RelationData, RelationId, Status, StatusInfo, StatusScope, ToolError,
};

/// How long one tool call may take. A tool is an RPC to the unit agent; one that never
/// answers would hang the hook (and the unit) for ever, so it is killed and the hook fails,
/// naming it, for Juju to retry.
pub(crate) const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the hook tools as processes, found on `PATH` (where Juju puts its tools directory)
/// or in an explicit directory.
#[derive(Debug, Clone)]
pub struct ProcessTools {
    tools_dir: Option<PathBuf>,
    timeout: Duration,
    /// Set once `juju-log` timed out: it is not called again in this hook (each line would
    /// wait the whole timeout), shared by every clone (the log layer holds one).
    log_hung: Arc<AtomicBool>,
}

impl Default for ProcessTools {
    fn default() -> Self {
        ProcessTools {
            tools_dir: None,
            timeout: TOOL_TIMEOUT,
            log_hung: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl ProcessTools {
    /// Tools found on `PATH`, as in a real hook.
    pub fn new() -> Self {
        ProcessTools::default()
    }

    /// Tools found in `dir` (a tools directory of symlinks, like Juju's).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        ProcessTools {
            tools_dir: Some(dir.into()),
            ..ProcessTools::default()
        }
    }

    /// The `juju-log` timeout, if one happened: the logging layer cannot fail the hook
    /// itself, so the entry point asks before exiting. A hung agent is worth a retry.
    pub fn log_timeout(&self) -> Option<ToolError> {
        self.log_hung
            .load(Ordering::Relaxed)
            .then(|| ToolError::Timeout {
                tool: "juju-log".to_string(),
                seconds: self.timeout.as_secs(),
            })
    }

    /// The same tools with another bound on each call (tests).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        ProcessTools { timeout, ..self }
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
        let (status, stdout, stderr) = self.wait(tool, &mut child)?;
        if !status.success() {
            return Err(ToolError::Failed {
                tool: tool.to_string(),
                args: args.to_vec(),
                code: status.code(),
                stderr,
            });
        }
        Ok(stdout)
    }

    /// Waits for the tool at most `timeout`, reading its output meanwhile (a tool whose
    /// output fills the pipe would otherwise never exit); kills it past the bound.
    fn wait(
        &self,
        tool: &str,
        child: &mut Child,
    ) -> Result<(ExitStatus, String, String), ToolError> {
        let spawn_error = |source| ToolError::Spawn {
            tool: tool.to_string(),
            source,
        };
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = reader(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = reader(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let Some(status) = child.wait_timeout(self.timeout).map_err(spawn_error)? else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ToolError::Timeout {
                tool: tool.to_string(),
                seconds: self.timeout.as_secs(),
            });
        };
        // The pipes close when the tool exits (unless it left a child holding them).
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        Ok((status, stdout, stderr))
    }

    fn run_json<T: DeserializeOwned>(&self, tool: &str, args: &[&str]) -> Result<T, ToolError> {
        let mut args: Vec<String> = args.iter().map(std::string::ToString::to_string).collect();
        args.push("--format=json".to_string());
        let out = self.run(tool, &args, None)?;
        // Juju prints nothing only for a single key that is not set, which the charm never
        // asks for; a nil map or list is `null`. Nothing at all is a broken tool, not "none".
        if out.trim().is_empty() {
            return Err(ToolError::Unexpected {
                tool: tool.to_string(),
                what: "nothing where JSON was expected".to_string(),
            });
        }
        serde_json::from_str(&out).map_err(|source| ToolError::Output {
            tool: tool.to_string(),
            args,
            source,
        })
    }

    fn run_plain(&self, tool: &str, args: &[&str]) -> Result<(), ToolError> {
        let args: Vec<String> = args.iter().map(std::string::ToString::to_string).collect();
        self.run(tool, &args, None).map(|_| ())
    }

    /// `relation-get -r <id> [flags] - <whose>`: one databag, `{}` for a nil one.
    fn relation_get(
        &self,
        relation: &RelationId,
        flags: &[&str],
        whose: &str,
    ) -> Result<RelationData, ToolError> {
        let r = relation.to_string();
        let mut args = vec!["-r", r.as_str()];
        args.extend(flags);
        args.extend(["-", whose]);
        let v: Option<RelationData> = self.run_json("relation-get", &args)?;
        Ok(v.unwrap_or_default())
    }

    fn run_with_stdin(&self, tool: &str, args: &[&str], input: &[u8]) -> Result<(), ToolError> {
        let args: Vec<String> = args.iter().map(std::string::ToString::to_string).collect();
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
        raw.unwrap_or_default()
            .iter()
            .map(|r| {
                RelationId::parse(r).ok_or_else(|| ToolError::Unexpected {
                    tool: "relation-ids".to_string(),
                    what: format!("{r:?}, which is no relation id"),
                })
            })
            .collect()
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

    fn relation_get_unit(
        &self,
        relation: &RelationId,
        unit: &str,
    ) -> Result<RelationData, ToolError> {
        self.relation_get(relation, &[], unit)
    }

    fn relation_get_app(
        &self,
        relation: &RelationId,
        app: &str,
    ) -> Result<RelationData, ToolError> {
        self.relation_get(relation, &["--app"], app)
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
        let message = printable(&status.message, false);
        self.run_plain("status-set", &[app, status.kind.as_str(), "--", &message])
    }

    fn status_get(&self) -> Result<StatusInfo, ToolError> {
        self.run_json("status-get", &["--include-data", "--application=False"])
    }

    fn application_version_set(&self, version: &str) -> Result<(), ToolError> {
        self.run_plain("application-version-set", &["--", version])
    }

    fn juju_log(&self, level: LogLevel, message: &str) -> Result<(), ToolError> {
        let tool = "juju-log";
        if self.log_hung.load(Ordering::Relaxed) {
            return Err(ToolError::Timeout {
                tool: tool.to_string(),
                seconds: self.timeout.as_secs(),
            });
        }
        let message = printable(message, true);
        let result = self.run_plain(tool, &["--log-level", level.as_str(), "--", &message]);
        if matches!(result, Err(ToolError::Timeout { .. })) {
            self.log_hung.store(true, Ordering::Relaxed);
        }
        result
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
        self.run_plain("action-fail", &[&printable(message, true)])
    }

    fn action_log(&self, message: &str) -> Result<(), ToolError> {
        self.run_plain("action-log", &["--", &printable(message, true)])
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

    /// The tests here write scripts and run them; run concurrently, one test's fork can hold
    /// another's freshly written script open for writing, and exec fails with "Text file
    /// busy". So they take turns.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes a shell script standing in for one tool, recording its argv and stdin.
    fn fake_tool(dir: &std::path::Path, name: &str, body: &str) {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn reads_json_and_passes_format() {
        let _turn = serial();
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
    fn output_that_cannot_be_what_juju_prints_is_a_failure_not_none() {
        let _turn = serial();
        let dir = tempfile::tempdir().unwrap();
        let tools = ProcessTools::in_dir(dir.path());
        for (body, what) in [
            ("true", "nothing where JSON"),
            ("echo", "nothing where JSON"),
            ("echo '[\"metrics-endpoint\"]'", "which is no relation id"),
            ("echo '[\"metrics-endpoint:x\"]'", "which is no relation id"),
        ] {
            fake_tool(dir.path(), "relation-ids", body);
            let e = tools.relation_ids("metrics-endpoint").unwrap_err();
            assert!(e.to_string().contains(what), "{body}: {e}");
        }
        fake_tool(dir.path(), "relation-ids", "echo '<html>'");
        assert!(matches!(
            tools.relation_ids("metrics-endpoint"),
            Err(ToolError::Output { .. })
        ));
        // `null` is how Juju prints a nil list: none.
        fake_tool(dir.path(), "relation-ids", "echo null");
        assert_eq!(tools.relation_ids("metrics-endpoint").unwrap(), vec![]);
        fake_tool(dir.path(), "relation-list", "true");
        assert!(tools
            .relation_list(&RelationId::new("metrics-endpoint", 1))
            .is_err());
    }

    #[test]
    fn a_tool_that_never_returns_is_killed_and_named() {
        let _turn = serial();
        let dir = tempfile::tempdir().unwrap();
        fake_tool(dir.path(), "is-leader", "exec sleep 30");
        fake_tool(
            dir.path(),
            "juju-log",
            "echo $$ >> \"$(dirname \"$0\")/log-calls\"; exec sleep 30",
        );
        let tools = ProcessTools::in_dir(dir.path()).with_timeout(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let e = tools.is_leader().unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(e.to_string(), "is-leader did not finish within 0s");
        assert!(tools.log_timeout().is_none());
        let logger = tools.clone();
        assert!(logger.juju_log(LogLevel::Info, "one").is_err());
        assert!(logger.juju_log(LogLevel::Info, "two").is_err());
        let calls = std::fs::read_to_string(dir.path().join("log-calls")).unwrap();
        assert_eq!(
            calls.lines().count(),
            1,
            "not called again after timing out"
        );
        assert!(tools.log_timeout().is_some(), "every clone knows");
    }

    #[test]
    fn operator_facing_text_reaches_the_tools_without_control_characters() {
        let _turn = serial();
        let dir = tempfile::tempdir().unwrap();
        for tool in ["status-set", "juju-log", "action-fail"] {
            fake_tool(
                dir.path(),
                tool,
                &format!("for a; do printf '%s|' \"$a\"; done > \"$(dirname \"$0\")/{tool}.args\""),
            );
        }
        let tools = ProcessTools::in_dir(dir.path());
        let hostile = "reload failed: \u{1b}[2J\u{1b}[31mboom\nline two";
        tools
            .status_set(
                StatusScope::Unit,
                &Status::new(crate::StatusKind::Blocked, hostile),
            )
            .unwrap();
        tools.juju_log(LogLevel::Warning, hostile).unwrap();
        tools.action_fail(hostile).unwrap();
        let said =
            |tool: &str| std::fs::read_to_string(dir.path().join(format!("{tool}.args"))).unwrap();
        for tool in ["status-set", "juju-log", "action-fail"] {
            assert!(!said(tool).contains('\u{1b}'), "{tool}: {:?}", said(tool));
            assert!(
                said(tool).contains("\\u{1b}[31mboom"),
                "{tool}: {:?}",
                said(tool)
            );
        }
        assert!(said("status-set").contains("boom\\u{a}line two"));
        assert!(said("juju-log").contains("boom\nline two"));
    }

    #[test]
    fn a_large_output_does_not_block_the_tool() {
        let _turn = serial();
        let dir = tempfile::tempdir().unwrap();
        // Over a pipe's buffer (64 KiB): the tool only exits once it is read.
        fake_tool(
            dir.path(),
            "relation-get",
            r#"printf '{"k":"'; head -c 300000 /dev/zero | tr '\0' a; printf '"}'"#,
        );
        let tools = ProcessTools::in_dir(dir.path()).with_timeout(Duration::from_secs(20));
        let data = tools
            .relation_get_unit(&RelationId::new("metrics-endpoint", 1), "zinc/0")
            .unwrap();
        assert_eq!(data["k"].len(), 300_000);
    }

    #[test]
    fn failure_carries_tool_args_code_and_stderr() {
        let _turn = serial();
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
        let _turn = serial();
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
        let _turn = serial();
        let dir = tempfile::tempdir().unwrap();
        let tools = ProcessTools::in_dir(dir.path());
        assert!(matches!(tools.is_leader(), Err(ToolError::Spawn { .. })));
    }
}
