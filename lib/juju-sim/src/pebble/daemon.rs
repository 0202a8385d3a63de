//! The stand-in's daemon: Pebble's state (layers, changes, services, checks, execs) in
//! one process per unit and container, its API routed as `internals/daemon/api.go` does.
//! Service changes run in the background, as Pebble's do, and `/v1/changes/{id}/wait`
//! waits for them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

use super::changes::{rfc3339, Change, Task};
use super::duration::duration;
use super::mapping::{split_command, Mapper, DEFAULT_PATH};
use super::plan::{self, Layer};

/// Pebble's version this stand-in answers with (the source it follows).
pub(crate) const VERSION: &str = "v1.32.1";
/// How long a started service must keep running to count as started (`okayDelay`).
const OKAY_DELAY: Duration = Duration::from_secs(1);
/// Pebble's default `kill-delay`.
const KILL_DELAY: Duration = Duration::from_secs(5);

/// What the daemon is started with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub container: String,
    pub mapper: Mapper,
    /// Run services and exec for real; otherwise they are recorded only.
    pub live: bool,
    /// Services' output, and in recorded mode what would have run.
    pub log: PathBuf,
    pub boot_id: String,
}

pub(crate) struct Service {
    pub current: String,
    pub since: SystemTime,
    child: Option<Child>,
    /// The plan's definition the service was last started from.
    pub started_with: Option<Map<String, Value>>,
    /// When the process was started (a run longer than the backoff limit resets backoff).
    started_at: Instant,
    /// In `backoff`: when the service restarts, and the delay that got it there.
    restart_at: Option<Instant>,
    backoff: Option<Duration>,
}

/// Pebble's defaults for `backoff-delay`, `backoff-factor` and `backoff-limit`.
const BACKOFF_DELAY: Duration = Duration::from_millis(500);
const BACKOFF_FACTOR: f64 = 2.0;
const BACKOFF_LIMIT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct State {
    pub layers: Vec<Layer>,
    pub changes: BTreeMap<u64, Change>,
    next_change: u64,
    next_task: u64,
    pub services: BTreeMap<String, Service>,
    pub checks: BTreeMap<String, CheckRuntime>,
    pub execs: BTreeMap<String, Arc<ExecSlot>>,
}

pub(crate) struct Daemon {
    pub cfg: Config,
    pub state: Mutex<State>,
    /// Notified whenever a change moves.
    pub moved: Condvar,
}

