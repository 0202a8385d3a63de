//! The client: one method per Pebble call, each a request shaped as ops sends it and its
//! answer decoded (exec is in `exec.rs`).

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::http::{round_trip, Request, Response};
use crate::layer::{CheckLevel, Layer, Plan};
use crate::models::{
    Change, ChangeId, CheckInfo, Envelope, ErrorResult, FileInfo, FileResult, ResponseType,
    ServiceInfo, SystemInfo,
};
use crate::multipart;

/// ops' default (`Client(timeout=5.0)`): long enough for a busy Pebble, short enough for
/// a hook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often to ask again for a change when the Pebble is too old for `/wait` (ops'
/// `delay`).
const POLL_DELAY: Duration = Duration::from_millis(100);

/// A Pebble at one socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

#[derive(Serialize)]
struct ServicesBody<'a> {
    action: &'a str,
    services: &'a [&'a str],
}

#[derive(Serialize)]
struct LayerBody<'a> {
    action: &'a str,
    combine: bool,
    label: &'a str,
    format: &'a str,
    layer: &'a str,
}

#[derive(Serialize)]
struct WriteBody<'a> {
    action: &'a str,
    files: [WriteItem<'a>; 1],
}

#[derive(Serialize)]
struct WriteItem<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<String>,
    path: &'a str,
    #[serde(rename = "make-dirs", skip_serializing_if = "std::ops::Not::not")]
    make_dirs: bool,
}

#[derive(Serialize)]
struct MakeDirsBody<'a> {
    action: &'a str,
    dirs: [MakeDirItem<'a>; 1],
}

#[derive(Serialize)]
struct MakeDirItem<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<String>,
    path: &'a str,
    #[serde(rename = "make-parents", skip_serializing_if = "std::ops::Not::not")]
    make_parents: bool,
}

#[derive(Serialize)]
struct RemoveBody<'a> {
    action: &'a str,
    paths: [RemoveItem<'a>; 1],
}

