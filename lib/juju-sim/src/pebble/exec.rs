//! `POST /v1/exec` and its three websockets (`/v1/tasks/{task-id}/websocket/{control,
//! stdio,stderr}`), as `internals/overlord/cmdstate` runs them: the command starts once
//! `stdio` (and `stderr` with `split-stderr`) are connected, within 5 s; stdin comes as
//! binary messages on `stdio` until a `{"command":"end"}` text message; stdout and stderr
//! go back as binary messages, each ended by `{"command":"end"}`; the task's data holds
//! `exit-code`. The command always runs for real (mapped onto the host's programs and the
//! unit's pod root), `--live` or not: `--live` is about long-running services, and an exec
//! that answered "exit 0" without running would make every check through it pass.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

use super::daemon::{Conns, Daemon, ExecSlot};
use super::duration::{duration, format_duration};
use super::http::{self, bad_request, Request};
use super::mapping::DEFAULT_PATH;

/// How long the command waits for its websockets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const END: &str = "{\"command\":\"end\"}";

/// What runs.
struct Job {
    program: std::path::PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: std::path::PathBuf,
    timeout: Option<Duration>,
}

pub(crate) fn post(d: &Arc<Daemon>, r: &Request) -> http::Response {
    let body: Map<String, Value> = match serde_json::from_slice(&r.body) {
        Ok(b) => b,
        Err(e) => return bad_request(&format!("cannot decode request body: {e}")),
    };
    let command: Vec<String> = http::strings(&body, "command");
    let Some(first) = command.first() else {
        return bad_request("must specify command");
    };
    let timeout = match body.get("timeout").and_then(Value::as_str).unwrap_or("") {
        "" => None,
        t => match duration(t) {
            Some(d) => Some(d),
            None => return bad_request(&format!("invalid timeout: time: invalid duration {t:?}")),
        },
    };
    let mut env = BTreeMap::from([("PATH".to_string(), DEFAULT_PATH.to_string())]);
    if let Some(Value::Object(vars)) = body.get("environment") {
        for (k, v) in vars {
            if let Some(s) = v.as_str() {
                env.insert(k.clone(), s.to_string());
            }
        }
    }
    let m = &d.cfg.mapper;
    let Some(program) = m.program(first, env.get("PATH").map_or(DEFAULT_PATH, String::as_str))
    else {
        return bad_request(&format!("cannot find executable {first:?}"));
    };
    let working_dir = body
        .get("working-dir")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let cwd = if working_dir.is_empty() {
        m.root.clone()
    } else {
        m.file(&working_dir).unwrap_or_else(|| m.root.clone())
    };
    let split_stderr = body
        .get("split-stderr")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let summary = format!("Execute command {first:?}");
    let (change, tasks) = d.new_change("exec", summary.clone(), &[("exec".into(), summary)]);
    let Some(task) = tasks.first().copied() else {
        return http::error(500, "cannot call exec: no task", None);
    };
    let slot = Arc::new(ExecSlot {
        split_stderr,
        conns: Mutex::new(Conns::default()),
        connected: Condvar::new(),
    });
    d.lock().execs.insert(task.to_string(), Arc::clone(&slot));
    d.update_task(change, task, |t| t.status = "Doing".into());
    let job = Job {
        program,
        args: m.args(&command[1..]),
        env: env.clone(),
        cwd,
        timeout,
    };
    let daemon = Arc::clone(d);
    std::thread::spawn(move || run(&daemon, change, task, &slot, job));
    http::accepted(
        &change.to_string(),
        json!({"environment": env, "task-id": task.to_string(), "working-dir": working_dir}),
    )
}

/// Handles `GET /v1/tasks/{id}/websocket/{which}` with an upgrade.
pub(crate) fn websocket(d: &Daemon, r: &Request, mut stream: UnixStream) {
    let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let (task, which) = match segments.as_slice() {
        ["v1", "tasks", task, "websocket", which] => (task.to_string(), which.to_string()),
        _ => {
            let _ = http::write_response(&mut stream, &http::error(404, "not found", None), false);
            return;
        }
    };
    let slot = d.lock().execs.get(&task).cloned();
    let Some(slot) = slot else {
        let _ = http::write_response(
            &mut stream,
            &http::error(404, &format!("cannot find task {task:?}"), None),
            false,
        );
        return;
    };
    let mut conns = slot.lock();
    let place = match which.as_str() {
        "control" => &mut conns.control,
        "stdio" => &mut conns.stdio,
        "stderr" if slot.split_stderr => &mut conns.stderr,
        _ => {
            drop(conns);
            let _ = http::write_response(
                &mut stream,
                &http::error(
                    404,
                    &format!("cannot find {which} websocket for task {task:?}"),
                    None,
                ),
                false,
            );
            return;
        }
    };
    if place.is_some() {
        drop(conns);
        let _ = http::write_response(
            &mut stream,
            &bad_request(&format!("{which} websocket already connected")),
            false,
        );
        return;
    }
    let key = r.header("sec-websocket-key").unwrap_or("");
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    *place = Some(stream);
    drop(conns);
    slot.connected.notify_all();
}

