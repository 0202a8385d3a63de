//! A fake Pebble on a temporary unix socket: enough of the daemon's HTTP API, answered in
//! the shapes internals/daemon writes (respJSON envelopes, Go's multipart writer, the exec
//! task websockets), recording every request so tests can check what the client sent.
//! It runs `exec` commands for real, on this machine, to carry real bytes both ways.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Cursor, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// One request as it reached the fake.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) target: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    pub(crate) fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

struct ExecTask {
    change: String,
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    working_dir: Option<String>,
    timeout: Duration,
    sockets: BTreeMap<String, WebSocket<Replay>>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) requests: Vec<Recorded>,
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    pub(crate) plan: String,
    /// Raw answers to send instead, by "METHOD /path" (without query), once each.
    pub(crate) canned: BTreeMap<String, VecDeque<Vec<u8>>>,
    /// New service changes stay in progress (never ready).
    pub(crate) stuck: bool,
    changes: BTreeMap<String, Value>,
    tasks: BTreeMap<String, ExecTask>,
    next: u32,
}

pub(crate) struct Fake {
    _dir: tempfile::TempDir,
    pub(crate) socket: PathBuf,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Fake {
    pub(crate) fn start() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pebble.socket");
        let listener = UnixListener::bind(&socket).unwrap();
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let shared = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let shared = shared.clone();
                thread::spawn(move || handle(conn, &shared));
            }
        });
        Fake {
            _dir: dir,
            socket,
            state,
        }
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.0.lock().unwrap())
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    pub(crate) fn can(&self, key: &str, raw: impl Into<Vec<u8>>) {
        self.with(|s| {
            s.canned
                .entry(key.to_string())
                .or_default()
                .push_back(raw.into());
        });
    }
}

/// The head already read off a connection, then the connection: what a websocket
/// handshake needs to see again.
pub(crate) struct Replay {
    head: Cursor<Vec<u8>>,
    stream: UnixStream,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        self.stream.read(buf)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// An answer as Go's net/http writes a whole body: status, Content-Type, Content-Length.
pub(crate) fn http(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nDate: Sun, 29 Nov 2026 22:00:00 GMT\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// response.go respJSON, field order and all.
fn envelope(kind: &str, status: u16, reason: &str, change: Option<&str>, result: Value) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    map.insert("type".into(), json!(kind));
    map.insert("status-code".into(), json!(status));
    map.insert("status".into(), json!(reason));
    if let Some(change) = change {
        map.insert("change".into(), json!(change));
    }
    if !result.is_null() {
        map.insert("result".into(), result);
    }
    http(
        status,
        reason,
        "application/json",
        &serde_json::to_vec(&Value::Object(map)).unwrap(),
    )
}

fn sync(result: Value) -> Vec<u8> {
    envelope("sync", 200, "OK", None, result)
}

fn error(status: u16, reason: &str, message: &str, kind: Option<&str>) -> Vec<u8> {
    let mut result = json!({ "message": message });
    if let Some(kind) = kind {
        result["kind"] = json!(kind);
    }
    envelope("error", status, reason, None, result)
}

fn handle(mut conn: UnixStream, shared: &Arc<(Mutex<State>, Condvar)>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (method, target, headers, head_len) = loop {
        let n = conn.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut parsed = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut parsed);
        if let Ok(httparse::Status::Complete(len)) = request.parse(&buf) {
            let headers: BTreeMap<String, String> = request
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            break (
                request.method.unwrap().to_string(),
                request.path.unwrap().to_string(),
                headers,
                len,
            );
        }
    };
    let path = target.split('?').next().unwrap().to_string();