#[derive(Serialize)]
struct RemoveItem<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    recursive: bool,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The Pebble of workload container `container`, where Juju mounts its socket in the
    /// charm container.
    pub fn for_container(container: &str) -> Self {
        Client::new(format!("/charm/containers/{container}/pebble.socket"))
    }

    /// Bounds each call (connect, request, answer) to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET /v1/system-info`.
    pub fn system_info(&self) -> Result<SystemInfo> {
        self.sync("system-info", Request::get("/v1/system-info"))
    }

    /// `GET /v1/plan?format=yaml`: the combined plan.
    pub fn get_plan(&self) -> Result<Plan> {
        let what = "get plan";
        let yaml: String = self.sync(what, Request::get("/v1/plan").query("format", "yaml"))?;
        serde_saphyr::from_str(&yaml).map_err(|e| Error::protocol(what, e.to_string()))
    }

    /// `POST /v1/layers`: adds `layer` as the top layer `label`, or with `combine` merges it
    /// into the layer already labelled so.
    pub fn add_layer(&self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        let what = "add layer";
        // Double-quoted strings, never block scalars: Go's YAML refuses some block scalars
        // serde-saphyr writes (a first line starting with a tab).
        let mut options = serde_saphyr::SerializerOptions::default();
        options.prefer_block_scalars = false;
        let yaml =
            serde_saphyr::to_string_with_options(layer, options).map_err(|e| Error::Encode {
                what: what.into(),
                detail: e.to_string(),
            })?;
        let body = LayerBody {
            action: "add",
            combine,
            label,
            format: "yaml",
            layer: &yaml,
        };
        let _: serde_json::Value = self.sync(what, post(what, "/v1/layers", &body)?)?;
        Ok(())
    }

    /// `GET /v1/services`, only those named (all when `names` is empty).
    pub fn services(&self, names: &[&str]) -> Result<Vec<ServiceInfo>> {
        let mut request = Request::get("/v1/services");
        if !names.is_empty() {
            request = request.query("names", names.join(","));
        }
        self.sync("services", request)
    }

    /// Starts the services (and what they require); wait on the change for the outcome.
    pub fn start(&self, services: &[&str]) -> Result<ChangeId> {
        self.services_action("start", services)
    }

    pub fn stop(&self, services: &[&str]) -> Result<ChangeId> {
        self.services_action("stop", services)
    }

    pub fn restart(&self, services: &[&str]) -> Result<ChangeId> {
        self.services_action("restart", services)
    }

    /// Restarts the services whose plan changed and starts the `startup: enabled` ones.
    pub fn replan(&self) -> Result<ChangeId> {
        self.services_action("replan", &[])
    }

    fn services_action(&self, action: &str, services: &[&str]) -> Result<ChangeId> {
        let what = format!("{action} services");
        let body = ServicesBody { action, services };
        self.change_of(&what, post(&what, "/v1/services", &body)?)
    }

    /// `GET /v1/changes/{id}`.
    pub fn change(&self, id: &ChangeId) -> Result<Change> {
        self.sync("get change", Request::get(format!("/v1/changes/{id}")))
    }

    /// Waits until the change is ready, at most `timeout`. A change that finished with an
    /// error is [`Error::Change`]; one still running then is [`Error::Timeout`].
    pub fn wait_change(&self, id: &ChangeId, timeout: Duration) -> Result<Change> {
        let what = format!("waiting for change {id}");
        let deadline = Instant::now() + timeout;
        let change = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout {
                    what,
                    after: timeout,
                });
            }
            // Pebble holds the answer until the change is ready or its own timeout
            // passes (504); our deadline allows for its answer on top.
            let request = Request::get(format!("/v1/changes/{id}/wait"))
                .query("timeout", format_timeout(left));
            match self.json(&what, &request, left + self.timeout) {
                Ok(envelope) => break decode::<Change>(&what, envelope)?,
                Err(Error::Api {
                    status_code: 504, ..
                }) => continue,
                // No /wait on this Pebble (before v1.0): poll, as ops does.
                Err(Error::Api {
                    status_code: 404, ..
                }) => break self.poll_change(id, deadline, &what, timeout)?,
                Err(e) => return Err(e),
            }
        };
        match &change.err {
            Some(err) if !err.is_empty() => Err(Error::Change {
                id: id.0.clone(),
                err: err.clone(),
            }),
            _ => Ok(change),
        }
    }

    fn poll_change(
        &self,
        id: &ChangeId,
        deadline: Instant,
        what: &str,
        timeout: Duration,
    ) -> Result<Change> {
        loop {
            let change = self.change(id)?;
            if change.ready {
                return Ok(change);
            }
            if Instant::now() + POLL_DELAY >= deadline {
                return Err(Error::Timeout {
                    what: what.into(),
                    after: timeout,
                });
            }
            thread::sleep(POLL_DELAY);
        }
    }

    /// Writes `content` to `path` in the container (atomically, by Pebble), creating the
    /// parent directories with `make_dirs`; `permissions` such as `0o644` (Pebble's
    /// default when `None`).
    pub fn push(
        &self,
        path: &str,
        content: &[u8],
        make_dirs: bool,
        permissions: Option<u32>,
    ) -> Result<()> {
        let what = "push";
        if path.contains(['\r', '\n']) {
            return Err(Error::Encode {
                what: what.into(),
                detail: format!("a line break in path {path:?}"),
            });
        }
        let metadata = WriteBody {
            action: "write",
            files: [WriteItem {
                permissions: octal(what, permissions)?,
                path,
                make_dirs,
            }],
        };
        let metadata = to_json(what, &metadata)?;
        let (body, content_type) =
            multipart::encode_push(&multipart::boundary(), &metadata, path, content);
        let request = Request {
            method: "POST",
            path: "/v1/files".into(),
            query: Vec::new(),
            headers: vec![
                ("Accept", "application/json".into()),
                ("Content-Type", content_type),
            ],
            body: Some(body),
        };
        let results: Vec<FileResult> = self.sync(what, request)?;
        path_result(what, path, results)
    }

    /// Reads the file at `path` in the container.
    pub fn pull(&self, path: &str) -> Result<Vec<u8>> {
        let what = "pull";
        let mut request = Request::get("/v1/files")
            .query("action", "read")
            .query("path", path);
        request.headers = vec![("Accept", "multipart/form-data".into())];
        let response = round_trip(&self.socket, self.timeout, what, &request)?;
        if response.status >= 400 {
            return Err(api_error(what, &response));
        }
        let content_type = response.header("Content-Type").unwrap_or_default();
        let boundary = multipart::boundary_of(content_type).ok_or_else(|| {
            Error::protocol(
                what,
                format!("expected multipart/form-data, got {content_type:?}"),
            )
        })?;
        let parts =
            multipart::parse(&boundary, &response.body).map_err(|e| Error::protocol(what, e))?;
        let mut files = Vec::new();
        let mut metadata = None;
        for part in parts {
            match part.form_param("name").as_deref() {
                Some("files") => {
                    let name = part.form_param("filename").ok_or_else(|| {
                        Error::protocol(what, "a \"files\" part without a filename")
                    })?;
                    files.push((name, part.body));
                }
                Some("response") => metadata = Some(part.body),
                other => return Err(Error::protocol(what, format!("unexpected part {other:?}"))),
            }
        }
        let metadata = metadata.ok_or_else(|| Error::protocol(what, "no \"response\" part"))?;
        let envelope: Envelope =
            serde_json::from_slice(&metadata).map_err(|e| Error::protocol(what, e.to_string()))?;
        let results: Vec<FileResult> = decode(what, envelope)?;
        path_result(what, path, results)?;
        match <[(String, Vec<u8>); 1]>::try_from(files) {
            Ok([(name, content)]) if name == path => Ok(content),
            Ok([(name, _)]) => Err(Error::protocol(what, format!("got file {name:?}"))),
            Err(files) => Err(Error::protocol(
                what,
                format!("{} files for one path", files.len()),
            )),
        }
    }

    /// Lists the directory at `path` (or the file itself, or with `itself` the directory
    /// itself), only names matching the glob `pattern` when given.
    pub fn list_files(
        &self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<FileInfo>> {
        let mut request = Request::get("/v1/files").query("path", path);
        if let Some(pattern) = pattern.filter(|p| !p.is_empty()) {
            request = request.query("pattern", pattern);
        }
        if itself {
            request = request.query("itself", "true");
        }
        let request = request.query("action", "list");
        // `null` from older Pebbles for an empty directory.
        let files: Option<Vec<FileInfo>> = self.sync("list files", request)?;
        Ok(files.unwrap_or_default())
    }

    /// Creates the directory `path` (and its parents with `make_parents`).
    pub fn make_dir(&self, path: &str, make_parents: bool, permissions: Option<u32>) -> Result<()> {
        let what = "make directory";
        let body = MakeDirsBody {
            action: "make-dirs",
            dirs: [MakeDirItem {
                permissions: octal(what, permissions)?,
                path,
                make_parents,
            }],
        };
        let results: Vec<FileResult> = self.sync(what, post(what, "/v1/files", &body)?)?;
        path_result(what, path, results)
    }

    /// Removes `path`; with `recursive` a directory and all in it, and no error if it is
    /// not there.
    pub fn remove_path(&self, path: &str, recursive: bool) -> Result<()> {
        let what = "remove";
        let body = RemoveBody {
            action: "remove",
            paths: [RemoveItem { path, recursive }],
        };
        let results: Vec<FileResult> = self.sync(what, post(what, "/v1/files", &body)?)?;
        path_result(what, path, results)
    }

    /// `GET /v1/checks`, filtered by level and names when given.
    pub fn checks(&self, level: Option<CheckLevel>, names: &[&str]) -> Result<Vec<CheckInfo>> {
        let mut request = Request::get("/v1/checks");
        if let Some(level) = level {
            request = request.query("level", level.as_str());
        }
        // ops sends the names as repeated parameters (urlencode doseq).
        for name in names {
            request = request.query("names", *name);
        }
        self.sync("checks", request)
    }

    /// One JSON call within the client's timeout.
    fn sync<T: DeserializeOwned>(&self, what: &str, request: Request) -> Result<T> {
        let envelope = self.json(what, &request, self.timeout)?;
        decode(what, envelope)
    }

    /// One call answered by a change (`"type": "async"`).
    fn change_of(&self, what: &str, request: Request) -> Result<ChangeId> {
        let envelope = self.json(what, &request, self.timeout)?;
        async_change(what, &envelope)
    }

    pub(crate) fn json(
        &self,
        what: &str,
        request: &Request,
        timeout: Duration,
    ) -> Result<Envelope> {
        let response = round_trip(&self.socket, timeout, what, request)?;
        parse_envelope(what, &response)
    }
}

