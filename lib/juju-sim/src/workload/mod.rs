//! The workload runner of a live model: each unit's pod spec container runs as a local
//! process (the real Prometheus), with its volume files under a per-unit root and its
//! listen address on the unit's loopback "pod IP". Live peers (remote units played by a
//! real Alertmanager) are run the same way.
//!
//! Per unit, `<model>/workloads/<app>-<n>/` holds `root/` (the container's `/`), `log`
//! (the process's output) and `state.json` (what runs, from which definition).

pub(crate) mod container;
pub(crate) mod peers;
pub(crate) mod probe;
pub(crate) mod process;

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::debuglog;
use crate::model::{io_err, split_unit, write_atomic, Model, ModelDir, ModelError};
use crate::podspec;
use container::{Definition, MappedFile, Place, Plan};
use process::Running;

#[derive(Debug, Error)]
pub(crate) enum WorkloadError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("workload state {path} is damaged: {message}")]
    Corrupt { path: String, message: String },
    #[error("live peer {unit} did not become ready: {message}")]
    PeerNotReady { unit: String, message: String },
}

/// What the runner knows of one unit's workload between commands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    pub definition: Option<Definition>,
    pub pid: Option<u32>,
    pub start_time: Option<u64>,
    /// Times the process was started again (a new definition, or after it died).
    pub restarts: u32,
    /// The volume files written, to remove those a later spec no longer has.
    pub files: Vec<PathBuf>,
    pub notes: Vec<String>,
    /// Why nothing runs, when nothing does.
    pub message: String,
    /// Set when the workload could not be planned or started.
    #[serde(default)]
    pub failed: bool,
    /// The StatefulSet's pod template revision this pod runs: a new revision rolls the
    /// pod (restart), the same one only gets its ConfigMap files updated.
    #[serde(default)]
    pub template_revision: Option<u32>,
}

impl State {
    fn running(&self) -> Option<Running> {
        Some(Running {
            pid: self.pid?,
            start_time: self.start_time?,
        })
    }
}

/// `status` for one workload, as `juju-sim status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct WorkloadStatus {
    /// `running`, `stopped` or `failed`.
    pub state: String,
    pub pid: Option<u32>,
    pub address: String,
    pub ready: bool,
    pub restarts: u32,
    pub message: String,
}

/// What reconciling did to one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Started,
    Restarted,
    FilesUpdated,
    Unchanged,
    Stopped,
    Failed,
}

pub(crate) fn unit_dir(dir: &ModelDir, unit: &str) -> PathBuf {
    dir.root.join("workloads").join(unit.replace('/', "-"))
}

fn state_file(dir: &ModelDir, unit: &str) -> PathBuf {
    unit_dir(dir, unit).join("state.json")
}

pub(crate) fn log_file(dir: &ModelDir, unit: &str) -> PathBuf {
    unit_dir(dir, unit).join("log")
}

fn load_path(path: &Path) -> Result<State, WorkloadError> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| WorkloadError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(io_err(path)(e).into()),
    }
}

pub(crate) fn load(dir: &ModelDir, unit: &str) -> Result<State, WorkloadError> {
    load_path(&state_file(dir, unit))
}

