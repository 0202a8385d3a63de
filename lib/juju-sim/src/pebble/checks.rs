//! Pebble's health checks (`internals/overlord/checkstate`): each check of the plan runs
//! every `period` (default 10 s) within its `timeout` (default 3 s); `threshold` (default
//! 3) failures in a row make it `down`, a success makes it `up` again. `http` checks GET
//! their URL (the pod's own names — `localhost` — are its IP here) and want a 2xx, `tcp`
//! checks connect, `exec` checks run their command (only with `--live`; recorded they
//! pass).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::daemon::{CheckRuntime, Daemon};
use super::duration::duration;
use super::http::{self, Request, Response};
use super::mapping::{split_command, DEFAULT_PATH};
use super::plan;

const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_THRESHOLD: u64 = 3;

fn check_type(def: &Map<String, Value>) -> &'static str {
    if def.contains_key("http") {
        "HTTP"
    } else if def.contains_key("tcp") {
        "TCP"
    } else {
        "exec"
    }
}

/// A check's running change: `Perform HTTP check "up"` or `Recover HTTP check "up"`.
fn check_change(d: &Daemon, kind: &str, name: &str, def: &Map<String, Value>) -> (u64, u64) {
    let verb = if kind == "perform-check" {
        "Perform"
    } else {
        "Recover"
    };
    let summary = format!("{verb} {} check {name:?}", check_type(def));
    let (change, tasks) = d.new_change(kind, summary.clone(), &[(kind.to_string(), summary)]);
    let task = tasks.first().copied().unwrap_or_default();
    d.update_task(change, task, |t| t.status = "Doing".into());
    (change, task)
}

fn field_duration(def: &Map<String, Value>, key: &str, default: Duration) -> Duration {
    duration(&plan::field(def, key))
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

fn threshold(def: &Map<String, Value>) -> u64 {
    def.get("threshold")
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_THRESHOLD)
}

/// Runs the checks in the background for as long as the daemon lives.
pub(crate) fn start(daemon: Arc<Daemon>) {
    std::thread::spawn(move || loop {
        tick(&daemon);
        std::thread::sleep(Duration::from_millis(100));
    });
}

fn tick(d: &Daemon) {
    let Ok(plan) = d.plan() else {
        return;
    };
    let now = Instant::now();
    let known: Vec<String> = d.lock().checks.keys().cloned().collect();
    for (name, def) in &plan.checks {
        if !known.contains(name) {
            let (change, task) = check_change(d, "perform-check", name, def);
            d.lock().checks.insert(
                name.clone(),
                CheckRuntime {
                    status: "up".into(),
                    successes: 0,
                    failures: 0,
                    next: now + field_duration(def, "period", DEFAULT_PERIOD),
                    definition: def.clone(),
                    change,
                    task,
                },
            );
        }
    }
    let due: Vec<(String, Map<String, Value>)> = {
        let mut st = d.lock();
        st.checks.retain(|name, _| plan.checks.contains_key(name));
        for (name, def) in &plan.checks {
            if let Some(r) = st.checks.get_mut(name) {
                if r.definition != *def {
                    r.definition = def.clone();
                    r.next = now + field_duration(def, "period", DEFAULT_PERIOD);
                }
            }
        }
        st.checks
            .iter()
            .filter(|(_, r)| r.next <= now && plan::field(&r.definition, "startup") != "disabled")
            .map(|(n, r)| (n.clone(), r.definition.clone()))
            .collect()
    };
    for (name, def) in due {
        let outcome = run_check(d, &def);
        let (was, failures, change, task) = {
            let mut st = d.lock();
            let Some(r) = st.checks.get_mut(&name) else {
                continue;
            };
            r.next = Instant::now() + field_duration(&def, "period", DEFAULT_PERIOD);
            let was = r.status.clone();
            match &outcome {
                Ok(()) => {
                    r.successes += 1;
                    r.failures = 0;
                    r.status = "up".into();
                }
                Err(_) => {
                    r.failures += 1;
                    if r.failures >= threshold(&def) {
                        r.status = "down".into();
                    }
                }
            }
            (was, r.failures, r.change, r.task)
        };
        if let Err(e) = &outcome {
            d.note(&format!("check {name:?} failure {failures}: {e}"));
        }
        let now_status = d.lock().checks.get(&name).map(|r| r.status.clone());
        let swap = match (was.as_str(), now_status.as_deref()) {
            ("up", Some("down")) => {
                let message = outcome.clone().err().unwrap_or_default();
                d.update_task(change, task, |t| t.finish(Err(message)));
                Some(check_change(d, "recover-check", &name, &def))
            }
            ("down", Some("up")) => {
                d.update_task(change, task, |t| t.finish(Ok(None)));
                Some(check_change(d, "perform-check", &name, &def))
            }
            _ => None,
        };
        if let Some((change, task)) = swap {
            if let Some(r) = d.lock().checks.get_mut(&name) {
                r.change = change;
                r.task = task;
            }
        }
    }
}