/// Go's `time.ParseDuration` reads this; ops writes timeouts the same way.
pub(crate) fn format_timeout(timeout: Duration) -> String {
    format!("{:.3}s", timeout.as_secs_f64())
}

/// Permissions as Pebble reads them: exactly three octal digits.
pub(crate) fn octal(what: &str, permissions: Option<u32>) -> Result<Option<String>> {
    match permissions {
        None => Ok(None),
        Some(mode) if mode <= 0o777 => Ok(Some(format!("{mode:03o}"))),
        Some(mode) => Err(Error::Encode {
            what: what.into(),
            detail: format!("permissions {mode:o} are not three octal digits"),
        }),
    }
}

pub(crate) fn to_json<T: Serialize>(what: &str, body: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| Error::Encode {
        what: what.into(),
        detail: e.to_string(),
    })
}

pub(crate) fn post<T: Serialize>(what: &str, path: &str, body: &T) -> Result<Request> {
    Ok(Request::post_json(path, to_json(what, body)?))
}

/// An answer's envelope: an HTTP error status or `"type": "error"` is [`Error::Api`]
/// with Pebble's message; anything but JSON is a protocol error.
pub(crate) fn parse_envelope(what: &str, response: &Response) -> Result<Envelope> {
    if response.status >= 400 {
        return Err(api_error(what, response));
    }
    let media = response.media_type();
    if media != "application/json" {
        return Err(Error::protocol(
            what,
            format!("expected application/json, got {media:?}"),
        ));
    }
    let envelope: Envelope = serde_json::from_slice(&response.body)
        .map_err(|e| Error::protocol(what, format!("not a Pebble answer: {e}")))?;
    if envelope.kind == ResponseType::Error {
        let result: ErrorResult = serde_json::from_value(envelope.result).unwrap_or_default();
        // Go's client reports the status text when there is no message ("server error:").
        let message = if result.message.is_empty() {
            envelope.status.clone()
        } else {
            result.message
        };
        return Err(Error::Api {
            what: what.into(),
            status_code: match envelope.status_code {
                0 => response.status,
                code => code,
            },
            status: envelope.status,
            kind: result.kind,
            message,
        });
    }
    Ok(envelope)
}