fn save(dir: &ModelDir, unit: &str, state: &State) -> Result<(), WorkloadError> {
    let path = state_file(dir, unit);
    let text = serde_json::to_string_pretty(state).map_err(|e| WorkloadError::Corrupt {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(write_atomic(&path, text.as_bytes())?)
}

/// Where unit `unit` of our application lives.
pub(crate) fn place(dir: &ModelDir, model: &Model, unit: &str) -> Place {
    let (app, n) = split_unit(unit).unwrap_or((unit, 0));
    Place {
        pod_name: format!("{app}-{n}"),
        pod_ip: model.unit_address(unit).unwrap_or_default(),
        namespace: model.name.clone(),
        root: unit_dir(dir, unit).join("root"),
        storage: model
            .app()
            .map(|a| {
                a.charm
                    .metadata
                    .storage
                    .iter()
                    .map(|s| s.location.clone())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn log_line(dir: &ModelDir, unit: &str, text: &str) -> Result<(), WorkloadError> {
    let line = debuglog::line(unit, "INFO", "juju-sim.workload", text);
    Ok(debuglog::append(dir, &[line])?)
}

/// Brings every unit of our application in line with the stored pod spec. Does nothing
/// for a model that is not live.
pub(crate) fn reconcile(dir: &ModelDir, model: &Model) -> Result<(), WorkloadError> {
    if !model.live {
        return Ok(());
    }
    let Ok(app) = model.app() else {
        return Ok(());
    };
    // The pods run what the controller applied, which may lag the stored spec (an apply
    // the API server refused leaves the old template and files in force).
    let revision = app.statefulset.revision;
    let spec = app
        .statefulset
        .applied
        .as_ref()
        .map(|s| podspec::parse(&s.text()).map_err(|e| format!("pod spec: {e}")));
    for unit in app.unit_names() {
        let wanted = match &spec {
            None => None,
            Some(Err(e)) => Some(Err(e.clone())),
            Some(Ok(spec)) => Some(container::plan(spec, &place(dir, model, &unit))),
        };
        let outcome = match wanted {
            None => stop_unit(dir, &unit, "no pod spec has been set").map(|_| Outcome::Stopped),
            Some(plan) => apply(dir, &unit, plan, revision),
        }?;
        if let Some(text) = describe(outcome, &load(dir, &unit)?) {
            log_line(dir, &unit, &text)?;
        }
    }
    Ok(())
}

/// The debug-log line for what reconciling did, if it did anything.
fn describe(outcome: Outcome, state: &State) -> Option<String> {
    let program = state
        .definition
        .as_ref()
        .map(|d| d.program.as_str())
        .unwrap_or_default();
    let pid = state.pid.unwrap_or_default();
    Some(match outcome {
        Outcome::Unchanged | Outcome::Stopped => return None,
        Outcome::FilesUpdated => format!("updated the files of workload process {pid} in place"),
        Outcome::Started => format!("started workload process {pid}: {program}"),
        Outcome::Restarted => format!("restarted workload process {pid}: {program}"),
        Outcome::Failed => format!("workload not running: {}", state.message),
    })
}

/// Runs `plan` for `unit` (from pod template `revision`): writes its files, then keeps,
/// starts or restarts the process. Whether to restart is not decided here: a process that
/// is alive keeps running as long as the template revision it runs is still in force
/// (the StatefulSet controller rolls a pod only for a new template; see `kubernetes`).
pub(crate) fn apply(
    dir: &ModelDir,
    unit: &str,
    plan: Result<Plan, String>,
    revision: u32,
) -> Result<Outcome, WorkloadError> {
    let mut state = load(dir, unit)?;
    let plan = match plan {
        Ok(p) => p,
        Err(message) => {
            if let Some(r) = state.running() {
                process::stop(r, process::GRACE);
            }
            state.definition = None;
            state.pid = None;
            state.start_time = None;
            state.message = message;
            state.failed = true;
            save(dir, unit, &state)?;
            return Ok(Outcome::Failed);
        }
    };
    for m in &plan.definition.mounts {
        fs::create_dir_all(m).map_err(io_err(m))?;
    }
    let files_changed = write_files(&plan.files, &state.files)?;
    state.files = plan.files.iter().map(|f| f.path.clone()).collect();
    state.notes = plan.notes.clone();
    let alive = state.running().is_some_and(process::alive);
    let same_template = state.template_revision == Some(revision) && state.definition.is_some();
    state.template_revision = Some(revision);
    if same_template && alive {
        save(dir, unit, &state)?;
        return Ok(if files_changed {
            Outcome::FilesUpdated
        } else {
            Outcome::Unchanged
        });
    }
    let had_process = state.pid.is_some();
    if let Some(r) = state.running() {
        process::stop(r, process::GRACE);
    }
    let d = &plan.definition;
    let log = log_file(dir, unit);
    state.definition = Some(d.clone());
    let outcome = match process::spawn(&d.program, &d.args, &d.env, &d.working_dir, &log) {
        Ok(r) => {
            state.pid = Some(r.pid);
            state.start_time = Some(r.start_time);
            state.message.clear();
            state.failed = false;
            if had_process {
                state.restarts += 1;
                Outcome::Restarted
            } else {
                Outcome::Started
            }
        }
        Err(e) => {
            state.pid = None;
            state.start_time = None;
            state.message = format!("cannot start {}: {e}", d.program);
            state.failed = true;
            Outcome::Failed
        }
    };
    save(dir, unit, &state)?;
    Ok(outcome)
}

/// Replaces each file whose content or mode differs (write beside, rename over) and
/// removes the files of `before` no longer wanted; true when anything changed.
fn write_files(files: &[MappedFile], before: &[PathBuf]) -> Result<bool, WorkloadError> {
    let mut changed = false;
    for f in files {
        let current = fs::read(&f.path).ok();
        let mode = fs::metadata(&f.path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777);
        if current.as_deref() == Some(f.content.as_bytes()) && mode == Some(f.mode) {
            continue;
        }
        let dir = f.path.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
        tmp.write_all(f.content.as_bytes())
            .map_err(io_err(&f.path))?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(f.mode))
            .map_err(io_err(&f.path))?;
        tmp.persist(&f.path).map_err(|e| io_err(&f.path)(e.error))?;
        changed = true;
    }
    for old in before {
        if !files.iter().any(|f| f.path == *old) {
            match fs::remove_file(old) {
                Ok(()) => changed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(old)(e).into()),
            }
        }
    }
    Ok(changed)
}

/// Stops the unit's process (if any) and records why nothing runs.
pub(crate) fn stop_unit(dir: &ModelDir, unit: &str, why: &str) -> Result<(), WorkloadError> {
    if !state_file(dir, unit).exists() {
        // Nothing ever ran for this unit (or the model is not live).
        return Ok(());
    }
    let mut state = load(dir, unit)?;
    if let Some(r) = state.running() {
        process::stop(r, process::GRACE);
        log_line(dir, unit, &format!("stopped workload process {}", r.pid))?;
    }
    state.pid = None;
    state.start_time = None;
    state.message = why.to_string();
    state.failed = false;
    save(dir, unit, &state)
}

/// Stops every process of the model, ours and live peers alike; returns their PIDs.
pub(crate) fn stop_all(dir: &ModelDir) -> Result<Vec<u32>, WorkloadError> {
    let root = dir.root.join("workloads");
    let entries = match fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&root)(e).into()),
    };
    let mut running = Vec::new();
    for entry in entries.flatten() {
        // A damaged state file must not keep the others running.
        if let Some(r) = load_path(&entry.path().join("state.json"))
            .ok()
            .and_then(|s| s.running())
        {
            running.push(r);
        }
    }
    // Every process gets SIGTERM first, so they shut down side by side.
    let stopped: Vec<std::thread::JoinHandle<u32>> = running
        .into_iter()
        .map(|r| {
            std::thread::spawn(move || {
                process::stop(r, process::GRACE);
                r.pid
            })
        })
        .collect();
    Ok(stopped.into_iter().filter_map(|h| h.join().ok()).collect())
}

/// The last line the process wrote, for a failed workload's message.
fn last_log_line(path: &Path) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut tail = Vec::new();
    let _ = file.read_to_end(&mut tail);
    let text = String::from_utf8_lossy(&tail);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    line.chars().take(300).collect()
}