fn server(stream: UnixStream) -> WebSocket<UnixStream> {
    WebSocket::from_raw_socket(stream, Role::Server, None)
}

/// Copies `from` into binary messages on `ws`, then says `end`.
fn pump_out(mut from: impl Read, mut ws: WebSocket<UnixStream>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if ws.send(Message::binary(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
    let _ = ws.send(Message::text(END));
}

/// Copies binary messages from `ws` into `to` until `end` or the socket goes.
fn pump_in(mut ws: WebSocket<UnixStream>, mut to: impl Write) {
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) => {
                if to.write_all(&b).is_err() {
                    return;
                }
            }
            Ok(Message::Text(t)) => {
                let is_end = serde_json::from_str::<Value>(t.as_str())
                    .ok()
                    .is_some_and(|v| v.get("command").and_then(Value::as_str) == Some("end"));
                if is_end {
                    return;
                }
            }
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn run(d: &Daemon, change: u64, task: u64, slot: &ExecSlot, job: Job) {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut conns = slot.lock();
    while conns.stdio.is_none() || (slot.split_stderr && conns.stderr.is_none()) {
        let now = Instant::now();
        if now >= deadline {
            drop(conns);
            d.update_task(change, task, |t| {
                t.finish(Err(format!(
                    "exec {task}: timeout waiting for websocket connections: context deadline exceeded"
                )));
            });
            return;
        }
        conns = slot
            .connected
            .wait_timeout(conns, deadline - now)
            .map_or_else(|e| e.into_inner().0, |(g, _)| g);
    }
    let stdio = conns.stdio.take();
    let stderr = conns.stderr.take();
    drop(conns);
    let Some(stdio) = stdio else {
        return;
    };
    let result = execute(d, stdio, stderr, &job);
    // The control websocket closes when the command is done.
    let control = slot.lock().control.take();
    if let Some(c) = control {
        let mut ws = server(c);
        let _ = ws.close(None);
        let _ = ws.flush();
    }
    d.update_task(change, task, |t| match result {
        Ok(code) => {
            t.data = Some(json!({"exit-code": code}));
            t.finish(Ok(None));
        }
        Err(e) => {
            t.data = Some(json!({"exit-code": -1}));
            t.finish(Err(e));
        }
    });
    d.lock().execs.remove(&task.to_string());
}

fn execute(
    d: &Daemon,
    stdio: UnixStream,
    stderr: Option<UnixStream>,
    job: &Job,
) -> Result<i32, String> {
    let mut command = if stderr.is_some() {
        let mut c = Command::new(&job.program);
        c.args(&job.args).stderr(Stdio::piped());
        c
    } else {
        // One stream for both, as Pebble gives when stderr is not split.
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg("exec \"$0\" \"$@\" 2>&1")
            .arg(&job.program)
            .args(&job.args)
            .stderr(Stdio::null());
        c
    };
    d.note(&format!(
        "exec: {} {}",
        job.program.display(),
        job.args.join(" ")
    ));
    let mut child = command
        .env_clear()
        .envs(&job.env)
        .current_dir(&job.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start command: fork/exec {}: {e}",
                job.program.display()
            )
        })?;
    let reader = stdio.try_clone().map_err(|e| e.to_string())?;
    if let Some(stdin) = child.stdin.take() {
        std::thread::spawn(move || pump_in(server(reader), stdin));
    }
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(std::thread::spawn(move || pump_out(out, server(stdio))));
    }
    if let (Some(err), Some(ws)) = (child.stderr.take(), stderr) {
        pumps.push(std::thread::spawn(move || pump_out(err, server(ws))));
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        if let Some(t) = job.timeout {
            if started.elapsed() >= t {
                let _ = child.kill();
                let _ = child.wait();
                for p in pumps {
                    let _ = p.join();
                }
                return Err(format!(
                    "timed out after {}: context deadline exceeded",
                    format_duration(t)
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    for p in pumps {
        let _ = p.join();
    }
    Ok(status.code().unwrap_or(-1))
}