impl Daemon {
    pub(crate) fn new(cfg: Config) -> Arc<Daemon> {
        Arc::new(Daemon {
            cfg,
            state: Mutex::new(State::default()),
            moved: Condvar::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends a line to the daemon's log.
    pub(crate) fn note(&self, text: &str) {
        if let Ok(mut f) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cfg.log)
        {
            let _ = writeln!(f, "{} pebble: {text}", rfc3339(SystemTime::now(), false));
        }
    }

    pub(crate) fn plan(&self) -> Result<plan::Plan, String> {
        plan::combine(&self.lock().layers)
    }

    /// Creates a change with one task per `(kind, summary)`; returns its id and task ids.
    pub(crate) fn new_change(
        &self,
        kind: &str,
        summary: String,
        tasks: &[(String, String)],
    ) -> (u64, Vec<u64>) {
        let mut st = self.lock();
        st.next_change += 1;
        let id = st.next_change;
        let mut made = Vec::new();
        for (k, s) in tasks {
            st.next_task += 1;
            made.push(Task::new(st.next_task, k, s.clone()));
        }
        let ids = made.iter().map(|t| t.id).collect();
        st.changes.insert(
            id,
            Change {
                id,
                kind: kind.to_string(),
                summary,
                tasks: made,
                spawn: SystemTime::now(),
                ready: None,
                done_empty: tasks.is_empty(),
            },
        );
        (id, ids)
    }

    /// Updates a task; marks its change ready when it is.
    pub(crate) fn update_task(&self, change: u64, task: u64, f: impl FnOnce(&mut Task)) {
        let mut st = self.lock();
        if let Some(c) = st.changes.get_mut(&change) {
            if let Some(t) = c.tasks.iter_mut().find(|t| t.id == task) {
                f(t);
            }
            if c.is_ready() && c.ready.is_none() {
                c.ready = Some(SystemTime::now());
            }
        }
        drop(st);
        self.moved.notify_all();
    }

    /// Brings the services' states up to date with their processes.
    /// A process that exited is handled as its `on-success` / `on-failure` says (both
    /// `restart` by default): `restart` puts the service in `backoff` until
    /// [`Daemon::restart_due`] starts it again after `backoff-delay`, growing by
    /// `backoff-factor` up to `backoff-limit` (reset after a run longer than the limit);
    /// `ignore` and the `shutdown` actions leave it `inactive` (the stand-in does not
    /// shut itself down).
    pub(crate) fn reap(st: &mut State) {
        for s in st.services.values_mut() {
            let Some(child) = &mut s.child else {
                continue;
            };
            let Ok(Some(status)) = child.try_wait() else {
                continue;
            };
            s.child = None;
            s.since = SystemTime::now();
            let config = s.started_with.clone().unwrap_or_default();
            let key = if status.success() {
                "on-success"
            } else {
                "on-failure"
            };
            let action = plan::field(&config, key);
            if !matches!(action.as_str(), "" | "restart") {
                s.current = "inactive".into();
                continue;
            }
            let first = duration(&plan::field(&config, "backoff-delay")).unwrap_or(BACKOFF_DELAY);
            let limit = duration(&plan::field(&config, "backoff-limit")).unwrap_or(BACKOFF_LIMIT);
            let factor = config
                .get("backoff-factor")
                .and_then(Value::as_f64)
                .unwrap_or(BACKOFF_FACTOR);
            let delay = match s.backoff {
                Some(prev) if s.started_at.elapsed() < limit => prev.mul_f64(factor).min(limit),
                _ => first,
            };
            s.backoff = Some(delay);
            s.restart_at = Some(Instant::now() + delay);
            s.current = "backoff".into();
        }
    }

    /// Restarts the services whose backoff is over.
    pub(crate) fn restart_due(&self) {
        let due: Vec<(String, Map<String, Value>)> = {
            let mut st = self.lock();
            Self::reap(&mut st);
            let now = Instant::now();
            st.services
                .iter()
                .filter(|(_, s)| s.current == "backoff" && s.restart_at.is_some_and(|t| t <= now))
                .map(|(n, s)| (n.clone(), s.started_with.clone().unwrap_or_default()))
                .collect()
        };
        for (name, config) in due {
            let child = if self.cfg.live {
                match self.spawn_service(&name, &config) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.note(&format!("cannot restart service {name:?}: {e}"));
                        None
                    }
                }
            } else {
                None
            };
            let mut st = self.lock();
            if let Some(s) = st.services.get_mut(&name) {
                if s.current != "backoff" {
                    continue;
                }
                s.restart_at = None;
                s.since = SystemTime::now();
                match child {
                    Some(c) => {
                        self.note(&format!("restarted service {name:?} (pid {})", c.id()));
                        s.child = Some(c);
                        s.started_at = Instant::now();
                        s.current = "active".into();
                    }
                    None => s.current = "error".into(),
                }
            }
        }
    }