/// Pebble's words for an HTTP error: `result.message`/`result.kind` of its JSON, or the
/// start of whatever else came (as ops' `APIError` does).
pub(crate) fn api_error(what: &str, response: &Response) -> Error {
    let parsed: Option<Envelope> = serde_json::from_slice(&response.body).ok();
    let result = parsed.and_then(|e| serde_json::from_value::<ErrorResult>(e.result).ok());
    let (message, kind) = match result {
        Some(r) if !r.message.is_empty() => (r.message, r.kind),
        Some(r) => (response.reason.clone(), r.kind),
        None => {
            let text = String::from_utf8_lossy(&response.body);
            (
                text.chars()
                    .take(200)
                    .collect::<String>()
                    .trim()
                    .to_string(),
                None,
            )
        }
    };
    Error::Api {
        what: what.into(),
        status_code: response.status,
        status: response.reason.clone(),
        kind,
        message,
    }
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, envelope: Envelope) -> Result<T> {
    if envelope.kind != ResponseType::Sync {
        return Err(Error::protocol(
            what,
            format!("expected a sync answer, got {:?}", envelope.kind),
        ));
    }
    serde_json::from_value(envelope.result)
        .map_err(|e| Error::protocol(what, format!("unexpected result: {e}")))
}

pub(crate) fn async_change(what: &str, envelope: &Envelope) -> Result<ChangeId> {
    match (&envelope.kind, &envelope.change) {
        (ResponseType::Async, Some(change)) if !change.is_empty() => Ok(ChangeId(change.clone())),
        _ => Err(Error::protocol(
            what,
            "expected an async answer with a change",
        )),
    }
}