/// The workload of `unit` now: its process checked, its probes run.
pub(crate) fn status(dir: &ModelDir, unit: &str) -> Result<WorkloadStatus, WorkloadError> {
    let state = load(dir, unit)?;
    let address = state
        .definition
        .as_ref()
        .map(|d| d.address.clone())
        .unwrap_or_default();
    let base = WorkloadStatus {
        state: "stopped".into(),
        pid: None,
        address,
        ready: false,
        restarts: state.restarts,
        message: if state.message.is_empty() && state.pid.is_none() {
            "no pod spec has been set".into()
        } else {
            state.message.clone()
        },
    };
    let Some(running) = state.running() else {
        return Ok(WorkloadStatus {
            state: if state.failed { "failed" } else { "stopped" }.into(),
            ..base
        });
    };
    if !process::alive(running) {
        return Ok(WorkloadStatus {
            state: "failed".into(),
            message: format!(
                "process {} exited: {}",
                running.pid,
                last_log_line(&log_file(dir, unit))
            ),
            ..base
        });
    }
    let definition = state.definition.as_ref();
    let readiness = definition
        .and_then(|d| d.readiness.as_ref())
        .map_or(Ok(()), probe::check);
    let liveness = definition
        .and_then(|d| d.liveness.as_ref())
        .map_or(Ok(()), probe::check);
    let message = match (&readiness, &liveness) {
        (Err(e), _) => format!("readiness probe failed: {e}"),
        (Ok(()), Err(e)) => format!("liveness probe failed: {e}"),
        (Ok(()), Ok(())) => state.notes.join("; "),
    };
    Ok(WorkloadStatus {
        state: "running".into(),
        pid: Some(running.pid),
        ready: readiness.is_ok(),
        message,
        ..base
    })
}
