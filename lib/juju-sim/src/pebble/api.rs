//! Pebble's routes (`internals/daemon/api.go`) over the daemon's state: plan, layers,
//! services and changes here; files, exec and checks in their modules.

use std::io::BufReader;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::changes::{rfc3339, Change};
use super::daemon::{Daemon, VERSION};
use super::duration::duration;
use super::http::{self, bad_request, Request, Response};
use super::plan;
use super::{checks, exec, files};

/// Serves the API on `listener` until the process is stopped.
pub(crate) fn serve(daemon: Arc<Daemon>, listener: UnixListener) {
    checks::start(Arc::clone(&daemon));
    let restarts = Arc::clone(&daemon);
    std::thread::spawn(move || loop {
        restarts.restart_due();
        std::thread::sleep(Duration::from_millis(100));
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            continue;
        };
        let d = Arc::clone(&daemon);
        std::thread::spawn(move || connection(&d, stream));
    }
}

/// Serves a connection's requests in turn (HTTP/1.1 keeps it open unless a request says
/// `Connection: close`); a websocket upgrade hands the connection to its exec.
fn connection(daemon: &Arc<Daemon>, stream: UnixStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut w = stream;
    loop {
        let request = match http::read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                let _ = http::write_response(&mut w, &bad_request(&e.to_string()), false);
                return;
            }
        };
        if request.is_websocket() {
            exec::websocket(daemon, &request, w);
            return;
        }
        let keep = request.keep_alive();
        let response = route(daemon, &request);
        if http::write_response(&mut w, &response, keep).is_err() || !keep {
            return;
        }
    }
}

fn method_not_allowed(r: &Request) -> Response {
    http::error(405, &format!("method {:?} not allowed", r.method), None)
}

/// Pebble's routes.
fn route(d: &Arc<Daemon>, r: &Request) -> Response {
    let path = r.path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let m = r.method.as_str();
    match (m, segments.as_slice()) {
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
        ("GET", ["v1", "files"]) => files::get(d, r),
        ("POST", ["v1", "files"]) => files::post(d, r),
        ("POST", ["v1", "exec"]) => exec::post(d, r),
        ("GET", ["v1", "checks"]) => checks::get(d, r),
        (
            _,
            ["v1", "system-info" | "plan" | "layers" | "services" | "files" | "exec" | "checks"],
        ) => method_not_allowed(r),
        _ => http::error(404, "not found", None),
    }
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
    duration(text)
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
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }
    match st.changes.get(&n) {
        Some(c) => http::sync(c.to_json()),
        None => http::error(404, &format!("cannot find change with id {id:?}"), None),
    }
}