/// The outcome for `path` in a files answer: its `error`, if any, as [`Error::Path`].
pub(crate) fn path_result(what: &'static str, path: &str, results: Vec<FileResult>) -> Result<()> {
    let result = results
        .into_iter()
        .find(|r| r.path == path)
        .ok_or_else(|| Error::protocol(what, format!("no result for {path}")))?;
    match result.error {
        None => Ok(()),
        Some(error) => Err(Error::Path {
            action: what,
            path: path.into(),
            kind: error.kind.unwrap_or_default(),
            message: error.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: &str, body: &str) -> Response {
        Response {
            status,
            reason: "x".into(),
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn api_errors_carry_pebbles_message_and_kind() {
        // The error answer of api_files.go listFilesResponse for a missing path.
        let r = response(
            404,
            "application/json",
            r#"{"type":"error","status-code":404,"status":"Not Found","result":{"message":"stat /nope: no such file or directory","kind":"not-found"}}"#,
        );
        match parse_envelope("list", &r) {
            Err(Error::Api {
                status_code,
                kind,
                message,
                ..
            }) => {
                assert_eq!(status_code, 404);
                assert_eq!(kind.as_deref(), Some("not-found"));
                assert_eq!(message, "stat /nope: no such file or directory");
            }
            other => panic!("{other:?}"),
        }
        // An error page that is not Pebble's JSON still is an API error, with its text.
        let r = response(502, "text/plain", "bad gateway\n");
        assert!(matches!(
            parse_envelope("x", &r),
            Err(Error::Api { status_code: 502, message, .. }) if message == "bad gateway"
        ));
    }

    #[test]
    fn answers_from_pebbles_client_tests() {
        // client/client_test.go TestClientReportsOpError: no status code, only a status.
        let r = response(
            200,
            "application/json",
            r#"{"type": "error", "status": "potatoes"}"#,
        );
        assert!(matches!(
            parse_envelope("x", &r),
            Err(Error::Api { status_code: 200, message, .. }) if message == "potatoes"
        ));
        // TestClientReportsOpErrorStr: an empty result.
        let r = response(
            400,
            "application/json",
            "{\n\t\t\"result\": {},\n\t\t\"status\": \"Bad Request\",\n\t\t\"status-code\": 400,\n\t\t\"type\": \"error\"\n\t}",
        );
        assert!(matches!(
            parse_envelope("x", &r),
            Err(Error::Api { status_code: 400, message, .. }) if message == "x"
        ));
        // TestClientReportsBadType, TestClientReportsOuterJSONError.
        for body in [r#"{"type": "what"}"#, "this isn't really json is it"] {
            let r = response(200, "application/json", body);
            assert!(
                matches!(parse_envelope("x", &r), Err(Error::Protocol { .. })),
                "{body}"
            );
        }
        // TestClientReportsInnerJSONError: the envelope is fine, its result is not.
        let r = response(
            200,
            "application/json",
            r#"{"type": "sync", "result": "this isn't really json is it"}"#,
        );
        let envelope = parse_envelope("x", &r).unwrap();
        assert!(matches!(
            decode::<SystemInfo>("x", envelope),
            Err(Error::Protocol { .. })
        ));
    }

    #[test]
    fn non_json_or_unknown_answers_are_protocol_errors() {
        for (content_type, body) in [
            ("text/html", "<html>"),
            ("application/json", r#"{"type":"other","status-code":200}"#),
        ] {
            let r = response(200, content_type, body);
            let got = parse_envelope("x", &r);
            assert!(matches!(got, Err(Error::Protocol { .. })), "{got:?}");
        }
        let r = response(
            200,
            "application/json; charset=utf-8",
            r#"{"type":"sync","status-code":200,"result":true}"#,
        );
        assert!(parse_envelope("x", &r).is_ok());
    }

    #[test]
    fn request_bodies_have_ops_keys() {
        // ops: {'action': action, 'services': services}; add_layer's body keys; push's
        // info dict (auth keys, then path, then make-dirs only when true).
        assert_eq!(
            String::from_utf8(
                to_json(
                    "",
                    &ServicesBody {
                        action: "replan",
                        services: &[]
                    }
                )
                .unwrap()
            )
            .unwrap(),
            r#"{"action":"replan","services":[]}"#
        );
        let write = WriteBody {
            action: "write",
            files: [WriteItem {
                permissions: octal("", Some(0o600)).unwrap(),
                path: "/a",
                make_dirs: true,
            }],
        };
        assert_eq!(
            String::from_utf8(to_json("", &write).unwrap()).unwrap(),
            r#"{"action":"write","files":[{"permissions":"600","path":"/a","make-dirs":true}]}"#
        );
        let remove = RemoveBody {
            action: "remove",
            paths: [RemoveItem {
                path: "/a",
                recursive: false,
            }],
        };
        assert_eq!(
            String::from_utf8(to_json("", &remove).unwrap()).unwrap(),
            r#"{"action":"remove","paths":[{"path":"/a"}]}"#
        );
        assert_eq!(octal("", Some(0o7)).unwrap().as_deref(), Some("007"));
        assert!(octal("", Some(0o1777)).is_err());
        assert_eq!(format_timeout(Duration::from_millis(1500)), "1.500s");
    }
}