    /// Starts service `name` from the plan; a running one is left alone.
    fn start_service(&self, name: &str) -> Result<Option<String>, String> {
        let config = {
            let mut st = self.lock();
            Self::reap(&mut st);
            if st.services.get(name).is_some_and(|s| s.current == "active") {
                return Ok(Some(format!("Service {name:?} already started.")));
            }
            let plan = plan::combine(&st.layers)?;
            plan.services
                .get(name)
                .cloned()
                .ok_or_else(|| format!("service {name:?} does not exist"))?
        };
        let child = if self.cfg.live {
            Some(self.spawn_service(name, &config)?)
        } else {
            self.note(&format!(
                "recorded start of service {name:?}: {}",
                plan::field(&config, "command")
            ));
            None
        };
        let child = match child {
            Some(mut c) => {
                let deadline = Instant::now() + OKAY_DELAY;
                loop {
                    if let Ok(Some(status)) = c.try_wait() {
                        let code = status.code().unwrap_or(-1);
                        return Err(format!(
                            "cannot start service: exited quickly with code {code}"
                        ));
                    }
                    if Instant::now() >= deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                self.note(&format!("started service {name:?} (pid {})", c.id()));
                Some(c)
            }
            None => None,
        };
        let mut st = self.lock();
        st.services.insert(
            name.to_string(),
            Service {
                current: "active".into(),
                since: SystemTime::now(),
                child,
                started_with: Some(config),
                started_at: Instant::now(),
                restart_at: None,
                backoff: None,
            },
        );
        Ok(None)
    }

    fn spawn_service(&self, name: &str, config: &Map<String, Value>) -> Result<Child, String> {
        let words = split_command(&plan::field(config, "command"))
            .map_err(|e| format!("cannot start service: {e}"))?;
        let env = service_env(config);
        let path_var = env
            .get("PATH")
            .cloned()
            .unwrap_or_else(|| DEFAULT_PATH.into());
        let m = &self.cfg.mapper;
        let program = m.program(&words[0], &path_var).ok_or_else(|| {
            format!(
                "cannot start service: exec: {:?}: executable file not found in $PATH",
                words[0]
            )
        })?;
        let args = m.args(&words[1..]);
        let cwd = match plan::field(config, "working-dir") {
            w if w.is_empty() => m.root.clone(),
            w => m.file(&w).unwrap_or_else(|| m.root.clone()),
        };
        let _ = fs::create_dir_all(&cwd);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cfg.log)
            .map_err(|e| format!("cannot start service: {e}"))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("cannot start service: {e}"))?;
        self.note(&format!(
            "service {name:?}: {} {}",
            program.display(),
            args.join(" ")
        ));
        // The service stays in the daemon's process group: stopping the daemon's group
        // stops its services, as a container's end does.
        Command::new(&program)
            .args(&args)
            .env_clear()
            .envs(env)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start service: fork/exec {}: {e}", program.display()))
    }

    /// Stops service `name` (SIGTERM, SIGKILL after the kill delay).
    fn stop_service(&self, name: &str) -> Result<Option<String>, String> {
        let (child, kill_delay) = {
            let mut st = self.lock();
            Self::reap(&mut st);
            let delay = plan::combine(&st.layers)
                .ok()
                .and_then(|p| p.services.get(name).cloned())
                .and_then(|c| duration(&plan::field(&c, "kill-delay")))
                .unwrap_or(KILL_DELAY);
            let Some(s) = st.services.get_mut(name) else {
                return Ok(Some(format!("Service {name:?} is not running.")));
            };
            if s.current != "active" {
                s.child = None;
                s.restart_at = None;
                if s.current == "backoff" {
                    s.current = "inactive".into();
                    s.since = SystemTime::now();
                }
                return Ok(Some(format!("Service {name:?} is not running.")));
            }
            (s.child.take(), delay)
        };
        if let Some(mut c) = child {
            let pid = c.id();
            signal(pid, "TERM");
            let deadline = Instant::now() + kill_delay;
            while !matches!(c.try_wait(), Ok(Some(_))) {
                if Instant::now() >= deadline {
                    signal(pid, "KILL");
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.note(&format!("stopped service {name:?} (pid {pid})"));
        } else {
            self.note(&format!("recorded stop of service {name:?}"));
        }
        let mut st = self.lock();
        if let Some(s) = st.services.get_mut(name) {
            s.current = "inactive".into();
            s.since = SystemTime::now();
        }
        Ok(None)
    }

    /// Runs a change's tasks in the background, in order.
    pub(crate) fn run_change(self: &Arc<Self>, change: u64, steps: Vec<(u64, String, String)>) {
        let d = Arc::clone(self);
        std::thread::spawn(move || {
            for (task, kind, service) in steps {
                d.update_task(change, task, |t| t.status = "Doing".into());
                let result = match kind.as_str() {
                    "start" => d.start_service(&service),
                    _ => d.stop_service(&service),
                };
                d.update_task(change, task, |t| t.finish(result));
            }
        });
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A service's environment: Pebble's PATH unless the service sets one.
fn service_env(config: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([("PATH".to_string(), DEFAULT_PATH.to_string())]);
    if let Some(Value::Object(vars)) = config.get("environment") {
        for (k, v) in vars {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            env.insert(k.clone(), text);
        }
    }
    env
}

/// A check's state between runs.
#[derive(Debug, Clone)]
pub(crate) struct CheckRuntime {
    pub status: String,
    pub successes: u64,
    pub failures: u64,
    pub next: Instant,
    pub definition: Map<String, Value>,
    /// The `perform-check` (while up) or `recover-check` (while down) change and task.
    pub change: u64,
    pub task: u64,
}

#[derive(Default)]
pub(crate) struct Conns {
    pub control: Option<UnixStream>,
    pub stdio: Option<UnixStream>,
    pub stderr: Option<UnixStream>,
}

/// One exec waiting for, then using, its websockets.
pub(crate) struct ExecSlot {
    pub split_stderr: bool,
    pub conns: Mutex<Conns>,
    pub connected: Condvar,
}

impl ExecSlot {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
