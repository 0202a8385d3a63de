//! The stand-in's daemon: Pebble's state (layers, changes, services, checks, execs) in
//! one process per unit and container, its API routed as `internals/daemon/api.go` does.
//! Service changes run in the background, as Pebble's do, and `/v1/changes/{id}/wait`
//! waits for them.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};

use super::changes::{rfc3339, Change, Task};
use super::exec::ExecSlot;
use super::http::{self, bad_request, Request, Response};
use super::mapping::{split_command, Mapper, DEFAULT_PATH};
use super::plan::{self, Layer};
use super::{checks, exec, files};

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
    started_with: Option<Map<String, Value>>,
}

#[derive(Default)]
pub(crate) struct State {
    pub layers: Vec<Layer>,
    pub changes: BTreeMap<u64, Change>,
    next_change: u64,
    next_task: u64,
    pub services: BTreeMap<String, Service>,
    pub checks: BTreeMap<String, checks::Runtime>,
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
    fn reap(st: &mut State) {
        for s in st.services.values_mut() {
            if let Some(child) = &mut s.child {
                if let Ok(Some(_)) = child.try_wait() {
                    s.child = None;
                    s.current = "error".into();
                    s.since = SystemTime::now();
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
                .and_then(|c| checks::duration(&plan::field(&c, "kill-delay")))
                .unwrap_or(KILL_DELAY);
            let Some(s) = st.services.get_mut(name) else {
                return Ok(Some(format!("Service {name:?} is not running.")));
            };
            if s.current != "active" {
                s.child = None;
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
    fn run_change(self: &Arc<Self>, change: u64, steps: Vec<(u64, String, String)>) {
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

/// Serves the API on `listener` until the process is stopped.
pub(crate) fn serve(daemon: Arc<Daemon>, listener: UnixListener) {
    checks::start(Arc::clone(&daemon));
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            continue;
        };
        let d = Arc::clone(&daemon);
        std::thread::spawn(move || connection(&d, stream));
    }
}

fn connection(daemon: &Arc<Daemon>, stream: UnixStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let request = match http::read_request(&mut reader) {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            let mut w = stream;
            let _ = http::write_response(&mut w, &bad_request(&e.to_string()));
            return;
        }
    };
    if request.is_websocket() {
        exec::websocket(daemon, &request, stream);
        return;
    }
    let response = route(daemon, &request, &stream);
    if let Some(r) = response {
        let mut w = stream;
        let _ = http::write_response(&mut w, &r);
    }
}

fn method_not_allowed(r: &Request) -> Response {
    http::error(405, &format!("method {:?} not allowed", r.method), None)
}

/// Pebble's routes; `None` when the handler wrote the response itself.
fn route(d: &Arc<Daemon>, r: &Request, stream: &UnixStream) -> Option<Response> {
    let path = r.path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let m = r.method.as_str();
    Some(match (m, segments.as_slice()) {
        ("GET", ["v1", "system-info"]) => http::sync(json!({
            "boot-id": d.cfg.boot_id,
            "version": VERSION,
        })),
        ("GET", ["v1", "health"]) => http::sync(json!({"healthy": true})),
        ("GET", ["v1", "plan"]) => get_plan(d, r),
        ("POST", ["v1", "layers"]) => post_layers(d, r),
        ("GET", ["v1", "services"]) => get_services(d, r),
        ("POST", ["v1", "services"]) => post_services(d, r),
        ("GET", ["v1", "changes"]) => {
            let st = d.lock();
            let all: Vec<Value> = st.changes.values().map(Change::to_json).collect();
            http::sync(Value::Array(all))
        }
        ("GET", ["v1", "changes", id]) => get_change(d, id, None),
        ("GET", ["v1", "changes", id, "wait"]) => get_change(d, id, Some(r)),
        ("GET", ["v1", "files"]) => return files::get(d, r, stream),
        ("POST", ["v1", "files"]) => files::post(d, r),
        ("POST", ["v1", "exec"]) => exec::post(d, r),
        ("GET", ["v1", "checks"]) => checks::get(d, r),
        (
            _,
            ["v1", "system-info" | "plan" | "layers" | "services" | "files" | "exec" | "checks"],
        ) => method_not_allowed(r),
        _ => http::error(404, "not found", None),
    })
}

fn get_plan(d: &Daemon, r: &Request) -> Response {
    let format = r.query("format").unwrap_or("");
    if format != "yaml" {
        return bad_request(&format!("invalid format {format:?}"));
    }
    match d.plan().and_then(|p| plan::to_yaml(&p)) {
        Ok(text) => http::sync(Value::String(text)),
        Err(e) => http::error(500, &format!("cannot serialize plan: {e}"), None),
    }
}

fn body_json(r: &Request) -> Result<Map<String, Value>, Response> {
    serde_json::from_slice::<Map<String, Value>>(&r.body)
        .map_err(|e| bad_request(&format!("cannot decode data from request body: {e}")))
}

fn post_layers(d: &Daemon, r: &Request) -> Response {
    let body = match body_json(r) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if text("action") != "add" {
        return bad_request(&format!("invalid action {:?}", text("action")));
    }
    let label = text("label");
    if label.is_empty() {
        return bad_request("label must be set");
    }
    if text("format") != "yaml" {
        return bad_request(&format!("invalid format {:?}", text("format")));
    }
    let combine = body
        .get("combine")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let layer = match plan::parse_layer(&label, &text("layer")) {
        Ok(l) => l,
        Err(e) => return bad_request(&e),
    };
    let mut st = d.lock();
    match plan::add_layer(&mut st.layers, layer, combine) {
        Ok(()) => {
            drop(st);
            d.note(&format!("added layer {label:?} (combine: {combine})"));
            http::sync(json!(true))
        }
        Err(e) => bad_request(&e),
    }
}

fn get_services(d: &Daemon, r: &Request) -> Response {
    let names: Vec<String> = r.names("names");
    let plan = match d.plan() {
        Ok(p) => p,
        Err(e) => return http::error(500, &e, None),
    };
    let mut st = d.lock();
    Daemon::reap(&mut st);
    let mut out = Vec::new();
    for (name, config) in &plan.services {
        if !names.is_empty() && !names.contains(name) {
            continue;
        }
        let startup = match plan::field(config, "startup").as_str() {
            "enabled" => "enabled",
            _ => "disabled",
        };
        let mut info = Map::new();
        info.insert("name".into(), json!(name));
        info.insert("startup".into(), json!(startup));
        match st.services.get(name) {
            Some(s) => {
                info.insert("current".into(), json!(s.current));
                info.insert("current-since".into(), json!(rfc3339(s.since, true)));
            }
            None => {
                info.insert("current".into(), json!("inactive"));
            }
        }
        out.push(Value::Object(info));
    }
    http::sync(Value::Array(out))
}

fn post_services(d: &Arc<Daemon>, r: &Request) -> Response {
    let body = match body_json(r) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let action = body
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut services: Vec<String> = http::strings(&body, "services");
    let plan = match d.plan() {
        Ok(p) => p,
        Err(e) => return http::error(500, &e, None),
    };
    let enabled: Vec<String> = plan
        .services
        .iter()
        .filter(|(_, c)| plan::field(c, "startup") == "enabled")
        .map(|(n, _)| n.clone())
        .collect();
    match action.as_str() {
        "replan" | "autostart" if !services.is_empty() => {
            return bad_request(&format!("{action} accepts no service names"))
        }
        "autostart" if enabled.is_empty() => {
            return http::error(400, "no default services", Some("no-default-services"))
        }
        "autostart" => services = enabled.clone(),
        "replan" => {}
        "start" | "stop" | "restart" if services.is_empty() => {
            return bad_request(&format!("must specify services for {action} action"))
        }
        "start" | "stop" | "restart" => {}
        _ => return bad_request(&format!("invalid action {action:?}")),
    }
    if let Some(missing) = services.iter().find(|s| !plan.services.contains_key(*s)) {
        return bad_request(&format!(
            "cannot {action} services: service {missing:?} does not exist"
        ));
    }
    let (stops, starts): (Vec<String>, Vec<String>) = match action.as_str() {
        "start" | "autostart" => (Vec::new(), services.clone()),
        "stop" => (services.clone(), Vec::new()),
        "restart" => (services.clone(), services.clone()),
        _ => {
            // Replan: services whose definition changed restart, enabled ones start.
            let st = d.lock();
            let mut stop = Vec::new();
            for (name, s) in &st.services {
                if s.started_with.as_ref() != plan.services.get(name) {
                    stop.push(name.clone());
                }
            }
            let start: Vec<String> = plan
                .services
                .keys()
                .filter(|n| stop.contains(n) || enabled.contains(n))
                .cloned()
                .collect();
            let stop = stop
                .into_iter()
                .filter(|n| {
                    st.services.get(n).is_some_and(|s| s.current == "active") || start.contains(n)
                })
                .collect();
            services = start.clone();
            (stop, start)
        }
    };
    let title = {
        let mut c = action.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    let mut steps: Vec<(String, String)> = stops
        .iter()
        .map(|s| ("stop".to_string(), s.clone()))
        .collect();
    steps.extend(starts.iter().map(|s| ("start".to_string(), s.clone())));
    let count = stops.len().max(starts.len());
    let summary = match (steps.is_empty(), count) {
        (true, _) => format!("{title} - no services"),
        (false, 1) => format!(
            "{title} service {:?}",
            services
                .first()
                .or(stops.first())
                .cloned()
                .unwrap_or_default()
        ),
        (false, n) => format!(
            "{title} service {:?} and {} more",
            services
                .first()
                .or(stops.first())
                .cloned()
                .unwrap_or_default(),
            n - 1
        ),
    };
    let tasks: Vec<(String, String)> = steps
        .iter()
        .map(|(k, s)| {
            let verb = if k == "stop" { "Stop" } else { "Start" };
            (k.clone(), format!("{verb} service {s:?}"))
        })
        .collect();
    let (change, task_ids) = d.new_change(&action, summary, &tasks);
    let work = task_ids
        .into_iter()
        .zip(steps)
        .map(|(t, (k, s))| (t, k, s))
        .collect();
    d.run_change(change, work);
    http::accepted(&change.to_string(), Value::Null)
}

/// Go's `time.ParseDuration` for the `timeout` query (`4.000s`, `1m30s`).
fn wait_timeout(text: &str) -> Result<Option<Duration>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    checks::duration(text)
        .map(Some)
        .ok_or_else(|| format!("invalid timeout: time: invalid duration {text:?}"))
}

fn get_change(d: &Daemon, id: &str, wait: Option<&Request>) -> Response {
    let Ok(n) = id.parse::<u64>() else {
        return http::error(404, &format!("cannot find change with id {id:?}"), None);
    };
    let mut st = d.lock();
    if !st.changes.contains_key(&n) {
        return http::error(404, &format!("cannot find change with id {id:?}"), None);
    }
    if let Some(r) = wait {
        let timeout = match wait_timeout(r.query("timeout").unwrap_or("")) {
            Ok(t) => t,
            Err(e) => return bad_request(&e),
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if st.changes.get(&n).is_some_and(Change::is_ready) {
                break;
            }
            let slice = match deadline {
                Some(dl) => {
                    let now = Instant::now();
                    if now >= dl {
                        return http::error(
                            504,
                            &format!(
                                "timed out waiting for change after {}",
                                r.query("timeout").unwrap_or("")
                            ),
                            None,
                        );
                    }
                    dl - now
                }
                None => Duration::from_secs(1),
            };
            st = d
                .moved
                .wait_timeout(st, slice)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
    match st.changes.get(&n) {
        Some(c) => http::sync(c.to_json()),
        None => http::error(404, &format!("cannot find change with id {id:?}"), None),
    }
}