    if let Some(rest) = path.strip_prefix("/v1/tasks/") {
        let (task, id) = rest.split_once("/websocket/").unwrap();
        let known = shared.0.lock().unwrap().tasks.contains_key(task);
        if !known {
            let _ = conn.write_all(&error(
                404,
                "Not Found",
                &format!("cannot find task {task:?}"),
                None,
            ));
            return;
        }
        // Recorded before the handshake answers, so the order is the client's.
        shared.0.lock().unwrap().requests.push(Recorded {
            method,
            target,
            headers,
            body: Vec::new(),
        });
        let replay = Replay {
            head: Cursor::new(buf),
            stream: conn,
        };
        let socket = tungstenite::accept(replay).unwrap();
        let (lock, cond) = &**shared;
        let mut state = lock.lock().unwrap();
        state
            .tasks
            .get_mut(task)
            .unwrap()
            .sockets
            .insert(id.to_string(), socket);
        cond.notify_all();
        return;
    }

    let length: usize = headers
        .get("content-length")
        .map_or(0, |l| l.parse().unwrap());
    let mut body = buf.split_off(head_len);
    while body.len() < length {
        let n = conn.read(&mut chunk).unwrap();
        assert!(n > 0, "body cut short");
        body.extend_from_slice(&chunk[..n]);
    }
    let recorded = Recorded {
        method: method.clone(),
        target: target.clone(),
        headers,
        body,
    };
    let answer = answer(shared, &recorded, &path);
    let _ = conn.write_all(&answer);
}

fn query(target: &str) -> Vec<(String, String)> {
    let Some((_, q)) = target.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn param(q: &[(String, String)], key: &str) -> Option<String> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn answer(shared: &Arc<(Mutex<State>, Condvar)>, request: &Recorded, path: &str) -> Vec<u8> {
    let (lock, cond) = &**shared;
    let mut state = lock.lock().unwrap();
    state.requests.push(request.clone());
    let key = format!("{} {path}", request.method);
    if let Some(raw) = state.canned.get_mut(&key).and_then(VecDeque::pop_front) {
        return raw;
    }
    let q = query(&request.target);
    match key.as_str() {
        "GET /v1/system-info" => sync(json!({"boot-id": "ab0f3a54", "version": "v1.19.0"})),
        "GET /v1/plan" => sync(json!(state.plan)),
        "POST /v1/layers" => sync(json!(true)),
        "GET /v1/services" => {
            let names = param(&q, "names").unwrap_or_default();
            let all = [("prometheus", "active"), ("other", "inactive")];
            let infos: Vec<Value> = all
                .iter()
                .filter(|(n, _)| names.is_empty() || names.split(',').any(|x| x == *n))
                .map(|(n, c)| json!({"name": n, "startup": "enabled", "current": c}))
                .collect();
            sync(json!(infos))
        }
        "POST /v1/services" => {
            let body = request.json();
            let services = body["services"].as_array().unwrap().clone();
            let err = services
                .iter()
                .any(|s| s == "broken")
                .then(|| "cannot start service: exited quickly".to_string());
            let id = new_change(&mut state, body["action"].as_str().unwrap(), err, vec![]);
            if state.stuck {
                state.changes.get_mut(&id).unwrap()["ready"] = json!(false);
            }
            cond.notify_all();
            envelope("async", 202, "Accepted", Some(&id), Value::Null)
        }
        "POST /v1/exec" => exec(shared, &mut state, request),
        "GET /v1/checks" => sync(json!([
            {"name": "ready", "level": "ready", "startup": "enabled", "status": "up", "successes": 4, "threshold": 3},
            {"name": "alive", "level": "alive", "startup": "enabled", "status": "down", "successes": 0, "failures": 3, "threshold": 3, "change-id": "9"}
        ])),
        "GET /v1/files" => files_get(&state, request, &q),
        "POST /v1/files" => files_post(&mut state, request),
        _ => {
            if let Some(rest) = path.strip_prefix("/v1/changes/") {
                let (id, wait) = match rest.strip_suffix("/wait") {
                    Some(id) => (id.to_string(), true),
                    None => (rest.to_string(), false),
                };
                if !state.changes.contains_key(&id) {
                    return error(
                        404,
                        "Not Found",
                        &format!("cannot find change with id {id:?}"),
                        None,
                    );
                }
                if wait {
                    let timeout = param(&q, "timeout").map_or(Duration::from_secs(3600), |t| {
                        pebble::GoDuration::parse(&t).unwrap().0
                    });
                    let deadline = Instant::now() + timeout;
                    while !state.changes[&id]["ready"].as_bool().unwrap() {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return error(
                                504,
                                "Gateway Timeout",
                                &format!("timed out waiting for change after {timeout:?}"),
                                None,
                            );
                        }
                        state = cond.wait_timeout(state, left).unwrap().0;
                    }
                }
                return sync(state.changes[&id].clone());
            }
            error(404, "Not Found", "not found", None)
        }
    }
}