fn run_check(d: &Daemon, def: &Map<String, Value>) -> Result<(), String> {
    let timeout = field_duration(def, "timeout", DEFAULT_TIMEOUT);
    if let Some(Value::Object(h)) = def.get("http") {
        return http_check(d, h, timeout);
    }
    if let Some(Value::Object(t)) = def.get("tcp") {
        let host = d
            .cfg
            .mapper
            .host(t.get("host").and_then(Value::as_str).unwrap_or(""));
        let port = t.get("port").and_then(Value::as_u64).unwrap_or(0);
        let addr = format!("{host}:{port}")
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("no address")?;
        return TcpStream::connect_timeout(&addr, timeout)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    if let Some(Value::Object(e)) = def.get("exec") {
        if !d.cfg.live {
            return Ok(());
        }
        let words = split_command(e.get("command").and_then(Value::as_str).unwrap_or(""))?;
        let program = d
            .cfg
            .mapper
            .program(&words[0], DEFAULT_PATH)
            .ok_or_else(|| format!("cannot find executable {:?}", words[0]))?;
        let mut child = Command::new(program)
            .args(d.cfg.mapper.args(&words[1..]))
            .current_dir(&d.cfg.mapper.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return match s.code() {
                    Some(0) => Ok(()),
                    Some(c) => Err(format!("exit status {c}")),
                    None => Err("signal: killed".into()),
                };
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err("context deadline exceeded".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err("check has no http, tcp or exec".into())
}

fn http_check(d: &Daemon, h: &Map<String, Value>, timeout: Duration) -> Result<(), String> {
    let url = h.get("url").and_then(Value::as_str).unwrap_or("");
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are simulated, not {url:?}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|e| e.to_string())?)
        }
        _ => (authority, 80),
    };
    let host = d.cfg.mapper.host(host);
    let addr = format!("{host}:{port}")
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if let Some(Value::Object(headers)) = h.get("headers") {
        for (k, v) in headers {
            request.push_str(&format!("{k}: {}\r\n", v.as_str().unwrap_or("")));
        }
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // The whole answer is read (bounded), so the server sees an orderly close.
    let mut answer = Vec::new();
    let _ = (&mut stream).take(1 << 20).read_to_end(&mut answer);
    let line = String::from_utf8_lossy(answer.split(|b| *b == b'\n').next().unwrap_or_default());
    let code: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("malformed HTTP response {line:?}"))?;
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(format!("non-2xx status code {code}"))
    }
}

pub(crate) fn get(d: &Daemon, r: &Request) -> Response {
    let level = r.query("level").unwrap_or("");
    if !matches!(level, "" | "alive" | "ready") {
        return http::bad_request("level must be \"alive\" or \"ready\"");
    }
    let names: Vec<String> = r.names("names");
    let plan = match d.plan() {
        Ok(p) => p,
        Err(e) => return http::error(500, &e, None),
    };
    let st = d.lock();
    let mut out = Vec::new();
    for (name, def) in &plan.checks {
        let check_level = plan::field(def, "level");
        if !names.is_empty() && !names.contains(name) {
            continue;
        }
        if !level.is_empty()
            && check_level != level
            && !(level == "ready" && check_level == "alive")
        {
            continue;
        }
        let runtime = st.checks.get(name);
        let startup = if plan::field(def, "startup") == "disabled" {
            "disabled"
        } else {
            "enabled"
        };
        let mut info = Map::new();
        info.insert("name".into(), json!(name));
        if !check_level.is_empty() {
            info.insert("level".into(), json!(check_level));
        }
        info.insert("startup".into(), json!(startup));
        let status = if startup == "disabled" {
            "inactive".to_string()
        } else {
            runtime.map_or_else(|| "up".into(), |r| r.status.clone())
        };
        info.insert("status".into(), json!(status));
        info.insert(
            "successes".into(),
            json!(runtime.map_or(0, |r| r.successes)),
        );
        let failures = runtime.map_or(0, |r| r.failures);
        if failures > 0 {
            info.insert("failures".into(), json!(failures));
        }
        info.insert("threshold".into(), json!(threshold(def)));
        if let Some(r) = runtime.filter(|_| startup == "enabled") {
            info.insert("change-id".into(), json!(r.change.to_string()));
        }
        out.push(Value::Object(info));
    }
    http::sync(Value::Array(out))
}