fn new_change(state: &mut State, kind: &str, err: Option<String>, tasks: Vec<Value>) -> String {
    state.next += 1;
    let id = state.next.to_string();
    let mut change = json!({
        "id": id, "kind": kind, "summary": format!("{kind} things"),
        "status": if err.is_some() { "Error" } else { "Done" },
        "tasks": tasks, "ready": true, "spawn-time": "2026-11-29T22:00:00Z",
    });
    if let Some(err) = err {
        change["err"] = json!(err);
    }
    state.changes.insert(id.clone(), change);
    id
}

fn file_result(path: &str, error: Option<(&str, String)>) -> Value {
    match error {
        None => json!({"path": path}),
        Some((kind, message)) => json!({"path": path, "error": {"message": message, "kind": kind}}),
    }
}

fn files_get(state: &State, request: &Recorded, q: &[(String, String)]) -> Vec<u8> {
    match param(q, "action").as_deref() {
        Some("read") => {
            if request.headers.get("accept").map(String::as_str) != Some("multipart/form-data") {
                return error(400, "Bad Request", "must accept multipart/form-data", None);
            }
            // readFilesResponse through Go's multipart.Writer.
            let path = param(q, "path").unwrap();
            let b = "a5e7c1d2b3f4a5e7c1d2b3f4a5e7c1d2b3f4a5e7c1d2b3f4a5e7c1d2b3f4";
            let mut body = Vec::new();
            let result = match state.files.get(&path) {
                Some(content) => {
                    body.extend_from_slice(format!("--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
                    body.extend_from_slice(content);
                    body.extend_from_slice(format!("\r\n--{b}\r\n").as_bytes());
                    file_result(&path, None)
                }
                None => {
                    body.extend_from_slice(format!("--{b}\r\n").as_bytes());
                    file_result(
                        &path,
                        Some((
                            "not-found",
                            format!("stat {path}: no such file or directory"),
                        )),
                    )
                }
            };
            body.extend_from_slice(b"Content-Disposition: form-data; name=\"response\"\r\nContent-Type: application/json\r\n\r\n");
            let meta =
                json!({"type": "sync", "status-code": 200, "status": "OK", "result": [result]});
            body.extend_from_slice(&serde_json::to_vec(&meta).unwrap());
            body.extend_from_slice(format!("\n\r\n--{b}--\r\n").as_bytes());
            http(
                200,
                "OK",
                &format!("multipart/form-data; boundary={b}"),
                &body,
            )
        }
        Some("list") => {
            let dir = param(q, "path").unwrap();
            let infos: Vec<Value> = state
                .files
                .iter()
                .filter(|(p, _)| p.starts_with(&format!("{dir}/")))
                .map(|(p, c)| json!({
                    "path": p, "name": p.rsplit('/').next().unwrap(), "type": "file",
                    "size": c.len(), "permissions": "644", "last-modified": "2026-11-29T22:00:00Z",
                    "user-id": 0, "user": "root", "group-id": 0, "group": "root"
                }))
                .collect();
            if infos.is_empty() {
                return envelope(
                    "error",
                    404,
                    "Not Found",
                    None,
                    json!({"message": format!("stat {dir}: no such file or directory"), "kind": "not-found"}),
                );
            }
            sync(json!(infos))
        }
        _ => error(400, "Bad Request", "invalid action", None),
    }
}

fn files_post(state: &mut State, request: &Recorded) -> Vec<u8> {
    let content_type = request.headers["content-type"].clone();
    if let Some(boundary) = content_type.strip_prefix("multipart/form-data; boundary=") {
        // writeFiles: the "request" part first, then "files" parts named by path.
        let boundary = boundary.trim_matches('"');
        if boundary.len() < 32 {
            return error(
                400,
                "Bad Request",
                &format!("invalid boundary {boundary:?}"),
                None,
            );
        }
        let delimiter = format!("\r\n--{boundary}");
        let mut body = b"\r\n".to_vec();
        body.extend_from_slice(&request.body);
        let text = unsafe_split(&body, delimiter.as_bytes());
        let mut parts = text.into_iter().skip(1);
        let meta_part = parts.next().unwrap();
        assert!(String::from_utf8_lossy(&meta_part).contains("name=\"request\""));
        let meta: Value = serde_json::from_slice(after_head(&meta_part)).unwrap();
        let mut results = Vec::new();
        for part in parts {
            if part.starts_with(b"--") {
                break;
            }
            let head =
                String::from_utf8_lossy(&part[..part.len() - after_head(&part).len()]).into_owned();
            let filename = head
                .split("filename=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            let content = after_head(&part).to_vec();
            if filename.starts_with("/readonly/") {
                results.push(file_result(
                    &filename,
                    Some((
                        "permission-denied",
                        format!("open {filename}: permission denied"),
                    )),
                ));
            } else {
                state.files.insert(filename.clone(), content);
                results.push(file_result(&filename, None));
            }
        }
        assert_eq!(meta["files"].as_array().unwrap().len(), results.len());
        return sync(json!(results));
    }
    let body = request.json();
    match body["action"].as_str().unwrap() {
        "make-dirs" => {
            let path = body["dirs"][0]["path"].as_str().unwrap();
            sync(json!([file_result(path, None)]))
        }
        "remove" => {
            let path = body["paths"][0]["path"].as_str().unwrap();
            let recursive = body["paths"][0]["recursive"].as_bool().unwrap_or(false);
            let existed = state.files.remove(path).is_some();
            if existed || recursive {
                sync(json!([file_result(path, None)]))
            } else {
                sync(json!([file_result(
                    path,
                    Some((
                        "not-found",
                        format!("remove {path}: no such file or directory")
                    ))
                )]))
            }
        }
        other => error(
            400,
            "Bad Request",
            &format!("invalid action {other:?}"),
            None,
        ),
    }
}

/// The parts between delimiters, each starting right after its delimiter.
fn unsafe_split(data: &[u8], delimiter: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delimiter.len() <= data.len() {
        if &data[i..i + delimiter.len()] == delimiter {
            parts.push(data[start..i].to_vec());
            i += delimiter.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(data[start..].to_vec());
    parts
}

fn after_head(part: &[u8]) -> &[u8] {
    let at = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &part[at + 4..]
}

fn exec(shared: &Arc<(Mutex<State>, Condvar)>, state: &mut State, request: &Recorded) -> Vec<u8> {
    let body = request.json();
    let command: Vec<String> = serde_json::from_value(body["command"].clone()).unwrap();
    // api_exec.go: the executable must exist up front.
    let exe = &command[0];
    let found = exe.contains('/') && std::path::Path::new(exe).exists()
        || std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|d| std::path::Path::new(d).join(exe).exists());
    if !found {
        return error(
            400,
            "Bad Request",
            &format!("cannot find executable {exe:?}"),
            None,
        );
    }
    assert_eq!(body["split-stderr"], json!(true));
    let timeout = body["timeout"]
        .as_str()
        .map_or(Duration::from_secs(3600), |t| {
            pebble::GoDuration::parse(t).unwrap().0
        });
    state.next += 1;
    let task = format!("T{}", state.next);
    let change = new_change(state, "exec", None, vec![]);
    state.changes.get_mut(&change).unwrap()["ready"] = json!(false);
    state.changes.get_mut(&change).unwrap()["status"] = json!("Doing");
    state.tasks.insert(
        task.clone(),
        ExecTask {
            change: change.clone(),
            command,
            environment: serde_json::from_value(body["environment"].clone()).unwrap(),
            working_dir: body["working-dir"].as_str().map(String::from),
            timeout,
            sockets: BTreeMap::new(),
        },
    );
    let shared = shared.clone();
    let task_id = task.clone();
    thread::spawn(move || run_exec(&shared, &task_id));
    envelope(
        "async",
        202,
        "Accepted",
        Some(&change),
        json!({"environment": {}, "task-id": task, "working-dir": "/root"}),
    )
}

/// handlers.go `do`: wait for the three websockets, start the command at once, and pipe
/// concurrently as Pebble does: stdio's binary messages into its stdin (until the end
/// command), its stdout and stderr out in messages of at most 128 KiB (as
/// wsutil.ReaderToChannel reads them) each followed by the end command; then the exit
/// code into the change, and the control socket closed. The stdin pump is not waited for
/// (Pebble's is a bare goroutine): it ends when the client goes.
fn run_exec(shared: &Arc<(Mutex<State>, Condvar)>, task: &str) {
    let (lock, cond) = &**shared;
    let (mut control, mut stdio, stderr, command, env, dir, timeout, change) = {
        let mut state = lock.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while state.tasks[task].sockets.len() < 3 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "websockets not connected");
            state = cond.wait_timeout(state, left).unwrap().0;
        }
        let t = state.tasks.get_mut(task).unwrap();
        (
            t.sockets.remove("control").unwrap(),
            t.sockets.remove("stdio").unwrap(),
            t.sockets.remove("stderr").unwrap(),
            t.command.clone(),
            t.environment.clone(),
            t.working_dir.clone(),
            t.timeout,
            t.change.clone(),
        )
    };
    let mut child = Command::new(&command[0]);
    child
        .args(&command[1..])
        .env_clear()
        .envs(&env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        child.current_dir(dir);
    }
    let mut child = child.spawn().unwrap();
    let mut child_in = child.stdin.take().unwrap();
    let child_out = child.stdout.take().unwrap();
    let child_err = child.stderr.take().unwrap();

    // The stdio socket is read (stdin) and written (stdout) at once: a second handle.
    let clone = stdio.get_ref().stream.try_clone().unwrap();
    let stdout_ws = WebSocket::from_raw_socket(
        Replay {
            head: Cursor::new(Vec::new()),
            stream: clone,
        },
        tungstenite::protocol::Role::Server,
        None,
    );
    thread::spawn(move || loop {
        match stdio.read() {
            Ok(Message::Binary(data)) => {
                if child_in.write_all(&data).is_err() {
                    return;
                }
            }
            Ok(Message::Text(t)) if t.as_str() == r#"{"command":"end"}"# => return,
            Ok(_) => {}
            Err(_) => return,
        }
    });
    fn pump(mut from: impl Read, mut to: WebSocket<Replay>) {
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = from.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            // A client that went away ends the stream, as in wsutil.WebsocketSendStream.
            if to.send(Message::binary(buf[..n].to_vec())).is_err() {
                return;
            }
        }
        let _ = to.send(Message::text(r#"{"command":"end"}"#));
    }
    let out = thread::spawn(move || pump(child_out, stdout_ws));
    let err = thread::spawn(move || pump(child_err, stderr));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    out.join().unwrap();
    err.join().unwrap();
    let _ = control.close(None);
    let _ = control.flush();
    let mut state = lock.lock().unwrap();
    let c = state.changes.get_mut(&change).unwrap();
    let exit_code = status.and_then(|s| s.code()).unwrap_or(-1);
    c["tasks"] = json!([{"id": task, "kind": "exec", "summary": "Execute command", "status": "Done",
        "progress": {"label": "", "done": 1, "total": 1}, "spawn-time": "2026-11-29T22:00:00Z",
        "data": {"exit-code": exit_code}}]);
    c["ready"] = json!(true);
    if status.is_none() {
        c["status"] = json!("Error");
        c["err"] = json!(format!(
            "cannot perform the following tasks:\n- Execute command {:?} (timed out after {timeout:?}: context deadline exceeded)",
            command[0]
        ));
    } else {
        c["status"] = json!("Done");
    }
    cond.notify_all();
}
